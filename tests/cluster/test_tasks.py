"""hepfm_core.cluster.tasks, run in this process: what a worker keeps between tasks is
paged out to the cache's spill folder, and equals what one process computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hepfm_core.cluster import tasks
from hepfm_core.common.spill import MIN_SPILL_BYTES
from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
from hepfm_core.engine.guards.policy import apply_policy
from hepfm_core.engine.metrics.binning import shared_log_edges, tally
from hepfm_core.engine.metrics.roc import prepare_background


def is_paged(a: np.ndarray) -> bool:
    return isinstance(a, np.memmap) and getattr(a, "_mmap", None) is not None


@pytest.mark.parametrize("policy", ["worst", "drop"])
def test_a_partition_is_paged_out_and_equal_to_one_process(shard, policy):
    whole = prepare(tasks.open_shard(shard), "exp", "true")
    prepared = tasks.prepare_partition(shard, "exp", "true")
    for name in ("kl", "radius", "s_min", "s_max", "kl_mag", "latent_cause", "recon_cause"):
        a = getattr(prepared, name)
        assert is_paged(a) == (a.nbytes >= MIN_SPILL_BYTES), name  # small ones stay
        np.testing.assert_array_equal(a, getattr(whole, name))
    assert is_paged(prepared.kl)
    assert prepared.unguarded_f32 == whole.unguarded_f32

    for settings in (
        GuardSettings(score="kl", clip=(-3.0, 3.0)),
        GuardSettings(score="total", beta=0.5),
    ):
        part = tasks.guard_partition(prepared, settings, policy, "background", 0)
        expected = guard(whole, settings)
        kept = apply_policy(expected, policy)
        assert is_paged(part.guarded.scores) and is_paged(part.policy.values)
        np.testing.assert_array_equal(part.guarded.scores, expected.scores)  # NaN where NaN
        np.testing.assert_array_equal(part.guarded.causes, expected.causes)
        np.testing.assert_array_equal(part.policy.values, kept.values)
        np.testing.assert_array_equal(part.policy.kept_mask, kept.kept_mask)
        assert part.guarded.counts == expected.counts
        ref = tasks.sorted_background(part)
        assert is_paged(ref.scores)
        np.testing.assert_array_equal(ref.scores, prepare_background(kept.values).scores)
        assert tasks.round_one(part, False).counts.kept == kept.kept
        edges = shared_log_edges({"x": np.asarray(expected.scores)}, n_bins=40)
        by_pass = tasks.tally_partition(part, edges)
        by_sort = tasks.tally_sorted_partition(ref, edges, expected.counts.total)
        for field in ("total", "underflow", "overflow", "nan", "posinf", "neginf"):
            assert getattr(by_sort, field) == getattr(by_pass, field), field
        np.testing.assert_array_equal(by_sort.counts, tally(expected.scores, edges).counts)
        np.testing.assert_array_equal(by_sort.counts, by_pass.counts)

    # one folder of this process under the cache, its files already unlinked
    root = tasks.spill_root(shard.path)
    assert root == Path(shard.path).parents[2] / tasks.SPILL_FOLDER
    (folder,) = root.iterdir()
    assert list(folder.iterdir()) == []


def test_a_pass_not_from_a_shard_stays_in_memory():
    assert tasks.spill_root(None) is None


@pytest.mark.parametrize("policy", ["worst", "drop"])
@pytest.mark.parametrize("score", ["kl", "total", "radius", "reconstruction"])
def test_a_clip_change_merges_into_the_sorted_base_as_a_sort_would(shard, policy, score):
    prepared = tasks.prepare_partition(shard, "exp", "true")
    base = tasks.sorted_base(prepared, GuardSettings(score=score, clip=(-1.0, 1.0)), policy)
    assert is_paged(base.scores) and is_paged(base.rank)
    merged = 0
    for clip in (None, (-20.0, 20.0), (-6.0, 6.0), (-3.0, 2.0), (-0.5, 0.5)):
        part = tasks.guard_partition(
            prepared, GuardSettings(score=score, clip=clip, beta=0.5), policy, "background", 0
        )
        if score == "total":  # the base of another beta would not do: its own
            base = tasks.sorted_base(prepared, part.guarded.settings, policy)
        ref = tasks.sorted_background(part, base, prepared)
        whole = prepare_background(part.policy.values)
        np.testing.assert_array_equal(ref.scores, whole.scores)
        assert ref.n == whole.n == part.policy.kept
        merged += tasks._merged(part, base, prepared) is not None
    assert merged >= 3  # the narrow clips change too many events: sorted instead


def test_a_sorted_background_lets_go_of_the_prepared_pages_its_merge_read(shard, monkeypatch):
    """The merge from the sorted base reads which events leave the clip from the prepared
    pass; those pages are let go after (they stayed resident before: a worker holding 27 M
    events kept about 230 MB of them after an evaluation, 0.93 against 0.72 GiB)."""
    prepared = tasks.prepare_partition(shard, "exp", "true")
    settings = GuardSettings(score="kl", clip=(-20.0, 20.0))
    base = tasks.sorted_base(prepared, settings, "worst")
    part = tasks.guard_partition(prepared, settings, "worst", "background", 0)
    let_go = []
    real = tasks._release_prepared
    monkeypatch.setattr(tasks, "_release_prepared", lambda p: let_go.append(p) or real(p))
    assert tasks._merged(part, base, prepared) is not None  # the merge's path
    tasks.sorted_background(part, base, prepared)
    assert let_go == [prepared]


def test_dask_sees_what_moving_a_partition_costs_and_a_pass_travels_as_its_folder(shard):
    import pickle

    from dask.sizeof import sizeof

    prepared = tasks.prepare_partition(shard, "exp", "true")
    arrays = sum(
        getattr(prepared, n).nbytes
        for n in ("kl", "radius", "s_min", "s_max", "kl_mag", "latent_cause", "recon_cause")
    )
    assert arrays <= sizeof(prepared) == tasks.held_bytes(prepared) < arrays + 2**16
    moved = pickle.loads(pickle.dumps(prepared.pass_))
    assert moved.directory == prepared.pass_.directory
    assert len(pickle.dumps(prepared.pass_)) < 1024  # the folder, not the arrays
    np.testing.assert_array_equal(moved.z_log_var, prepared.pass_.z_log_var)
