"""The residual profile of whole samples (engine.investigate.residuals): means and medians per
input, per track slot and per feature against numpy on the same squared residuals, blocks
accumulated as one, non-finite events left out and counted, the padding's share."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from hepfm_core.engine.investigate.events import TrackLayout
from hepfm_core.engine.investigate.residuals import residual_profile

LAYOUT = TrackLayout(3, ("d0", "pt"), ("mm", "GeV"))


def _blocks(seed: int = 6, n: int = 25):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, LAYOUT.width)).astype(np.float32)
    x[::3, 4:] = 0.0  # the third track slot is padding in every third event
    x[::5, 2:] = 0.0  # only one track in every fifth
    x_hat = (x + rng.normal(0.0, 0.3, x.shape)).astype(np.float32)
    x_hat[7, 1] = np.inf  # a non-finite residual: event 7 is left out
    x_hat[11, 0] = np.nan  # and event 11
    return x, x_hat


def test_profile_against_numpy_in_any_number_of_blocks():
    x, x_hat = _blocks()
    sq = (x.astype(np.float64) - x_hat.astype(np.float64)) ** 2
    ok = np.isfinite(sq).all(axis=1)
    good = sq[ok]
    grid = good.reshape(-1, 3, 2)
    for cuts in ([25], [4, 21], [1, 0, 10, 14]):
        bounds = np.cumsum([0, *cuts])
        parts = [(x[a:b], x_hat[a:b], x[a:b]) for a, b in itertools.pairwise(bounds)]
        p = residual_profile(parts, LAYOUT, sample="bkg", note="all 25 events")
        assert (p.n_events, p.n_used, p.n_nonfinite) == (25, 23, 2)
        np.testing.assert_allclose(p.mean, good.mean(axis=0), rtol=1e-12)
        np.testing.assert_array_equal(p.median, np.median(good, axis=0))
        np.testing.assert_allclose(p.per_slot, grid.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(p.per_track, grid.mean(axis=0).sum(axis=1), rtol=1e-12)
        np.testing.assert_allclose(p.per_feature, grid.mean(axis=0).sum(axis=0), rtol=1e-12)
        np.testing.assert_array_equal(p.median_per_track, np.median(grid.sum(axis=2), axis=0))
        np.testing.assert_array_equal(p.median_per_feature, np.median(grid.sum(axis=1), axis=0))
        # a slot holds a track when one of its values is not 0: all events count (padding too)
        real = np.any(x.reshape(-1, 3, 2) != 0.0, axis=2).mean(axis=0)
        np.testing.assert_allclose(p.real_fraction, real, rtol=1e-15)
    # slot 2 is padding in the 9 events of every third and the 5 of every fifth (2 of both)
    assert p.real_fraction.tolist() == pytest.approx([1.0, 1 - 5 / 25, 1 - 12 / 25])
    doc = json.loads(json.dumps(p.to_json_dict(), allow_nan=False))
    assert (doc["sample"], doc["note"], doc["n_nonfinite"]) == ("bkg", "all 25 events", 2)


def test_without_a_track_layout_only_the_inputs():
    x, x_hat = _blocks()
    p = residual_profile([(x, x_hat, x)], None)
    assert p.per_slot is None and p.per_track is None and p.per_feature is None
    assert p.real_fraction is None and p.median_per_track is None
    assert p.mean.shape == (6,)
    assert json.loads(json.dumps(p.to_json_dict(), allow_nan=False))["per_track"] is None


def test_a_single_event_and_an_all_non_finite_sample():
    x = np.array([[1.0, 2.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    p = residual_profile([(x, np.zeros_like(x), x)], LAYOUT)
    assert p.mean.tolist() == [1.0, 4.0, 0.0, 0.0, 0.0, 0.0] == p.median.tolist()
    assert p.per_track.tolist() == [5.0, 0.0, 0.0] and p.real_fraction.tolist() == [1.0, 0.0, 0.0]
    bad = residual_profile([(x, np.full_like(x, np.nan), x)], LAYOUT)
    assert (bad.n_used, bad.n_nonfinite) == (0, 1)
    assert np.isnan(bad.mean).all() and np.isnan(bad.median_per_track).all()
    doc = json.loads(json.dumps(bad.to_json_dict(), allow_nan=False))
    assert doc["mean"] == [None] * 6 and doc["median_per_feature"] == [None, None]


def test_no_block_at_all_is_an_error():
    with pytest.raises(ValueError, match="no events to profile"):
        residual_profile([], LAYOUT)
