"""The evaluator behind evaluate, report and events: settings checked first, then the data
and model opened (in this process or on the Dask cluster the flags name) and scored."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .outputs import warn
from .to_settings import cluster_spec, evaluation_settings, open_keywords

if TYPE_CHECKING:
    from ..cluster.connect import ClusterSpec

__all__ = ["cluster_opener", "first_model", "open_evaluator", "resolve_data", "scored_evaluator"]


def resolve_data(args: argparse.Namespace) -> str:
    """``--data``, else the dataset the (first) model names (an upstream experiment's)."""
    if args.data:
        return args.data
    from ..errors import SettingsError
    from ..sources import dataset_for_model

    model = first_model(args)
    found = dataset_for_model(model)
    if found is not None:
        return str(found)
    raise SettingsError(
        "no --data given and none found for the model",
        model,
        "pass --data DIR (a hepfm data folder or an upstream dataset folder)",
    )


def first_model(args: argparse.Namespace) -> str:
    """The (first) model path of ``--model``: one string, or the first of several."""
    if isinstance(args.model, str):
        return args.model
    from ..engine.compare.specs import parse_model_specs

    return str(parse_model_specs(args.model)[0].paths[0])


def open_evaluator(
    stack: contextlib.ExitStack,
    data: str,
    model: str | Path,
    args: argparse.Namespace,
    spec: ClusterSpec | None,
) -> Any:
    """One model's evaluator on ``data``: in this process (``spec`` None), or on the cluster
    ``spec`` names (entered on ``stack``, so closed with it; ``--partition-events`` checked
    before it is reached)."""
    if spec is None:
        from ..engine.evaluate import Evaluator

        return Evaluator.open(data, model, **open_keywords(args))
    from ..cluster.connect import open_cluster
    from ..cluster.evaluator import ClusterEvaluator, check_partition_events

    check_partition_events(args.partition_events)
    cluster = stack.enter_context(open_cluster(spec))
    return ClusterEvaluator.open(
        data,
        model,
        cluster=cluster,
        partition_events=args.partition_events,
        **open_keywords(args),
    )


def cluster_opener(stack: contextlib.ExitStack, args: argparse.Namespace, spec: Any) -> Any:
    """How each model of a comparison is opened on the cluster the flags name (the models
    are then paired by event on its workers)."""
    from ..cluster.connect import open_cluster
    from ..cluster.evaluator import ClusterEvaluator, check_partition_events

    check_partition_events(args.partition_events)
    cluster = stack.enter_context(open_cluster(spec))
    return ClusterEvaluator.opener(
        cluster, fill=args.fill, cache=args.cache_dir, partition_events=args.partition_events
    )


@contextlib.contextmanager
def scored_evaluator(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """Settings checked first, then the data and model opened and every sample scored: in
    this process, or on the Dask cluster the flags name (closed on the way out).

    Several models (``--model`` given more than once, or a seed group) give an
    ``engine.compare.models.ModelSet`` instead of one evaluator (on a cluster, its models
    paired by event on the workers).
    """
    from ..common.progress import TextProgress
    from ..engine.compare.models import ModelSet
    from ..engine.compare.specs import is_comparison, parse_model_specs

    settings = evaluation_settings(args)
    specs = parse_model_specs(args.model)
    spec = cluster_spec(args)
    several = is_comparison(specs)
    data = resolve_data(args)
    progress = None if args.quiet else TextProgress()
    with contextlib.ExitStack() as stack:
        if several:
            opener = None if spec is None else cluster_opener(stack, args, spec)
            evaluator: Any = ModelSet.open(data, specs, opener=opener, **open_keywords(args))
        else:
            evaluator = open_evaluator(stack, data, specs[0].paths[0], args, spec)
        evaluator.check_signals(settings.signals)
        evaluator.score_all(progress=progress)
        if not isinstance(evaluator, ModelSet):  # a model set says its own (with labels)
            warn(evaluator.warnings())
        yield settings, evaluator
