"""The latent tallies against the event loop they replace (``diagnostics.latent_diagnostics``)."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.engine.investigate.diagnostics import latent_diagnostics
from hepfm_core.engine.investigate.latent_tally import (
    build_latent_tally,
    grid_index,
    latent_from_tally,
)


def latent_arrays(n: int = 6000, k: int = 5, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Latent outputs with every hard case: values on grid edges and on the clip bounds,
    values beyond the grid (up to exp's overflow), a collapsed dimension, non-finite rows."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, [0.01, 1.0, 2.0, 0.5, 1.0][:k], size=(n, k)).astype(np.float32)
    s = rng.normal([-3.0, -1.0, 0.0, -6.0, 2.0][:k], 2.0, size=(n, k)).astype(np.float32)
    s[:50, 1] = 20.0  # on a clip bound
    s[50:80, 2] = -20.0
    s[80:90, 3] = np.float32(0.5)  # on a grid edge
    s[90, 4] = 710.2  # exp(s) overflows; the KL term only just fits float64
    s[95:97, 4] = 712.0  # the KL term itself is +inf
    s[97:99, 0] = -400.0  # below the grid
    s[99:101, 2] = 150.0  # on the grid's last edge
    mu[101, 0] = np.nan  # a non-finite encoder row: left out
    s[102, 3] = np.inf
    return mu, s


CLIPS = [None, (-20.0, 20.0), (-5.0, 0.5), (-150.0, 150.0), (-0.1, 0.1), (-88.7, 88.7)]


@pytest.mark.parametrize("parameterisation,kl_form", [("exp", "true"), ("softplus", "true"),
                                                      ("softplus", "upstream")])  # fmt: skip
def test_tally_equals_the_event_loop(parameterisation, kl_form):
    mu, s = latent_arrays()
    tally = build_latent_tally(mu, s, parameterisation=parameterisation, kl_form=kl_form)
    for clip in CLIPS:
        got = latent_from_tally(tally, clip)
        assert got is not None
        want = latent_diagnostics(
            mu, s, clip=clip, parameterisation=parameterisation, kl_form=kl_form,
            chunk_rows=997,
        )  # fmt: skip
        assert (got.n_used, got.n_nonfinite) == (want.n_used, want.n_nonfinite) == (5998, 2)
        np.testing.assert_array_equal(got.kl_nonfinite, want.kl_nonfinite)
        np.testing.assert_allclose(got.kl_mean, want.kl_mean, rtol=1e-12)
        np.testing.assert_allclose(got.kl_mean_finite, want.kl_mean_finite, rtol=1e-12)
        np.testing.assert_array_equal(got.kl_median, want.kl_median)
        np.testing.assert_allclose(got.mu_mean, want.mu_mean, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got.mu_var, want.mu_var, rtol=1e-12)
        np.testing.assert_array_equal(got.s_quantiles, want.s_quantiles)
        np.testing.assert_array_equal(got.below_clip, want.below_clip)
        np.testing.assert_array_equal(got.above_clip, want.above_clip)
        # the histogram, on the tally's grid-aligned edges, against np.histogram
        used = np.isfinite(mu).all(axis=1) & np.isfinite(s).all(axis=1)
        raw = s[used].astype(np.float64)
        for j in range(s.shape[1]):
            counts, _ = np.histogram(raw[:, j], got.s_edges)
            np.testing.assert_array_equal(got.s_counts[j], counts)
            assert got.s_underflow[j] == (raw[:, j] < got.s_edges[0]).sum()
            assert got.s_overflow[j] == (raw[:, j] > got.s_edges[-1]).sum()
        # the event loop's range, widened to grid edges and cut at the grid's ends
        assert got.s_edges[0] <= max(want.s_edges[0], -150.0)
        assert got.s_edges[-1] >= min(want.s_edges[-1], 150.0)
        assert got.s_counts.shape[1] <= 40


def test_the_exp_overflow_cases_are_counted_as_the_event_loop_does():
    mu, s = latent_arrays()
    got = latent_from_tally(build_latent_tally(mu, s), None)
    assert got.kl_nonfinite.tolist() == [0, 0, 0, 0, 2]  # s = 712: +inf; s = 710.2: finite
    assert got.kl_mean[4] == np.inf and np.isfinite(got.kl_mean_finite[4])
    clipped = latent_from_tally(build_latent_tally(mu, s), (-20.0, 20.0))
    assert clipped.kl_nonfinite.sum() == 0 and clipped.above_clip[1] == 0  # == 20: inside
    assert clipped.above_clip[4] == (s[:, 4][np.isfinite(s).all(axis=1)] > 20).sum()


def test_median_rows_limit_the_median_only():
    mu, s = latent_arrays()
    rows = np.arange(0, 6000, 3)
    tally = build_latent_tally(mu, s, median_rows=rows)
    got = latent_from_tally(tally, (-20.0, 20.0))
    want = latent_diagnostics(mu, s, clip=(-20.0, 20.0), median_rows=rows)
    assert got.kl_median_events == want.kl_median_events == 1999  # row 102 is not used
    np.testing.assert_array_equal(got.kl_median, want.kl_median)
    full = latent_diagnostics(mu, s, clip=(-20.0, 20.0))
    assert full.kl_median_events == 5998 and not np.array_equal(full.kl_median, got.kl_median)


def test_bounds_off_the_grid_fall_back():
    mu, s = latent_arrays(n=200)
    tally = build_latent_tally(mu, s)
    assert latent_from_tally(tally, (-20.05, 20.0)) is not None  # 0.01 steps are edges
    assert latent_from_tally(tally, (-20.005, 20.0)) is None
    assert latent_from_tally(tally, (-20.0, 151.0)) is None
    assert grid_index(float("inf")) is None and grid_index(150.0) == 15000


def test_a_tally_is_bounded_by_the_grid_not_the_events():
    mu, s = latent_arrays(n=60_000, seed=5)
    tally = build_latent_tally(mu, s)
    # bins between the lowest and highest occupied grid bin, plus the two outside columns
    assert tally.count.shape[1] < 2 + 30_000
    assert tally.count.sum() == tally.n_used * s.shape[1]
