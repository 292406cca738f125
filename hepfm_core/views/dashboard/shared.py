"""Objects shared by every viewer of one server process (marimo runs each viewer as a
thread): evaluators, cluster connections, investigators, loaded models and residual
profiles, each made once under a lock, so that a cached scoring pass is memory-mapped once."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...cluster.connect import Cluster, ClusterSpec, open_cluster
from ...engine.compare.models import ModelSet
from ...engine.evaluate import (
    BaseEvaluator,
    Evaluator,
)
from ...engine.investigate.investigator import Investigator, RemoteEvents
from ...engine.investigate.residuals import ResidualProfile
from ...sources import load_model
from ...vocabulary import Fill, SignalNormalisation

__all__ = [
    "residual_profiles",
    "shared_cluster",
    "shared_evaluator",
    "shared_investigator",
    "shared_model",
    "shared_models",
]


_evaluators: dict[tuple[str, str, str, str, str], BaseEvaluator] = {}
_clusters: dict[str, Cluster] = {}
_evaluators_lock = threading.RLock()
_investigators: dict[int, tuple[BaseEvaluator, Investigator]] = {}
_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()
# keyed by the investigator itself, held weakly: an ``id`` is reused once its object dies
_profiles: weakref.WeakKeyDictionary[
    Investigator, dict[tuple[str, ...], dict[str, ResidualProfile]]
] = weakref.WeakKeyDictionary()


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
                # imported here: a page without a cluster does not import Dask (0.05 s of
                # its first view)
                from ...cluster.evaluator import ClusterEvaluator

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


def shared_investigator(evaluator: BaseEvaluator) -> Investigator | None:
    """One investigator per evaluator in this process (its model loaded once). On a cluster
    (``RemoteEvents``: ``-- --scheduler``) its selections are computed on the workers and
    only the shown events' pass rows come here; None for any other evaluator."""
    if not (isinstance(evaluator, Evaluator) or isinstance(evaluator, RemoteEvents)):
        return None
    with _evaluators_lock:
        held = _investigators.get(id(evaluator))
        if held is None or held[0] is not evaluator:
            investigator = Investigator(evaluator, model_loader=lambda: shared_model(evaluator))
            held = _investigators[id(evaluator)] = (evaluator, investigator)
        return held[1]


def shared_model(evaluator: BaseEvaluator) -> Any:
    """The model of ``evaluator``, loaded once per file content in this process: evaluators
    of one model on other fills or normalisations share it, and its compiled forward
    function (``scoring.forward_for`` keeps one per model object). Changing the fill then
    loads no model again."""
    key = (str(evaluator.model_path), evaluator.model_info.fingerprint)
    with _models_lock:  # one load at a time: two investigators of one model wait for it
        model = _models.get(key)
        if model is None:
            model = _models[key] = load_model(evaluator.model_path)
        return model


def residual_profiles(
    investigator: Investigator, names: Sequence[str]
) -> dict[str, ResidualProfile]:
    """:meth:`Investigator.residuals` of ``names``, computed once per investigator (they
    depend on the model and the data only, not on the settings)."""
    key = tuple(names)
    with _evaluators_lock:
        held = _profiles.get(investigator, {}).get(key)
    if held is None:
        held = investigator.residuals(names)
        with _evaluators_lock:
            _profiles.setdefault(investigator, {})[key] = held
    return held
