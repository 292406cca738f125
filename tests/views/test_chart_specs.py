"""Chart specs kept per shape: the same drawing as the Altair charts, these rows inline."""

from __future__ import annotations

import io
import json
import re

import altair as alt
import numpy as np
import polars as pl
import pytest
import vl_convert as vlc

from hepfm_core.engine.metrics.separation import prepare_background, separation
from hepfm_core.views import chart_specs, charts
from hepfm_core.vocabulary import sample_colours


def _separations(seed: int, names=("a", "b")) -> dict:
    rng = np.random.default_rng(seed)
    ref = prepare_background(rng.normal(size=20000))
    return {n: separation(ref, rng.normal(1.0 + i, size=3000)) for i, n in enumerate(names)}


def _altair_spec(curves, colours, subtitle) -> dict:
    """The chart :func:`charts.roc_views` draws, its rows in named datasets (Altair's own),
    without ARIA descriptions (the page draws on a canvas, which has none)."""
    with alt.data_transformers.enable("default", max_rows=None):
        spec = charts.roc_views(curves, colours, subtitle).to_dict()  # validated
    spec.setdefault("config", {})["aria"] = False
    return spec


def _drawn(spec: dict) -> str:
    """What Vega draws (SVG), its clip paths' numbering (a counter of the renderer) left out."""
    return re.sub(r"clip\d+", "clip", vlc.vegalite_to_svg(spec))


def _inline_rows(spec: dict) -> pl.DataFrame:
    data = spec["data"]
    assert data["format"]["type"] == "csv"
    types = {"number": pl.Float64}
    schema = {c: types[t] for c, t in data["format"]["parse"].items()}
    return pl.read_csv(io.StringIO(data["values"]), schema_overrides=schema)


def test_the_spec_is_altairs_with_the_curves_rows_inline_and_typed():
    seps = _separations(0)
    colours = sample_colours(["a", "b"])
    spec = chart_specs.roc_views_spec(seps, colours, "a note").spec
    altair = _altair_spec(seps, colours, "a note")
    rows = charts.curve_frame(seps)
    # the rows: every curve's, once, at the top, numbers typed (the page infers nothing)
    assert spec["data"]["format"]["parse"] == {"fpr": "number", "tpr": "number"}
    assert spec["config"]["aria"] is False
    assert _inline_rows(spec).equals(rows)
    # everything else as Altair writes it; the other layers keep their own named rows
    curves_name = altair["data"]["name"]
    assert pl.DataFrame(altair["datasets"][curves_name]).equals(rows)
    assert spec["datasets"] == {k: v for k, v in altair["datasets"].items() if k != curves_name}
    drop = ("data", "datasets")
    assert {k: v for k, v in spec.items() if k not in drop} == {
        k: v for k, v in altair.items() if k not in drop
    }
    # a valid Vega-Lite spec, and Vega draws exactly what the Altair chart draws
    alt.ConcatChart.from_dict(spec, validate=True)
    assert _drawn(spec) == _drawn(altair)


def test_a_shape_is_built_once_and_its_rows_follow_each_evaluation():
    colours = sample_colours(["a", "b", "c"])
    first = chart_specs.roc_views_spec(_separations(1), colours, "note").spec
    second = chart_specs.roc_views_spec(_separations(2), colours, "note").spec
    # the same shape: its spec reused (not rebuilt), the rows each evaluation's own
    assert second["concat"] is first["concat"]
    assert _inline_rows(second).equals(charts.curve_frame(_separations(2)))
    assert not _inline_rows(second).equals(_inline_rows(first))
    # another set of signals or subtitle: another shape, drawn as Altair would
    for seps, note in ((_separations(3, ("a", "c")), "note"), (_separations(1), "other")):
        spec = chart_specs.roc_views_spec(seps, colours, note).spec
        assert spec["concat"] is not first["concat"]
        altair = _altair_spec(seps, colours, note)
        assert _drawn(spec) == _drawn(altair)


def test_several_models_overlaid_keep_their_dashes_and_rows():
    frame = charts.model_curve_frame({"m1": _separations(4), "m2": _separations(5)})
    colours = sample_colours(["a", "b"])
    spec = chart_specs.roc_views_spec(frame, colours, "n").spec
    assert _inline_rows(spec).equals(frame)
    dashes = [
        layer["encoding"]["strokeDash"]["scale"]["domain"]
        for view in spec["concat"]
        for layer in view["layer"]
        if "strokeDash" in layer.get("encoding", {})
    ]
    assert dashes == [["m1", "m2"]] * 3
    assert _drawn(spec) == _drawn(_altair_spec(frame, colours, "n"))


def test_no_curve_draws_empty_views():
    # every signal withheld: the views and their reference lines, no rows
    spec = chart_specs.roc_views_spec({}, sample_colours(["a"]), "").spec
    assert _inline_rows(spec).height == 0
    assert _drawn(spec).startswith("<svg")


@pytest.mark.parametrize("subtitle", ["one line", ["two", "lines"]])
def test_marimo_shows_it_as_a_vega_lite_view(subtitle):
    shown = chart_specs.roc_views_spec(_separations(6), sample_colours(["a", "b"]), subtitle)
    mimetype, text = shown._mime_()
    major = alt.SCHEMA_VERSION.split(".")[0]  # the Vega-Lite version Altair writes
    assert mimetype == f"application/vnd.vegalite.{major}+json"
    assert json.loads(text) == shown.spec
    assert shown.spec["$schema"].endswith(f"/{alt.SCHEMA_VERSION}.json")
