"""The dashboard's view-model: what the app needs besides tables, text and charts.

Paths are confined to the data root of :func:`hepfm_core.common.paths.data_root` (the rule
the CLI uses too), so a shared dashboard cannot be pointed at arbitrary files. Evaluators are
shared by every viewer of one server process (marimo runs each viewer as a thread), so each
cached scoring pass is memory-mapped once.
"""

from __future__ import annotations

import datetime as _dt
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from ..cluster.connect import Cluster, ClusterSpec, open_cluster
from ..cluster.evaluator import ClusterEvaluator
from ..common import paths
from ..engine.comparison import ComparisonResult, ModelSet, model_label
from ..engine.evaluate import BaseEvaluator, EvaluationSettings, Evaluator
from ..engine.metrics import Separation
from ..errors import HepfmError, PathNotAllowedError
from ..sources import dataset_for_model, describe_model
from ..upstream.files import EXPERIMENT_CONFIG
from ..vocabulary import Fill, Policy, Score, SignalNormalisation
from .charts import model_curve_frame
from .report import write_report

__all__ = [
    "MODEL_SEARCH_DEPTH",
    "confine",
    "curves",
    "data_for_model",
    "data_root",
    "find_models",
    "model_args",
    "model_choices",
    "project_root",
    "settings_for",
    "shared_cluster",
    "shared_evaluator",
    "shared_models",
    "write_meeting_report",
]

MODEL_SEARCH_DEPTH = 4
"""How many folders deep under the data root the app looks for models."""

_evaluators: dict[tuple[str, str, str, str, str], BaseEvaluator] = {}
_clusters: dict[str, Cluster] = {}
_evaluators_lock = threading.RLock()


def project_root() -> Path:
    """The source checkout's root; the package's parent folder when hepfm is installed."""
    return paths.checkout_root() or paths.PACKAGE_DIR.parent


def data_root() -> Path:
    """The data root: see :func:`hepfm_core.common.paths.data_root` for the rule."""
    return paths.data_root()


def confine(path: str | Path, root: Path | None = None) -> Path:
    """``path`` resolved (relative to the root if relative); refused outside the root."""
    root = (root or data_root()).resolve()
    p = Path(path)
    p = (p if p.is_absolute() else root / p).resolve()
    if p != root and root not in p.parents:
        raise PathNotAllowedError(
            f"{p} is outside the dashboard's data root {root}",
            p,
            f"copy or link the data under {root}, or set {paths.DATA_ROOT_ENV} when starting "
            "the app",
        )
    return p


def data_for_model(model_path: Path, fallback: Path, root: Path | None = None) -> Path:
    """The data folder to show with a model when the user chose none.

    An upstream experiment names its dataset in its config (``sources.dataset_for_model``):
    use it when it lies under the data root; otherwise (and for hepfm models) the fallback,
    normally the demo.
    """
    try:
        found = dataset_for_model(model_path)
    except HepfmError:
        return fallback
    if found is None:
        return fallback
    try:
        return confine(found, root)
    except PathNotAllowedError:
        return fallback


def shared_cluster(scheduler: str) -> Cluster:
    """One connection per scheduler in this process (``tcp://host:port``, or the path of a
    scheduler file), checked like the CLI's (``cluster.connect.open_cluster``)."""
    with _evaluators_lock:
        cluster = _clusters.get(scheduler)
        if cluster is None:
            is_file = not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://"))
            spec = ClusterSpec(
                scheduler=None if is_file else scheduler,
                scheduler_file=scheduler if is_file else None,
            )
            cluster = _clusters[scheduler] = open_cluster(spec)
        return cluster


def shared_evaluator(
    data_dir: Path,
    model_path: Path,
    normalisation: SignalNormalisation,
    cache: str | Path | None = None,
    fill: Fill = "median",
    scheduler: str | None = None,
) -> BaseEvaluator:
    """One evaluator per (data, model, signal normalisation, fill, scheduler) in this
    process; on the Dask cluster at ``scheduler`` when given (samples too large for this
    server's memory: a slider move then fans out to the workers)."""
    key = (str(data_dir), str(model_path), normalisation, fill, scheduler or "")
    cluster = shared_cluster(scheduler) if scheduler else None
    with _evaluators_lock:
        ev = _evaluators.get(key)
        if ev is None:
            if cluster is None:
                ev = Evaluator.open(
                    data_dir,
                    model_path,
                    signal_normalisation=normalisation,
                    fill=fill,
                    cache=cache,
                )
            else:
                ev = ClusterEvaluator.open(
                    data_dir,
                    model_path,
                    cluster=cluster,
                    signal_normalisation=normalisation,
                    fill=fill,
                    cache=cache,
                )
            _evaluators[key] = ev
        return ev


def model_args(value: object) -> list[str]:
    """The ``-- --model`` values of the app's command line: none, one, or several."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items]


def find_models(root: Path | None = None, depth: int = MODEL_SEARCH_DEPTH) -> list[Path]:
    """hepfm model files (``*.keras``) and upstream experiment folders under the root, at
    most ``depth`` folders deep, hidden folders skipped; sorted."""
    root = (root or data_root()).resolve()
    found: list[Path] = []
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        level = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        if level >= depth:
            dirs[:] = []
        if EXPERIMENT_CONFIG in files:
            found.append(here)
            dirs[:] = []  # an experiment's own files are not models of their own
            continue
        found += [here / f for f in sorted(files) if f.endswith(".keras")]
    return sorted(found)


def model_choices(
    primary: Path, given: Sequence[str] = (), root: Path | None = None
) -> tuple[dict[str, Path], list[str]]:
    """The app's model options, label -> path, and the labels selected at first.

    Options: the model shown (``primary``), the models of the command line (``given``),
    then those under the root (:func:`find_models`), each once; the first two are selected.
    Labels are :func:`engine.comparison.model_label`'s (name and short fingerprint); a file
    that is no usable model is left out. Raises ``PathNotAllowedError`` for a given model
    outside the root.
    """
    chosen = [primary, *(confine(g, root) for g in given)]
    wanted = {str(p.resolve()) for p in chosen}
    out: dict[str, Path] = {}
    selected: list[str] = []
    seen: set[str] = set()
    for path in [*chosen, *find_models(root)]:
        key = str(path.resolve())
        if key in seen:
            continue
        seen.add(key)
        try:
            base = model_label(describe_model(path))
        except HepfmError:
            continue
        label, n = base, 1
        while label in out:  # the same model at two paths
            n += 1
            label = f"{base}#{n}"
        out[label] = path
        if key in wanted:
            selected.append(label)
    return out, selected


def shared_models(
    data_dir: Path,
    models: Mapping[str, Path],
    normalisation: SignalNormalisation,
    cache: str | Path | None = None,
    fill: Fill = "median",
    scheduler: str | None = None,
) -> ModelSet:
    """The models chosen (label -> path) on one data folder, each through
    :func:`shared_evaluator` (so a model's passes are opened once per server process)."""
    return ModelSet(
        {
            label: [shared_evaluator(data_dir, path, normalisation, cache, fill, scheduler)]
            for label, path in models.items()
        }
    )


def curves(compared: ComparisonResult) -> Mapping[str, Separation] | pl.DataFrame:
    """What the ROC and rejection charts draw: one model's separations, or several models'
    curves tagged with their labels (overlaid: colour = signal, dash = model)."""
    results = compared.first_results()
    if len(results) == 1:
        return compared.primary.signals
    return model_curve_frame({label: r.signals for label, r in results.items()})


def settings_for(
    *,
    clip: tuple[float, float] | None,
    score: Score,
    beta: float,
    policy: Policy,
    signals: list[str],
) -> EvaluationSettings:
    """The evaluation settings the sidebar's controls describe."""
    return EvaluationSettings(
        clip=clip, score=score, beta=beta, policy=policy, signals=tuple(signals)
    )


def write_meeting_report(
    evaluator: BaseEvaluator | ModelSet, settings: EvaluationSettings, root: Path | None = None
) -> Path:
    """The app's report button: ``hepfm report`` for the current settings (and models),
    under the root."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = (root or data_root()) / "reports" / f"hepfm-report-{stamp}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_report(evaluator, settings, out)
