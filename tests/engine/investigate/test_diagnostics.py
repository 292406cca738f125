"""The latent diagnostics of whole samples (engine.investigate.diagnostics): per-dimension KL
terms against the physics.md formula in float64 (and 50-digit decimals where exp(s)
overflows), means, variances, quantiles, clip counts and the z_log_var histogram against
numpy, read in small chunks; an all-non-finite sample; the histogram's range by hand."""

from __future__ import annotations

import decimal
import json

import numpy as np
import pytest

from hepfm_core.engine.investigate.diagnostics import (
    LATENT_LEVELS,
    grid_histogram_range,
    kl_medians,
    kl_per_dimension,
    latent_diagnostics,
)

from ..guards.test_latent import FORMS, kl_terms


@pytest.mark.parametrize(("parameterisation", "kl_form"), FORMS)
def test_kl_terms_equal_the_formula(parameterisation, kl_form):
    rng = np.random.default_rng(3)
    mu, s = rng.normal(0, 2, (40, 3)), rng.normal(0, 3, (40, 3))
    mu32, s32 = mu.astype(np.float32), s.astype(np.float32)
    got = kl_per_dimension(mu32, s32, parameterisation, kl_form)
    want = kl_terms(mu32.astype(np.float64), s32.astype(np.float64), parameterisation, kl_form)
    assert got.dtype == np.float64 and got.shape == (40, 3)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    terms = kl_terms(mu, s, parameterisation, kl_form)
    np.testing.assert_allclose(
        kl_medians(mu, s, parameterisation, kl_form), np.median(terms, axis=0), rtol=1e-13
    )


def test_a_term_whose_exp_overflows_is_recomputed():
    mu, s = np.array([[2.0, 0.0, 0.0]]), np.array([[709.9, 710.4, 711.0]])
    got = kl_per_dimension(mu, s, "exp", "true")[0]
    ctx = decimal.Context(prec=50)
    for j in range(2):
        m, x = decimal.Decimal(mu[0, j]), decimal.Decimal(s[0, j])
        want = float(ctx.multiply(1 + x - m * m - ctx.exp(x), decimal.Decimal("-0.5")))
        assert got[j] == pytest.approx(want, rel=1e-13)
    assert np.isposinf(got[2])  # exp(711) / 2 exceeds float64 itself
    assert np.isnan(kl_medians(np.empty((0, 4)), np.empty((0, 4)), "exp", "true")).all()
    assert kl_medians(np.empty((0, 4)), np.empty((0, 4)), "exp", "true").shape == (4,)


def _sample(n: int = 30, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    mu = rng.normal(0.0, 1.0, (n, k)).astype(np.float32)
    mu[:, 0] *= 0.01  # a collapsed dimension: variance below 0.01
    s = rng.normal(0.0, 8.0, (n, k)).astype(np.float32)
    s[4, 1] = 800.0  # its KL term is +inf even recomputed
    mu[7, 2] = np.nan  # encoder output not finite: left out
    s[9, 0] = np.inf
    return mu, s


@pytest.mark.parametrize("clip", [None, (-5.0, 5.0), (-np.inf, 0.0)])
def test_latent_diagnostics_against_numpy(clip):
    mu32, s32 = _sample()
    d = latent_diagnostics(mu32, s32, clip=clip, sample="bkg", n_bins=12, chunk_rows=4)
    ok = np.isfinite(mu32).all(axis=1) & np.isfinite(s32).all(axis=1)
    mu, s_raw = mu32[ok].astype(np.float64), s32[ok].astype(np.float64)
    s = s_raw if clip is None else np.clip(s_raw, *clip)
    with np.errstate(over="ignore"):
        terms = kl_per_dimension(mu, s, "exp", "true")
    assert (d.n_events, d.n_used, d.n_nonfinite) == (30, 28, 2)
    np.testing.assert_allclose(d.mu_mean, mu.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(d.mu_var, mu.var(axis=0), rtol=1e-10)
    assert d.active.tolist() == [False, True, True] and d.n_active == 2
    fin = np.isfinite(terms)
    np.testing.assert_array_equal(d.kl_nonfinite, (~fin).sum(axis=0))
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(d.kl_mean, terms.mean(axis=0), rtol=1e-12)
    want_finite = [terms[fin[:, j], j].mean() for j in range(3)]
    np.testing.assert_allclose(d.kl_mean_finite, want_finite, rtol=1e-12)
    np.testing.assert_allclose(d.kl_median, np.median(terms, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(d.s_quantiles, np.quantile(s_raw, LATENT_LEVELS, axis=0).T)
    if clip is None:
        assert not d.below_clip.any() and not d.above_clip.any()
    else:
        np.testing.assert_array_equal(d.below_clip, (s_raw < clip[0]).sum(axis=0))
        np.testing.assert_array_equal(d.above_clip, (s_raw > clip[1]).sum(axis=0))
    for j in range(3):
        counts, _ = np.histogram(s_raw[:, j], d.s_edges)
        np.testing.assert_array_equal(d.s_counts[j], counts)
        assert d.s_underflow[j] == np.count_nonzero(s_raw[:, j] < d.s_edges[0])
        assert d.s_overflow[j] == np.count_nonzero(s_raw[:, j] > d.s_edges[-1])
    assert d.frame().height == 3 and d.frame()["active"].to_list() == [False, True, True]
    doc = json.loads(json.dumps(d.to_json_dict(), allow_nan=False))  # strict: an open clip too
    want_clip = {None: None, (-5.0, 5.0): [-5.0, 5.0], (-np.inf, 0.0): ["-inf", 0.0]}[clip]
    assert doc["clip"] == want_clip


def test_the_median_over_chosen_rows_only():
    mu32, s32 = _sample()
    rows = np.array([0, 4, 7, 12, 20])  # row 7 is not finite: not used
    d = latent_diagnostics(mu32, s32, clip=None, median_rows=rows)
    used = np.array([0, 4, 12, 20])
    with np.errstate(over="ignore"):
        terms = kl_per_dimension(mu32[used], s32[used], "exp", "true")
    assert d.kl_median_events == 4
    np.testing.assert_array_equal(d.kl_median, np.median(terms, axis=0))


def test_an_all_non_finite_sample_has_no_statistics():
    mu = np.full((5, 2), np.nan, dtype=np.float32)
    d = latent_diagnostics(mu, np.zeros((5, 2), np.float32), clip=(-1.0, 1.0), n_bins=4)
    assert (d.n_used, d.n_nonfinite, d.kl_median_events) == (0, 5, 0)
    for a in (d.kl_mean, d.kl_mean_finite, d.kl_median, d.mu_mean, d.mu_var, d.s_quantiles):
        assert np.isnan(a).all()
    assert d.s_counts.sum() == 0 and d.n_active == 0
    doc = json.loads(json.dumps(d.to_json_dict(), allow_nan=False))
    assert doc["kl_mean"] == [None, None] and doc["n_nonfinite_encoder"] == 5


def test_histogram_range_by_hand():
    q = np.full((2, len(LATENT_LEVELS)), np.nan)
    q[:, 1], q[:, -2] = [-2.0, -1.0], [3.0, 2.0]  # the bulk: -2 .. 3, width 5
    assert grid_histogram_range(q, 10, None) == pytest.approx((-2.1, 3.1))
    assert grid_histogram_range(q, 10, (-20.0, 20.0)) == pytest.approx((-2.1, 3.1))  # far
    # -4 lies within one bulk width of the bulk: drawn on the axis (20 does not)
    assert grid_histogram_range(q, 10, (-4.0, 20.0)) == pytest.approx((-4.14, 3.14))
    assert grid_histogram_range(q, 0, None) == pytest.approx((-1.04, 1.04))  # no event
    one = np.full((1, len(LATENT_LEVELS)), 2.0)
    assert grid_histogram_range(one, 3, None) == pytest.approx((1.48, 2.52))  # one value
