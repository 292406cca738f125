"""Charts: specs carry units, log axes, exact step shapes; PNG rendering through vl-convert."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

from hepfm_core.engine.metrics.binning import histogram_table
from hepfm_core.engine.metrics.separation import prepare_background, separation
from hepfm_core.views import charts
from hepfm_core.vocabulary import sample_colours


def test_a_long_subtitle_wraps_instead_of_widening_the_chart():
    # seven samples' "not drawn" note in one line pushed the plot and its legend aside
    edges = np.array([1.0, 10.0, 100.0])
    hist = histogram_table({"background": np.array([2.0]), "sig": np.array([20.0])}, edges)
    note = "not drawn: " + "; ".join(
        f"sample_{i}: 0 below, 0 above, {1000 + i} non-finite" for i in range(7)
    )
    spec = charts.loss_histogram(hist, sample_colours(["sig"]), score="kl", subtitle=note).to_dict()
    lines = spec["title"]["subtitle"]
    assert isinstance(lines, list) and len(lines) > 1
    assert max(len(line) for line in lines) <= charts.SUBTITLE_CHARS
    assert " ".join(lines) == note  # nothing lost, split at spaces only
    short = charts.loss_histogram(hist, sample_colours(["sig"]), score="kl", subtitle="ok")
    assert short.to_dict()["title"]["subtitle"] == "ok"


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


def test_the_roc_views_store_their_curves_once_in_one_column():
    rng = np.random.default_rng(0)
    ref = prepare_background(rng.normal(size=20000))
    seps = {n: separation(ref, rng.normal(m, size=3000)) for n, m in (("a", 1.0), ("b", 2.0))}
    colours = sample_colours(["a", "b"])
    spec = charts.roc_views(seps, colours, "a note").to_dict()  # validated against the schema
    rows = charts.curve_frame(seps)
    curves = [k for k, v in spec["datasets"].items() if len(v) == rows.height]
    assert len(curves) == 1 and spec["data"] == {"name": curves[0]}  # once, at the top
    assert spec["columns"] == 1 and len(spec["concat"]) == 3
    titles = [str(v["title"]) for v in spec["concat"]]
    assert ["ROC" in titles[0], "log" in titles[1], "rejection" in titles[2]] == [True] * 3
    assert "a note" in titles[2] and "a note" not in titles[0]
    for view in spec["concat"]:
        with_data = [layer for layer in view["layer"] if "data" in layer]
        # the guess and the reference lines keep their own rows; the curves read the top's
        assert all(layer["data"]["name"] != curves[0] for layer in with_data)
        assert len(with_data) == len(view["layer"]) - 1
    # the same rows the three charts drew one by one
    assert pl.DataFrame(spec["datasets"][curves[0]]).equals(rows)


def test_png_rendering():
    rng = np.random.default_rng(1)
    seps = {"sig": separation(prepare_background(rng.normal(size=500)), rng.normal(2, size=200))}
    chart = charts.roc_chart(seps, sample_colours(["sig"]))
    header = vlc.vegalite_to_png(chart.to_json(), scale=2.0)[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(header[16:20], "big")
    assert width > 2 * charts.WIDTH  # scale 2


# -- the report's path: long-format rows and widgets ----------------------------------------
def _widgets() -> charts.Widgets:
    import altair as alt

    return charts.Widgets(
        params=(alt.param(name="g", value="a"), alt.param(name="s", value=["background", "sig"])),
        grid="g",
        samples="s",
        signals="slice(s, 1)",
    )


def _two_grid_points() -> pl.DataFrame:
    edges = np.array([1.0, 10.0, 100.0, 1000.0])
    a = histogram_table({"background": np.array([2.0, 3.0, 500.0]), "sig": np.array([20.0])}, edges)
    b = histogram_table({"background": np.array([2.0] * 8), "sig": np.array([20.0] * 4)}, edges)
    return pl.concat(
        [a.select(pl.lit("a").alias(charts.GRID), pl.all()),
         b.select(pl.lit("b").alias(charts.GRID), pl.all())]
    )  # fmt: skip


def test_step_points_per_grid_point():
    """Long-format bins give each grid point the steps and floor it would get alone."""
    both = _two_grid_points()
    pts = charts.step_points(both)
    for key in ("a", "b"):
        alone = charts.step_points(both.filter(pl.col(charts.GRID) == key).drop(charts.GRID))
        part = pts.filter(pl.col(charts.GRID) == key).drop(charts.GRID)
        assert part.sort(part.columns).equals(alone.sort(alone.columns))
    assert pts.group_by(charts.GRID).agg(pl.col("floor").first()).sort(charts.GRID)[
        "floor"
    ].to_list() == [0.5, 2.0]


def test_widgets_filter_and_parameterise_the_same_chart():
    """With widgets: the same layers, filtered to the selected grid point and samples, the
    parameters added, legends listing the shown samples, the log axis floor per grid point.
    Without: no parameter, no filter on the grid (the app's chart)."""
    both = _two_grid_points()
    colours = sample_colours(["sig"])
    app = charts.loss_histogram(
        both.filter(pl.col(charts.GRID) == "a").drop(charts.GRID), colours, score="kl"
    ).to_dict()
    page = charts.loss_histogram(both, colours, score="kl", widgets=_widgets()).to_dict()
    assert "params" not in app and [p["name"] for p in page["params"]] == ["g", "s"]
    assert [lay["mark"] for lay in app["layer"]] == [lay["mark"] for lay in page["layer"]]
    filters = [t["filter"] for lay in page["layer"] for t in lay.get("transform", [])]
    assert any(f"datum.{charts.GRID} === (g)" in str(f) for f in filters)
    assert not any(charts.GRID in str(t) for lay in app["layer"] for t in lay.get("transform", []))
    colour = page["layer"][0]["encoding"]["color"]
    assert colour["legend"]["values"] == {"expr": "s"}
    floor = page["layer"][0]["encoding"]["y"]["scale"]["domainMin"]["expr"]
    assert floor.startswith('{"a": 0.5, "b": 2.0}[g]')
    assert app["layer"][0]["encoding"]["y"]["scale"]["domainMin"] == 0.5


def test_curves_from_rows_equal_curves_from_separations():
    """The report passes ``curve_frame`` rows; the app its separations: the same chart."""
    rng = np.random.default_rng(2)
    ref = prepare_background(rng.normal(size=5000))
    seps = {"sig": separation(ref, rng.normal(1.5, size=1000))}
    colours = sample_colours(["sig"])
    for build in (charts.roc_chart, charts.rejection_chart):
        assert build(seps, colours).to_dict() == build(charts.curve_frame(seps), colours).to_dict()
    rows = charts.curve_frame(seps).select(pl.lit("a").alias(charts.GRID), pl.all())
    roc = charts.roc_chart(rows, colours, widgets=_widgets()).to_dict()
    lines = roc["layer"][1]
    assert lines["encoding"]["color"]["legend"]["values"] == {"expr": "slice(s, 1)"}
    assert lines["encoding"]["color"]["legend"]["orient"] == "bottom-right"


def test_models_overlaid_colour_signal_dash_model():
    """Several models' curves in one chart: colour = signal, dash = model (the first solid);
    one model's chart has no dash encoding at all."""
    rng = np.random.default_rng(2)
    bkg = rng.normal(size=5000)
    ref = prepare_background(bkg)
    seps = {
        "A": {"sig": separation(ref, rng.normal(1.0, size=800))},
        "B": {"sig": separation(ref, rng.normal(0.5, size=800))},
    }
    frame = charts.model_curve_frame(seps)
    assert frame.columns == [charts.MODEL, "sample", "fpr", "tpr"]
    one = charts.curve_frame(seps["A"])
    assert frame.filter(pl.col(charts.MODEL) == "A").drop(charts.MODEL).equals(one)
    colours = sample_colours(["sig"])
    for build in (charts.roc_chart, charts.rejection_chart):
        lines = build(frame, colours).to_dict()["layer"][-1]["encoding"]
        assert lines["color"]["field"] == "sample"
        assert lines["strokeDash"]["field"] == charts.MODEL
        assert lines["strokeDash"]["scale"]["domain"] == ["A", "B"]
        assert lines["strokeDash"]["scale"]["range"] == [list(d) for d in charts.DASHES[:2]]
        assert lines["strokeDash"]["scale"]["range"][0] == [1, 0]  # the first model solid
        single = build(seps["A"], colours).to_dict()["layer"][-1]["encoding"]
        assert "strokeDash" not in single
        assert {k: v for k, v in lines.items() if k not in ("strokeDash", "tooltip")} == {
            k: v for k, v in single.items() if k != "tooltip"
        }


def test_the_log_roc_spans_the_working_points_on_a_log_axis():
    rows = pl.DataFrame(
        {"sample": ["sig"] * 4, "fpr": [0.0, 1e-5, 1e-2, 1.0], "tpr": [0.1, 0.4, 0.9, 1.0]}
    )
    spec = charts.roc_log_chart(rows, sample_colours(["sig"])).to_dict()
    guess, lines = spec["layer"]
    x = lines["encoding"]["x"]
    assert x["scale"]["type"] == "log" and x["scale"]["domain"] == [charts.LOG_ROC_MIN, 1.0]
    # eff_B = 0 is not on a log axis: filtered in the chart, the rows kept as the ROC's
    assert lines["transform"] == [{"filter": "(datum.fpr > 0)"}]
    # the random guess runs eff_S = eff_B from the axis's start to 1
    points = next(iter(v for k, v in spec["datasets"].items() if len(v) == 61))
    assert points[0]["fpr"] == pytest.approx(charts.LOG_ROC_MIN) and points[-1]["tpr"] == 1.0
    assert all(p["fpr"] == p["tpr"] for p in points)
    assert guess["mark"]["strokeDash"] == [4, 4]


def test_a_concatenation_is_drawn_as_its_charts():
    import altair as alt

    from hepfm_core.views.charts import concat_parts

    a, b, c = (alt.Chart(pl.DataFrame({"x": [float(i)]})).mark_point() for i in range(3))
    assert concat_parts(a) == [a]
    assert concat_parts(alt.hconcat(a, b)) == [a, b]
    # rows of pairs, read row by row
    assert concat_parts(alt.vconcat(alt.hconcat(a, b), alt.hconcat(c, a))) == [a, b, c, a]
