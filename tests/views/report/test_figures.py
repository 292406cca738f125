"""The report's figures and page document (views.report.figures): one chart builder per
figure for the app and the report, specs independent of the app's data transformer, the
settings line, the packed datasets read back by ``unpack``, the document's grid keys."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from hepfm_core.views import charts, tables, text
from hepfm_core.views.report import figures
from hepfm_core.vocabulary import sample_colours

from .test_page import KEY

BUILDERS = ("loss_histogram", "roc_chart", "roc_log_chart", "rejection_chart")


def _shape(spec: dict) -> list[tuple[str, dict[str, tuple]]]:
    """Per layer: the mark and, per channel bound to a field, the field, type and axis."""
    out = []
    for layer in spec["layer"]:
        mark = layer["mark"] if isinstance(layer["mark"], str) else layer["mark"]["type"]
        channels = {
            name: (enc.get("field"), enc.get("type"), json.dumps(enc.get("axis"), sort_keys=True))
            for name, enc in layer.get("encoding", {}).items()
            if isinstance(enc, dict) and "field" in enc
        }
        out.append((mark, channels))
    return out


def test_app_and_report_draw_each_figure_with_one_builder(
    evaluator, report_settings, report_data, monkeypatch
):
    """The app's cells and the report call the same chart function per figure, on the same
    rows at the report's grid point; the marks and encodings they get are the same."""
    calls: dict[str, list[tuple[tuple, dict, Any]]] = {name: [] for name in BUILDERS}

    def spying(name: str) -> Any:
        original = getattr(charts, name)

        def spy(*args, **kwargs):
            chart = original(*args, **kwargs)
            calls[name].append((args, kwargs, chart))
            return chart

        return spy

    for name in BUILDERS:
        monkeypatch.setattr(charts, name, spying(name))

    # the app's cells (apps/anomaly.py) at the dashboard's defaults, every signal ticked
    result = evaluator.evaluate(report_settings)
    colours = sample_colours(evaluator.signal_names)
    hist, over = tables.histogram_tables(result, n_bins=60)
    charts.loss_histogram(
        hist, colours, score="kl", density=False, log_y=True, subtitle=tables.histogram_note(over)
    )
    charts.roc_chart(result.signals, colours)
    charts.roc_log_chart(result.signals, colours)
    charts.rejection_chart(result.signals, colours, text.normalisation_note(result))
    app = {name: found[0] for name, found in calls.items()}
    # the report: the page's views and the slides' figures
    figures.page_charts(report_data)
    figures.figure_charts(report_data)

    def at_key(rows: pl.DataFrame) -> pl.DataFrame:
        part = rows.filter(pl.col(charts.GRID) == KEY).drop(charts.GRID)
        return part.sort(part.columns)

    page_hist = next(c for c in calls["loss_histogram"][1:] if c[1].get("score") == "kl")
    assert page_hist[1]["widgets"] is not None
    assert at_key(page_hist[0][0]).equals(hist.sort(hist.columns))
    app_curves = charts.curve_frame(result.signals)
    for name in ("roc_chart", "roc_log_chart", "rejection_chart"):
        page_call = next(c for c in calls[name][1:] if c[1].get("widgets") is not None)
        assert at_key(page_call[0][0]).equals(app_curves.sort(app_curves.columns)), name
        slide_call = next(c for c in calls[name][1:] if c[1].get("widgets") is None)
        at_page = page_call[0][0].filter(pl.col(charts.GRID) == KEY).drop(charts.GRID)
        assert slide_call[0][0].equals(at_page), name  # every signal is the report's here
    for name in BUILDERS:
        # (the histograms of the other scores differ in their axis title, rightly)
        report_calls = [c for c in calls[name][1:] if c[1].get("score", "kl") == "kl"]
        assert report_calls, f"the report never called charts.{name}"
        app_spec = app[name][2].to_dict()
        specs = [figures.to_spec(chart) for _, _, chart in report_calls]
        assert all(_shape(spec) == _shape(app_spec) for spec in specs), name
        # the page's view follows the widgets; the app's chart has no parameter
        assert "params" not in app_spec
        assert any("params" in spec for spec in specs)


def test_report_specs_are_the_same_whatever_the_app_set():
    """The app's charts inline their rows as CSV (marimo's transformer); the report's specs
    keep Altair's own inline values, whichever transformer the process has active."""
    import altair as alt
    import marimo as mo

    chart = alt.Chart(pl.DataFrame({"x": [0.5, 2.0]})).mark_point().encode(x="x:Q")
    plain = figures.to_spec(chart)
    mo.ui.altair_chart(chart)  # registers marimo's transformers
    before = alt.data_transformers.active
    alt.data_transformers.enable("marimo_inline_csv")
    try:
        assert figures.to_spec(chart) == plain
    finally:
        alt.data_transformers.enable(before)
    (values,) = plain["datasets"].values()
    assert values == [{"x": 0.5}, {"x": 2.0}]


def test_pack_by_hand_and_back():
    rows = [
        {"grid": "kl|none", "sample": "background", "x": 0.5, "n": 3},
        {"grid": "kl|none", "sample": "zprime_ee", "x": None, "n": 0},
        {"grid": "radius|none", "sample": "background", "x": 2.0, "n": 1},
    ]
    packed = figures.pack(rows)
    assert packed == {
        "length": 3,
        "columns": {
            "grid": {"levels": ["kl|none", "radius|none"], "codes": [0, 0, 1]},
            "sample": {"levels": ["background", "zprime_ee"], "codes": [0, 1, 0]},
            "x": [0.5, None, 2.0],
            "n": [3, 0, 1],
        },
    }
    assert figures.unpack(packed) == rows
    json.dumps(packed, allow_nan=False)
    assert figures.pack([]) == {"length": 0, "columns": {}}
    assert figures.unpack(figures.pack([])) == []
    mixed = [{"a": "x"}, {"a": None}]  # not all text: kept as it is
    assert figures.pack(mixed)["columns"]["a"] == ["x", None]


def test_the_page_document_names_every_view_dataset_and_grid_point(report_data):
    doc = figures.page_document(report_data)
    assert "models" not in doc and doc["current"] == report_data.current_key
    for point in report_data.points:
        assert doc["grid"][point.score][point.clip.key] == point.key
    assert (
        set(doc["specs"])
        == set(doc["uses"])
        == {*(f"hist-{s}" for s in doc["scores"].values()), "roc", "roc-log", "rejection"}
    )
    used = {name for names in doc["uses"].values() for name in names}
    used |= {name for names in doc["events"]["uses"].values() for name in names}
    assert used == set(doc["datasets"])  # each dataset stored once, each used
    assert all("datasets" not in spec for spec in doc["specs"].values())
    assert doc["settings"]["signals"] == list(report_data.shown)
    json.dumps(doc, allow_nan=False)


def test_settings_line_and_widgets(report_data):
    point = report_data.current
    assert figures.settings_line(report_data, point) == (
        "KL divergence · clip z_log_var [-20, 20] · policy 'drop' · KL form 'true'"
    )
    total = next(p for p in report_data.points if p.score == "total")
    assert "(β = 1)" in figures.settings_line(report_data, total)
    w = figures.widgets(report_data, "radius")
    (grid_param, samples_param) = w.params
    assert grid_param.param.value == "radius|-20:20"
    assert samples_param.param.value == ["background", *report_data.shown]
