"""The report's tables (event counts, metrics) as Vega-Lite specs drawn with text marks, so
they follow the page's widgets like the charts do."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...vocabulary import HIGHLIGHT_COLOUR, Cause
from .grid import ReportData
from .specs import (
    PAGE,
    colour_encoding,
    grid_filter,
    shown_filter,
    vega_config,
    view_title,
    widget_params,
)


@dataclass(frozen=True)
class Column:
    header: str  # lines separated by "\n"
    width: int
    align: str  # "left" | "right"
    tip: str = ""


_CHAR = 0.6  # average glyph width in em of the page font (digits and lower case)
_PAD = 8
_ROW = 24
_FONT = 13
_HEADER_LINE = 15


def _columns(
    headers: Sequence[str], cells: Sequence[dict[str, Any]], tips: Mapping[str, str]
) -> list[Column]:
    """Column widths from the longest text any grid point puts in them."""
    longest = [0] * len(headers)
    for cell in cells:
        longest[cell["c"]] = max(longest[cell["c"]], len(cell["t"]))
    out = []
    for c, header in enumerate(headers):
        lines = header.split("\n")
        text = (longest[c] + (3 if c == 0 else 0)) * _FONT
        head = max(len(x) for x in lines) * (_FONT - 1)
        width = int(max(text, head) * _CHAR) + 2 * _PAD
        out.append(Column(header, width, "left" if c == 0 else "right", tips.get(header, "")))
    return out


def _wrap(text: str, width: int = 14) -> str:
    return "\n".join(textwrap.wrap(text.replace("_", " "), width)) or text


def table_spec(
    data: ReportData,
    dataset: str,
    columns: Sequence[Column],
    fixed_rows: int,
    *,
    bind: bool = False,
) -> dict:
    """A table drawn with text marks, filtered by the same parameters as the charts.

    One row per shown signal plus ``fixed_rows`` (the background); ``usermeta.table`` tells
    the page how to resize it when the signal widgets change.
    """
    lefts = np.concatenate(([0], np.cumsum([c.width for c in columns]))).tolist()
    total_width = int(lefts[-1])
    anchors = [
        lefts[i] + (_PAD + (14 if i == 0 else 0) if c.align == "left" else c.width - _PAD)
        for i, c in enumerate(columns)
    ]
    n_lines = max(c.header.count("\n") + 1 for c in columns)
    top = n_lines * _HEADER_LINE + 10
    px: dict[str, Any] = {"type": "quantitative", "scale": None, "axis": None}
    common = [
        {"filter": grid_filter()},
        {"filter": shown_filter(len(data.signals))},
        {"window": [{"op": "dense_rank", "as": "rank"}], "sort": [{"field": "i"}]},
        {"calculate": f"{top} + (datum.rank - 1) * {_ROW}", "as": "y0"},
        {"calculate": f"datum.y0 + {_ROW}", "as": "y1"},
        {"calculate": f"datum.y0 + {_ROW / 2}", "as": "ym"},
        {"calculate": f"{json.dumps(lefts[:-1])}[datum.c]", "as": "x0"},
        {"calculate": f"{json.dumps(lefts[1:])}[datum.c]", "as": "x1"},
        {"calculate": f"{json.dumps(anchors)}[datum.c]", "as": "xa"},
    ]

    def y(f: str) -> dict[str, Any]:
        return {"field": f} | px

    tooltip = {"field": "tip", "type": "nominal"}
    layers: list[dict[str, Any]] = [
        {
            "transform": [*common, {"filter": "datum.c == 0 && datum.rank % 2 == 0"}],
            "mark": {"type": "rect", "color": "#f3f3f3"},
            "encoding": {
                "x": {"value": 0},
                "x2": {"value": total_width},
                "y": y("y0"),
                "y2": y("y1"),
            },
        },
        {
            "transform": [*common, {"filter": "datum.h"}],
            "mark": {"type": "rect", "color": HIGHLIGHT_COLOUR},
            "encoding": {"x": y("x0"), "x2": y("x1"), "y": y("y0"), "y2": y("y1")},
        },
        {
            "transform": [*common, {"filter": "datum.c == 0"}],
            "mark": {"type": "square", "size": 90, "opacity": 1, "filled": True},
            "encoding": {
                "x": {"value": _PAD + 5},
                "y": y("ym"),
                "color": colour_encoding(data, background=True, legend=False),
            },
        },
    ]
    for align, bold in (("left", False), ("right", False), ("right", True)):
        cols = [i for i, c in enumerate(columns) if c.align == align]
        flag = "datum.h" if bold else "!datum.h"
        layers.append(
            {
                "transform": [
                    *common,
                    {"filter": f"indexof({json.dumps(cols)}, datum.c) >= 0 && {flag}"},
                ],
                "mark": {
                    "type": "text",
                    "align": align,
                    "baseline": "middle",
                    "fontSize": _FONT,
                    "fontWeight": "bold" if bold else "normal",
                },
                "encoding": {
                    "x": y("xa"),
                    "y": y("ym"),
                    "text": {"field": "t"},
                    "tooltip": tooltip,
                },
            }
        )
    header_rows = [
        {
            "t": c.header,
            "x": anchors[i],
            "y": top - 6 - _HEADER_LINE * (c.header.count("\n") + 1),
            "a": c.align,
            "tip": c.tip or None,
        }
        for i, c in enumerate(columns)
    ]
    for align in ("left", "right"):
        layers.append(
            {
                "data": {"values": [h for h in header_rows if h["a"] == align]},
                "mark": {
                    "type": "text",
                    "align": align,
                    "baseline": "top",
                    "lineBreak": "\n",
                    "lineHeight": _HEADER_LINE,
                    "fontSize": _FONT - 1,
                    "fontWeight": "bold",
                    "color": "#333333",
                },
                "encoding": {
                    "x": {"field": "x"} | px,
                    "y": {"field": "y"} | px,
                    "text": {"field": "t"},
                    "tooltip": tooltip,
                },
            }
        )
    layers.append(
        {
            "data": {"values": [{}]},
            "mark": {"type": "rule", "color": "#000000"},
            "encoding": {
                "x": {"value": 0},
                "x2": {"value": total_width},
                "y": {"value": top},
            },
        }
    )
    return {
        "params": widget_params(data, bind=bind),
        "data": {"name": dataset},
        "layer": layers,
        "title": view_title(data, None, PAGE),
        "width": total_width,
        "height": top + 2 + (fixed_rows + len(data.shown)) * _ROW,
        "config": vega_config(PAGE) | {"view": {"stroke": None}},
        "usermeta": {"table": {"base": top + 2, "row": _ROW, "fixed": fixed_rows}},
    }


def counts_spec(data: ReportData, *, bind: bool = False) -> dict:
    """The filtered-event counts per sample (``tables.counts_table``), exclusions highlighted."""
    names = data.count_columns
    tips = {_wrap(c.label): c.description for c in Cause if c != Cause.OK}
    tips[_wrap("outside clip")] = "events with z_log_var outside the clip bounds in any dimension"
    headers = [_wrap(n) for n in names]
    columns = _columns(headers, data.counts, tips)
    return table_spec(data, "counts", columns, 1, bind=bind)


def metrics_spec(data: ReportData, *, bind: bool = False) -> dict:
    """AUC ± error, ε_S at fixed ε_B (or why not), max SIC, kept / total, per signal."""
    headers = [h.replace(" at ", " at\n").replace("=", " = ") for h in data.metric_columns]
    columns = _columns(headers, data.metrics, {"max SIC": "max over cuts of ε_S / √ε_B"})
    return table_spec(data, "metrics", columns, 0, bind=bind)
