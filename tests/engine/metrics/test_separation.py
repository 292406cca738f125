"""Metrics against an independent reference (scikit-learn) and against hand-computed answers.

The ROC's own tests (the exact curve, thinning) are in ``test_roc.py``, the working points'
helpers in ``test_working_points.py``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from hepfm_core.engine.metrics.separation import (
    format_eff,
    prepare_background,
    roc_curve,
    separation,
)

from .test_roc import (
    SETTINGS,
    _assert_same_curve_as_sklearn,
    _assert_thresholds_select_the_points,
    few_ints,
)


# -- helpers ------------------------------------------------------------------------------
def _sk_auc(bkg: np.ndarray, sig: np.ndarray) -> float:
    y = np.r_[np.zeros(bkg.size), np.ones(sig.size)]
    return float(roc_auc_score(y, np.r_[bkg, sig]))


tiny = st.lists(st.integers(-3, 3).map(float), min_size=1, max_size=3)
finite_floats = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=40
)


# -- AUC and ROC against sklearn ----------------------------------------------------------
@SETTINGS
@given(bkg=few_ints, sig=few_ints)
def test_auc_matches_sklearn_heavy_ties(bkg, sig):
    b, s = np.array(bkg), np.array(sig)
    res = separation(prepare_background(b), s, min_bkg_pass=0)
    assert res.status == "ok"
    assert res.auc == pytest.approx(_sk_auc(b, s), abs=1e-12)


@SETTINGS
@given(bkg=tiny, sig=tiny)
def test_auc_and_roc_match_sklearn_tiny_samples(bkg, sig):
    b, s = np.array(bkg), np.array(sig)
    ref = prepare_background(b)
    assert separation(ref, s).auc == pytest.approx(_sk_auc(b, s), abs=1e-12)
    _assert_same_curve_as_sklearn(roc_curve(ref, s), b, s)


@SETTINGS
@given(bkg=finite_floats, sig=finite_floats)
def test_auc_matches_sklearn_continuous(bkg, sig):
    b, s = np.array(bkg), np.array(sig)
    assert separation(prepare_background(b), s).auc == pytest.approx(_sk_auc(b, s), abs=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_values=st.integers(1, 6), one_signal=st.booleans())
def test_auc_matches_sklearn_unbalanced(seed, n_values, one_signal):
    rng = np.random.default_rng(seed)
    big = rng.integers(0, n_values, 1000).astype(float)
    small = rng.integers(0, n_values, 1).astype(float)
    b, s = (big, small) if one_signal else (small, big)
    ref = prepare_background(b)
    assert separation(ref, s).auc == pytest.approx(_sk_auc(b, s), abs=1e-12)
    _assert_same_curve_as_sklearn(roc_curve(ref, s), b, s)


def test_roc_matches_sklearn_on_a_larger_tied_sample():
    rng = np.random.default_rng(7)
    b = np.round(rng.normal(0.0, 1.0, 5000), 1)
    s = np.round(rng.normal(0.8, 1.0, 700), 1)
    roc = roc_curve(prepare_background(b), s)
    _assert_same_curve_as_sklearn(roc, b, s)
    _assert_thresholds_select_the_points(roc, b, s)
    assert separation(prepare_background(b), s).auc == pytest.approx(_sk_auc(b, s), abs=1e-12)


# -- invariances --------------------------------------------------------------------------
TRANSFORMS = {
    "exp": np.exp,
    "cube_plus_5": lambda x: x**3 + 5.0,
    "log1p": np.log1p,
}


@SETTINGS
@given(
    bkg=st.lists(st.integers(0, 40), min_size=5, max_size=60),
    sig=st.lists(st.integers(0, 40), min_size=1, max_size=60),
    name=st.sampled_from(sorted(TRANSFORMS)),
)
def test_invariant_under_strictly_increasing_transforms(bkg, sig, name):
    # Scores on a grid of 1/8 in [0, 5]: every transform stays strictly increasing in floats.
    b, s = np.array(bkg) / 8.0, np.array(sig) / 8.0
    f = TRANSFORMS[name]
    effs = (0.5, 0.2, 0.1)
    a = separation(prepare_background(b), s, bkg_effs=effs, min_bkg_pass=0)
    t = separation(prepare_background(f(b)), f(s), bkg_effs=effs, min_bkg_pass=0)
    assert a.auc == t.auc
    assert a.auc_err == t.auc_err
    np.testing.assert_array_equal(a.roc.fpr, t.roc.fpr)
    np.testing.assert_array_equal(a.roc.tpr, t.roc.tpr)
    for wa, wt in zip(a.working_points, t.working_points, strict=True):
        assert (wa.status, wa.eff_sig, wa.achieved_bkg_eff, wa.n_bkg_pass) == (
            wt.status,
            wt.eff_sig,
            wt.achieved_bkg_eff,
            wt.n_bkg_pass,
        )
    assert a.max_sic == t.max_sic


# -- +inf ---------------------------------------------------------------------------------
@SETTINGS
@given(
    bkg=few_ints,
    sig=few_ints,
    n_inf_sig=st.integers(1, 5),
    n_inf_bkg=st.integers(0, 3),
)
def test_posinf_ranks_above_everything_and_ties_with_itself(bkg, sig, n_inf_sig, n_inf_bkg):
    b = np.r_[np.array(bkg), np.full(n_inf_bkg, np.inf)]
    s = np.r_[np.array(sig), np.full(n_inf_sig, np.inf)]
    top = max(np.max(b[np.isfinite(b)]), np.max(s[np.isfinite(s)])) + 1.0
    b_rep, s_rep = np.where(np.isinf(b), top, b), np.where(np.isinf(s), top, s)

    res = separation(prepare_background(b), s, min_bkg_pass=0)
    assert res.auc == pytest.approx(_sk_auc(b_rep, s_rep), abs=1e-12)
    _assert_same_curve_as_sklearn(res.roc, b_rep, s_rep)
    rep = roc_curve(prepare_background(b_rep), s_rep)
    np.testing.assert_array_equal(res.roc.fpr, rep.fpr)
    np.testing.assert_array_equal(res.roc.tpr, rep.tpr)
    _assert_thresholds_select_the_points(res.roc, b, s)
    json.dumps(res.to_json_dict(), allow_nan=False)


def test_all_signal_inf_against_finite_background_is_auc_one():
    res = separation(prepare_background(np.arange(100.0)), np.full(7, np.inf))
    assert res.auc == 1.0
    assert res.auc_err == 0.0


# -- working points -----------------------------------------------------------------------
def test_working_points_known_answers():
    bkg = np.arange(100_000, dtype=float)  # one event at each integer 0..99999
    sig = 99_850.0 + np.arange(100, dtype=float)  # 99850 .. 99949
    res = separation(prepare_background(bkg), sig)
    wp = {format_eff(w.target_bkg_eff): w for w in res.working_points}

    w = wp["1e-3"]  # 100 background events allowed: the cut is score > 99899
    assert w.status == "ok" and w.reason is None
    assert w.threshold == 99_899.0
    assert w.n_bkg_pass == 100
    assert w.achieved_bkg_eff == pytest.approx(1e-3, rel=1e-12)
    assert w.eff_sig == 0.5  # 99900 .. 99949
    assert w.eff_sig_err == pytest.approx(0.05, rel=1e-12)

    assert wp["1e-2"].eff_sig == 1.0 and wp["1e-2"].eff_sig_err == 0.0
    assert wp["1e-2"].threshold == 98_999.0 and wp["1e-2"].n_bkg_pass == 1000

    assert wp["1e-4"].status == "ok"  # exactly 10 events pass: enough
    assert wp["1e-4"].n_bkg_pass == 10 and wp["1e-4"].eff_sig == 0.0

    w = wp["1e-5"]
    assert w.status == "insufficient_background"
    assert w.reason == "only 1 background events expected to pass at eff_B=1e-5 (need >= 10)"
    assert w.eff_sig is None and w.eff_sig_err is None

    d = res.to_json_dict()
    assert d["eff_at_bkg_eff"] == {"1e-2": 1.0, "1e-3": 0.5, "1e-4": 0.0, "1e-5": None}
    assert d["eff_at_bkg_eff_err"]["1e-3"] == pytest.approx(0.05)
    assert d["eff_at_bkg_eff_err"]["1e-5"] is None


def _scipy_cp(k: int, n: int) -> tuple[float, float]:
    """scipy's exact 1-sigma interval, the reference for the working points' intervals."""
    ci = binomtest(k, n).proportion_ci(confidence_level=0.6827, method="exact")
    return float(ci.low), float(ci.high)


def test_working_points_carry_clopper_pearson_intervals():
    bkg = np.arange(100_000, dtype=float)
    sig = 99_850.0 + np.arange(100, dtype=float)
    res = separation(prepare_background(bkg), sig)
    wp = {format_eff(w.target_bkg_eff): w for w in res.working_points}

    w = wp["1e-4"]  # no signal passes: Wald says 0 +- 0, Clopper-Pearson an upper bound
    assert w.eff_sig == 0.0 and w.eff_sig_err == 0.0
    assert w.eff_sig_lower == 0.0
    assert w.eff_sig_upper == pytest.approx(_scipy_cp(0, 100)[1], rel=1e-9)
    assert w.eff_sig_upper > 0.01
    assert (w.achieved_bkg_eff_lower, w.achieved_bkg_eff_upper) == pytest.approx(
        _scipy_cp(10, 100_000), rel=1e-9
    )
    w = wp["1e-2"]  # every signal event passes
    assert w.eff_sig == 1.0 and w.eff_sig_upper == 1.0
    assert w.eff_sig_lower == pytest.approx(_scipy_cp(100, 100)[0], rel=1e-9)
    w = wp["1e-3"]
    assert (w.eff_sig_lower, w.eff_sig_upper) == pytest.approx(_scipy_cp(50, 100), rel=1e-9)
    assert w.eff_sig_lower < w.eff_sig < w.eff_sig_upper
    w = wp["1e-5"]  # no working point: no interval
    assert w.eff_sig_lower is w.eff_sig_upper is None
    assert w.achieved_bkg_eff_lower is w.achieved_bkg_eff_upper is None

    d = res.to_json_dict()
    json.dumps(d, allow_nan=False)
    assert d["eff_at_bkg_eff_lower"]["1e-4"] == 0.0
    assert d["eff_at_bkg_eff_upper"]["1e-4"] == pytest.approx(_scipy_cp(0, 100)[1], rel=1e-9)
    assert d["eff_at_bkg_eff_upper"]["1e-2"] == 1.0
    assert d["eff_at_bkg_eff_lower"]["1e-5"] is None and d["eff_at_bkg_eff_upper"]["1e-5"] is None
    assert list(d["eff_at_bkg_eff_lower"]) == list(d["eff_at_bkg_eff"])
    wp_json = {w["key"]: w for w in d["working_points"]}
    assert wp_json["1e-4"]["eff_sig_lower"] == 0.0
    assert wp_json["1e-4"]["eff_sig_upper"] == d["eff_at_bkg_eff_upper"]["1e-4"]
    assert wp_json["1e-4"]["achieved_bkg_eff_lower"] == pytest.approx(_scipy_cp(10, 100_000)[0])
    assert wp_json["1e-4"]["achieved_bkg_eff_upper"] == pytest.approx(_scipy_cp(10, 100_000)[1])
    assert wp_json["1e-5"]["eff_sig_upper"] is None


def test_tied_and_degenerate_working_points_intervals():
    bkg = np.r_[np.zeros(50), np.ones(50)]
    res = separation(prepare_background(bkg), np.array([0.5, 2.0]), bkg_effs=(0.1,))
    (w,) = res.working_points
    assert w.status == "tied_background" and w.eff_sig_upper is None
    # the background efficiency reached is known: 0 of 100, upper bound from Clopper-Pearson
    assert w.achieved_bkg_eff_lower == 0.0
    assert w.achieved_bkg_eff_upper == pytest.approx(_scipy_cp(0, 100)[1], rel=1e-9)
    res = separation(prepare_background(np.empty(0)), np.array([1.0]))
    d = res.to_json_dict()
    assert d["eff_at_bkg_eff_lower"] == dict.fromkeys(("1e-2", "1e-3", "1e-4", "1e-5"))
    assert d["eff_at_bkg_eff_upper"] == dict.fromkeys(("1e-2", "1e-3", "1e-4", "1e-5"))
    assert all(w["achieved_bkg_eff_upper"] is None for w in d["working_points"])


def test_insufficient_background_reason_for_a_small_background():
    bkg = np.linspace(0.0, 1.0, 270_000)
    res = separation(prepare_background(bkg), np.array([0.5, 2.0]))
    w = res.working_points[-1]
    assert w.target_bkg_eff == 1e-5
    assert w.status == "insufficient_background"
    assert w.reason == "only 2.7 background events expected to pass at eff_B=1e-5 (need >= 10)"
    assert w.eff_sig is None
    assert res.working_points[-2].status == "ok"  # 27 events expected at 1e-4


def test_working_point_with_ties_reports_the_achieved_efficiency():
    # 50 events at 0 and 50 at 1: the cut at eff_B <= 0.1 must exclude the whole tie at 1.
    bkg = np.r_[np.zeros(50), np.ones(50)]
    sig = np.array([0.5, 1.0, 2.0, 3.0])
    res = separation(prepare_background(bkg), sig, bkg_effs=(0.1, 0.6), min_bkg_pass=0)
    w01, w06 = res.working_points
    assert w01.status == "ok"
    assert w01.threshold == 1.0 and w01.n_bkg_pass == 0 and w01.achieved_bkg_eff == 0.0
    assert w01.eff_sig == 0.5
    assert "ties" in w01.reason
    assert w06.threshold == 0.0 and w06.n_bkg_pass == 50 and w06.eff_sig == 1.0
    # With a minimum of 10 passing events the tied cut means nothing: no efficiency.
    res = separation(prepare_background(bkg), sig, bkg_effs=(0.1,), min_bkg_pass=10)
    (w,) = res.working_points
    assert w.status == "tied_background" and w.eff_sig is None and w.n_bkg_pass == 0
    assert "passes only 0 background events" in w.reason


def test_working_point_threshold_inf_is_null_in_json():
    bkg = np.r_[np.arange(80.0), np.full(20, np.inf)]  # 20 % of the background overflowed
    res = separation(
        prepare_background(bkg), np.array([1.0, np.inf]), bkg_effs=(0.1,), min_bkg_pass=0
    )
    (w,) = res.working_points
    assert w.threshold == math.inf and w.n_bkg_pass == 0 and w.eff_sig == 0.0
    d = res.to_json_dict()
    assert d["working_points"][0]["threshold"] is None
    json.dumps(d, allow_nan=False)


# -- max SIC ------------------------------------------------------------------------------
def test_max_sic_between_vertices_on_a_background_only_stretch():
    # All signal above all background: the best cut with >= 10 background events passing
    # keeps 10 background events (eff_B = 0.01) and all signal: SIC = 1 / 0.1 = 10.
    bkg = np.arange(1000.0)
    res = separation(prepare_background(bkg), np.full(100, 2000.0))
    assert res.max_sic == pytest.approx(10.0, rel=1e-12)
    assert res.max_sic_eff_sig == 1.0 and res.max_sic_eff_bkg == 0.01


def test_max_sic_toy_cases():
    bkg = np.arange(1000.0)
    sig = np.r_[np.full(50, 2000.0), np.full(50, 500.0)]
    res = separation(prepare_background(bkg), sig)
    assert res.max_sic == pytest.approx(0.5 / math.sqrt(0.01), rel=1e-12)  # = 5
    assert (res.max_sic_eff_sig, res.max_sic_eff_bkg) == (0.5, 0.01)
    res = separation(prepare_background(bkg), sig, min_bkg_pass=1)
    assert res.max_sic == pytest.approx(0.5 / math.sqrt(0.001), rel=1e-12)

    # Max at a ROC vertex: all signal between 995 and 996 passes with 4 background events.
    res = separation(prepare_background(bkg), np.full(100, 995.5), min_bkg_pass=1)
    assert res.max_sic == pytest.approx(1.0 / math.sqrt(0.004), rel=1e-12)
    assert (res.max_sic_eff_sig, res.max_sic_eff_bkg) == (1.0, 0.004)


def test_max_sic_none_when_background_too_small():
    res = separation(prepare_background(np.arange(5.0)), np.array([1.0, 9.0]))
    assert res.status == "ok"
    assert res.max_sic is None and res.max_sic_eff_sig is None
    assert "only 5 background events" in res.max_sic_reason


def test_max_sic_matches_brute_force_over_all_cuts():
    rng = np.random.default_rng(3)
    bkg = np.round(rng.normal(0, 1, 2000), 2)
    sig = np.round(rng.normal(1.5, 1, 200), 2)
    res = separation(prepare_background(bkg), sig, min_bkg_pass=10)
    cuts = np.r_[np.unique(np.r_[bkg, sig]), -np.inf]
    best = 0.0
    for c in cuts:
        nbp = np.count_nonzero(bkg > c)
        if nbp >= 10:
            best = max(best, (np.count_nonzero(sig > c) / sig.size) / math.sqrt(nbp / bkg.size))
    assert res.max_sic == pytest.approx(best, rel=1e-12)


# -- degenerate cases, validation, JSON ---------------------------------------------------
def test_degenerate_cases_never_give_a_number():
    empty = prepare_background(np.empty(0))
    res = separation(empty, np.array([1.0, 2.0]))
    assert res.status == "no_background_events" and res.auc is None and res.auc_err is None
    assert res.reason and res.roc is None and res.max_sic is None
    assert all(w.status == "no_background_events" and w.eff_sig is None for w in res.working_points)

    res = separation(prepare_background(np.array([1.0, 2.0])), np.empty(0))
    assert res.status == "no_signal_events" and res.auc is None and res.n_background == 2
    d = res.to_json_dict()
    assert d["auc"] is None and d["eff_at_bkg_eff"] == dict.fromkeys(
        ("1e-2", "1e-3", "1e-4", "1e-5")
    )
    json.dumps(d, allow_nan=False)

    res = separation(empty, np.empty(0))
    assert res.status == "no_background_events" and res.auc is None
    with pytest.raises(ValueError):
        roc_curve(empty, np.array([1.0]))


def test_json_dict_is_strict_and_complete():
    rng = np.random.default_rng(1)
    res = separation(prepare_background(rng.normal(size=50_000)), rng.normal(1.0, 1.0, 500))
    d = res.to_json_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    for key in ("status", "reason", "auc", "auc_err", "eff_at_bkg_eff", "eff_at_bkg_eff_err"):
        assert key in d
    for key in ("working_points", "max_sic", "n_background", "n_signal"):
        assert key in d
    assert d["status"] == "ok" and d["n_background"] == 50_000 and d["n_signal"] == 500
    assert list(d["eff_at_bkg_eff"]) == ["1e-2", "1e-3", "1e-4", "1e-5"]
    assert d["eff_at_bkg_eff"]["1e-5"] is None  # 0.5 events expected
    statuses = [w["status"] for w in d["working_points"]]
    assert statuses == ["ok", "ok", "insufficient_background", "insufficient_background"]


@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_nan_and_neginf_are_programming_errors(bad):
    with pytest.raises(ValueError, match="NaN"):
        prepare_background(np.array([1.0, bad, 2.0]))
    ref = prepare_background(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="-inf"):
        separation(ref, np.array([0.5, bad]))


def test_argument_validation():
    ref = prepare_background(np.arange(10.0))
    with pytest.raises(ValueError):
        prepare_background(np.ones((2, 2)))
    with pytest.raises(ValueError):
        separation(ref, np.ones((2, 2)))
    for effs in [(0.0,), (1.5,), (math.nan,), (1e-3, 0.001)]:
        with pytest.raises(ValueError):
            separation(ref, np.ones(3), bkg_effs=effs)
    with pytest.raises(ValueError):
        separation(ref, np.ones(3), min_bkg_pass=-1)
