"""The investigation engine without a model: selections against direct reckoning, per-event
detail, the selection summary's statistics, sampled rows. The summary's comparisons
themselves (explain.py) are tested in test_explain.py, rows read from files in
tests/data/test_rows.py."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.data.rows import spans
from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
from hepfm_core.engine.guards.policy import apply_policy
from hepfm_core.engine.investigate.events import (
    Criterion,
    TrackLayout,
    event_statistics,
    merge_selections,
    select_events,
    select_in_partition,
    track_layout,
)
from hepfm_core.engine.investigate.sampling import sample_rows
from hepfm_core.engine.scoring.passes import ScoringPass
from hepfm_core.errors import SettingsError
from hepfm_core.vocabulary import Cause

LAYOUT = TrackLayout(3, ("d0", "pt"), ("mm", "GeV"))


def _guarded(s: np.ndarray, recon: np.ndarray, score: str = "kl"):
    n = s.shape[0]
    p = ScoringPass(
        np.ones((n, s.shape[1]), np.float32),
        s.astype(np.float32),
        np.full(n, float(s.shape[1])),
        recon,
        np.full(n, 7, np.uint8),
    )
    return guard(prepare(p), GuardSettings(score=score))


@pytest.fixture(scope="module")
def scored():
    """KL scores of 200 events, 5 of them overflowing (z_log_var 800), some tied."""
    rng = np.random.default_rng(3)
    s = rng.normal(0.0, 1.0, (200, 2))
    s[::40, 0] = 800.0  # KL overflow
    s[1:20:6] = s[7]  # ties
    return _guarded(s, rng.random(200))


@pytest.mark.parametrize("policy", ["worst", "drop"])
def test_cause_selection_is_every_event_with_that_cause(scored, policy):
    sel = select_events(scored, apply_policy(scored, policy), Criterion.by_cause("kl_overflow"))
    np.testing.assert_array_equal(sel.events, np.arange(0, 200, 40))
    assert (sel.causes == Cause.KL_OVERFLOW).all() and np.isnan(sel.scores).all()
    ok = select_events(scored, apply_policy(scored, policy), Criterion.by_cause("ok"))
    assert ok.size == 195 and ok.n_events == 200


def test_top_ranks_like_a_full_sort(scored):
    worst = apply_policy(scored, "worst")
    for n in (1, 5, 7, 30, 200, 500):
        sel = select_events(scored, worst, Criterion.top(n))
        values = np.where(np.isnan(scored.scores), np.inf, scored.scores)
        order = np.lexsort((np.arange(200), -values))  # score descending, then event index
        np.testing.assert_array_equal(sel.events, order[: min(n, 200)])
        # the cut read from the sorted values (as the evaluator's sorted background gives)
        ranked = select_events(scored, worst, Criterion.top(n), ranked=np.sort(worst.values))
        np.testing.assert_array_equal(ranked.events, order[: min(n, 200)])
    drop = select_events(scored, apply_policy(scored, "drop"), Criterion.top(10))
    assert np.isfinite(drop.scores).all() and not np.isin(drop.events, np.arange(0, 200, 40)).any()
    assert (np.diff(drop.scores) <= 0).all()


def test_range_selection(scored):
    worst = apply_policy(scored, "worst")
    values = scored.scores
    lo, hi = np.nanquantile(values, [0.5, 0.9])
    sel = select_events(scored, worst, Criterion.score_range(lo, hi))
    expected = np.flatnonzero((values >= lo) & (values <= hi))
    assert set(sel.events.tolist()) == set(expected.tolist())
    assert (np.diff(sel.scores) <= 0).all()
    tail = select_events(scored, worst, Criterion.score_range(hi, np.inf))
    assert np.isin(np.arange(0, 200, 40), tail.events).all()  # +inf under worst
    finite = select_events(scored, worst, Criterion.score_range(hi, 1e300))
    assert not np.isin(np.arange(0, 200, 40), finite.events).any()


@pytest.mark.parametrize("policy", ["worst", "drop"])
def test_imputed_selection_is_the_given_events_whatever_their_cause(scored, policy):
    crit = Criterion.by_cause("imputed")
    assert crit.kind == "imputed" and crit.to_json_dict()["kind"] == "imputed"
    given = np.array([120, 3, 40, 3])  # unsorted, repeated: listed once, by index
    sel = select_events(scored, apply_policy(scored, policy), crit, "s", imputed=given)
    np.testing.assert_array_equal(sel.events, [3, 40, 120])
    assert sel.causes.tolist() == [Cause.OK, Cause.KL_OVERFLOW, Cause.KL_OVERFLOW]
    np.testing.assert_array_equal(sel.scores[[0]], scored.scores[[3]])
    none = select_events(scored, apply_policy(scored, policy), crit, imputed=np.array([], int))
    assert none.size == 0 and none.n_events == 200


@pytest.mark.parametrize("policy", ["worst", "drop"])
@pytest.mark.parametrize(
    "criterion",
    [
        Criterion.by_cause("kl_overflow"),
        Criterion.by_cause("ok"),
        Criterion.by_cause("imputed"),
        Criterion.top(1),
        Criterion.top(7),
        Criterion.top(30),
        Criterion.top(500),
        Criterion.score_range(0.5, 3.0),
        Criterion.score_range(1.0, np.inf),
        Criterion.score_range(1e300, np.inf),
    ],
    ids=lambda c: c.describe(),
)
def test_partitions_merge_into_the_whole_samples_selection(policy, criterion):
    """Per partition (as a cluster's workers select), then merged: the very selection of
    the whole sample, ties and +inf included (the partitions guarded on their own)."""
    rng = np.random.default_rng(5)
    s = rng.normal(0.0, 1.0, (200, 2))
    s[::40, 0] = 800.0  # KL overflow: +inf under worst
    s[1:200:6] = s[7]  # ties across partitions
    recon = rng.random(200)
    whole = _guarded(s, recon)
    imputed = np.array([150, 3, 40, 3, 64, 199])
    expected = select_events(whole, apply_policy(whole, policy), criterion, "bkg", imputed)
    bounds = [(0, 64), (64, 128), (128, 128), (128, 200)]  # one empty partition
    parts = []
    for a, b in reversed(bounds):  # any order
        g = _guarded(s[a:b], recon[a:b])
        mine = imputed[(imputed >= a) & (imputed < b)]
        parts.append(select_in_partition(g, apply_policy(g, policy), criterion, a, mine))
    merged = merge_selections(
        parts, criterion, sample="bkg", settings=whole.settings, policy=policy, n_events=200
    )
    np.testing.assert_array_equal(merged.events, expected.events)
    np.testing.assert_array_equal(merged.scores, expected.scores)
    np.testing.assert_array_equal(merged.causes, expected.causes)
    assert merged.to_json_dict() == expected.to_json_dict()
    values = np.asarray(apply_policy(whole, policy).values)
    finite = values[np.isfinite(values)]
    if criterion.kind == "range" and expected.size == 0:  # what the empty range's message says
        assert merged.kept_span == expected.kept_span == (finite.min(), finite.max())
    else:
        assert merged.kept_span is expected.kept_span is None
    # the sorted values (the evaluator's sorted background) give the same selection
    ranked = np.sort(values)
    again = select_events(whole, apply_policy(whole, policy), criterion, "bkg", imputed, ranked)
    np.testing.assert_array_equal(again.events, expected.events)


@pytest.mark.parametrize("given", [None, np.array([200]), np.array([-1, 4])])
def test_imputed_selection_needs_the_samples_own_events(scored, given):
    with pytest.raises(SettingsError, match="imputed events"):
        select_events(scored, apply_policy(scored, "worst"), Criterion("imputed"), imputed=given)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Criterion.by_cause("kl_overflw"), "unknown cause"),
        (lambda: Criterion.top(0), "--top needs"),
        (lambda: Criterion.score_range(5.0, 1.0), "score range inverted"),
        (lambda: Criterion.score_range(float("nan"), 1.0), "NaN"),
    ],
)
def test_bad_criteria_say_what_to_do(make, message):
    with pytest.raises(SettingsError, match=message) as info:
        make()
    assert info.value.todo


def test_paging(scored):
    sel = select_events(scored, apply_policy(scored, "worst"), Criterion.top(25))
    assert sel.pages(10) == 3
    np.testing.assert_array_equal(sel.page(2, 10), np.arange(20, 25))
    assert sel.page(3, 10).size == 0


def test_track_layout():
    names = [f"track{t:02d}_{b}" for t in range(30) for b in ("d0", "phi", "z0", "eta", "pt", "x")]
    layout = track_layout(names)
    assert layout is not None and layout.n_tracks == 30 and layout.width == 180
    assert layout.units[4] == "GeV" and layout.units[5] == ""
    prefixed = track_layout([f"agg_track{t:02d}_{b}" for t in range(2) for b in ("a", "b")])
    assert prefixed is not None and prefixed.branches == ("a", "b")
    assert track_layout(names[:-1]) is None  # incomplete last track
    assert track_layout(names[6:12] + names[:6]) is None  # not track-major
    assert track_layout([*names, "met"]) is None


def test_event_statistics_against_loops():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 3, 2))
    v[::3, 2] = 0.0  # padding
    v[::7, 1:] = 0.0
    v[5, 0, 1] = np.inf
    v[6, 1, 0] = np.nan
    flat = v.reshape(50, 6)
    stats = event_statistics(flat, LAYOUT)
    for i in range(50):
        real = [t for t in range(3) if np.any(v[i, t] != 0)]
        assert stats["tracks"][i] == len(real)
        for j, b in enumerate(LAYOUT.branches):
            vals = [v[i, t, j] for t in real if np.isfinite(v[i, t, j])]
            if vals:
                assert stats[f"max {b}"][i] == max(vals) and stats[f"min {b}"][i] == min(vals)
            else:
                assert np.isnan(stats[f"max {b}"][i])
            bad = any(not np.isfinite(v[i, t, j]) for t in real)
            assert stats[f"nonfinite {b}"][i] == float(bad)


def test_sample_rows_and_spans():
    rows = sample_rows(1_000_000, 20_000, seed=1)
    assert 38 * 512 < rows.size <= 20_000 and np.unique(rows).size == rows.size
    np.testing.assert_array_equal(rows, sample_rows(1_000_000, 20_000, seed=1))
    assert not np.array_equal(rows, sample_rows(1_000_000, 20_000, seed=2))
    blocks, counts = np.unique(rows // 512, return_counts=True)  # whole blocks of 512
    assert ((counts == 512) | (blocks == 1_000_000 // 512)).all() and blocks.size == 39
    got = spans(np.array([0, 1, 2047, 2048, 10_000]))
    assert got == [(0, 2049), (10_000, 10_001)]
