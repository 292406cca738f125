"""Working points and the max SIC (engine.metrics.working_points) read directly from the
counts: against a brute force over every cut, exact decimal targets, scipy's exact intervals;
the ranks a merge must select; the JSON helpers."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from hepfm_core.engine.metrics.roc import Counts, RankedScore, prepare_background, sorted_signal
from hepfm_core.engine.metrics.working_points import (
    WorkingPoint,
    check_effs,
    empty_working_point,
    format_eff,
    json_bound,
    json_float,
    max_sic,
    needed_ranks,
    working_point,
)

from .test_roc import SETTINGS

TARGETS = (1.0, 0.5, 0.3, 0.1, 0.05)
scores = st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, np.inf]), min_size=1, max_size=60)


def _core(b: np.ndarray, s: np.ndarray) -> Counts:
    return Counts.build(prepare_background(b), sorted_signal(s))


def _scipy_cp(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.6827, method="exact")
    return float(ci.low), float(ci.high)


def _loosest_cut(b: np.ndarray, target: float) -> float:
    """The smallest threshold t (a background score, or -inf) with #(b > t) <= nb * target,
    the target read as the decimal it is written as."""
    allowed = math.floor(b.size * Fraction(repr(target)))
    for t in [-math.inf, *np.unique(b)]:
        if np.count_nonzero(b > t) <= allowed:
            return float(t)
    raise AssertionError("the largest background score always qualifies")


# -- working points -----------------------------------------------------------------------
@SETTINGS
@given(bkg=scores, sig=scores, target=st.sampled_from(TARGETS), need=st.sampled_from([0, 1, 3]))
def test_working_point_is_the_loosest_cut_within_the_target(bkg, sig, target, need):
    b, s = np.array(bkg), np.array(sig)
    wp = working_point(_core(b, s), target, need)
    assert wp.target_bkg_eff == target
    if b.size * target < need:
        assert wp.status == "insufficient_background" and wp.eff_sig is None
        return
    t = _loosest_cut(b, target)
    n_pass = int(np.count_nonzero(b > t))
    assert (wp.threshold, wp.n_bkg_pass, wp.achieved_bkg_eff) == (t, n_pass, n_pass / b.size)
    assert wp.achieved_bkg_eff <= target
    assert (wp.achieved_bkg_eff_lower, wp.achieved_bkg_eff_upper) == pytest.approx(
        _scipy_cp(n_pass, b.size), abs=1e-12
    )
    if n_pass < need:
        assert wp.status == "tied_background" and wp.eff_sig is None
        assert f"passes only {n_pass} background events (need >= {need})" in wp.reason
        return
    n_sig = int(np.count_nonzero(s > t))
    eff = n_sig / s.size
    assert wp.status == "ok"
    assert wp.eff_sig == eff
    assert wp.eff_sig_err == pytest.approx(math.sqrt(eff * (1 - eff) / s.size), abs=1e-15)
    assert (wp.eff_sig_lower, wp.eff_sig_upper) == pytest.approx(
        _scipy_cp(n_sig, s.size), abs=1e-12
    )
    allowed = math.floor(b.size * Fraction(repr(target)))
    assert (wp.reason is None) == (n_pass == allowed)  # a shortfall only from ties


def test_decimal_targets_allow_their_whole_count():
    # 0.29 * 100 is 28.999999999999996 in floats: the target still allows 29 events, not 28
    assert 0.29 * 100 < 29
    b = np.arange(100.0)
    wp = working_point(_core(b, np.array([70.5, 71.5])), 0.29, 0)
    assert (wp.n_bkg_pass, wp.threshold, wp.eff_sig, wp.reason) == (29, 70.0, 1.0, None)
    assert needed_ranks(100, [0.29], 0) == (1, 30)  # rank 1: the max SIC's tightest cut


def test_working_point_of_a_single_background_event():
    core = _core(np.array([2.0]), np.array([1.0, 3.0]))
    wp = working_point(core, 1.0, 1)  # everything may pass: no cut
    assert (wp.status, wp.threshold, wp.n_bkg_pass, wp.eff_sig) == ("ok", -math.inf, 1, 1.0)
    wp = working_point(core, 0.5, 0)  # nothing may pass: the cut is the event's score
    assert (wp.status, wp.threshold, wp.n_bkg_pass, wp.eff_sig) == ("ok", 2.0, 0, 0.5)
    assert wp.reason is None
    wp = working_point(core, 0.5, 1)
    assert wp.status == "insufficient_background"
    assert wp.reason == "only 0.5 background events expected to pass at eff_B=5e-1 (need >= 1)"


def test_json_of_a_working_point_is_strict():
    core = _core(np.r_[np.arange(8.0), np.full(2, np.inf)], np.array([np.inf, 1.0]))
    wp = working_point(core, 0.1, 0)  # the two +inf events force the cut to +inf
    assert wp.threshold == math.inf and wp.n_bkg_pass == 0 and wp.eff_sig == 0.0
    d = wp.to_json_dict()
    json.dumps(d, allow_nan=False)
    assert d["key"] == "1e-1" and d["threshold"] is None and d["n_bkg_pass"] == 0
    assert d["eff_sig_lower"] == 0.0 and d["eff_sig_upper"] == pytest.approx(_scipy_cp(0, 2)[1])
    empty = empty_working_point(1e-3, "no_signal_events", "no signal")
    assert isinstance(empty, WorkingPoint)
    assert empty.to_json_dict() == {
        "target_bkg_eff": 1e-3, "key": "1e-3", "status": "no_signal_events",
        "reason": "no signal", "eff_sig": None, "eff_sig_err": None, "achieved_bkg_eff": None,
        "threshold": None, "n_bkg_pass": None, "eff_sig_lower": None, "eff_sig_upper": None,
        "achieved_bkg_eff_lower": None, "achieved_bkg_eff_upper": None,
    }  # fmt: skip


# -- max SIC ------------------------------------------------------------------------------
def _every_cut(b: np.ndarray, s: np.ndarray) -> list[tuple[int, int]]:
    """(background, signal) counts passing each distinct cut: ``> v`` and ``>= v`` for every
    score v, and no cut at all."""
    out = [(b.size, s.size)]
    for v in np.unique(np.r_[b, s]):
        out.append((int(np.count_nonzero(b > v)), int(np.count_nonzero(s > v))))
        out.append((int(np.count_nonzero(b >= v)), int(np.count_nonzero(s >= v))))
    return out


@SETTINGS
@given(bkg=scores, sig=scores, need=st.sampled_from([0, 1, 2, 5]))
def test_max_sic_is_the_best_of_every_cut(bkg, sig, need):
    b, s = np.array(bkg), np.array(sig)
    sic, eff_s, eff_b, reason = max_sic(_core(b, s), need)
    least = max(need, 1)
    if least > b.size:
        assert (sic, eff_s, eff_b) == (None, None, None)
        assert reason == f"only {b.size} background events (need >= {least} passing)"
        return
    cuts = [(fp, tp) for fp, tp in _every_cut(b, s) if fp >= least]
    best = max((tp / s.size) / math.sqrt(fp / b.size) for fp, tp in cuts)
    assert reason is None
    assert sic == pytest.approx(best, rel=1e-12)
    # the efficiencies returned are those of a cut that exists and reaches it
    assert (round(eff_b * b.size), round(eff_s * s.size)) in cuts
    assert eff_s / math.sqrt(eff_b) == pytest.approx(sic, rel=1e-12)


# -- what a merge must select -------------------------------------------------------------
class _Recording:
    """A sorted background that notes every rank read."""

    def __init__(self, b: np.ndarray) -> None:
        self.ref = prepare_background(b)
        self.read: set[int] = set()

    @property
    def n(self) -> int:
        return self.ref.n

    def at_rank(self, k: int) -> RankedScore:
        self.read.add(k)
        return self.ref.at_rank(k)


@SETTINGS
@given(bkg=scores, sig=scores, need=st.sampled_from([0, 1, 3, 10]))
def test_needed_ranks_are_every_rank_the_metrics_read(bkg, sig, need):
    b, s = np.array(bkg), np.array(sig)
    tail = _Recording(b)
    full = Counts.build(tail.ref, sorted_signal(s))
    core = Counts(tail, full.sig, full.values, full.counts, full.bkg_below, full.bkg_at_or_below)
    for target in TARGETS:
        working_point(core, target, need)
    max_sic(core, need)
    assert tail.read <= set(needed_ranks(b.size, TARGETS, need))


def test_needed_ranks_by_hand():
    assert needed_ranks(1_000_000, [1e-2, 1e-3], 10) == (10, 1001, 10001)
    assert needed_ranks(100, [1.0], 10) == (10,)  # everything may pass: no cut to find
    assert needed_ranks(5, [0.5], 10) == (3,)  # too few for the SIC's 10
    assert needed_ranks(0, [0.5], 0) == ()
    assert needed_ranks(10, [0.3, 0.1], 0) == (1, 2, 4)


# -- the helpers --------------------------------------------------------------------------
def test_format_eff():
    assert format_eff(1e-2) == "1e-2"
    assert format_eff(1e-3) == "1e-3"
    assert format_eff(0.1 * 0.1) == "1e-2"
    assert format_eff(1e-5) == "1e-5"
    assert format_eff(2.5e-4) == "2.5e-4"
    assert format_eff(1.0) == "1e0"
    for bad in (0.0, -1e-3, math.inf, math.nan):
        with pytest.raises(ValueError):
            format_eff(bad)


def test_check_effs_says_what_is_wrong():
    assert check_effs([1, 0.5]) == (1.0, 0.5)
    assert check_effs([]) == ()
    for bad in (0.0, 1.5, -0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"lies in \(0, 1\]"):
            check_effs([0.1, bad])
    with pytest.raises(ValueError, match=r"must be distinct, got \['1e-3', '1e-3'\]"):
        check_effs([1e-3, 0.001])


def test_json_float_and_bound():
    assert [json_float(x) for x in (None, math.nan, math.inf, -math.inf)] == [None] * 4
    assert json_float(np.float32(0.5)) == 0.5 and type(json_float(np.float32(0.5))) is float
    assert json_float(3) == 3.0
    assert [json_bound(x) for x in (math.inf, -math.inf, None, 20)] == ["inf", "-inf", None, 20.0]
    assert type(json_bound(np.float64(-88.7))) is float
