"""Waiting on a Dask cluster without waiting forever: the scheduler may outlive its workers.

Dask keeps a task whose workers all died in its "no-worker" state until a worker joins, so a
client waiting on its result waits forever, silently. Here every wait polls: while futures
are pending, the scheduler's workers are counted every ``POLL_S`` seconds, and when there
has been none for ``Cluster.spec.no_worker_timeout`` seconds the wait ends with a
``ClusterError`` saying so (the command exits 2). A slow task with workers alive is waited
for as long as it takes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import ClusterError
from .connect import Cluster

__all__ = ["POLL_S", "broadcast", "cluster_errors", "completed", "gather", "n_workers"]

POLL_S = 1.0


def n_workers(cluster: Cluster) -> int:
    """The workers the scheduler knows now."""
    return len(cluster.client.scheduler_info(n_workers=-1).get("workers", {}))


def _futures(obj: Any) -> list[Any]:
    """Every future inside ``obj`` (a future, or lists and dicts of them)."""
    from distributed import Future

    if isinstance(obj, Future):
        return [obj]
    if isinstance(obj, dict):
        return [f for v in obj.values() for f in _futures(v)]
    if isinstance(obj, list | tuple):
        return [f for v in obj for f in _futures(v)]
    return []


class _Watch:
    """Counts the time without workers across polls."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.since: float | None = None

    def check(self) -> None:
        if n_workers(self.cluster) > 0:
            self.since = None
            return
        now = time.monotonic()
        self.since = self.since if self.since is not None else now
        limit = self.cluster.spec.no_worker_timeout
        if now - self.since >= limit:
            raise ClusterError(
                f"the scheduler {self.cluster.address} has had no worker for {limit:g} s while "
                "work was pending (every worker died or was stopped)",
                self.cluster.spec.where,
                "look at the workers' logs (memory limit? killed by the batch system?), "
                "start workers again (`dask worker ADDRESS`) and rerun: finished shards are "
                "kept in the cache",
            )


def completed(cluster: Cluster, futures: Iterable[Any]) -> Iterator[Any]:
    """The futures as they finish (any order), ending with a ``ClusterError`` once the
    scheduler has had no worker for the spec's ``no_worker_timeout`` seconds."""
    from distributed import wait

    pending = set(futures)
    watch = _Watch(cluster)
    while pending:
        try:
            done, pending = wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED")
        except TimeoutError:  # distributed's wait raises when nothing finished in time
            watch.check()
            continue
        yield from done


def gather(cluster: Cluster, obj: Any) -> Any:
    """``client.gather(obj)`` once every future in it is done, bounded as :func:`completed`."""
    for _ in completed(cluster, _futures(obj)):
        pass
    return cluster.client.gather(obj)


def broadcast(cluster: Cluster, values: Mapping[str, Any]) -> dict[str, Any]:
    """Each of ``values`` on every worker, as a future under a key of its own content (by
    name here). Why not ``client.scatter(values)``: a dict's own keys become the Dask keys,
    so the evaluator's and a comparison's scatters of the same signal names shared a key,
    and a task could read the other's value (seen: a pairing task given a signal's scores
    for its paired summary)."""
    if not values:
        return {}
    names = list(values)
    futures = cluster.client.scatter(
        [values[n] for n in names], broadcast=True, timeout=cluster.spec.no_worker_timeout
    )
    return dict(zip(names, futures, strict=True))


@contextlib.contextmanager
def cluster_errors(cluster: Cluster) -> Iterator[None]:
    """Errors of the cluster itself (scheduler gone, workers lost beyond retries) as
    ``ClusterError``; hepfm's own errors raised by a task pass through as they are."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    try:
        yield
    except KilledWorker as exc:
        raise ClusterError(
            f"a task killed its workers again and again and was given up ({exc})",
            cluster.spec.where,
            "look at the workers' logs (memory limit? a crash in TensorFlow?); smaller "
            "--partition-events lowers a task's memory",
        ) from exc
    except (FutureCancelledError, OSError, TimeoutError) as exc:
        raise ClusterError(
            f"the cluster or one of its tasks failed ({type(exc).__name__}: {exc})",
            cluster.spec.where,
            "check that the scheduler and its workers still run and have disk space for the "
            "cache, then run again (finished shards are kept in the cache)",
        ) from exc
