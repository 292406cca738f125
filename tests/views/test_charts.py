"""Charts: specs carry units, log axes, exact step shapes; PNG rendering through vl-convert."""

from __future__ import annotations

import numpy as np
import polars as pl
import vl_convert as vlc

from hepfm_core.engine.binning import histogram_table
from hepfm_core.engine.metrics import prepare_background, separation
from hepfm_core.views import charts
from hepfm_core.vocabulary import sample_colours


def test_loss_histogram_steps_without_bridging_gaps():
    edges = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0])
    values = {"background": np.array([2.0, 3.0, 5000.0]), "sig": np.array([20.0, 30.0])}
    hist = histogram_table(values, edges)
    chart = charts.loss_histogram(hist, sample_colours(["sig"]), score="kl")
    spec = chart.to_dict()
    data = pl.DataFrame(next(iter(spec["datasets"].values())))
    bkg = data.filter(pl.col("sample") == "background").sort("edge")
    # the empty bins between 10 and 1000 are drawn at the floor (half the smallest count)
    assert bkg["edge"].to_list() == [1.0, 10.0, 100.0, 1000.0, 10000.0]
    assert bkg["value"].to_list() == [2.0, 0.5, 0.5, 1.0, 1.0]
    sig = data.filter(pl.col("sample") == "sig")
    assert sig["edge"].to_list() == [10.0, 100.0]  # only its own span
    layer_x = spec["layer"][0]["encoding"]["x"]
    assert layer_x["scale"]["type"] == "log" and "nats" in layer_x["axis"]["title"]


def test_roc_and_rejection_specs():
    rng = np.random.default_rng(0)
    ref = prepare_background(rng.normal(size=20000))
    seps = {"sig": separation(ref, rng.normal(1.0, size=3000))}
    colours = sample_colours(["sig"])
    roc = charts.roc_chart(seps, colours).to_dict()
    rej = charts.rejection_chart(seps, colours).to_dict()
    roc_data = pl.DataFrame(next(iter(roc["datasets"].values())))
    assert roc_data.height <= charts.CURVE_POINTS + 2  # the diagonal data set aside
    titles = str(roc) + str(rej)
    assert "background efficiency ε_B" in titles and "signal efficiency ε_S" in titles
    assert "background rejection 1/ε_B" in titles
    assert any(
        layer.get("encoding", {}).get("y", {}).get("scale", {}).get("type") == "log"
        for layer in rej["layer"]
    )
    # reference lines at the four working points
    ref_data = next(d for d in rej["datasets"].values() if d and "text" in d[0])
    np.testing.assert_allclose([r["rejection"] for r in ref_data], [1e2, 1e3, 1e4, 1e5])


def test_png_rendering():
    rng = np.random.default_rng(1)
    seps = {"sig": separation(prepare_background(rng.normal(size=500)), rng.normal(2, size=200))}
    chart = charts.roc_chart(seps, sample_colours(["sig"]))
    header = vlc.vegalite_to_png(chart.to_json(), scale=2.0)[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(header[16:20], "big")
    assert width > 2 * charts.WIDTH  # scale 2
