"""Normalisation: fill, standardise with a floored std, clip; per-branch statistics."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.data.normalisation import STD_FLOOR, Normalisation, branch_statistics


def test_apply_against_numpy():
    rng = np.random.default_rng(0)
    raw = rng.normal(3.0, 5.0, size=(50, 4))
    raw[7, 2] = np.nan
    raw[9, 0] = -np.inf
    means = np.array([1.0, 2.0, 3.0, 4.0])
    stds = np.array([2.0, 0.0, 4.0, 1.0])  # a zero std is floored, not a division by zero
    fill = np.array([10.0, 20.0, 30.0, 40.0])
    norm = Normalisation(means, stds, fill, clip=2.5)
    x = norm.apply(raw)
    filled = np.where(np.isfinite(raw), raw, fill)
    expected = np.clip((filled - means) / np.maximum(stds, STD_FLOOR), -2.5, 2.5)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, expected.astype(np.float32))
    assert x[7, 2] == pytest.approx(min((30.0 - 3.0) / 4.0, 2.5))


def test_no_clip_keeps_extremes():
    norm = Normalisation(np.zeros(2), np.ones(2), np.zeros(2), clip=None)
    assert norm.apply(np.array([[1e6, -1e6]])).tolist() == [[1e6, -1e6]]


def test_per_branch_tiles_over_tracks():
    norm = Normalisation.per_branch([1.0, 2.0], [3.0, 4.0], n_tracks=3, fill=[5.0, 6.0])
    assert norm.means.tolist() == [1, 2, 1, 2, 1, 2]
    assert norm.stds.tolist() == [3, 4, 3, 4, 3, 4]
    assert norm.fill.tolist() == [5, 6, 5, 6, 5, 6]


def test_dict_round_trip_and_fingerprint():
    norm = Normalisation.per_branch([1.0, 2.0], [3.0, 4.0], n_tracks=2, clip=10.0, source="bg")
    back = Normalisation.from_dict(norm.to_dict())
    assert back.to_dict() == norm.to_dict()
    assert back.fingerprint() == norm.fingerprint()
    other = Normalisation.per_branch([1.0, 2.0], [3.0, 4.5], n_tracks=2, clip=10.0)
    assert other.fingerprint() != norm.fingerprint()


def test_branch_statistics_includes_padding_and_ignores_nonfinite():
    # two events x two tracks x two branches; the second track of event 1 is padding
    raw = np.array([[1.0, 10.0, 3.0, np.inf], [5.0, 20.0, 0.0, 0.0]])
    means, stds = branch_statistics(raw, 2)
    branch0 = np.array([1.0, 3.0, 5.0, 0.0])
    branch1 = np.array([10.0, 20.0, 0.0])
    np.testing.assert_allclose(means, [branch0.mean(), branch1.mean()])
    np.testing.assert_allclose(stds, [branch0.std(), branch1.std()])


@pytest.mark.parametrize("clip", [None, 2.5])
@pytest.mark.parametrize("fill", ["median", "none"])
def test_apply_into_is_apply_bit_for_bit(clip, fill):
    # the reader's chunked, in-place normalisation against apply: every bit, NaN included
    rng = np.random.default_rng(5)
    fills = rng.normal(size=7) if fill == "median" else np.full(7, np.nan)
    norm = Normalisation(rng.normal(size=7), np.abs(rng.normal(size=7)), fills, clip=clip)
    raw = (rng.standard_cauchy(size=(1000, 7)) * 5).astype(np.float32)
    raw[3, 2], raw[10, 0], raw[11, 6], raw[999, 1] = np.nan, np.inf, -np.inf, np.nan
    out = np.empty_like(raw)
    for step in (1, 64, 999, 4096):
        out[...] = 7.0
        norm.apply_into(raw, out, step_rows=step)
        np.testing.assert_array_equal(out.view(np.uint32), norm.apply(raw).view(np.uint32))
    with pytest.raises(ValueError, match="must be"):
        norm.apply_into(raw, out[:10])
