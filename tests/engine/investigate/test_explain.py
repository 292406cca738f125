"""Why these events (engine.investigate.explain): each statistic of the selection against the
rest's (the Kolmogorov-Smirnov distance and mid-rank positions against scipy, the binomial
chance against scipy), the rounded cut, the sentences, and the summaries' degenerate cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binom, ks_2samp, percentileofscore

from hepfm_core.engine.investigate.events import TrackLayout, event_statistics
from hepfm_core.engine.investigate.explain import (
    KS_CRITICAL,
    LEVELS,
    compare_statistic,
    round_cut,
    summarise_selection,
    summarise_statistics,
)

from .test_events import LAYOUT


def test_compare_statistic_distance_is_the_ks_distance():
    rng = np.random.default_rng(2)
    for _ in range(20):
        s = rng.normal(rng.normal(), 1.0, rng.integers(1, 30)).round(1)
        r = rng.normal(0.0, 1.0, 300).round(1)
        c = compare_statistic("max x", s, r, kind="max")
        grid = np.unique(np.r_[s, r])
        f_s = np.array([np.mean(s <= t) for t in grid])
        f_r = np.array([np.mean(r <= t) for t in grid])
        d_low = np.max(f_s - f_r)
        d_high = np.max([np.mean(s >= t) - np.mean(r >= t) for t in grid])
        assert c.distance == pytest.approx(max(d_low, d_high), abs=1e-12)
        # the rounded cut passes what the distance says
        s_pass, r_pass = (
            (s >= c.cut, r >= c.cut) if c.direction == "higher" else (s <= c.cut, r <= c.cut)
        )
        assert np.mean(s_pass) - np.mean(r_pass) == pytest.approx(c.distance, abs=1e-12)
        assert c.selected_passing == s_pass.sum() and c.rest_passing == np.mean(r_pass)
        q = np.quantile(s, LEVELS, method="inverted_cdf")
        np.testing.assert_array_equal(c.selected_quantiles, q)


def _reference_comparison(s: np.ndarray, r: np.ndarray, kind: str) -> tuple:
    """The distance, direction, cut and passing of a comparison, every cut on the union of
    both samples' values tried (the plain definition: what ``compare_statistic`` did before it
    tried the selection's values only)."""
    s, r = np.sort(s[~np.isnan(s)]), np.sort(r[~np.isnan(r)])
    u = np.unique(np.r_[s, r])
    up = np.array([np.mean(s >= c) - np.mean(r >= c) for c in u])
    down = np.array([np.mean(s <= c) - np.mean(r <= c) for c in u])
    i_up, i_down = int(np.argmax(up)), int(np.argmax(down))
    if kind == "nonfinite":
        i = int(np.searchsorted(u, 1.0)) if u[-1] == 1.0 else u.size - 1
        return (max(float(up[i]), 0.0), "higher", 1.0, int(np.sum(s == 1.0)), np.mean(r == 1.0))
    if up[i_up] >= down[i_down]:
        beyond = u[i_up - 1] if i_up > 0 else -np.inf
        cut = round_cut(float(u[i_up]), float(beyond), "higher")
        return (float(up[i_up]), "higher", cut, int(np.sum(s >= cut)), np.mean(r >= cut))
    beyond = u[i_down + 1] if i_down + 1 < u.size else np.inf
    cut = round_cut(float(u[i_down]), float(beyond), "lower")
    return (float(down[i_down]), "lower", cut, int(np.sum(s <= cut)), np.mean(r <= cut))


@pytest.mark.parametrize("kind", ["max", "tracks", "nonfinite"])
def test_compare_statistic_finds_the_cut_the_union_of_values_gives(kind):
    """Trying the selection's values only gives what trying every value of both gives:
    continuous and tied values, one event, a selection inside, above or below the rest."""
    rng = np.random.default_rng(11)
    for i in range(150):
        n_s, n_r = int(rng.integers(1, 40)), int(rng.integers(1, 400))
        if kind == "nonfinite":
            s, r = rng.integers(0, 2, n_s) * 1.0, rng.integers(0, 2, n_r) * 1.0
            if i % 5 == 0:
                s, r = np.zeros(n_s), np.zeros(n_r)
        elif kind == "tracks" or i % 3 == 0:
            s, r = rng.integers(0, 6, n_s) * 1.0, rng.integers(0, 6, n_r) * 1.0
        else:
            s, r = rng.normal(rng.normal(0, 2), 1.0, n_s), rng.normal(0, 1.0, n_r)
            s[: n_s // 3] = np.nan
        if i % 7 == 0:
            s = s + 10.0  # above every value of the rest
        if i % 11 == 0:
            s = s - 10.0  # below
        c = compare_statistic("x", s, r, kind=kind)
        want = _reference_comparison(s, r, kind)
        assert (c.distance, c.direction, c.cut, c.selected_passing) == pytest.approx(want[:4])
        assert c.rest_passing == pytest.approx(want[4])
        # the quantiles and the rest's median as numpy computes them
        kept = np.sort(s[~np.isnan(s)])
        np.testing.assert_array_equal(
            c.selected_quantiles, np.quantile(kept, LEVELS, method="inverted_cdf")
        )
        assert c.rest_median == np.quantile(r, 0.5, method="inverted_cdf")
        # the rest given sorted (a reference's SortedStatistic): the same comparison
        same = compare_statistic("x", s, np.sort(r), kind=kind, rest_sorted=True)
        assert (same.distance, same.cut, same.direction) == (c.distance, c.cut, c.direction)


def test_summary_names_the_outlying_feature():
    rng = np.random.default_rng(4)
    rest = np.zeros((500, 6))
    rest[:, 0::2] = rng.normal(0.0, 0.05, (500, 3))
    rest[:, 1::2] = 0.5 + rng.exponential(3.0, (500, 3))
    sel = rest[:4].copy()
    sel[:, 3] = [2e5, 3e6, 1.1e5, 7e7]  # one track's pt
    summary = summarise_selection(sel, rest[4:], LAYOUT)
    top = summary.comparisons[0]
    assert top.name == "max pt" and top.distance == 1.0 and top.selected_passing == 4
    assert top.cut == 1e5 and top.rest_passing == 0.0
    assert summary.sentences[0].startswith("all 4 selected events have a track with pt ≥ 1e5 GeV")
    assert len(summary.sentences) == 1  # nothing else stands out beyond chance


def test_a_single_event_or_two_are_explained_when_the_rest_has_none_like_them():
    rng = np.random.default_rng(5)
    rest = np.zeros((20_000, 6))
    rest[:, 1::2] = 0.5 + rng.exponential(3.0, (20_000, 3))
    one = rest[:1].copy()
    one[0, 3] = 4e6
    summary = summarise_selection(one, rest[1:], LAYOUT)
    assert summary.sentences[0].startswith("the selected event has a track with pt ≥ 1e6 GeV")
    assert summary.comparisons[0].chance == pytest.approx(0.5 / 19_999)
    two = rest[:2].copy()
    two[:, 3] = np.nan  # a non-finite pt in both
    summary = summarise_selection(two, rest[2:], LAYOUT)
    assert summary.sentences == (
        "all 2 selected events have a track with a non-finite pt (of the rest: 0 %)",
    )
    # an unremarkable pair is not explained by chance differences
    summary = summarise_selection(rest[:2], rest[2:], LAYOUT)
    assert summary.sentences[0].startswith("no track statistic tells the selected events apart")


def test_round_cut():
    assert round_cut(108_816.7, 2_300.0, "higher") == 1e5
    assert round_cut(108_816.7, 100_500.0, "higher") == 1.08e5
    assert round_cut(-3.47, -3.6, "higher") == -3.5
    assert round_cut(-3.47, -3.5, "higher") == -3.47  # -3.5 would pass -3.5 too
    assert round_cut(1.7, 1.6, "higher") == 1.7  # never past the cut by binary rounding
    assert round_cut(648_129.2, 10_141.2, "higher") == 1e5  # a power of ten where it fits
    assert round_cut(0.0123, 0.5, "lower") == 0.1
    assert round_cut(0.0123, 0.05, "lower") == 0.02
    assert round_cut(5.0, 5.0000001, "lower") == 5.0


def test_distance_positions_and_chance_against_scipy():
    rng = np.random.default_rng(9)
    for _ in range(10):
        s = rng.normal(rng.normal(), 1.0, rng.integers(1, 20)).round(1)
        r = rng.normal(0.0, 1.0, 200).round(1)
        c = compare_statistic("max x", s, r, kind="max")
        assert c.distance == pytest.approx(ks_2samp(s, r).statistic, abs=1e-12)
        q = np.quantile(s, LEVELS, method="inverted_cdf")
        want = [percentileofscore(r, v, kind="mean") / 100 for v in q]
        np.testing.assert_allclose(c.positions, want, atol=1e-12)
        worst = np.argmax(np.abs(np.asarray(want) - np.asarray(LEVELS)))
        assert c.most_discrepant_level == LEVELS[worst]
        rate = max(c.rest_passing, 0.5 / c.n_rest)
        k = c.selected_passing
        want_chance = binom.sf(k - 1, c.n_selected, rate) if k else 1.0
        assert c.chance == pytest.approx(want_chance, rel=1e-9, abs=1e-300)
        assert c.rest_median == np.quantile(r, 0.5, method="inverted_cdf")


def test_a_lower_selection_reads_as_only_small_values():
    rest = np.arange(1.0, 101.0)  # 1 .. 100 GeV
    c = compare_statistic("max pt", np.array([0.012, 0.03]), rest, kind="max", branch="pt",
                          unit="GeV")  # fmt: skip
    assert (c.direction, c.distance, c.selected_passing, c.rest_passing) == ("lower", 1.0, 2, 0.0)
    assert c.cut == 0.1  # the power of ten above 0.03, still below the rest's 1
    assert c.sentence() == (
        "all 2 selected events have only tracks with pt ≤ 0.1 GeV (of the rest: 0 %; "
        "median of the rest's largest pt: 50 GeV)"
    )
    c = compare_statistic("min d0", np.array([-5.0]), np.linspace(-1, 1, 11), kind="min",
                          branch="d0", unit="mm")  # fmt: skip
    assert c.sentence() == (
        "the selected event has a track with d0 ≤ -5 mm (of the rest: 0 %; "
        "median of the rest's smallest d0: 0 mm)"
    )
    c = compare_statistic("tracks", np.array([12.0, 14.0, 3.0]), np.full(50, 4.0), kind="tracks")
    assert c.sentence() == (
        "2 of 3 selected events have ≥ 10 tracks (of the rest: 0 %; median of the rest: 4 tracks)"
    )


def test_empty_and_all_nan_sides_compare_to_nothing():
    for selected, rest, median in (
        (np.empty(0), np.array([1.0, 2.0, 3.0]), 2.0),
        (np.full(3, np.nan), np.array([1.0, 2.0, 3.0]), 2.0),
        (np.array([1.0]), np.full(2, np.nan), None),
    ):
        c = compare_statistic("max pt", selected, rest, kind="max", branch="pt")
        assert c.distance == 0.0 and c.cut is None and c.positions is None
        assert c.selected_quantiles is None and c.most_discrepant_level is None
        assert c.rest_median == median and c.chance == 1.0
        json.dumps(c.to_json_dict(), allow_nan=False)


def test_a_nonfinite_flag_compares_only_having_one():
    c = compare_statistic("nonfinite pt", np.array([1.0, 1.0, 0.0]), np.zeros(30),
                          kind="nonfinite", branch="pt")  # fmt: skip
    assert (c.direction, c.cut, c.selected_passing, c.rest_passing) == ("higher", 1.0, 2, 0.0)
    assert c.distance == pytest.approx(2 / 3)
    # the selection has fewer non-finite values than the rest: nothing to say, distance 0
    c = compare_statistic("nonfinite pt", np.zeros(3), np.ones(30), kind="nonfinite", branch="pt")
    assert c.distance == 0.0 and c.direction == "higher"


def test_round_cut_at_zero_and_beyond_infinity():
    assert round_cut(0.0, -1.0, "higher") == 0.0
    assert round_cut(-0.0123, -0.05, "higher") == -0.02  # down: -0.02 still above -0.05
    assert round_cut(123.4, -np.inf, "higher") == 100.0
    assert round_cut(123.4, np.inf, "lower") == 1000.0  # the power of ten above, if it fits
    assert round_cut(np.inf, 5.0, "higher") == np.inf


def test_summaries_of_nothing_say_why():
    rest = np.zeros((5, 6))
    assert summarise_selection(np.zeros((2, 4)), np.zeros((7, 4)), None).sentences == (
        "the features are not tracks: no per-track summary",
    )
    s_stats = event_statistics(np.zeros((0, 6)), LAYOUT)
    r_stats = event_statistics(rest, LAYOUT)
    assert summarise_statistics(s_stats, r_stats, LAYOUT).sentences == ("no event selected",)
    got = summarise_statistics(r_stats, s_stats, LAYOUT)
    assert (got.n_selected, got.n_rest, got.sentences) == (
        5,
        0,
        ("no other event to compare with",),
    )
    json.dumps(got.to_json_dict(), allow_nan=False)


def test_a_full_distance_is_named_only_beyond_chance():
    layout = TrackLayout(1, ("pt",), ("GeV",))
    rest = np.arange(1.0, 8.0)[:, None]  # seven events, one track each
    sel = np.array([[500.0]])
    # D = 1 for one event against seven: the KS bound 1.63 sqrt(8 / 7) = 1.74 is not met,
    # and its binomial chance 0.5 / 7 is far above 1e-4: no sentence
    assert KS_CRITICAL * np.sqrt(8 / 7) > 1.0
    summary = summarise_selection(sel, rest, layout)
    assert summary.comparisons[0].distance == 1.0
    assert summary.sentences[0].startswith("no track statistic tells the selected events apart")
    # against 50 000 events the same event stands out
    rest = np.linspace(1.0, 50.0, 50_000)[:, None]
    summary = summarise_selection(sel, rest, layout)
    assert summary.sentences[0].startswith("the selected event has a track with pt ≥ 100 GeV")
    doc = json.loads(json.dumps(summary.to_json_dict(), allow_nan=False))
    assert doc["n_selected"] == 1 and doc["features"][0]["statistic"] == "max pt"


def test_a_rest_sorted_once_compares_as_the_rest_itself():
    """The reference's statistics sorted once (NaN out) and a selection's rest read off them
    by a mask give the very summary of the rest's own values: ties, NaN, a 0/1 flag."""
    from hepfm_core.engine.investigate.explain import SortedStatistic

    rng = np.random.default_rng(11)
    values = rng.lognormal(1.0, 1.0, (3000, LAYOUT.n_tracks * LAYOUT.n_branches))
    values[rng.random(values.shape) < 0.05] = np.nan  # no value, and padded tracks
    values = np.round(values, 1)  # ties
    stats = event_statistics(values, LAYOUT)
    rest = rng.random(3000) > 0.1
    for v in stats.values():
        got = SortedStatistic.of(v).kept(rest)
        want = np.sort(v[rest])
        np.testing.assert_array_equal(got, want[~np.isnan(want)])
    selected = event_statistics(values[:40] * 3.0, LAYOUT)
    plain = summarise_statistics(selected, {k: v[rest] for k, v in stats.items()}, LAYOUT)
    ranked = {k: SortedStatistic.of(v).kept(rest) for k, v in stats.items()}
    quick = summarise_statistics(selected, ranked, LAYOUT, rest_sorted=True)
    assert json.dumps(quick.to_json_dict()) == json.dumps(plain.to_json_dict())
    assert plain.n_rest == int(rest.sum())
