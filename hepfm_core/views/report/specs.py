"""The report's charts as Vega-Lite specs (dicts): loss distributions, ROC and background
rejection, and the pieces every view of the page shares (the widgets' parameters, the
filters that follow them, colours, titles, the style of a page or of a slide)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ...vocabulary import BACKGROUND_COLOUR, DEFAULT_BKG_EFFS, SCORE_LABELS, SCORE_TITLES
from .grid import GRID_SCORES, ReportData, clip_key

# Names of the Vega-Lite parameters the widgets drive (shared by every view of the page).
P_SCORE = "score_kind"
P_CLIP = "clip_bounds"
SEP = "\u001f"  # joins sample names inside expressions; no file name contains it
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"


@dataclass(frozen=True)
class Style:
    """Sizes of one rendering: the page, or slides (figures)."""

    hist_width: int
    hist_height: int
    curve_width: int
    curve_height: int
    label_size: int
    title_size: int
    chart_title_size: int
    subtitle_size: int
    stroke: float


PAGE = Style(760, 340, 440, 380, 12, 13, 16, 12, 1.8)
SLIDE = Style(960, 560, 640, 560, 18, 20, 26, 16, 3.0)


def vega_config(style: Style) -> dict[str, Any]:
    return {
        "font": "DejaVu Sans, Helvetica, Arial, sans-serif",
        "axis": {
            "labelFontSize": style.label_size,
            "titleFontSize": style.title_size,
            "titleFontWeight": "normal",
            "domainColor": "#000000",
            "tickColor": "#000000",
            "labelColor": "#000000",
            "titleColor": "#000000",
            "gridColor": "#ececec",
        },
        "legend": {
            "labelFontSize": style.label_size,
            "titleFontSize": style.title_size,
            "symbolStrokeWidth": style.stroke + 0.5,
            "labelLimit": 400,
        },
        "title": {
            "fontSize": style.chart_title_size,
            "subtitleFontSize": style.subtitle_size,
            "anchor": "start",
            "subtitleColor": "#444444",
        },
        "view": {"stroke": "#000000"},
    }


def _superscript(n: str) -> str:
    """Vega expression: the integer expression ``n`` in Unicode superscript digits."""
    digits = f"'{_SUPERSCRIPTS}'"
    parts = [f"(({n}) < 0 ? '⁻' : '')"]
    for power in (100, 10):  # a float64 exponent has at most three digits
        parts.append(f"(abs({n}) >= {power} ? {digits}[floor(abs({n}) / {power}) % 10] : '')")
    parts.append(f"{digits}[abs({n}) % 10]")
    return " + ".join(parts)


def _log_labels(scale: str) -> str:
    """Vega label expression for a log axis: 1, 10, 10², ... on powers of ten, nothing on
    the other ticks, unless the axis spans under two decades (then plain numbers)."""
    e = "log(datum.value) / LN10"
    n = f"round({e})"
    decades = f"log(peek(domain('{scale}')) / domain('{scale}')[0]) / LN10"
    power = f"({n} == 0 ? '1' : {n} == 1 ? '10' : '10' + {_superscript(n)})"
    return f"abs({e} - {n}) < 1e-6 ? {power} : ({decades} < 2 ? format(datum.value, '.3~g') : '')"


def shown_filter(n_signals: int) -> str:
    flags = ", ".join(f"show_{i}" for i in range(n_signals))
    return f"datum.i < 0 || [{flags}][datum.i]"


def grid_filter() -> str:
    return f"datum.g == {P_SCORE} + '|' + {P_CLIP}"


def _legend_values(data: ReportData, background: bool) -> dict[str, str]:
    parts = [json.dumps(SEP + "background")] if background else []
    parts += [f"(show_{i} ? {json.dumps(SEP + name)} : '')" for i, name in enumerate(data.signals)]
    return {"expr": f"slice(split({' + '.join(parts) or repr('')}, {json.dumps(SEP)}), 1)"}


def colour_encoding(data: ReportData, *, background: bool, legend: bool = True) -> dict[str, Any]:
    names = list(data.samples if background else data.signals)
    enc: dict[str, Any] = {
        "field": "s",
        "type": "nominal",
        "scale": {"domain": names, "range": [data.colours[n] for n in names]},
    }
    if legend:
        enc["legend"] = {
            "title": "sample" if background else "signal",
            "values": _legend_values(data, background),
            "symbolType": "stroke",
            "symbolOpacity": 1,
        }
    else:
        enc["legend"] = None
    return enc


def _score_title(score: str, beta: float) -> str:
    if score == "total":
        return f"total loss: reconstruction + β·KL (β = {beta:g})"
    return SCORE_TITLES.get(score, score)


def _settings_lines(data: ReportData, split: bool) -> list[str]:
    """Vega expressions, one a line: the settings a view shows, in words."""
    s = data.settings
    varying = f"score_labels[{P_SCORE}] + ' · clip z_log_var: ' + clip_labels[{P_CLIP}]"
    fixed = f"policy '{s.policy}' · KL form '{s.kl_form}'"
    if split:
        return [varying, json.dumps(fixed)]
    return [f"{varying} + {json.dumps(' · ' + fixed)}"]


def view_title(
    data: ReportData,
    text: str | None,
    style: Style,
    extra: str | None = None,
    *,
    split: bool = False,
) -> dict:
    """A view's title over the settings line; or, on the page where a section heading names
    the view, the settings line alone. ``extra``: a Vega expression giving more lines, each
    prefixed by the separator."""
    lines = "[" + ", ".join(_settings_lines(data, split)) + "]"
    if extra:
        lines = f"split(join({lines}, {json.dumps(SEP)}) + {extra}, {json.dumps(SEP)})"
    if text is not None:
        return {"text": text, "subtitle": {"expr": lines}}
    return {
        "text": {"expr": lines},
        "fontSize": style.subtitle_size + 1,
        "fontWeight": "normal",
        "color": "#333333",
        "lineHeight": style.subtitle_size + 5,
    }


_UNIT_AXIS = {"values": [0, 0.2, 0.4, 0.6, 0.8, 1.0], "format": ".1f"}


def widget_params(data: ReportData, *, bind: bool) -> list[dict[str, Any]]:
    """The widgets' parameters (bound to inputs only in the view that owns the controls)."""
    s = data.settings
    score: dict[str, Any] = {"name": P_SCORE, "value": s.score}
    clip: dict[str, Any] = {"name": P_CLIP, "value": clip_key(s.clip)}
    shows = [
        {"name": f"show_{i}", "value": name in data.shown} for i, name in enumerate(data.signals)
    ]
    if bind:
        score["bind"] = {
            "input": "radio",
            "options": list(GRID_SCORES),
            "labels": [SCORE_LABELS[k] for k in GRID_SCORES],
            "name": "score",
            "element": "#controls-score",
        }
        clip["bind"] = {
            "input": "radio",
            "options": [c.key for c in data.clips],
            "labels": [c.label for c in data.clips],
            "name": "clip z_log_var",
            "element": "#controls-clip",
        }
        for show, name in zip(shows, data.signals, strict=True):
            show["bind"] = {"input": "checkbox", "name": name, "element": "#controls-signals"}
    score_labels = {k: SCORE_LABELS[k] for k in GRID_SCORES}
    score_labels["total"] = f"total: reconstruction + β·KL (β = {s.beta:g})"
    return [
        score,
        clip,
        *shows,
        {"name": "score_labels", "value": score_labels},
        {"name": "score_titles", "value": {k: _score_title(k, s.beta) for k in GRID_SCORES}},
        {"name": "clip_labels", "value": {c.key: c.label for c in data.clips}},
    ]


def histogram_spec(
    data: ReportData, style: Style = PAGE, *, bind: bool = False, titled: bool = True
) -> dict:
    """Step histograms on shared log bins: background filled, signals outlined."""
    tooltip = [
        {"field": "s", "type": "nominal", "title": "sample"},
        {"field": "x", "type": "quantitative", "title": "bin low edge", "format": ".4~g"},
        {"field": "y", "type": "quantitative", "title": "events", "format": ".4~g"},
    ]
    return {
        "params": [*widget_params(data, bind=bind), {"name": "hist_notes", "value": data.notes}],
        "data": {"name": "histograms"},
        "transform": [
            {"filter": grid_filter()},
            {"filter": shown_filter(len(data.signals))},
            {"flatten": ["x", "y"]},
        ],
        "encoding": {
            "x": {
                "field": "x",
                "type": "quantitative",
                "scale": {"type": "log"},
                "axis": {
                    "title": {"expr": f"score_titles[{P_SCORE}]"},
                    "labelExpr": _log_labels("x"),
                    "grid": False,
                },
            },
            "y": {
                "field": "y",
                "type": "quantitative",
                "scale": {"type": "log"},
                "axis": {"title": "events per bin", "labelExpr": _log_labels("y"), "grid": False},
            },
            "color": colour_encoding(data, background=True),
            "tooltip": tooltip,
        },
        "layer": [
            {
                "transform": [{"filter": "datum.i < 0"}],
                "mark": {
                    "type": "area",
                    "interpolate": "step-after",
                    "opacity": 0.45,
                    "line": {"color": BACKGROUND_COLOUR, "strokeWidth": style.stroke},
                },
                "encoding": {"y2": {"field": "f"}},
            },
            {
                "transform": [{"filter": "datum.i >= 0"}],
                "mark": {"type": "line", "interpolate": "step-after", "strokeWidth": style.stroke},
            },
        ],
        "title": view_title(
            data, "Loss distributions" if titled else None, style, _notes_expr(data)
        ),
        "width": style.hist_width,
        "height": style.hist_height,
        "config": vega_config(style),
    }


def _notes_expr(data: ReportData) -> str:
    """Vega expression: one separator-prefixed line per shown sample with values not drawn."""
    key = f"hist_notes[{P_SCORE} + '|' + {P_CLIP}]"
    sep = json.dumps(SEP)
    terms = []
    for i, name in enumerate(data.samples):
        note = f"{key}[{json.dumps(name)}]"
        shown = "true" if name == "background" else f"show_{i - 1}"
        line = f"{sep} + 'not drawn · ' + {json.dumps(name + ': ')} + {note}"
        terms.append(f"({shown} && {note} ? {line} : '')")
    every = f"{sep} + 'every event of these samples is inside the drawn range'"
    joined = " + ".join(terms)
    return f"(({joined}) || {every})"


def _curve_encoding(data: ReportData, x: dict, y: dict, orient: str) -> dict[str, Any]:
    colour = colour_encoding(data, background=False)
    colour["legend"] |= {"orient": orient, "fillColor": "white", "padding": 6}
    return {"x": x, "y": y, "color": colour}


def roc_spec(data: ReportData, style: Style = PAGE, *, bind: bool = False) -> dict:
    """Signal efficiency against background efficiency, with the random-guess diagonal."""
    unit = {"domain": [0, 1]}
    lines = {
        "data": {"name": "curves"},
        "transform": [
            {"filter": grid_filter()},
            {"filter": shown_filter(len(data.signals))},
            {"flatten": ["fpr", "tpr"]},
        ],
        "mark": {"type": "line", "strokeWidth": style.stroke},
        "encoding": _curve_encoding(
            data,
            {"field": "fpr", "type": "quantitative", "scale": unit, "axis": _UNIT_AXIS,
             "title": "background efficiency ε_B"},
            {"field": "tpr", "type": "quantitative", "scale": unit, "axis": _UNIT_AXIS,
             "title": "signal efficiency ε_S"},
            "bottom-right",
        )
        | {"tooltip": _curve_tooltip()},
    }  # fmt: skip
    diagonal = {
        "data": {"values": [{"fpr": 0, "tpr": 0}, {"fpr": 1, "tpr": 1}]},
        "mark": {"type": "line", "strokeDash": [5, 5], "color": "#777777"},
        "encoding": {
            "x": {"field": "fpr", "type": "quantitative"},
            "y": {"field": "tpr", "type": "quantitative"},
        },
    }
    return {
        "params": widget_params(data, bind=bind),
        "layer": [diagonal, lines],
        "title": view_title(data, "ROC", style, split=True),
        "width": style.curve_width,
        "height": style.curve_height,
        "config": vega_config(style),
    }


def _curve_tooltip() -> list[dict[str, Any]]:
    return [
        {"field": "s", "type": "nominal", "title": "signal"},
        {"field": "fpr", "type": "quantitative", "title": "ε_B", "format": ".3~e"},
        {"field": "tpr", "type": "quantitative", "title": "ε_S", "format": ".4f"},
    ]


def _pow10_text(e: float) -> str:
    n = round(math.log10(e))
    digits = "".join(_SUPERSCRIPTS[int(d)] for d in str(abs(n)))
    return f"ε_B = 10{'⁻' if n < 0 else ''}{digits}"


def rejection_spec(data: ReportData, style: Style = PAGE, *, bind: bool = False) -> dict:
    """Background rejection 1/ε_B (log) against signal efficiency, lines at ε_B = 1e-2..1e-5."""
    refs = [{"r": 1.0 / e, "t": _pow10_text(e)} for e in DEFAULT_BKG_EFFS]
    y_axis = {"title": "background rejection 1/ε_B", "labelExpr": _log_labels("y"), "grid": False}
    lines = {
        "data": {"name": "curves"},
        "transform": [
            {"filter": grid_filter()},
            {"filter": shown_filter(len(data.signals))},
            {"flatten": ["fpr", "tpr"]},
            {"filter": "datum.fpr > 0"},
            {"calculate": "1 / datum.fpr", "as": "r"},
        ],
        "mark": {"type": "line", "strokeWidth": style.stroke},
        "encoding": _curve_encoding(
            data,
            {"field": "tpr", "type": "quantitative", "scale": {"domain": [0, 1]},
             "axis": _UNIT_AXIS | {"grid": False}, "title": "signal efficiency ε_S"},
            {"field": "r", "type": "quantitative", "scale": {"type": "log"}, "axis": y_axis},
            "bottom-left",
        )
        | {"tooltip": _curve_tooltip()},
    }  # fmt: skip
    rules = {
        "data": {"values": refs},
        "mark": {"type": "rule", "strokeDash": [3, 4], "color": "#888888"},
        "encoding": {"y": {"field": "r", "type": "quantitative"}},
    }
    labels = {
        "data": {"values": refs},
        "mark": {
            "type": "text",
            "align": "left",
            "baseline": "middle",
            "dx": 6,
            "fontSize": style.label_size - 1,
            "color": "#555555",
        },
        "encoding": {
            "y": {"field": "r", "type": "quantitative"},
            "x": {"datum": 1, "type": "quantitative"},
            "text": {"field": "t"},
        },
    }
    return {
        "params": widget_params(data, bind=bind),
        "layer": [rules, labels, lines],
        "title": view_title(data, "Background rejection", style, split=True),
        "width": style.curve_width,
        "height": style.curve_height,
        "config": vega_config(style),
    }
