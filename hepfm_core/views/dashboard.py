"""The dashboard's view-model: what the app needs besides tables, text and charts.

Paths are confined to the data root of :func:`hepfm_core.common.paths.data_root` (the rule
the CLI uses too), so a shared dashboard cannot be pointed at arbitrary files. Evaluators are
shared by every viewer of one server process (marimo runs each viewer as a thread), so each
cached scoring pass is memory-mapped once.
"""

from __future__ import annotations

import datetime as _dt
import threading
from pathlib import Path

from ..cluster.connect import Cluster, ClusterSpec, open_cluster
from ..cluster.evaluator import ClusterEvaluator
from ..common import paths
from ..engine.evaluate import BaseEvaluator, EvaluationSettings, Evaluator
from ..errors import HepfmError, PathNotAllowedError
from ..sources import dataset_for_model
from ..vocabulary import Fill, Policy, Score, SignalNormalisation
from .report import write_report

__all__ = [
    "confine",
    "data_for_model",
    "data_root",
    "project_root",
    "settings_for",
    "shared_cluster",
    "shared_evaluator",
    "write_meeting_report",
]

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
    evaluator: BaseEvaluator, settings: EvaluationSettings, root: Path | None = None
) -> Path:
    """The app's report button: ``hepfm report`` for the current settings, under the root."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = (root or data_root()) / "reports" / f"hepfm-report-{stamp}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_report(evaluator, settings, out)
