"""Binning: shared log edges, counts against np.histogram, and nothing lost outside the range."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepfm_core.engine.metrics.binning import (
    DEFAULT_RANGE,
    histogram_table,
    overflow_table,
    shared_log_edges,
)
from hepfm_core.errors import SettingsError

COUNT_COLUMNS = ("in_range", "underflow", "overflow", "nonfinite", "posinf", "neginf")


def _samples(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    bkg = rng.lognormal(0.0, 1.0, 50_000)
    bkg[:7] = np.nan
    bkg[7:10] = np.inf
    bkg[10:12] = -np.inf
    bkg[12:20] = 0.0
    bkg[20:25] = -3.0
    sig = rng.lognormal(1.5, 1.2, 3_000)
    sig[:4] = np.inf
    return {"background": bkg, "zprime_tt": sig, "empty": np.empty(0)}


# -- edges --------------------------------------------------------------------------------
def test_edges_span_smallest_positive_to_largest_finite_over_all_samples():
    samples = {"a": np.array([np.nan, -1.0, 0.0, 0.5, 3.0, np.inf]), "b": np.array([2e-3, 40.0])}
    e = shared_log_edges(samples, n_bins=10)
    assert e.size == 11
    assert e[0] == 2e-3 and e[-1] == 40.0
    assert np.all(np.diff(e) > 0)
    np.testing.assert_allclose(np.diff(np.log10(e)), np.log10(40.0 / 2e-3) / 10, rtol=1e-12)
    assert not e.flags.writeable


def test_edges_overrides_and_degenerate_inputs():
    samples = {"a": np.array([0.5, 3.0])}
    e = shared_log_edges(samples, n_bins=4, lo=0.1)
    assert (e[0], e[-1]) == (0.1, 3.0)
    e = shared_log_edges(samples, n_bins=4, hi=100.0)
    assert (e[0], e[-1]) == (0.5, 100.0)
    e = shared_log_edges(samples, n_bins=4, lo=10.0)  # above the data: one decade up
    assert (e[0], e[-1]) == (10.0, 100.0)
    for degenerate in ({}, {"a": np.empty(0)}, {"a": np.array([np.nan, -1.0, 0.0, np.inf])}):
        e = shared_log_edges(degenerate, n_bins=3)
        assert (e[0], e[-1]) == DEFAULT_RANGE
    e = shared_log_edges({"a": np.full(5, 2.0)}, n_bins=2)  # one value: a decade around it
    assert e[0] == pytest.approx(2.0 / math.sqrt(10)) and e[-1] == pytest.approx(
        2.0 * math.sqrt(10)
    )
    assert e[1] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_bins": 0},
        {"n_bins": 2.5},
        {"lo": 0.0},
        {"lo": -1.0},
        {"hi": math.inf},
        {"lo": math.nan},
        {"lo": 5.0, "hi": 1.0},
    ],
)
def test_edges_reject_bad_settings(kwargs):
    with pytest.raises(SettingsError):
        shared_log_edges({"a": np.array([1.0, 2.0])}, **kwargs)


# -- counts -------------------------------------------------------------------------------
def test_counts_match_np_histogram_and_account_for_every_event():
    samples = _samples()
    edges = shared_log_edges(samples, n_bins=40)
    hist = histogram_table(samples, edges)
    over = overflow_table(samples, edges)
    assert hist.columns == ["sample", "bin", "lo", "hi", "count", "value"]
    assert hist.height == 40 * len(samples)
    assert over["sample"].to_list() == list(samples)
    for name, x in samples.items():
        rows = hist.filter(pl.col("sample") == name).sort("bin")
        ref, _ = np.histogram(x[np.isfinite(x)], bins=edges)
        np.testing.assert_array_equal(rows["count"].to_numpy(), ref)
        np.testing.assert_array_equal(rows["value"].to_numpy(), ref.astype(float))
        # The same edges for every sample.
        np.testing.assert_array_equal(rows["lo"].to_numpy(), edges[:-1])
        np.testing.assert_array_equal(rows["hi"].to_numpy(), edges[1:])
        (row,) = over.filter(pl.col("sample") == name).iter_rows(named=True)
        assert sum(row[c] for c in COUNT_COLUMNS) == row["total"] == x.size
        assert row["in_range"] == ref.sum()
    (bkg,) = over.filter(pl.col("sample") == "background").iter_rows(named=True)
    # Range is set by the data: nothing finite and positive falls outside it.
    assert bkg == {
        "sample": "background",
        "total": 50_000,
        "in_range": 50_000 - 25,
        "underflow": 13,  # eight zeros and five negatives
        "overflow": 0,
        "nonfinite": 7,
        "posinf": 3,
        "neginf": 2,
    }
    assert hist["count"].dtype == pl.Int64 and hist["bin"].dtype == pl.Int64


def test_values_exactly_on_edges_land_in_the_bin_they_open_and_last_edge_is_closed():
    edges = shared_log_edges({}, n_bins=3, lo=1.0, hi=1000.0)
    x = np.r_[edges, np.nextafter(edges[-1], np.inf), np.nextafter(edges[0], 0.0)]
    t = histogram_table({"x": x}, edges)
    np.testing.assert_array_equal(t["count"].to_numpy(), [1, 1, 2])
    np.testing.assert_array_equal(t["count"].to_numpy(), np.histogram(x, bins=edges)[0])
    (row,) = overflow_table({"x": x}, edges).iter_rows(named=True)
    assert (row["underflow"], row["overflow"], row["in_range"]) == (1, 1, 4)


def test_density_integrates_to_the_in_range_fraction():
    samples = _samples(1)
    edges = shared_log_edges(samples, n_bins=30, lo=0.5, hi=20.0)  # some events outside
    dens = histogram_table(samples, edges, density=True)
    over = overflow_table(samples, edges)
    for name in ("background", "zprime_tt"):
        rows = dens.filter(pl.col("sample") == name)
        area = float((rows["value"] * (rows["hi"] - rows["lo"])).sum())
        (row,) = over.filter(pl.col("sample") == name).iter_rows(named=True)
        assert row["underflow"] > 0 and row["overflow"] > 0
        assert area == pytest.approx(row["in_range"] / row["total"], rel=1e-12)
    empty = dens.filter(pl.col("sample") == "empty")
    assert empty["value"].to_list() == [0.0] * 30 and empty["count"].sum() == 0


def test_empty_mapping_gives_empty_tables_with_the_columns():
    edges = shared_log_edges({}, n_bins=5)
    h = histogram_table({}, edges)
    o = overflow_table({}, edges)
    assert h.height == 0 and h.columns == ["sample", "bin", "lo", "hi", "count", "value"]
    assert o.height == 0 and o.columns == ["sample", "total", *COUNT_COLUMNS]


def test_bad_edges_and_shapes_raise():
    with pytest.raises(ValueError):
        histogram_table({"a": np.ones(3)}, np.array([1.0]))
    with pytest.raises(ValueError):
        histogram_table({"a": np.ones(3)}, np.array([1.0, 1.0, 2.0]))
    with pytest.raises(ValueError):
        overflow_table({"a": np.ones(3)}, np.array([1.0, np.inf]))
    with pytest.raises(ValueError):
        overflow_table({"a": np.ones((2, 2))}, np.array([1.0, 2.0]))


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-10.0, 1e4, allow_nan=False),
            st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, 10.0, 100.0]),
        ),
        max_size=60,
    ),
    n_bins=st.integers(1, 8),
)
def test_every_value_is_counted_exactly_once(values, n_bins):
    x = np.array(values, dtype=float)
    edges = shared_log_edges({"a": x}, n_bins=n_bins, lo=1.0, hi=100.0)
    h = histogram_table({"a": x}, edges)
    (row,) = overflow_table({"a": x}, edges).iter_rows(named=True)
    assert sum(row[c] for c in COUNT_COLUMNS) == row["total"] == x.size
    assert row["in_range"] == h["count"].sum()
    finite = x[np.isfinite(x)]
    np.testing.assert_array_equal(h["count"].to_numpy(), np.histogram(finite, bins=edges)[0])
    assert row["underflow"] == np.count_nonzero(finite < 1.0)
    assert row["overflow"] == np.count_nonzero(finite > 100.0)
    assert row["nonfinite"] == np.count_nonzero(np.isnan(x))


def test_a_background_sized_sample_is_counted_as_numpy_counts_it():
    # the seed's background size (its speed is measured in benchmarks/, not here)
    rng = np.random.default_rng(2)
    bkg = rng.lognormal(0.0, 2.0, 2_727_612)
    bkg[:3] = (np.nan, np.inf, 0.0)
    samples = {"background": bkg}
    edges = shared_log_edges(samples, n_bins=60)
    h = histogram_table(samples, edges)
    outside = overflow_table(samples, edges).row(0, named=True)
    want, _ = np.histogram(bkg[np.isfinite(bkg)], bins=edges)
    assert h["count"].to_list() == want.tolist()
    assert outside["in_range"] == want.sum()
    assert outside["nonfinite"] == 1 and outside["posinf"] == 1
    assert outside["underflow"] == np.count_nonzero(bkg < edges[0])
    assert outside["overflow"] == np.count_nonzero(np.isfinite(bkg) & (bkg > edges[-1]))
    assert outside["total"] == bkg.size
