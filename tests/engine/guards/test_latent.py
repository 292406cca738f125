"""The latent numerics in float64 (engine.guards.latent): the variance forms, the KL with its
recompute where exp(s) overflows but the KL does not, the radius over an underflowed
variance, and the chunked recompute of a clip, against numpy written independently and
50-digit decimal arithmetic."""

from __future__ import annotations

import decimal
import math

import numpy as np
import pytest

from hepfm_core.engine.guards import latent
from hepfm_core.engine.guards.latent import clipped_latent_score, kl_from, radius_from, variance
from hepfm_core.vocabulary import Cause

from .test_guarded import make_pass, run


def test_radius_decisions_for_underflowed_variance() -> None:
    p = make_pass([[0.0, 1.0], [2.0**-10, 1.0]], [[-800.0, 0.0], [-800.0, 0.0]])
    g = run(p, score="radius")
    # mu == 0 adds nothing even where exp(s) underflowed to 0; mu != 0 makes it overflow
    assert g.scores[0] == pytest.approx(1.0, rel=1e-15)
    assert g.causes.tolist() == [Cause.OK, Cause.RADIUS_OVERFLOW]
    assert math.isnan(g.scores[1])
    clipped = run(p, score="radius", clip=(-20.0, 20.0))
    assert clipped.scores[1] == pytest.approx(2.0**-20 / math.exp(-20.0) + 1.0, rel=1e-13)
    assert clipped.counts.outside_clip == 2


def _half_exp_minus(s: int, shift: int) -> float:
    """(exp(s) - shift) / 2 with 50 significant digits, rounded to float64 once."""
    ctx = decimal.Context(prec=50)
    return float(ctx.divide(ctx.subtract(ctx.exp(decimal.Decimal(s)), shift), 2))


def test_kl_overflow_only_when_the_kl_itself_exceeds_float64() -> None:
    # s = 710: exp(s) = 2.23e308 overflows, but KL = (exp(710) - 1 - 710) / 2 = 1.12e308 fits.
    # s = 711: KL = 3.0e308 does not; two dimensions at 710 add up to 2.23e308, neither.
    p = make_pass([[0.0, 0.0]] * 3, [[710.0, 0.0], [711.0, 0.0], [710.0, 710.0]], recon=[1.0] * 3)
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(710.0))
    want = _half_exp_minus(710, 711)
    assert want == pytest.approx(1.117e308, rel=1e-3)
    g = run(p, score="kl")
    assert g.causes.tolist() == [Cause.OK, Cause.KL_OVERFLOW, Cause.KL_OVERFLOW]
    assert g.scores[0] == pytest.approx(want, rel=1e-12)
    # the clip path: 711 clipped to 710 gives the same finite KL
    g = run(p, score="kl", clip=(-math.inf, 710.0))
    assert g.causes.tolist() == [Cause.OK, Cause.OK, Cause.KL_OVERFLOW]
    assert g.scores[1] == pytest.approx(want, rel=1e-12)
    # total: beta * KL decides
    assert run(p, score="total", beta=1.0).causes.tolist() == [0, 4, 4]
    assert run(p, score="total", beta=2.0).causes.tolist() == [4, 4, 4]
    assert "710" in Cause.KL_OVERFLOW.description


def kl_terms(mu: np.ndarray, s: np.ndarray, parameterisation: str, kl_form: str) -> np.ndarray:
    """-1/2 (1 + log v - mu^2 - v) per element, straight from physics.md, in float64."""
    if parameterisation == "exp":
        v, log_v = np.exp(s), s
    else:
        v = np.log1p(np.exp(s)) + 1e-6
        log_v = s if kl_form == "upstream" else np.log(v)
    return -0.5 * (1.0 + log_v - mu**2 - v)


def _kl(mu: np.ndarray, s: np.ndarray, parameterisation: str, kl_form: str) -> np.ndarray:
    """Per row: the sum of :func:`kl_terms` over the latent dimensions."""
    return kl_terms(mu, s, parameterisation, kl_form).sum(axis=1)


FORMS = (("exp", "true"), ("softplus", "true"), ("softplus", "upstream"))


@pytest.mark.parametrize(("parameterisation", "kl_form"), FORMS)
def test_variance_and_kl_equal_the_formulas(parameterisation, kl_form):
    rng = np.random.default_rng(0)
    mu = rng.normal(0.0, 2.0, (50, 4))
    s = rng.normal(0.0, 3.0, (50, 4))
    v, log_v = variance(s, parameterisation, kl_form)
    want_v = np.exp(s) if parameterisation == "exp" else np.log1p(np.exp(s)) + 1e-6
    np.testing.assert_allclose(v, want_v, rtol=1e-14)
    assert v.dtype == log_v.dtype == np.float64
    got = kl_from(np.sum(mu**2, axis=1), v, log_v)
    np.testing.assert_allclose(got, _kl(mu, s, parameterisation, kl_form), rtol=1e-12, atol=1e-12)


def test_softplus_variance_stays_finite_where_exp_overflows():
    s = np.array([[800.0, -800.0]])
    v, log_v = variance(s, "softplus", "true")
    # softplus(800) = 800 (to float64), softplus(-800) = exp(-800) underflows: v is the floor
    assert v.tolist() == [[800.0 + 1e-6, 1e-6]]
    assert log_v == pytest.approx(np.log([[800.0 + 1e-6, 1e-6]]), rel=1e-15)
    assert variance(s, "softplus", "upstream")[1] is s


def _decimal_kl(mu: list[float], s: list[float]) -> float:
    """The exp-form KL of one row with 50 significant digits, rounded to float64 once."""
    ctx = decimal.Context(prec=50)
    total = decimal.Decimal(0)
    for m, x in zip(mu, s, strict=True):
        m_, x_ = decimal.Decimal(m), decimal.Decimal(x)
        total += 1 + x_ - m_ * m_ - ctx.exp(x_)
    return float(ctx.multiply(total, decimal.Decimal("-0.5")))


def test_kl_recompute_where_only_exp_overflows():
    mu = np.array([[1.5, 0.0], [0.0, 3.0], [0.0, 0.0]])
    s = np.array([[709.9, 0.5], [710.3, -1.0], [711.0, 0.0]])
    sum_mu2 = np.sum(mu**2, axis=1)
    with np.errstate(all="ignore"):  # as the callers run it
        v, log_v = variance(s, "exp", "true")
        plain = kl_from(sum_mu2, v, log_v)
        got = kl_from(sum_mu2, v, log_v, s)
    assert np.isinf(v[:, 0]).all()  # exp(s) overflowed in every row
    assert np.isposinf(plain).all()  # without s: no recompute
    for i in range(2):
        assert got[i] == pytest.approx(_decimal_kl(mu[i].tolist(), s[i].tolist()), rel=1e-13)
    assert math.isinf(_decimal_kl([0.0, 0.0], [711.0, 0.0])) and np.isposinf(got[2])
    # a finite row is left as it was
    fine = kl_from(np.array([1.0]), *variance(np.array([[0.0]]), "exp", "true"), np.array([[0.0]]))
    assert fine.tolist() == [0.5]


def test_radius_of_zero_mu_over_zero_variance_is_zero():
    mu = np.array([[0.0, 2.0], [1e-3, 2.0], [3.0, 0.0]])
    v = np.array([[0.0, 4.0], [0.0, 4.0], [0.5, 0.0]])
    with np.errstate(all="ignore"):
        got = radius_from(mu, mu * mu, v)
    assert got[0] == 1.0  # 0 / 0 adds nothing
    assert np.isposinf(got[1])  # 1e-6 / 0 is +inf
    assert got[2] == 18.0


@pytest.mark.parametrize("which", ["kl", "radius"])
@pytest.mark.parametrize(("parameterisation", "kl_form"), FORMS)
@pytest.mark.parametrize("clip", [(-2.0, 1.5), (-math.inf, 0.0), (0.5, 0.5)])
def test_clipped_recompute_equals_numpy(monkeypatch, which, parameterisation, kl_form, clip):
    monkeypatch.setattr(latent, "RECOMPUTE_ROWS", 3)  # several chunks on a few rows
    rng = np.random.default_rng(5)
    mu = rng.normal(0.0, 1.0, (11, 3))
    s = rng.normal(0.0, 4.0, (11, 3))
    p = make_pass(mu, s)
    rows = np.array([10, 0, 4, 5, 6, 2, 9])
    got = clipped_latent_score(p, rows, clip, which, parameterisation, kl_form)
    m = p.z_mean.astype(np.float64)[rows]
    c = np.clip(p.z_log_var.astype(np.float64)[rows], *clip)
    if which == "kl":
        want = _kl(m, c, parameterisation, kl_form)
    else:
        v = np.exp(c) if parameterisation == "exp" else np.log1p(np.exp(c)) + 1e-6
        want = np.sum(m**2 / v, axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert clipped_latent_score(p, np.empty(0, np.int64), clip, which, "exp", "true").size == 0
