"""Two models compared on the workers: a partition's pairs are paged out and equal to the
pairing of the whole partition in one process."""

from __future__ import annotations

import numpy as np

from hepfm_core.cluster import pair_tasks, tasks
from hepfm_core.engine.guards.guarded import GuardSettings


def is_paged(a: np.ndarray) -> bool:
    return isinstance(a, np.memmap) and getattr(a, "_mmap", None) is not None


def test_a_comparison_pages_out_its_pairs(shard):
    from hepfm_core.engine.compare.partitioned import pair_partition

    prepared = tasks.prepare_partition(shard, "exp", "true")
    part = tasks.guard_partition(prepared, GuardSettings(score="kl"), "worst", "background", 0)
    other = tasks.guard_partition(
        prepared, GuardSettings(score="kl", clip=(-3.0, 3.0)), "worst", "background", 0
    )
    pairs = pair_tasks.pair_partitions(part, pair_tasks.kept_scores(other), True)
    whole = pair_partition(part.policy, other.policy, sort=True)
    assert pairs.sorted is not None and whole.sorted is not None
    for got, want in (
        (pairs.a, whole.a),
        (pairs.b, whole.b),
        (pairs.sorted.ref_a.scores, whole.sorted.ref_a.scores),
        (pairs.sorted.ref_b.scores, whole.sorted.ref_b.scores),
    ):
        assert is_paged(got)
        np.testing.assert_array_equal(got, want)
    assert pairs.counts == whole.counts
