"""The sculpting check (engine.investigate.sculpting): the edges, the cut of a working point
on the background alone (against a brute force), and per bin the counts, efficiencies
(scipy's exact intervals) and score quantiles against numpy; events outside or without a
value, an empty background, +inf scores."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from hepfm_core.engine.investigate.sculpting import (
    log_edges,
    multiplicity_edges,
    sculpting_check,
    sculpting_curve,
    working_threshold,
)
from hepfm_core.engine.metrics.roc import prepare_background

from ..metrics.test_working_points import _loosest_cut


def test_multiplicity_edges_give_one_bin_per_count():
    assert multiplicity_edges(3).tolist() == [-0.5, 0.5, 1.5, 2.5, 3.5]
    assert multiplicity_edges(0).tolist() == [-0.5, 0.5]


def test_log_edges_cover_every_positive_value():
    rng = np.random.default_rng(1)
    for _ in range(20):
        values = [rng.lognormal(rng.normal(0, 3), 2.0, 30), np.array([0.0, -1.0, np.nan, np.inf])]
        e = log_edges(values, per_decade=3)
        pos = np.concatenate(values)
        pos = pos[np.isfinite(pos) & (pos > 0)]
        assert e[0] <= pos.min() and pos.max() < e[-1]  # bins are [lo, hi)
        steps = np.log10(e)
        np.testing.assert_allclose(np.diff(steps), 1 / 3, rtol=1e-9)
        np.testing.assert_allclose(steps * 3, np.round(steps * 3), atol=1e-9)  # whole fractions
    # a value on a decade lands inside, not on the last edge
    assert log_edges([np.array([10.0])]).tolist() == pytest.approx([10.0, 10**1.5])
    assert log_edges([np.array([0.0, np.nan]), np.array([])]).tolist() == [0.1, 1.0]


def _cp(k: int, n: int) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.6827, method="exact")
    return float(ci.low), float(ci.high)


def test_a_curve_against_numpy_per_bin():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 6, 300).astype(float)
    x[:5] = [np.nan, -3.0, 9.0, 5.0, 5.0]  # no value, below, above the edges; 5 is inside
    scores = rng.exponential(1.0, 300)
    scores[10:20] = np.nan  # not kept by the policy
    scores[20:25] = np.inf  # kept under "worst": most anomalous
    edges = np.array([-0.5, 1.5, 3.5, 5.5])
    c = sculpting_curve("bkg", "tracks", x, scores, edges, threshold=1.2)
    kept = ~np.isnan(scores)
    for i in range(3):
        inside = kept & (x >= edges[i]) & (x < edges[i + 1])
        v = scores[inside]
        assert c.n[i] == inside.sum() and c.n_pass[i] == np.count_nonzero(v > 1.2)
        assert c.efficiency[i] == pytest.approx(np.mean(v > 1.2), abs=1e-15)
        assert (c.eff_lower[i], c.eff_upper[i]) == pytest.approx(_cp(c.n_pass[i], c.n[i]))
        q = np.quantile(v, [0.16, 0.5, 0.84], method="inverted_cdf")
        assert [c.score_q16[i], c.score_median[i], c.score_q84[i]] == q.tolist()
    assert c.outside == 3 and c.n.sum() + c.outside == kept.sum()
    frame = c.frame()
    assert frame.columns[:5] == ["sample", "variable", "lo", "hi", "n"] and frame.height == 3
    assert frame["n_pass"].to_list() == c.n_pass.tolist()


def test_a_curve_without_a_cut_or_events():
    c = sculpting_curve("s", "tracks", np.array([0.0, 0.0]), np.array([1.0, np.nan]),
                        np.array([-0.5, 0.5, 1.5]), threshold=None)  # fmt: skip
    assert c.n.tolist() == [1, 0] and c.n_pass is None and c.efficiency is None
    assert c.score_median[0] == 1.0 and math.isnan(c.score_median[1])
    assert c.frame()["efficiency"].to_list() == [None, None]
    c = sculpting_curve("s", "tracks", np.empty(0), np.empty(0), np.array([0.0, 1.0]), 0.5)
    assert c.n.tolist() == [0] and c.n_pass.tolist() == [0] and math.isnan(c.efficiency[0])
    assert c.frame()["eff_lower"].to_list() == [None]


def test_the_cut_is_the_working_point_of_the_background_alone():
    rng = np.random.default_rng(2)
    b = np.round(rng.normal(0.0, 1.0, 2000), 1)  # ties
    for target in (0.1, 0.05, 1e-2):
        wp = working_threshold(b, target)
        assert wp.threshold == _loosest_cut(b, target) and wp.status in ("ok", "tied_background")
        assert wp.n_bkg_pass == np.count_nonzero(b > wp.threshold)
        assert working_threshold(prepare_background(b), target).threshold == wp.threshold
    wp = working_threshold(b, 1e-3)  # 2 events expected, fewer than 10
    assert wp.status == "insufficient_background" and wp.threshold is None
    empty = working_threshold(np.empty(0), 1e-2)  # every background event dropped
    assert empty.status == "insufficient_background" and empty.threshold is None


def test_the_check_bins_every_sample_at_the_backgrounds_cut():
    rng = np.random.default_rng(8)
    bkg_all = rng.normal(0.0, 1.0, 1000)
    per_sample = {
        "background": {"scores": bkg_all[:200], "tracks": rng.integers(0, 4, 200).astype(float)},
        "sig": {"scores": rng.normal(2.0, 1.0, 50), "tracks": rng.integers(0, 4, 50).astype(float)},
    }
    check = sculpting_check(per_sample, bkg_all, target_bkg_eff=0.1,
                            edges={"tracks": multiplicity_edges(3)}, note="a sample")  # fmt: skip
    # the cut from all 1000 background scores, not the 200 binned
    assert check.threshold == np.sort(bkg_all)[::-1][100]
    assert [(c.sample, c.variable) for c in check.curves] == [("background", "tracks"),
                                                              ("sig", "tracks")]  # fmt: skip
    sig = check.curves[1]
    assert sig.n_pass.sum() == np.count_nonzero(per_sample["sig"]["scores"] > check.threshold)
    assert check.frame().height == 8
    doc = json.loads(json.dumps(check.to_json_dict(), allow_nan=False))
    assert doc["target_bkg_eff"] == 0.1 and len(doc["bins"]) == 8 and doc["note"] == "a sample"
    none = sculpting_check(per_sample, bkg_all[:50], target_bkg_eff=1e-2,
                           edges={"tracks": multiplicity_edges(3)})  # fmt: skip
    assert none.threshold is None and all(c.n_pass is None for c in none.curves)
