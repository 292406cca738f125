"""The investigation view's charts (views.investigation.charts), from engine results built on
small synthetic arrays: values carried over, units in titles, clip bounds drawn, specs render."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

from hepfm_core.engine.investigate.diagnostics import latent_diagnostics
from hepfm_core.engine.investigate.events import (
    TrackLayout,
)
from hepfm_core.engine.investigate.residuals import residual_profile
from hepfm_core.engine.investigate.sculpting import log_edges, multiplicity_edges, sculpting_check
from hepfm_core.views import investigation as iv
from hepfm_core.vocabulary import sample_colours

from .test_tables import LAYOUT, _event_with, _tracks, degenerate_event


@pytest.fixture(scope="module")
def detail():
    return degenerate_event()


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
