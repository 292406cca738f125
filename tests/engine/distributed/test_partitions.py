"""Partition summaries and their merge (engine.distributed.partitions,
engine.distributed.order_statistics) against the single-process path: counts, histogram
edges and tallies, and every number of a Separation must come out EQUAL to what guards,
policy, binning and metrics give on the whole sample. The order statistics' own tests are
in test_order_statistics.py."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepfm_core.engine.distributed.order_statistics import (
    Sketch,
    merge_top,
    merge_windows,
    plan_windows,
    top_scores,
    window_scores,
)
from hepfm_core.engine.distributed.partitions import (
    BackgroundSummary,
    PartitionCounts,
    merge_background,
    merge_counts,
    merge_edges,
    merge_separation,
    merge_tallies,
    partition_counts,
    signal_ties,
    signal_values,
    summarize_background,
)
from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
from hepfm_core.engine.guards.policy import apply_policy
from hepfm_core.engine.metrics.binning import (
    histogram_table,
    histogram_table_from_tallies,
    overflow_table,
    overflow_table_from_tallies,
    shared_log_edges,
    tally,
)
from hepfm_core.engine.metrics.separation import Separation, prepare_background, separation
from hepfm_core.engine.metrics.working_points import needed_ranks
from hepfm_core.engine.scoring.passes import (
    DECODER_FINITE,
    ENCODER_FINITE,
    INPUT_FINITE,
    RECON_F16_OVERFLOW,
    RECON_F32_OVERFLOW,
    ScoringPass,
)
from hepfm_core.engine.scoring.run import FIELDS
from hepfm_core.vocabulary import DEFAULT_BKG_EFFS

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- helpers ------------------------------------------------------------------------------
def cut(x: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """``x`` in consecutive pieces of ``sizes`` (which add up to ``x.size``)."""
    assert sum(sizes) == x.size
    return np.split(x, np.cumsum(sizes)[:-1]) if sizes else []


def random_sizes(rng: np.random.Generator, n: int, parts: int) -> list[int]:
    """``parts`` unequal sizes adding up to ``n``, some of them usually 0."""
    bounds = np.sort(rng.integers(0, n + 1, parts - 1))
    return np.diff(np.concatenate(([0], bounds, [n]))).tolist()


def assert_same_separation(merged: Separation, whole: Separation) -> None:
    """Every field equal: numbers exactly, ROC arrays element by element."""
    assert merged.to_json_dict() == whole.to_json_dict()
    for f in dataclasses.fields(Separation):
        a, b = getattr(merged, f.name), getattr(whole, f.name)
        if f.name in ("roc", "roc_thinned"):
            assert (a is None) == (b is None), f.name
            if a is not None:
                for arr in ("fpr", "tpr", "thresholds"):
                    np.testing.assert_array_equal(getattr(a, arr), getattr(b, arr))
        elif f.name == "working_points":
            assert [dataclasses.astuple(w) for w in a] == [dataclasses.astuple(w) for w in b]
        else:
            assert a == b, f.name


def merged_separations(
    bkg_parts: Sequence[np.ndarray],
    signals: dict[str, np.ndarray],
    *,
    points: int | None = None,
    **opts,
) -> dict[str, Separation]:
    """Rounds two and three as a cluster would run them, all in this process."""
    n = sum(p.size for p in bkg_parts)
    effs = opts.get("bkg_effs", DEFAULT_BKG_EFFS)
    ranks = needed_ranks(n, effs, opts.get("min_bkg_pass", 10))
    k = max(ranks, default=0)
    broadcast = {name: signal_values(s) for name, s in signals.items()}
    refs = [prepare_background(p) for p in bkg_parts]
    summaries = [summarize_background(r, broadcast, k=k, points=points) for r in refs]
    tail = None
    if points is not None:
        sketches = [s.top for s in summaries if isinstance(s.top, Sketch)]
        windows = plan_windows(sketches, ranks)
        tail = merge_windows([window_scores(r, windows) for r in refs], windows)
    return merge_background(summaries, signals, tail=tail, **opts)


def whole_separations(
    bkg_parts: Sequence[np.ndarray], signals: dict[str, np.ndarray], **opts
) -> dict[str, Separation]:
    ref = prepare_background(np.concatenate([np.empty(0), *bkg_parts]))
    return {name: separation(ref, s, **opts) for name, s in signals.items()}


def make_pass(rng: np.random.Generator, n: int, k: int = 3) -> ScoringPass:
    """Events with many ties, overflowing KL / radius / reconstruction, and bad stages."""
    mu = rng.integers(-2, 3, (n, k)).astype(np.float32)
    s = rng.choice(np.array([-30.0, -2.0, 0.0, 1.0, 25.0, 100.0, 800.0]), (n, k))
    s = s.astype(np.float32)
    s[rng.random(n) < 0.03, 0] = np.nan  # encoder output not finite
    recon = np.round(rng.exponential(1.0, n), 1)  # ties, and zeros (below any log bin)
    recon[rng.random(n) < 0.03] = np.inf  # overflowing reconstruction
    bits = np.zeros(n, dtype=np.uint8)
    bits[rng.random(n) > 0.03] |= INPUT_FINITE
    bits[np.isfinite(mu).all(axis=1) & np.isfinite(s).all(axis=1)] |= ENCODER_FINITE
    bits[rng.random(n) > 0.03] |= DECODER_FINITE
    bits[rng.random(n) < 0.05] |= RECON_F32_OVERFLOW
    bits[rng.random(n) < 0.1] |= RECON_F16_OVERFLOW
    with np.errstate(all="ignore"):
        sum_mu2 = (mu.astype(np.float64) ** 2).sum(axis=1)
    arrays = (mu, s, sum_mu2, recon, bits)
    for a in arrays:
        a.flags.writeable = False
    return ScoringPass(*arrays)


def rows(p: ScoringPass, start: int, stop: int) -> ScoringPass:
    return ScoringPass(**{name: getattr(p, name)[start:stop] for name in FIELDS})


# -- the whole chain: guards, policy, counts, histograms, metrics -------------------------
GUARDS = [
    GuardSettings(score="reconstruction"),
    GuardSettings(score="kl", clip=(-20.0, 20.0)),
    GuardSettings(score="kl"),
    GuardSettings(score="total", beta=0.5, clip=(-50.0, 50.0)),
    GuardSettings(score="radius"),
]


@pytest.mark.parametrize("policy", ["worst", "drop"])
@pytest.mark.parametrize("gs", GUARDS, ids=lambda g: f"{g.score}-{g.clip}")
def test_partitioned_chain_equals_the_single_process_one(gs, policy):
    rng = np.random.default_rng(zlib.crc32(f"{gs}-{policy}".encode()))
    passes = {"background": make_pass(rng, 6000), "sig_a": make_pass(rng, 700)}
    passes["sig_b"] = make_pass(rng, 0)  # a signal without events
    sizes = {
        "background": [0, 1500, 3, 4000, 0, 497],
        "sig_a": random_sizes(rng, 700, 3),
        "sig_b": [0],
    }
    whole, parts = {}, {}
    for name, p in passes.items():
        g = guard(prepare(p), gs)
        whole[name] = (g, apply_policy(g, policy))
        parts[name] = []
        start = 0
        for size in sizes[name]:
            gp = guard(prepare(rows(p, start, start + size)), gs)
            parts[name].append((gp, apply_policy(gp, policy)))
            start += size
        # Each event sees the same arithmetic in its partition: the premise of the merge.
        np.testing.assert_array_equal(
            np.concatenate([gp.scores for gp, _ in parts[name]]), g.scores
        )

    # Round one: counts and ranges.
    counts = {n: [partition_counts(g, pol) for g, pol in ps] for n, ps in parts.items()}
    for name, (g, pol) in whole.items():
        guard_counts, policy_counts = merge_counts(counts[name])
        assert guard_counts == g.counts
        assert list(guard_counts.by_cause.items()) == list(g.counts.by_cause.items())
        assert list(policy_counts.excluded.items()) == list(pol.excluded.items())
        assert (policy_counts.kept, policy_counts.total, policy_counts.policy) == (
            pol.kept,
            pol.total,
            policy,
        )
    all_counts = [c for cs in counts.values() for c in cs]
    whole_scores = {n: g.scores for n, (g, _) in whole.items()}
    for n_bins, lo, hi in [(60, None, None), (7, None, None), (5, 0.05, None), (5, None, 1e3)]:
        edges = merge_edges(all_counts, n_bins, lo=lo, hi=hi)
        expected = shared_log_edges(whole_scores, n_bins, lo=lo, hi=hi)
        np.testing.assert_array_equal(edges, expected)

    # Round two: tallies on the shared edges, and the background's summaries.
    edges = merge_edges(all_counts, 40)
    tallies = {n: merge_tallies([tally(g.scores, edges) for g, _ in ps]) for n, ps in parts.items()}
    for density in (False, True):
        assert histogram_table_from_tallies(tallies, edges, density=density).equals(
            histogram_table(whole_scores, edges, density=density)
        )
    assert overflow_table_from_tallies(tallies, edges).equals(overflow_table(whole_scores, edges))

    signals = {n: pol.values for n, (_, pol) in whole.items() if n != "background"}
    bkg_parts = [pol.values for _, pol in parts["background"]]
    expected_seps = whole_separations([whole["background"][1].values], signals)
    for points in (None, 3, 64):
        merged = merged_separations(bkg_parts, signals, points=points)
        for name in signals:
            assert_same_separation(merged[name], expected_seps[name])
    assert expected_seps["sig_a"].ok and expected_seps["sig_b"].status == "no_signal_events"


# -- separation: property tests -----------------------------------------------------------
def scores(max_size: int) -> st.SearchStrategy[np.ndarray]:
    """Kept scores as the policy leaves them: finite (few distinct values) or +inf."""
    value = st.one_of(st.integers(-3, 5).map(float), st.just(np.inf), st.just(0.5))
    return st.lists(value, max_size=max_size).map(lambda v: np.array(v, dtype=np.float64))


EFFS = st.lists(
    st.sampled_from([1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 1e-2, 1e-3]), min_size=1, unique=True
)


@SETTINGS
@given(
    bkg=scores(80),
    sig=scores(30),
    n_parts=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    effs=EFFS,
    min_bkg_pass=st.integers(0, 6),
    points=st.one_of(st.none(), st.integers(1, 9)),
)
def test_merge_equals_separation_with_ties_and_infinities(
    bkg, sig, n_parts, seed, effs, min_bkg_pass, points
):
    rng = np.random.default_rng(seed)
    parts = cut(bkg, random_sizes(rng, bkg.size, n_parts))
    opts = dict(bkg_effs=effs, min_bkg_pass=min_bkg_pass, max_points=6)
    merged = merged_separations(parts, {"s": sig}, points=points, **opts)["s"]
    whole = whole_separations(parts, {"s": sig}, **opts)["s"]
    assert_same_separation(merged, whole)


def test_merge_equals_separation_on_a_large_sample():
    """200k background events in partitions of unequal sizes against three signals: every
    working point of the defaults, a ROC long enough to be thinned, continuous scores with
    tied clusters and +inf."""
    rng = np.random.default_rng(12)
    bkg = rng.lognormal(0.0, 1.0, 200_000)
    bkg[rng.random(bkg.size) < 0.2] = 1.5  # a block of ties
    bkg[:3000] = np.round(bkg[:3000], 2)
    bkg[rng.random(bkg.size) < 1e-4] = np.inf
    signals = {
        "near": rng.lognormal(0.3, 1.0, 8000),
        "far": np.round(rng.lognormal(2.0, 1.0, 5000), 1),
        "inf": np.full(40, np.inf),
    }
    parts = cut(bkg, [70_000, 0, 1, 65_536, 64_463])
    whole = whole_separations(parts, signals)
    for points in (None, 300):
        merged = merged_separations(parts, signals, points=points)
        for name in signals:
            assert_same_separation(merged[name], whole[name])
    assert whole["near"].roc is not None and len(whole["near"].roc) > 1000


@pytest.mark.parametrize("points", [None, 2])
def test_degenerate_cases_give_the_same_status(points):
    sig = np.array([1.0, 2.0, np.inf])
    none = [np.empty(0), np.empty(0)]
    merged = merged_separations(none, {"s": sig}, points=points)["s"]
    assert merged.status == "no_background_events"
    assert_same_separation(merged, whole_separations(none, {"s": sig})["s"])

    bkg = [np.arange(30.0), np.array([np.inf, 3.0])]
    merged = merged_separations(bkg, {"s": np.empty(0)}, points=points)["s"]
    assert merged.status == "no_signal_events"
    assert_same_separation(merged, whole_separations(bkg, {"s": np.empty(0)})["s"])


@pytest.mark.parametrize("points", [None, 1, 4])
def test_working_point_statuses_are_the_same(points):
    """insufficient_background (too few events for the target), tied_background (a block of
    +inf at the top), and ok with a shortfall, from partitioned backgrounds."""
    bkg = np.concatenate([np.full(40, np.inf), np.arange(960.0)])
    rng = np.random.default_rng(3)
    bkg = rng.permutation(bkg)
    parts = cut(bkg, [0, 10, 500, 490])
    sig = np.concatenate([np.full(5, np.inf), np.arange(900.0, 1000.0)])
    opts = dict(bkg_effs=(0.5, 0.1, 0.03, 1e-2, 1e-3), min_bkg_pass=10)
    merged = merged_separations(parts, {"s": sig}, points=points, **opts)["s"]
    whole = whole_separations(parts, {"s": sig}, **opts)["s"]
    assert_same_separation(merged, whole)
    statuses = [wp.status for wp in merged.working_points]
    assert statuses == ["ok", "ok", "tied_background", "tied_background", "insufficient_background"]


def test_merge_refuses_ties_counted_against_other_values():
    sig_a, sig_b = np.array([1.0, 2.0]), np.array([1.0, 3.0])
    ref = prepare_background(np.arange(20.0))
    tail = merge_top([top_scores(ref, 20)], needed_ranks(20, DEFAULT_BKG_EFFS, 10))
    ties_b = signal_ties(ref, signal_values(sig_b))
    with pytest.raises(ValueError, match="other signal scores"):
        merge_separation(tail, [ties_b], sig_a)
    with pytest.raises(ValueError, match="cover 40 background events"):
        merge_separation(tail, [signal_ties(ref, signal_values(sig_a))] * 2, sig_a)
    sketched = summarize_background(ref, {"a": signal_values(sig_a)}, k=20, points=4)
    with pytest.raises(ValueError, match="windows' round"):
        merge_background([sketched], {"a": sig_a})
    with pytest.raises(ValueError, match="NaN"):
        signal_values(np.array([1.0, np.nan]))


def test_merge_counts_refuses_mixed_policies_and_no_partition():
    p = make_pass(np.random.default_rng(0), 50)
    g = guard(prepare(p), GuardSettings())
    worst = partition_counts(g, apply_policy(g, "worst"))
    drop = partition_counts(g, apply_policy(g, "drop"))
    with pytest.raises(ValueError, match="different policies"):
        merge_counts([worst, drop])
    with pytest.raises(ValueError, match="at least one partition"):
        merge_counts([])
    assert isinstance(worst, PartitionCounts)


# -- cost ---------------------------------------------------------------------------------
def test_summary_bytes_follow_the_documented_cost():
    rng = np.random.default_rng(5)
    n, n_signals, n_sig = 100_000, 3, 2000
    ref = prepare_background(rng.lognormal(0.0, 1.0, n))
    signals = {f"s{i}": signal_values(rng.lognormal(1.0, 1.0, n_sig)) for i in range(n_signals)}
    k = max(needed_ranks(10 * n, DEFAULT_BKG_EFFS, 10))  # ten such partitions: K = 10_001
    summary: BackgroundSummary = summarize_background(ref, signals, k=k)
    ties = sum(t.tie_index.size for t in summary.ties.values())
    expected = (8 * k + 16) + n_signals * (8 * n_sig + 24) + 16 * ties + 8
    assert summary.nbytes == expected
    sketched = summarize_background(ref, signals, k=k, points=141)
    assert isinstance(sketched.top, Sketch) and sketched.top.ranks.size <= 142
    assert sketched.top.nbytes == 16 * sketched.top.ranks.size + 8
