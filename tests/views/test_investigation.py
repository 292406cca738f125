"""The investigation view's tables, words and charts, from engine results built on small
synthetic arrays: values carried over, units in titles, clip bounds drawn, specs render."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
from hepfm_core.engine.guards.policy import apply_policy
from hepfm_core.engine.investigate.diagnostics import latent_diagnostics
from hepfm_core.engine.investigate.events import (
    Criterion,
    TrackLayout,
    event_details,
    select_events,
)
from hepfm_core.engine.investigate.explain import summarise_selection
from hepfm_core.engine.investigate.residuals import residual_profile
from hepfm_core.engine.investigate.sculpting import log_edges, multiplicity_edges, sculpting_check
from hepfm_core.engine.scoring.passes import ScoringPass
from hepfm_core.views import investigation as iv
from hepfm_core.vocabulary import sample_colours

LAYOUT = TrackLayout(
    4, ("d0", "phi", "z0", "eta", "pt", "reducedChiSquared"), ("mm", "rad", "mm", "", "GeV", "")
)


@pytest.fixture(scope="module")
def detail():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(1, 24))
    raw[0, 18:] = 0.0  # the last slot is padding
    raw[0, 4] = 2.5e6  # a degenerate pt
    x = raw.astype(np.float32)
    x_hat = (raw + rng.normal(0, 0.1, raw.shape)).astype(np.float32)
    x_hat[0, 4] = 0.0
    (d,) = event_details(
        sample="background",
        events=np.array([42]),
        values=raw,
        values_kind="raw",
        inputs=x,
        x_hat=x_hat,
        z_mean=rng.normal(size=(1, 4)),
        z_log_var=np.array([[-1.0, 0.5, 700.0, -30.0]]),
        scores=np.array([np.nan]),
        causes=np.array([4]),
        recon=np.array([6.25e12]),
        layout=LAYOUT,
        clip=(-20.0, 20.0),
    )
    return d


def test_track_table_and_caption(detail):
    table = iv.track_table(detail, LAYOUT)
    assert table[iv.TRACK_TITLE].to_list() == [0, 1, 2]  # padding left out
    assert "pt [GeV]" in table.columns and "eta" in table.columns
    assert table["pt [GeV]"][0] == 2.5e6
    caption = iv.event_caption(detail, LAYOUT)
    assert caption.startswith("background event 42: kl_overflow, no finite score, 3 tracks")
    assert "largest residual: track 0 pt (100% of the sum)" in caption
    rows = iv.event_table([detail], LAYOUT)
    assert rows.row(0, named=True)["largest residual"] == "track 0 pt"
    assert rows.row(0, named=True)["max z_log_var"] == 700.0


def test_residual_heatmap_and_latent_bars(detail):
    heat = iv.residual_heatmap(detail, LAYOUT).to_dict()
    data = pl.DataFrame(next(iter(heat["datasets"].values())))
    assert data.height == 24 and set(data["track"]) == {"track", "padding"}
    assert data.filter(pl.col("track") == "padding")[iv.TRACK_TITLE].unique().to_list() == [3]
    assert heat["encoding"]["color"]["scale"]["type"] == "log"
    # the legend's title: the residual's title in two lines
    assert " ".join(heat["encoding"]["color"]["legend"]["title"]) == iv.RESIDUAL_TITLE
    bars = iv.latent_event_chart(detail).to_dict()
    clip_rows = [d for d in bars["datasets"].values() if d and "clip" in d[0]]
    assert sorted(r["clip"] for r in clip_rows[0]) == [-20.0, 20.0]
    latent = next(d for d in bars["datasets"].values() if d and "outside clip" in d[0])
    assert [r["outside clip"] for r in latent] == [False, False, True, True]
    for chart in (iv.residual_heatmap(detail, LAYOUT), iv.latent_event_chart(detail)):
        assert vlc.vegalite_to_svg(chart.to_json()).startswith("<svg")


def _event_with(raw: np.ndarray, filled: np.ndarray | None = None):
    x = np.nan_to_num(raw, posinf=0.0, neginf=0.0).astype(np.float32)
    (d,) = event_details(
        sample="zprime_tt",
        events=np.array([7]),
        values=raw,
        values_kind="raw",
        inputs=x,
        x_hat=x * 0.9,
        z_mean=np.zeros((1, 2)),
        z_log_var=np.zeros((1, 2)),
        scores=np.array([3.0]),
        causes=np.array([0]),
        recon=np.array([1.0]),
        layout=LAYOUT,
        clip=None,
        filled=filled,
    )
    return d


def _tracks(rows: list[list[float]]) -> np.ndarray:
    """Raw values of 4 track slots (d0, phi, z0, eta, pt, chi2), the missing ones padding."""
    raw = np.zeros((1, 24))
    for t, row in enumerate(rows):
        raw[0, 6 * t : 6 * t + 6] = row
    return raw


def test_filled_values_are_named_in_the_table_and_the_caption():
    raw = _tracks([[0.1, 0.5, 1.0, 0.3, 12.0, np.nan], [0.2, np.nan, 2.0, np.inf, 8.0, 1.0]])
    d = _event_with(raw, ~np.isfinite(raw))
    table = iv.track_table(d, LAYOUT)
    assert table[iv.FILLED_TITLE].to_list() == ["reducedChiSquared", "phi, eta"]
    assert table.columns[:2] == [iv.TRACK_TITLE, iv.FILLED_TITLE]  # seen in a scrolled table
    assert np.isnan(table["reducedChiSquared"][0]) and table["eta"][1] == np.inf  # as stored
    caption = iv.event_caption(d, LAYOUT)
    assert (
        "filled by the reader (not data): track 0 reducedChiSquared, track 1 phi, track 1 eta;"
        in caption
    )
    plain = _event_with(np.nan_to_num(raw, posinf=1.0))
    assert iv.FILLED_TITLE not in iv.track_table(plain, LAYOUT).columns
    assert "filled" not in iv.event_caption(plain, LAYOUT)


def test_eta_phi_display_places_real_tracks_and_marks_broken_ones():
    raw = _tracks(
        [
            [0.1, 0.5, 1.0, 0.3, 12.0, 1.0],  # an ordinary track
            [0.2, -3.0, 2.0, -2.1, 2.5e6, 1.0],  # the demo's degenerate pt
            [0.2, 1.0, 2.0, 1.5, np.nan, 1.0],  # pt not finite: a red cross
            [0.2, np.nan, 2.0, 0.5, 5.0, 1.0],  # phi not finite: no place in the plane
        ]
    )
    d = _event_with(raw)
    chart = iv.eta_phi_chart(d, LAYOUT)
    spec = chart.to_dict()
    (rows,) = [v for v in spec["datasets"].values() if v]
    assert [r[iv.TRACK_TITLE] for r in rows] == [0, 1, 2]  # padding and track 3 left out
    assert [r["pt"] for r in rows] == [12.0, 2.5e6, None]
    assert [r["pt usable"] for r in rows] == [True, True, False]
    usable, crosses = spec["layer"]
    assert usable["encoding"]["color"]["scale"]["type"] == "log"
    assert crosses["mark"]["shape"] == "cross"
    assert spec["title"]["subtitle"] == [
        "red cross: pt not finite or ≤ 0",
        "not placed: track 3 (φ NaN)",
    ]
    assert usable["encoding"]["y"]["scale"]["domain"] == pytest.approx([-np.pi, np.pi])
    assert usable["encoding"]["x"]["scale"]["domain"] == [-2.5, 2.5]
    assert vlc.vegalite_to_svg(chart.to_json()).startswith("<svg")
    clean = iv.eta_phi_chart(_event_with(_tracks([[0.1, 0.5, 1.0, 3.2, 12.0, 1.0]])), LAYOUT)
    assert "subtitle" not in clean.to_dict()["title"]
    assert clean.to_dict()["layer"][0]["encoding"]["x"]["scale"]["domain"] == [-2.5, 3.2]
    # without eta, phi and pt there is nothing to draw
    flat = TrackLayout(4, ("a", "b", "c", "d", "e", "f"), ("",) * 6)
    assert iv.eta_phi_chart(d, flat) is None and iv.eta_phi_chart(d, None) is None


def test_selection_sentence_and_summary_table():
    rng = np.random.default_rng(1)
    s = rng.normal(0, 1, (60, 1)).astype(np.float32)
    s[:3] = 800.0
    p = ScoringPass(
        np.ones((60, 1), np.float32), s, np.ones(60), np.ones(60), np.full(60, 7, np.uint8)
    )
    g = guard(prepare(p), GuardSettings(score="kl"))
    sel = select_events(g, apply_policy(g, "worst"), Criterion.by_cause("kl_overflow"), "bkg")
    rest = np.zeros((200, 24))
    rest[:, 4::6] = 1.0 + rng.exponential(2.0, (200, 4))
    chosen = rest[:3].copy()
    chosen[:, 4] = [3e5, 2e6, 5e7]
    summary = summarise_selection(chosen, rest[3:], LAYOUT)
    text = iv.selection_sentence(sel, summary)
    assert text.startswith(
        "3 of 60 bkg events with cause kl_overflow (score kl, policy worst): all 3"
    )
    table = iv.summary_table(summary)
    top = table.row(0, named=True)
    assert top["statistic"] == "max pt" and top["D"] == 1.0 and top["selection is"] == "higher"
    assert top["selected median"] == 2e6 and top["most discrepant quantile"] == 0.0


def test_latent_views():
    rng = np.random.default_rng(2)
    mu = rng.normal(0, [1.0, 0.01, 2.0], (500, 3))
    s = rng.normal(-1, 0.5, (500, 3))
    s[:5, 2] = 40.0
    d = latent_diagnostics(mu, s, clip=(-20.0, 20.0), sample="background")
    text = iv.latent_sentence(d)
    assert text.startswith("background: 2 of 3 latent dimensions active")
    assert "outside the clip [-20, 20] in dimension 2 (5 values)" in text
    table = iv.latent_table(d)
    assert table["active"].to_list() == [True, False, True]
    chart = iv.latent_chart(d).to_dict()
    assert iv.KL_DIM_TITLE in str(chart) and "2 of 3 active" in str(chart)
    clip = next(v for v in chart["datasets"].values() if v and "clip" in v[0])
    assert sorted(r["clip"] for r in clip) == [-20.0, 20.0]
    assert vlc.vegalite_to_svg(iv.latent_chart(d).to_json()).startswith("<svg")


def test_residual_profile_views():
    rng = np.random.default_rng(3)
    profiles = {}
    for name, scale in (("background", 1.0), ("wprime_qq", 3.0)):
        x = rng.normal(0, 1, (100, 24))
        x_hat = x + rng.normal(0, scale, x.shape)
        profiles[name] = residual_profile([(x, x_hat, x)], LAYOUT, sample=name)
    table = iv.residual_profile_table(profiles)
    assert table.height == 12
    bkg_pt = table.filter(sample="background", feature="pt")["mean"][0]
    assert bkg_pt == pytest.approx(profiles["background"].per_feature[4], rel=1e-5)
    chart = iv.residual_profile_chart(profiles, sample_colours(["wprime_qq"]))
    assert iv.RESIDUAL_MEAN_TITLE in str(chart.to_dict())
    assert vlc.vegalite_to_svg(chart.to_json()).startswith("<svg")
    medians = iv.residual_profile_table(profiles, "median")
    got = medians.filter(sample="wprime_qq", feature="pt")["median"][0]
    assert got == pytest.approx(profiles["wprime_qq"].median_per_feature[4], rel=1e-5)
    chart = iv.residual_profile_chart(profiles, sample_colours(["wprime_qq"]), statistic="median")
    assert iv.RESIDUAL_MEDIAN_TITLE in str(chart.to_dict())


def test_sculpting_views():
    rng = np.random.default_rng(4)
    per_sample = {}
    for name, shift in (("background", 0.0), ("wprime_qq", 2.0)):
        n = 3000
        per_sample[name] = {
            "scores": rng.normal(shift, 1.0, n),
            "tracks": rng.integers(0, 5, n).astype(float),
            "leading_pt": 0.5 + rng.exponential(10.0, n),
        }
    edges = {
        "tracks": multiplicity_edges(4),
        "leading_pt": log_edges([a["leading_pt"] for a in per_sample.values()]),
    }
    check = sculpting_check(
        per_sample, per_sample["background"]["scores"], target_bkg_eff=0.05, edges=edges
    )
    table = iv.sculpting_table(check)
    assert set(table["variable"]) == {"tracks", "leading_pt"}
    bkg = table.filter(sample="background", variable="tracks")
    assert bkg["n"].sum() == 3000
    chart = iv.sculpting_chart(check, sample_colours(["wprime_qq"]), score="reconstruction")
    spec = str(chart.to_dict())
    assert iv.EFFICIENCY_TITLE in spec and "leading-track pt [GeV]" in spec
    assert vlc.vegalite_to_svg(chart.to_json()).startswith("<svg")
