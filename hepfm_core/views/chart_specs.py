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

:class:`SpecTemplate` does the same for charts whose words and axes change with what they
show, not only their rows (an event's title, the domain its tracks span): the builder is
called once per shape with a :func:`slot` in each such place and a marked frame for each
set of rows; each use fills the slots and rows in (the event view's three charts cost
25 ms to build and 13 ms to serialise per event through Altair; filled, well under one).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import altair as alt
import polars as pl

from ..engine.metrics.separation import Separation
from . import charts

__all__ = [
    "SPECS_KEPT",
    "VEGA_LITE_MIMETYPE",
    "SpecTemplate",
    "VegaLiteSpec",
    "roc_views_spec",
    "slot",
]

SPECS_KEPT = 32
"""Shapes whose spec is kept (a few kilobytes each): signals chosen, models, subtitles."""
VEGA_LITE_MIMETYPE = f"application/vnd.vegalite.{alt.SCHEMA_VERSION.split('.')[0]}+json"
"""The mimetype of a spec of the Vega-Lite version Altair writes."""


@dataclass(frozen=True)
class VegaLiteSpec:
    """A Vega-Lite spec (a dict of JSON values), shown by marimo as a chart."""

    spec: dict[str, Any]

    def _mime_(self) -> tuple[str, str]:
        return VEGA_LITE_MIMETYPE, json.dumps(self.spec, allow_nan=False, ensure_ascii=False)


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


# -- templates: a spec with slots for what changes between uses ---------------------------
_MARK = "\u27e6rows\u27e7"
"""The column that marks a template's stand-in rows with the name of their slot."""


def slot(name: str) -> str:
    """What a builder is given in place of a value that changes between uses of its
    template (a title, a domain): a text that data never holds. Where the value is a list
    (a domain), the builder may put ``[slot(name)]``: the whole list is its place."""
    return f"\u27e6{name}\u27e7"


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows as a chart's data holds them (Altair's): non-finite numbers null."""
    return [
        {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
        for row in frame.to_dicts()
    ]


def _slot_paths(node: Any, names: dict[str, str], path: tuple[Any, ...] = ()) -> list[tuple]:
    """``(name, path)`` of every slot text (``names``: text -> name) under ``node``."""
    if isinstance(node, str):
        return [(names[node], path)] if node in names else []
    if isinstance(node, list) and len(node) == 1 and isinstance(node[0], str) and node[0] in names:
        return [(names[node[0]], path)]
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return []
    return [found for k, v in items for found in _slot_paths(v, names, (*path, k))]


def _put(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    """``node`` with ``value`` at ``path``, copying only the containers along the path: the
    template's own stay as they are."""
    key, rest = path[0], path[1:]
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    copy[key] = _put(node[key], rest, value) if rest else value
    return copy


@dataclass(frozen=True)
class SpecTemplate:
    """A chart's spec with slots: the places of the values and rows that change between
    uses (paths into the spec, a slot's value may stand in several places)."""

    spec: dict[str, Any]
    values: Mapping[str, tuple[tuple[Any, ...], ...]]
    rows: Mapping[str, tuple[Any, ...]]

    @classmethod
    def build(
        cls,
        builder: Callable[..., alt.TopLevelMixin],
        values: Sequence[str] = (),
        rows: Mapping[str, Sequence[str]] | None = None,
        lists: Sequence[str] = (),
        fixed: Mapping[str, Any] | None = None,
    ) -> SpecTemplate:
        """The template of ``builder(**fixed, **slots)``: each name of ``values`` is given
        :func:`slot` (name), each of ``lists`` (a value that is a list, a domain)
        ``[slot(name)]``, each of ``rows`` (name -> its columns) a frame of one marked
        row. Every slot must land in the spec (else ``ValueError``: a builder that drops
        one would show a stale value)."""
        rows = rows or {}
        frames = {
            name: pl.DataFrame({**{c: [None] for c in columns}, _MARK: [slot(name)]})
            for name, columns in rows.items()
        }
        given = {n: slot(n) for n in values} | {n: [slot(n)] for n in lists}
        chart = builder(**(fixed or {}), **given, **frames)
        with alt.data_transformers.enable("default", max_rows=None):
            spec = chart.to_dict(validate=False)
        texts = {slot(n): n for n in given}
        found: dict[str, list[tuple[Any, ...]]] = {n: [] for n in given}
        for name, path in _slot_paths({k: v for k, v in spec.items() if k != "datasets"}, texts):
            found[name].append(path)
        marked = {
            rows_[0][_MARK][1:-1]: ("datasets", key)
            for key, rows_ in spec.get("datasets", {}).items()
            if rows_ and _MARK in rows_[0]
        }
        missing = [n for n, paths in found.items() if not paths] + [
            n for n in rows if n not in marked
        ]
        if missing:
            raise ValueError(f"{builder.__name__} left out the slots {missing}")
        return cls(spec, {n: tuple(p) for n, p in found.items()}, marked)

    def fill(self, values: Mapping[str, Any], rows: Mapping[str, pl.DataFrame]) -> VegaLiteSpec:
        """The spec with these values and rows in their slots (an optional part a shape
        lacks is no slot: its template is another shape's)."""
        spec = self.spec
        for name, paths in self.values.items():
            for path in paths:
                spec = _put(spec, path, values[name])
        for name, path in self.rows.items():
            spec = _put(spec, path, _records(rows[name]))
        return VegaLiteSpec(spec)
