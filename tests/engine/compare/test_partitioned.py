"""engine.compare.partitioned: a paired comparison merged from partitions equals the one of
the whole sample (the DeLong test and the efficiency differences, every number), with ties,
``+inf``, empty partitions, sketched tops, and classes too small to test."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hepfm_core.engine.compare.efficiency import efficiency_differences
from hepfm_core.engine.compare.paired import (
    Moments,
    PlacementSums,
    delong_test,
    pair_events,
    paired_background,
)
from hepfm_core.engine.compare.partitioned import (
    merge_pair_counts,
    merge_pairs,
    pair_partition,
    paired_signal,
    paired_windows,
    summarize_pairs,
)
from hepfm_core.engine.compare.results import PairCounts
from hepfm_core.engine.distributed.order_statistics import merge_windows, plan_windows
from hepfm_core.engine.guards.policy import PolicyScores
from hepfm_core.engine.metrics.working_points import needed_ranks

EFFS = (0.3, 0.1, 0.01)
MIN_PASS = 2


def _scores(rng, n: int, shift: float, inf_share: float) -> np.ndarray:
    """Scores on a coarse grid (many ties) with some +inf."""
    x = np.round(rng.normal(shift, 1.0, n), 1)
    x[rng.random(n) < inf_share] = np.inf
    return x


def _cuts(n: int, k: int, rng) -> list[tuple[int, int]]:
    """``k`` consecutive partitions of ``n`` events, some of them empty."""
    edges = np.sort(rng.integers(0, n + 1, k - 1))
    bounds = np.concatenate(([0], edges, [n]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def _merged(bkg_a, bkg_b, signals, cuts, *, points=None):
    sent = {n: paired_signal(a, b) for n, (a, b) in signals.items()}
    refs = [paired_background(bkg_a[i:j], bkg_b[i:j]) for i, j in cuts]
    n = int(bkg_a.size)
    ranks = needed_ranks(n, EFFS, MIN_PASS)
    k = max(ranks, default=0)
    parts = [summarize_pairs(r, sent, k=k, points=points) for r in refs]
    tails = None
    if points is not None:
        wa = plan_windows([p.top_a for p in parts], ranks)
        wb = plan_windows([p.top_b for p in parts], ranks)
        answers = [paired_windows(r, wa, wb) for r in refs]
        tails = (
            merge_windows([w[0] for w in answers], wa),
            merge_windows([w[1] for w in answers], wb),
        )
    return merge_pairs(parts, signals, bkg_effs=EFFS, min_bkg_pass=MIN_PASS, tails=tails)


def _assert_whole(merged, bkg_a, bkg_b, signals) -> None:
    for name, (ya, yb) in signals.items():
        test, diffs = merged[name]
        whole = delong_test(bkg_a, bkg_b, ya, yb)
        assert test.to_json_dict() == whole.to_json_dict(), name
        expected = efficiency_differences(
            bkg_a, bkg_b, ya, yb, bkg_effs=EFFS, min_bkg_pass=MIN_PASS
        )
        assert [d.to_json_dict() for d in diffs] == [d.to_json_dict() for d in expected]
        for d, e in zip(diffs, expected, strict=True):  # every field of both working points
            assert (vars(d.point_a), vars(d.point_b)) == (vars(e.point_a), vars(e.point_b))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("points", [None, 4])
def test_merged_partitions_equal_the_whole(seed, points):
    rng = np.random.default_rng(seed)
    n = 3000
    bkg_a = _scores(rng, n, 0.0, 0.01)
    bkg_b = np.where(rng.random(n) < 0.5, bkg_a, _scores(rng, n, 0.0, 0.02))
    signals = {}
    for name, m in (("big", 400), ("small", 30)):
        ya = _scores(rng, m, 1.0, 0.05)
        signals[name] = (ya, np.where(rng.random(m) < 0.3, ya, _scores(rng, m, 0.7, 0.05)))
    merged = _merged(bkg_a, bkg_b, signals, _cuts(n, 5, rng), points=points)
    _assert_whole(merged, bkg_a, bkg_b, signals)
    assert any(d.delta_eff_sig is not None for _, diffs in merged.values() for d in diffs)
    assert all(t.ok and t.z is not None for t, _ in merged.values())


def test_identical_models_merge_to_no_difference():
    rng = np.random.default_rng(1)
    bkg, sig = _scores(rng, 500, 0.0, 0.02), _scores(rng, 50, 1.0, 0.1)
    merged = _merged(bkg, bkg, {"s": (sig, sig)}, [(0, 100), (100, 100), (100, 500)])
    test, diffs = merged["s"]
    assert (test.delta_auc, test.delta_auc_err, test.z, test.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert all(d.delta_eff_sig in (0.0, None) for d in diffs)


@pytest.mark.parametrize(
    ("n_bkg", "n_sig", "status"),
    [(0, 20, "no_background_events"), (50, 0, "no_signal_events"), (50, 1, "too_few_events")],
)
def test_classes_too_small_merge_like_the_whole(n_bkg, n_sig, status):
    rng = np.random.default_rng(2)
    bkg_a, bkg_b = _scores(rng, n_bkg, 0.0, 0.0), _scores(rng, n_bkg, 0.2, 0.0)
    ya, yb = _scores(rng, n_sig, 1.0, 0.0), _scores(rng, n_sig, 0.5, 0.0)
    merged = _merged(bkg_a, bkg_b, {"s": (ya, yb)}, [(0, n_bkg // 2), (n_bkg // 2, n_bkg)])
    assert merged["s"][0].status == status
    _assert_whole(merged, bkg_a, bkg_b, {"s": (ya, yb)})


def _policy(values: np.ndarray, mask: np.ndarray) -> PolicyScores:
    kept = values[mask]
    return PolicyScores(
        values=kept,
        kept=int(mask.sum()),
        excluded={"x": int((~mask).sum())},
        total=int(mask.size),
        policy="drop",
        kept_mask=mask,
    )


def test_partition_pairs_add_up_to_the_sample_pairs():
    rng = np.random.default_rng(3)
    n = 1000
    a, b = rng.normal(size=n), rng.normal(size=n)
    keep_a, keep_b = rng.random(n) < 0.9, rng.random(n) < 0.8
    whole = pair_events(a[keep_a], b[keep_b], keep_a, keep_b)
    parts = []
    for i, j in ((0, 300), (300, 300), (300, n)):
        pa = _policy(a[i:j], keep_a[i:j])
        pb = _policy(b[i:j], keep_b[i:j])
        parts.append(pair_partition(pa, pb, sort=i == 0))
    assert parts[0].sorted is not None and parts[1].sorted is None
    assert merge_pair_counts([p.counts for p in parts]) == PairCounts.of(whole)
    np.testing.assert_array_equal(np.concatenate([p.a for p in parts]), whole.a)
    np.testing.assert_array_equal(np.concatenate([p.b for p in parts]), whole.b)


def test_placement_moments_add_over_partitions():
    c = np.array([3, 0, 7, 7, 2], dtype=np.int64)
    assert Moments.of(c[:2]) + Moments.of(c[2:]) == Moments.of(c) == Moments(5, 19, 111)
    none = PlacementSums.none(0, 3)
    assert none.c01_a == Moments(0, 0, 0) and none.n_signal == 3


def test_unpaired_signal_is_refused():
    with pytest.raises(ValueError, match="not paired"):
        paired_signal(np.arange(3.0), np.arange(4.0))
