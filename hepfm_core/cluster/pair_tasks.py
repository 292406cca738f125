"""Two models compared on the workers: model A's guarded partition paired with B's kept scores
of the same events where A's lives, paged out like a guarded partition, and the bounded
summaries (pair counts, sorted pairs' tops or windows) that travel to the client."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..common.cache import cache_error
from ..common.spill import release, spill
from ..engine.compare.paired import PairedBackground
from ..engine.compare.partitioned import (
    PairedSignal,
    PairedSummary,
    PartitionPairs,
    pair_partition,
    paired_windows,
    summarize_pairs,
)
from ..engine.compare.results import PairCounts
from ..engine.distributed.order_statistics import Window, WindowScores
from ..engine.guards.policy import PolicyScores
from .tasks import GuardedPartition, release_part

__all__ = [
    "kept_scores",
    "pair_counts",
    "pair_partitions",
    "pairs_summary",
    "pairs_windows",
]


# -- two models compared --------------------------------------------------------------------
def kept_scores(part: GuardedPartition) -> PolicyScores:
    """The partition's kept scores and mask under its policy: what one model's partition
    sends to the worker where the other model's partition of the same events lives."""
    return part.policy


def pair_partitions(part_a: GuardedPartition, kept_b: PolicyScores, sort: bool) -> PartitionPairs:
    """Model A's partition paired by event with model B's kept scores of the same events
    (``compare.partitioned.pair_partition``); ``sort``: a background partition's, sorted
    per model and kept here for the summaries."""
    if kept_b.total != part_a.policy.total:
        raise ValueError(
            f"partition {part_a.index} of {part_a.sample!r}: model A holds "
            f"{part_a.policy.total} events, model B {kept_b.total}"
        )
    pairs = pair_partition(part_a.policy, kept_b, sort=sort)
    release_part(part_a)
    release(kept_b.values, kept_b.kept_mask)
    return _paged_pairs(pairs, None if part_a.spill is None else Path(part_a.spill))


def _paged_pairs(pairs: PartitionPairs, root: Path | None) -> PartitionPairs:
    """``pairs`` paged out under ``root`` like a guarded partition (an array the sorted
    pairs share with the pairs is paged out once)."""
    if root is None:
        return pairs
    done: dict[int, np.ndarray] = {}

    def page(a: np.ndarray) -> np.ndarray:
        if id(a) not in done:
            try:
                done[id(a)] = spill(a, root)
            except OSError as exc:
                raise cache_error(exc, root) from exc
        return done[id(a)]

    s = pairs.sorted
    ordered = (
        None
        if s is None
        else dataclasses.replace(
            s,
            a=page(s.a),
            b=page(s.b),
            ref_a=dataclasses.replace(s.ref_a, scores=page(s.ref_a.scores)),
            ref_b=dataclasses.replace(s.ref_b, scores=page(s.ref_b.scores)),
        )
    )
    return dataclasses.replace(pairs, a=page(pairs.a), b=page(pairs.b), sorted=ordered)


def _release_pairs(pairs: PartitionPairs) -> None:
    release(pairs.a, pairs.b)
    if pairs.sorted is not None:
        s = pairs.sorted
        release(s.a, s.b, s.ref_a.scores, s.ref_b.scores)


def pair_counts(pairs: PartitionPairs) -> PairCounts:
    """What a background partition's pairs ship in the first round: their counts."""
    return pairs.counts


def _sorted_pairs(pairs: PartitionPairs) -> PairedBackground:
    if pairs.sorted is None:
        raise ValueError("a background partition's pairs are sorted (pair_partitions, sort)")
    return pairs.sorted


def pairs_summary(
    pairs: PartitionPairs, signals: Mapping[str, PairedSignal], k: int, points: int | None
) -> PairedSummary:
    """``compare.partitioned.summarize_pairs`` of a background partition's pairs: each
    model's top scores (or a sketch) and ties against every signal, and the moments of the
    partition's DeLong placements."""
    summary = summarize_pairs(_sorted_pairs(pairs), signals, k=k, points=points)
    _release_pairs(pairs)
    return summary


def pairs_windows(
    pairs: PartitionPairs, windows_a: Sequence[Window], windows_b: Sequence[Window]
) -> tuple[WindowScores, WindowScores]:
    """After sketches: each model's scores of the partition's pairs inside its windows."""
    scores = paired_windows(_sorted_pairs(pairs), windows_a, windows_b)
    _release_pairs(pairs)
    return scores
