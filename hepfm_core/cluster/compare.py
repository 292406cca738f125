"""Two models compared on a Dask cluster: the events paired on the workers, summaries merged.

``ClusterPairing`` is what a ``ClusterEvaluator`` gives ``engine.compare.models.ModelSet``
for a pair of models whose scores live on the same cluster (``pairing_with``). Per sample
and partition, model A's guarded partition stays where it was computed; model B's kept
scores of the same events (about 9 bytes an event) are sent there, and the pairs are formed
on that worker (``pair_tasks.pair_partitions``). Then, as for one model
(``engine.compare.partitioned``):

1. signal partitions ship their pairs (signals are small); background partitions ship
   their pair counts and keep their pairs sorted per model;
2. every background partition, sent each signal's pairs, ships per model its top scores
   and ties, and the moments of its DeLong placements (``pair_tasks.pairs_summary``);
3. only with too many top scores to ship: sketches, then each model's windows.

The client merges them (``partitioned.merge_pairs``) into the very test and efficiency
differences one process computes; no background score travels to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine.compare.pairing import Pairing
from ..engine.compare.partitioned import (
    PartitionPairs,
    SignalTest,
    merge_pair_counts,
    merge_pairs,
    paired_signal,
)
from ..engine.compare.results import PairCounts
from ..engine.distributed.order_statistics import merge_windows, plan_windows
from ..engine.metrics.working_points import check_effs, needed_ranks
from . import pair_tasks, watch
from .connect import Cluster

__all__ = ["ClusterPairing", "Guarded"]


Guarded = Callable[[str], list[Any]]
"""A sample's name to the futures of its partitions guarded under the setting compared."""


class ClusterPairing(Pairing):
    """Models A and B of one cluster, under one setting: their pairs formed on the workers.

    Parameters
    ----------
    cluster : Cluster
        The cluster both models' partitions live on (one client).
    guarded_a, guarded_b : callable
        Per sample, the futures of each model's guarded partitions (the same partition
        bounds for both: the same data and partition size).
    min_bkg_pass : int
        As for ``efficiency.efficiency_differences``.
    top_budget : int
        Bytes of top scores all background partitions may ship for both models in one
        round; beyond it, sketches and the windows' round.
    """

    def __init__(
        self,
        cluster: Cluster,
        guarded_a: Guarded,
        guarded_b: Guarded,
        *,
        min_bkg_pass: int,
        top_budget: int,
    ) -> None:
        self.cluster = cluster
        self._guarded = (guarded_a, guarded_b)
        self.min_bkg_pass = min_bkg_pass
        self.top_budget = top_budget
        self._pairs: dict[str, list[Any]] = {}
        self._counts: dict[str, PairCounts] = {}
        self._signals: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _gather(self, futures: Any) -> Any:
        with watch.cluster_errors(self.cluster):
            return watch.gather(self.cluster, futures)

    def pairs(self, name: str) -> list[Any]:
        """Futures of sample ``name``'s pairs, one per partition, each formed on the worker
        that holds model A's partition (B's kept scores sent there)."""
        if name not in self._pairs:
            client = self.cluster.client
            parts_a, parts_b = (guarded(name) for guarded in self._guarded)
            if len(parts_a) != len(parts_b):
                raise ValueError(
                    f"{name!r} is cut into {len(parts_a)} partitions for model A and "
                    f"{len(parts_b)} for model B"
                )
            kept_b = [client.submit(pair_tasks.kept_scores, g, pure=False) for g in parts_b]
            with watch.cluster_errors(self.cluster):
                for f in watch.completed(self.cluster, parts_a):
                    if f.status == "error":
                        f.result()  # raises the task's error here
                homes = client.who_has(parts_a)
            sort = name == "background"
            self._pairs[name] = [
                client.submit(
                    pair_tasks.pair_partitions,
                    a,
                    b,
                    sort,
                    pure=False,
                    workers=list(homes.get(a.key, ())) or None,
                    allow_other_workers=True,
                )
                for a, b in zip(parts_a, kept_b, strict=True)
            ]
        return self._pairs[name]

    def counts(self, name: str) -> PairCounts:
        if name not in self._counts:
            if name == "background":
                client = self.cluster.client
                parts = [
                    client.submit(pair_tasks.pair_counts, p, pure=False) for p in self.pairs(name)
                ]
                self._counts[name] = merge_pair_counts(self._gather(parts))
            else:
                self._signal(name)
        return self._counts[name]

    def _signal(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A signal's pairs, in event order, here (and its counts)."""
        if name not in self._signals:
            got: list[PartitionPairs] = self._gather(self.pairs(name))
            self._counts[name] = merge_pair_counts([p.counts for p in got])
            self._signals[name] = (
                np.concatenate([np.empty(0), *(p.a for p in got)]),
                np.concatenate([np.empty(0), *(p.b for p in got)]),
            )
        return self._signals[name]

    def tests(self, names: Sequence[str], bkg_effs: Sequence[float]) -> dict[str, SignalTest]:
        effs = check_effs(bkg_effs)
        signals = {n: self._signal(n) for n in names}
        n_background = self.counts("background").both
        background = self.pairs("background")
        client = self.cluster.client
        ranks = needed_ranks(n_background, effs, self.min_bkg_pass)
        k = max(ranks, default=0)
        points = None
        if 2 * 8 * k * len(background) > self.top_budget:
            points = max(64, int(np.sqrt(2 * k)))
        sent = {n: paired_signal(a, b) for n, (a, b) in signals.items()}
        with watch.cluster_errors(self.cluster):
            shipped = watch.broadcast(self.cluster, sent)
        summaries = self._gather(
            [
                client.submit(pair_tasks.pairs_summary, p, shipped, k, points, pure=False)
                for p in background
            ]
        )
        tails = None
        if points is not None:
            windows_a = plan_windows([s.top_a for s in summaries], ranks)
            windows_b = plan_windows([s.top_b for s in summaries], ranks)
            answers = self._gather(
                [
                    client.submit(pair_tasks.pairs_windows, p, windows_a, windows_b, pure=False)
                    for p in background
                ]
            )
            tails = (
                merge_windows([w[0] for w in answers], windows_a),
                merge_windows([w[1] for w in answers], windows_b),
            )
        return merge_pairs(
            summaries, signals, bkg_effs=effs, min_bkg_pass=self.min_bkg_pass, tails=tails
        )
