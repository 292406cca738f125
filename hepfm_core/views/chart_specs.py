"""Chart specs built once per shape, their rows swapped in per evaluation.

A chart's spec depends on an evaluation only through its rows; everything else (marks,
scales, axes, titles, the colours of the samples drawn, the models' dashes) depends on its
*shape*: which samples and models it draws, its subtitle and size. Building the three ROC
views through Altair and handing them to the page as a UI element cost 60-70 ms of the
server's time after every change of a setting (the charts' objects built, deep-copied and
serialised again; measured at the seed's scale), for a spec that differs only in its rows.
Here the spec of a shape is made once by the same builders (:mod:`.charts`) and kept; a new
evaluation costs its rows (a CSV text, the columns' types given so that the page infers
nothing) and a copy of the spec's top level.

:class:`VegaLiteSpec` shows a spec through marimo's documented ``_mime_`` protocol (a
Vega-Lite view, no widget): for charts with nothing to select.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import altair as alt
import polars as pl

from ..engine.metrics.separation import Separation
from . import charts

__all__ = ["SPECS_KEPT", "VEGA_LITE_MIMETYPE", "VegaLiteSpec", "roc_views_spec"]

SPECS_KEPT = 32
"""Shapes whose spec is kept (a few kilobytes each): signals chosen, models, subtitles."""
VEGA_LITE_MIMETYPE = f"application/vnd.vegalite.{alt.SCHEMA_VERSION.split('.')[0]}+json"
"""The mimetype of a spec of the Vega-Lite version Altair writes."""


@dataclass(frozen=True)
class VegaLiteSpec:
    """A Vega-Lite spec (a dict of JSON values), shown by marimo as a chart."""

    spec: dict[str, Any]

    def _mime_(self) -> tuple[str, str]:
        return VEGA_LITE_MIMETYPE, json.dumps(self.spec, allow_nan=False)


def _rows(frame: pl.DataFrame) -> dict[str, Any]:
    """``frame``'s rows as an inline CSV text, its numeric columns' types given."""
    numeric = {c: "number" for c, t in frame.schema.items() if t.is_numeric()}
    return {"values": frame.write_csv(), "format": {"type": "csv", "parse": numeric}}


def _stand_in(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (model,) sample of ``frame``, in their order of appearance: the rows a
    spec's shape is made from."""
    keys = [c for c in (charts.MODEL, "sample") if c in frame.columns]
    return frame.select(*keys).unique(maintain_order=True)


@lru_cache(maxsize=SPECS_KEPT)
def _roc_views_shape(
    shape: tuple[tuple[str, ...], ...],
    columns: tuple[str, ...],
    colours: tuple[tuple[str, str], ...],
    subtitle: str | tuple[str, ...],
    size: charts.ChartSize,
) -> dict[str, Any]:
    frame = pl.DataFrame(list(shape), schema=list(columns), orient="row")
    frame = frame.with_columns(fpr=pl.lit(0.5), tpr=pl.lit(0.5))
    chart = charts.roc_views(frame, dict(colours), subtitle, size=size)
    with alt.data_transformers.enable("default", max_rows=None):
        spec = chart.to_dict(validate=False)
    # the stand-in's rows: replaced by each evaluation's (the other layers keep theirs)
    spec["datasets"].pop(spec.pop("data")["name"])
    # drawn on a canvas, which carries no ARIA attributes; left on, Vega formats a
    # description for each of the curves' thousands of points at every draw (2.6 of the
    # page's 19.6 MB allocated per setting change, a heap-sampling probe of score changes)
    spec.setdefault("config", {})["aria"] = False
    return spec


def roc_views_spec(
    curves: Mapping[str, Separation] | pl.DataFrame,
    colours: Mapping[str, str],
    subtitle: str | Sequence[str] = "",
    *,
    size: charts.ChartSize = charts.APP,
) -> VegaLiteSpec:
    """:func:`charts.roc_views` as a spec: the shape's spec kept, these curves' rows in it.
    Its top level is new; everything under it is the kept shape's, shared: read, never
    change it."""
    frame = charts.curve_rows(curves)
    stand_in = _stand_in(frame)
    kept = _roc_views_shape(
        tuple(stand_in.iter_rows()),
        tuple(stand_in.columns),
        tuple(colours.items()),
        subtitle if isinstance(subtitle, str) else tuple(subtitle),
        size,
    )
    return VegaLiteSpec({**kept, "data": _rows(frame)})
