"""Streamed normalisation: the demo's estimator over every event, exact, in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.data.generator import GeneratorConfig, estimate_normalisation, generate_block
from hepfm_core.data.streamed_stats import BranchMoments, float32_keys, streamed_normalisation


def blocks_of(raw, rows):
    return lambda: (raw[i : i + rows] for i in range(0, raw.shape[0], rows))


@pytest.mark.parametrize("rows", [1, 777, 20_000])
def test_equals_the_demo_estimator_on_the_same_events(rows):
    cfg = GeneratorConfig(n_tracks=30, dof0_rate=0.05, degenerate_rate=0.02)
    raw = generate_block("background", 3000, cfg, 0)  # padding, inf and NaN chi2, 1e8 GeV pt
    assert not np.isfinite(raw).all()
    ref = estimate_normalisation(raw, cfg)
    got = streamed_normalisation(blocks_of(raw, rows), 6, 30, clip=None)
    np.testing.assert_allclose(got.means, ref.means, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.stds, ref.stds, rtol=1e-10)
    assert np.array_equal(got.fill, ref.fill)  # medians: exact order statistics
    assert got.clip is None and got.n_features == 180


def test_order_statistics_are_exact_on_ties_signs_and_zeros():
    rng = np.random.default_rng(2)
    # one branch of small integers (many ties, both zeros), one of wide-range floats
    a = rng.integers(-3, 4, 10_001).astype(np.float32)
    a[::7] = -0.0
    b = (rng.standard_cauchy(10_001) * 1e3).astype(np.float32)
    raw = np.stack([a, b], axis=1).reshape(-1, 2)  # one track per event
    got = streamed_normalisation(blocks_of(raw, 1000), 2, 1, trim=0.01)
    real_track = (a != 0.0) | (b != 0.0)  # a track is real unless all its values are zero
    for col, values in enumerate((a, b)):
        v = values.astype(np.float64)
        lo, hi = np.quantile(v, [0.01, 0.99])
        kept = v[(v >= lo) & (v <= hi)]
        assert got.means[col] == pytest.approx(kept.mean(), rel=1e-12, abs=1e-15)
        assert got.stds[col] == pytest.approx(kept.std(), rel=1e-10)
        assert got.fill[col] == np.median(v[real_track])


def test_a_branch_without_finite_values_gets_zeros():
    raw = np.ones((10, 2), dtype=np.float32)
    raw[:, 1] = np.nan
    got = streamed_normalisation(blocks_of(raw, 3), 2, 1)
    assert got.means.tolist() == [1.0, 0.0] and got.stds.tolist() == [0.0, 0.0]
    assert got.fill.tolist() == [1.0, 0.0]


def test_keys_sort_as_the_values():
    values = np.array(
        [-np.inf, -3e38, -1.5, -1e-45, -0.0, 0.0, 1e-45, 2.0, 3e38, np.inf], dtype=np.float32
    )
    keys = float32_keys(values)
    assert np.all(np.diff(keys.astype(np.int64)) > 0)


def test_moments_merge_like_one_pass():
    v = np.random.default_rng(0).normal(5.0, 2.0, 10_000)
    m = BranchMoments()
    for part in np.array_split(v, 13):
        m.add(part)
    assert m.n == v.size
    assert m.mean == pytest.approx(v.mean(), rel=1e-13)
    assert m.std == pytest.approx(v.std(), rel=1e-12)
