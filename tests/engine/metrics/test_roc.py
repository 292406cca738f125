"""The exact ROC (engine.metrics.roc): ranks of the sorted background, the integer counts of a
signal, the curve's vertices and thresholds against scikit-learn and hand-computed cases, the
AUC as an exact pair count, and the thinning of a long curve."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from hepfm_core.engine.metrics.roc import (
    Counts,
    RankedScore,
    RocCurve,
    as_1d,
    distinct_scores,
    prepare_background,
    roc_curve,
    sorted_signal,
    thin_roc,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sk_roc(bkg: np.ndarray, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.r_[np.zeros(bkg.size), np.ones(sig.size)]
    fpr, tpr, _ = sk_roc_curve(y, np.r_[bkg, sig], drop_intermediate=False)
    return fpr, tpr


def _distance_to_polyline(px, py, fx, fy) -> np.ndarray:
    """Euclidean distance of each point (px, py) to the polyline through (fx, fy)."""
    ax, ay, bx, by = fx[:-1], fy[:-1], fx[1:], fy[1:]
    dx, dy = bx - ax, by - ay
    seg2 = dx * dx + dy * dy
    px, py = px[:, None], py[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(seg2 > 0, ((px - ax) * dx + (py - ay) * dy) / seg2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    d = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
    return d.min(axis=1)


def _assert_same_curve_as_sklearn(roc: RocCurve, bkg: np.ndarray, sig: np.ndarray) -> None:
    sk_fpr, sk_tpr = _sk_roc(bkg, sig)
    # Every sklearn vertex lies on our polyline ...
    assert _distance_to_polyline(sk_fpr, sk_tpr, roc.fpr, roc.tpr).max() < 1e-12
    # ... and every one of our vertices is one of sklearn's (exactly: same integer counts).
    ours = set(zip(roc.fpr.tolist(), roc.tpr.tolist(), strict=True))
    theirs = set(zip(sk_fpr.tolist(), sk_tpr.tolist(), strict=True))
    assert ours <= theirs
    assert np.trapezoid(roc.tpr, roc.fpr) == pytest.approx(np.trapezoid(sk_tpr, sk_fpr), abs=1e-12)


def _assert_thresholds_select_the_points(roc: RocCurve, bkg: np.ndarray, sig: np.ndarray):
    for f, t, thr in zip(roc.fpr, roc.tpr, roc.thresholds, strict=True):
        assert np.count_nonzero(bkg > thr) / bkg.size == f
        assert np.count_nonzero(sig > thr) / sig.size == t


few_ints = st.lists(st.integers(0, 4).map(float), min_size=1, max_size=40)


@SETTINGS
@given(bkg=few_ints, sig=few_ints)
def test_roc_matches_sklearn_polyline_with_ties(bkg, sig):
    b, s = np.array(bkg), np.array(sig)
    roc = roc_curve(prepare_background(b), s)
    _assert_same_curve_as_sklearn(roc, b, s)
    _assert_thresholds_select_the_points(roc, b, s)
    assert (roc.fpr[0], roc.tpr[0], roc.fpr[-1], roc.tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(roc.fpr) >= 0) and np.all(np.diff(roc.tpr) >= 0)
    # No consecutive duplicates.
    assert np.all((np.diff(roc.fpr) > 0) | (np.diff(roc.tpr) > 0))


def _tpr_band(xt, yt, x):
    """Lowest and highest tpr of the thinned polyline at each x (vertical steps included)."""
    j = np.searchsorted(xt, x, side="left")
    k = np.searchsorted(xt, x, side="right") - 1
    j = np.clip(j, 1, xt.size - 1)
    k = np.clip(k, 0, xt.size - 2)

    def interp(i0, i1):
        x0, x1, y0, y1 = xt[i0], xt[i1], yt[i0], yt[i1]
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(x1 > x0, (x - x0) / (x1 - x0), 0.0)
        return y0 + np.clip(w, 0, 1) * (y1 - y0)

    low = np.where(xt[j] == x, yt[j], interp(j - 1, j))
    high = np.where(xt[k] == x, yt[k], interp(k, k + 1))
    return np.minimum(low, high), np.maximum(low, high)


def test_thinned_curve_keeps_the_shape_of_a_two_million_vertex_curve():
    rng = np.random.default_rng(11)
    bkg = rng.normal(0.0, 1.0, 1_500_000)
    sig = rng.normal(1.0, 1.0, 1_500_000)
    roc = roc_curve(prepare_background(bkg), sig)
    assert len(roc) > 2_000_000
    thin = thin_roc(roc, 1000)
    assert len(thin) <= 1000
    assert (thin.fpr[0], thin.tpr[0], thin.fpr[-1], thin.tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(thin.fpr) >= 0) and np.all(np.diff(thin.tpr) >= 0)
    first_nonzero = np.flatnonzero(roc.fpr > 0)[0]
    assert roc.fpr[first_nonzero] in thin.fpr
    pos = roc.fpr > 0
    tpos = thin.fpr > 0
    low, high = _tpr_band(np.log10(thin.fpr[tpos]), thin.tpr[tpos], np.log10(roc.fpr[pos]))
    y = roc.tpr[pos]
    deviation = np.maximum(np.maximum(low - y, y - high), 0.0)
    assert deviation.max() < 0.01
    # Thinned points are original vertices, thresholds included.
    idx = np.searchsorted(roc.thresholds[::-1], thin.thresholds[::-1])
    np.testing.assert_array_equal(roc.fpr[::-1][idx], thin.fpr[::-1])


def test_thinning_keeps_the_vertical_start_at_zero_fpr():
    rng = np.random.default_rng(5)
    bkg = rng.normal(0.0, 1.0, 20_000)
    sig = np.r_[rng.normal(0.5, 1.0, 20_000), np.full(300, 10.0)]  # a block above all bkg
    roc = roc_curve(prepare_background(bkg), sig)
    thin = thin_roc(roc, 50)
    assert len(thin) <= 50
    zero = thin.fpr == 0
    assert thin.tpr[zero].max() == roc.tpr[roc.fpr == 0].max()
    assert thin.fpr[np.count_nonzero(zero)] == roc.fpr[roc.fpr > 0][0]
    assert thin_roc(roc, len(roc)) is roc
    with pytest.raises(ValueError):
        thin_roc(roc, 3)


def test_inputs_are_not_modified_and_background_is_read_only():
    b = np.array([3.0, 1.0, 2.0])
    ref = prepare_background(b)
    np.testing.assert_array_equal(b, [3.0, 1.0, 2.0])
    assert not ref.scores.flags.writeable and ref.n == 3
    np.testing.assert_array_equal(ref.scores, [1.0, 2.0, 3.0])


# -- the sorted background ----------------------------------------------------------------
def test_ranks_of_the_background_are_direct_counts():
    rng = np.random.default_rng(2)
    b = np.r_[rng.integers(0, 6, 60).astype(float), np.full(3, np.inf)]
    ref = prepare_background(b)
    descending = np.sort(b)[::-1]
    for k in range(1, b.size + 1):
        value = descending[k - 1]
        want = RankedScore(
            value=float(value),
            above=int(np.count_nonzero(b > value)),
            at_or_above=int(np.count_nonzero(b >= value)),
        )
        assert ref.at_rank(k) == want, k
    assert ref.at_rank(1) == RankedScore(np.inf, 0, 3)  # +inf ties with itself
    for bad in (0, b.size + 1):
        with pytest.raises(ValueError, match=rf"rank {bad} outside 1\.\.{b.size}"):
            ref.at_rank(bad)


def test_an_empty_background_is_prepared_but_has_no_rank():
    ref = prepare_background(np.empty(0))
    assert ref.n == 0 and ref.scores.size == 0 and not ref.scores.flags.writeable
    with pytest.raises(ValueError, match=r"outside 1\.\.0"):
        ref.at_rank(1)


# -- counts and the AUC -------------------------------------------------------------------
def test_distinct_scores_count_each_value_and_tie_infinities():
    values, counts = distinct_scores(np.array([1.0, 1.0, 2.0, np.inf, np.inf]))
    assert values.tolist() == [1.0, 2.0, np.inf] and counts.tolist() == [2, 1, 2]
    values, counts = distinct_scores(np.array([3.0]))
    assert values.tolist() == [3.0] and counts.tolist() == [1]
    values, counts = distinct_scores(np.empty(0))
    assert values.size == 0 and counts.size == 0


def _pair_auc(b: np.ndarray, s: np.ndarray) -> Fraction:
    """(#(s > b) + #(s == b) / 2) / (n_s n_b) over every pair, as an exact fraction."""
    wins = int(np.count_nonzero(s[:, None] > b[None, :]))
    ties = int(np.count_nonzero(s[:, None] == b[None, :]))
    return Fraction(2 * wins + ties, 2 * s.size * b.size)


@SETTINGS
@given(bkg=few_ints, sig=few_ints)
def test_auc_is_the_exact_pair_count(bkg, sig):
    b, s = np.array(bkg), np.array(sig)
    core = Counts.build(prepare_background(b), sorted_signal(s))
    assert (core.nb, core.ns) == (b.size, s.size)
    assert core.auc() == float(_pair_auc(b, s))  # int / int: correctly rounded, so equal
    y = np.r_[np.zeros(b.size), np.ones(s.size)]
    assert core.auc() == pytest.approx(roc_auc_score(y, np.r_[b, s]), abs=1e-12)
    # the background counts below / at or below each distinct signal score
    np.testing.assert_array_equal(core.bkg_below, [np.count_nonzero(b < v) for v in core.values])
    np.testing.assert_array_equal(
        core.bkg_at_or_below, [np.count_nonzero(b <= v) for v in core.values]
    )


def test_counts_for_cuts_hold_no_distinct_values():
    ref = prepare_background(np.arange(5.0))
    core = Counts.for_cuts(ref, ref.scores)
    assert (core.nb, core.ns) == (5, 5)
    assert core.values.size == core.counts.size == core.bkg_below.size == 0


# -- small curves by hand -----------------------------------------------------------------
def test_one_event_each_above_and_tied():
    # signal above: a vertical step then a horizontal one
    ref = prepare_background(np.array([1.0]))
    roc = roc_curve(ref, np.array([2.0]))
    assert roc.fpr.tolist() == [0.0, 0.0, 1.0] and roc.tpr.tolist() == [0.0, 1.0, 1.0]
    assert roc.thresholds.tolist() == [np.inf, np.nextafter(2.0, -np.inf), -np.inf]
    assert Counts.build(ref, np.array([2.0])).auc() == 1.0
    # a tie: one diagonal, reached by the float just below the tied score
    roc = roc_curve(ref, np.array([1.0]))
    assert roc.fpr.tolist() == [0.0, 1.0] and roc.tpr.tolist() == [0.0, 1.0]
    assert roc.thresholds.tolist() == [np.inf, np.nextafter(1.0, -np.inf)]
    assert Counts.build(ref, np.array([1.0])).auc() == 0.5
    # signal below: horizontal first
    roc = roc_curve(ref, np.array([0.0]))
    assert roc.fpr.tolist() == [0.0, 1.0, 1.0] and roc.tpr.tolist() == [0.0, 0.0, 1.0]
    assert len(roc) == 3


def test_everything_infinite_is_one_tie():
    ref = prepare_background(np.full(3, np.inf))
    s = np.full(2, np.inf)
    roc = roc_curve(ref, s)
    assert roc.fpr.tolist() == [0.0, 1.0] and roc.tpr.tolist() == [0.0, 1.0]
    _assert_thresholds_select_the_points(roc, ref.scores, s)
    assert Counts.build(ref, sorted_signal(s)).auc() == 0.5


def test_the_curve_arrays_are_read_only():
    roc = roc_curve(prepare_background(np.arange(4.0)), np.array([1.5, 9.0]))
    for arr in (roc.fpr, roc.tpr, roc.thresholds):
        assert not arr.flags.writeable


# -- bad input ----------------------------------------------------------------------------
def test_empty_samples_have_no_curve():
    ref = prepare_background(np.arange(3.0))
    for b, s in ((prepare_background(np.empty(0)), np.array([1.0])), (ref, np.empty(0))):
        with pytest.raises(ValueError, match="at least one background and one signal event"):
            roc_curve(b, s)


def test_bad_values_are_counted_in_the_message():
    with pytest.raises(ValueError, match="signal scores contain 1 NaN and 2 -inf values"):
        sorted_signal(np.array([np.nan, -np.inf, 1.0, -np.inf]))
    with pytest.raises(ValueError, match="background scores contain 3 NaN and 0 -inf values"):
        prepare_background(np.full(3, np.nan))
    with pytest.raises(ValueError, match=r"signal scores must be a 1-D array, got shape \(2, 1\)"):
        as_1d(np.ones((2, 1)), "signal")
    assert sorted_signal(np.array([2.0, np.inf, -1.0])).tolist() == [-1.0, 2.0, np.inf]


def test_resorted_equals_a_sort_of_the_other_policys_scores():
    """The same finite scores (ties included) with another number of +inf: a slice or one
    copy of the sorted array, equal to a fresh sort; other finite scores: None."""
    from hepfm_core.engine.metrics.roc import prepare_background, resorted

    rng = np.random.default_rng(3)
    finite = np.round(rng.normal(size=500), 1)  # ties
    for had, wants in [(7, 0), (0, 7), (3, 9), (4, 4)]:
        ref = prepare_background(np.concatenate([finite, np.full(had, np.inf)]))
        scores = rng.permutation(np.concatenate([finite, np.full(wants, np.inf)]))
        got = resorted(ref, scores)
        np.testing.assert_array_equal(got.scores, np.sort(scores))
        assert got.n == scores.size and not got.scores.flags.writeable
    assert resorted(prepare_background(finite), finite[1:]) is None
