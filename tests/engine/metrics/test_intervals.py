"""Uncertainties: the Hanley-McNeil AUC error (hand values, bootstrap, digits near AUC 1) and
Clopper-Pearson intervals against scipy."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import binomtest

from hepfm_core.engine.metrics.intervals import EFF_INTERVAL, clopper_pearson, hanley_mcneil_se
from hepfm_core.engine.metrics.separation import prepare_background, separation


# -- Hanley-McNeil ------------------------------------------------------------------------
def test_hanley_mcneil_hand_formula():
    # A = 0.8, n_s = 100, n_b = 200: Q1 = 2/3, Q2 = 32/45,
    # SE^2 = (0.16 + 99 (2/3 - 0.64) + 199 (32/45 - 0.64)) / 20000 = 1907 / 2250000.
    assert hanley_mcneil_se(0.8, 100, 200) == pytest.approx(math.sqrt(1907 / 2250000), rel=1e-12)
    assert hanley_mcneil_se(0.8, 100, 200) == pytest.approx(0.0291128074, rel=1e-9)
    # A = 0.5, n_s = n_b = 1: Q1 = 1/3, Q2 = 1/3, SE^2 = 0.25.
    assert hanley_mcneil_se(0.5, 1, 1) == pytest.approx(0.5, rel=1e-12)
    assert hanley_mcneil_se(1.0, 50, 70) == 0.0
    assert hanley_mcneil_se(0.0, 50, 70) == 0.0
    with pytest.raises(ValueError):
        hanley_mcneil_se(1.2, 10, 10)
    with pytest.raises(ValueError):
        hanley_mcneil_se(0.7, 0, 10)


def test_hanley_mcneil_close_to_bootstrap():
    rng = np.random.default_rng(20240611)
    b = rng.normal(0.0, 1.0, 3000)
    s = rng.normal(1.0, 1.0, 300)
    res = separation(prepare_background(b), s)
    aucs = []
    for _ in range(300):
        bb = b[rng.integers(0, b.size, b.size)]
        ss = s[rng.integers(0, s.size, s.size)]
        aucs.append(separation(prepare_background(bb), ss, max_points=4).auc)
    boot = float(np.std(aucs, ddof=1))
    assert 1 / 1.5 < res.auc_err / boot < 1.5


def _hanley_mcneil_exact(auc: float, n_s: int, n_b: int) -> float:
    """The original Hanley-McNeil formula in exact rational arithmetic, then one rounding."""
    a = Fraction(auc)  # the float's exact value
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_s - 1) * (q1 - a * a) + (n_b - 1) * (q2 - a * a)) / (n_s * n_b)
    return math.sqrt(var)  # float(var) is correctly rounded; sqrt adds half an ulp


@pytest.mark.parametrize("gap", [1e-12, 1e-9, 1e-6, 0.2])
@pytest.mark.parametrize(("n_s", "n_b"), [(9506, 2_727_612), (100, 200), (1, 1)])
def test_hanley_mcneil_keeps_its_digits_near_auc_one(gap, n_s, n_b):
    for auc in (1.0 - gap, gap):
        want = _hanley_mcneil_exact(auc, n_s, n_b)
        assert want > 0
        assert hanley_mcneil_se(auc, n_s, n_b) == pytest.approx(want, rel=1e-9, abs=0)


# -- Clopper-Pearson ----------------------------------------------------------------------
CL_1SIGMA = 0.6827
CP_CASES = [
    (0, 1),
    (1, 1),
    (0, 10),
    (3, 10),
    (10, 10),
    (0, 100),
    (50, 100),
    (100, 100),
    (27, 2_727_612),
    (0, 9506),
    (1, 9506),
    (9505, 9506),
    (9506, 9506),
]


def _scipy_cp(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=CL_1SIGMA, method="exact")
    return float(ci.low), float(ci.high)


@pytest.mark.parametrize(("k", "n"), CP_CASES)
def test_clopper_pearson_matches_scipy_binomtest(k, n):
    lo, hi = clopper_pearson(k, n)
    want_lo, want_hi = _scipy_cp(k, n)
    assert lo == pytest.approx(want_lo, rel=1e-9, abs=1e-15)
    assert hi == pytest.approx(want_hi, rel=1e-9, abs=1e-15)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    if k == 0:
        assert lo == 0.0 and hi > 0.0
    if k == n:
        assert hi == 1.0 and lo < 1.0


def test_clopper_pearson_is_vectorised_and_validates():
    ks = np.array([k for k, _ in CP_CASES])
    ns = np.array([n for _, n in CP_CASES])
    lo, hi = clopper_pearson(ks, ns)
    assert lo.shape == hi.shape == ks.shape
    for i, (k, n) in enumerate(CP_CASES):
        assert (lo[i], hi[i]) == clopper_pearson(k, n)
    # a 95 % interval is wider than the 1-sigma one
    ci = binomtest(3, 10).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(3, 10, cl=0.95) == pytest.approx((ci.low, ci.high), rel=1e-9)
    for bad in ((-1, 10), (11, 10), (0, 0), (1.5, 10)):
        with pytest.raises(ValueError):
            clopper_pearson(*bad)
    with pytest.raises(ValueError):
        clopper_pearson(1, 10, cl=1.0)
    assert "Clopper-Pearson" in EFF_INTERVAL and "68.27" in EFF_INTERVAL
