"""The meeting report: one offline, self-contained HTML file that stays interactive.

The page inlines Vega, Vega-Lite and vega-embed (nothing is fetched from the network) and
precomputed results for every score x clip of a small grid, at the report's beta, policy and
KL form. Widgets bound to Vega-Lite parameters pick the score, the clip bounds and the signal
samples; the loss distributions, the ROC, the background rejection and the counts and metrics
tables (drawn as text marks) all follow them, without Python.

``write_report`` is what the ``hepfm report`` command and the app call; ``collect`` (the
evaluations) and ``render_html`` / ``figure_specs`` (pure) are its two halves.
"""

from __future__ import annotations

import functools
import html
import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .charts import BACKGROUND_COLOUR, REFERENCE_BKG_EFFS, SCORE_TITLES, sample_colours
from .dashboard import (
    CLIP_PRESETS,
    counts_table,
    format_interval,
    guard_summary,
    histogram_tables,
    metrics_table,
)
from .errors import SettingsError
from .evaluate import EvaluationResult, EvaluationSettings, Evaluator
from .guards import Cause
from .metrics import EFF_INTERVAL, thin_roc

GRID_SCORES: tuple[str, ...] = ("reconstruction", "kl", "total", "radius")
SCORE_LABELS = {
    "reconstruction": "reconstruction error",
    "kl": "KL divergence",
    "total": "total: reconstruction + β·KL",
    "radius": "latent radius Σμ²/σ²",
}
HIST_BINS = 60
CURVE_POINTS = 300
FIGURE_SCALE = 2.0
FIGURE_NAMES = ("loss_distributions", "roc", "rejection")

# Names of the Vega-Lite parameters the widgets drive (shared by every view of the page).
P_SCORE = "score_kind"
P_CLIP = "clip_bounds"
_SEP = "\u001f"  # joins sample names inside expressions; no file name contains it
_HIGHLIGHT = "#fde2c8"
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"


# -- the grid -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipChoice:
    """One clip setting of the grid: a key for the page, a label for the reader."""

    key: str
    label: str
    clip: tuple[float, float] | None


def _exact(x: float) -> str:
    """The shortest text that reads back as ``x`` ("20", "-88.7", "20.000001")."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def clip_key(clip: tuple[float, float] | None) -> str:
    """A unique key per clip setting (exact, so nearby bounds never share a key)."""
    return "none" if clip is None else f"{_exact(clip[0])}:{_exact(clip[1])}"


def clip_label(clip: tuple[float, float] | None) -> str:
    return "none" if clip is None else f"[{_exact(clip[0])}, {_exact(clip[1])}]"


def clip_choices(current: tuple[float, float] | None) -> tuple[ClipChoice, ...]:
    """The dashboard's clip presets, plus the report's own bounds when they are not one."""
    choices = [ClipChoice(clip_key(c), label, c) for label, c in CLIP_PRESETS.items()]
    if all(c.clip != current for c in choices):
        choices.append(ClipChoice(clip_key(current), f"{clip_label(current)} (report)", current))
    return tuple(choices)


def grid_key(score: str, clip: str) -> str:
    return f"{score}|{clip}"


# -- the report's data ----------------------------------------------------------------------
@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, as JSON-ready values (no arrays, no NaN)."""

    settings: EvaluationSettings
    parameterisation: str
    signals: tuple[str, ...]
    shown: tuple[str, ...]
    colours: dict[str, str]
    clips: tuple[ClipChoice, ...]
    histograms: list[dict[str, Any]]
    curves: list[dict[str, Any]]
    counts: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    notes: dict[str, dict[str, str]]
    count_columns: tuple[str, ...]
    metric_columns: tuple[str, ...]
    provenance: dict[str, Any]
    summary: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def current_key(self) -> str:
        return grid_key(self.settings.score, clip_key(self.settings.clip))

    @property
    def samples(self) -> tuple[str, ...]:
        return ("background", *self.signals)


def _sig(x: float, digits: int = 6) -> float:
    """``x`` rounded to ``digits`` significant figures (plain float for JSON)."""
    return float(f"{float(x):.{digits}g}")


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def not_drawn(overflow: pl.DataFrame) -> dict[str, str]:
    """Per sample, in words, the values a log-binned histogram leaves out ('' for none)."""
    notes = {}
    for row in overflow.iter_rows(named=True):
        nonfinite = row["nonfinite"] + row["posinf"] + row["neginf"]
        parts = [
            f"{row['underflow']:,} below range (incl. ≤ 0)" if row["underflow"] else "",
            f"{row['overflow']:,} above range" if row["overflow"] else "",
            f"{nonfinite:,} non-finite" if nonfinite else "",
        ]
        notes[row["sample"]] = ", ".join(p for p in parts if p)
    return notes


def histogram_rows(
    result: EvaluationResult, key: str, index: Mapping[str, int], n_bins: int = HIST_BINS
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Step points of every sample's loss histogram (shared log bins) and, per sample, what
    the bins leave out.

    Each sample keeps its first to last filled bin; the points are the left edges plus the
    last right edge (for ``step-after``), with empty bins raised to a floor of half the
    smallest count so a log axis shows them as gaps at the bottom, never as a bridge.
    """
    hist, over = histogram_tables(result, n_bins=n_bins)
    notes = not_drawn(over)
    per_sample = {}
    positive = []
    for name in result.samples:
        part = hist.filter(hist["sample"] == name).sort("bin")
        values = part["value"].to_numpy()
        edges = np.append(part["lo"].to_numpy(), part["hi"].to_numpy()[-1:])
        filled = np.flatnonzero(values > 0)
        if filled.size:
            per_sample[name] = (values, edges, int(filled[0]), int(filled[-1]))
            positive.append(float(values[filled].min()))
    floor = min(positive) / 2.0 if positive else 0.5
    rows = []
    for name, (values, edges, first, last) in per_sample.items():
        y = np.maximum(np.append(values[first : last + 1], values[last]), floor)
        x = edges[first : last + 2]
        rows.append(
            {
                "g": key,
                "s": name,
                "i": index[name],
                "f": _sig(floor),
                "x": [_sig(v) for v in x],
                "y": [_sig(v) for v in y],
            }
        )
    return rows, notes


def curve_rows(
    result: EvaluationResult, key: str, index: Mapping[str, int], points: int = CURVE_POINTS
) -> list[dict[str, Any]]:
    """Thinned ROC vertices (eff_B, eff_S) of every signal with a defined curve."""
    rows = []
    for name, sep in result.signals.items():
        if not sep.ok or sep.roc_thinned is None:
            continue
        curve = thin_roc(sep.roc_thinned, max_points=points)
        rows.append(
            {
                "g": key,
                "s": name,
                "i": index[name],
                "fpr": [_sig(v) for v in np.asarray(curve.fpr)],
                "tpr": [_sig(v) for v in np.asarray(curve.tpr)],
            }
        )
    return rows


COUNT_COLUMNS_PLAIN = ("sample", "total", "kept")


def count_cells(
    result: EvaluationResult, key: str, index: Mapping[str, int]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The dashboard's counts table as column names and one cell per (sample, column);
    exclusions above zero are marked."""
    table = counts_table(result)
    cells = []
    for row in table.iter_rows(named=True):
        name = row["sample"]
        for c, column in enumerate(table.columns):
            value = row[column]
            cell: dict[str, Any] = {"g": key, "s": name, "i": index[name], "c": c}
            if column == "sample":
                cell["t"] = name
            else:
                cell |= {"t": f"{value:,}", "v": int(value)}
                if column not in COUNT_COLUMNS_PLAIN and value > 0:
                    cell["h"] = 1
            cells.append(cell)
    return table.columns, cells


def _reached(wp) -> str | None:
    """The background side of a working point, for a cell's tooltip."""
    if wp.achieved_bkg_eff is None or wp.n_bkg_pass is None:
        return None
    reached = format_interval(
        wp.achieved_bkg_eff, wp.achieved_bkg_eff_lower, wp.achieved_bkg_eff_upper
    )
    return f"ε_B reached {reached} ({wp.n_bkg_pass:,} background events pass)"


def metric_cells(
    result: EvaluationResult, key: str, index: Mapping[str, int]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The dashboard's metrics table as column names and one cell per (signal, column), with
    the raw numbers and the reason behind any 'n/a' (the cell's tooltip)."""
    table = metrics_table(result)
    cells = []
    for row in table.iter_rows():
        name = row[0]
        sep = result.signals[name]
        sample = result.samples[name]
        raw: list[dict[str, Any]] = [{}]
        raw.append({"v": _finite(sep.auc), "e": _finite(sep.auc_err), "tip": sep.reason})
        for wp in sep.working_points:
            raw.append(
                {
                    "v": _finite(wp.eff_sig),
                    "e": _finite(wp.eff_sig_err),
                    "lo": _finite(wp.eff_sig_lower),
                    "hi": _finite(wp.eff_sig_upper),
                    "tip": wp.reason or _reached(wp),
                }
            )
        raw.append({"v": _finite(sep.max_sic), "tip": sep.max_sic_reason})
        raw.append({"v": sample.policy.kept, "n": sample.counts.total})
        if len(raw) != len(row):  # the dashboard's table changed shape: fail loudly
            raise RuntimeError(f"metrics table has {len(row)} columns, expected {len(raw)}")
        for c, text in enumerate(row):
            cell = {"g": key, "s": name, "i": index[name], "c": c, "t": str(text)}
            cell |= {k: v for k, v in raw[c].items() if v is not None}
            cells.append(cell)
    return table.columns, cells


def build_report_data(
    results: Mapping[tuple[str, str], EvaluationResult],
    settings: EvaluationSettings,
    clips: Sequence[ClipChoice],
    signals: Sequence[str],
    *,
    shown: Sequence[str] | None = None,
    summary: str = "",
    versions: Mapping[str, str] | None = None,
) -> ReportData:
    """Pre-binned, thinned, formatted tables of every grid point (pure)."""
    index = {"background": -1} | {name: i for i, name in enumerate(signals)}
    histograms: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    notes: dict[str, dict[str, str]] = {}
    count_columns: list[str] = []
    metric_columns: list[str] = []
    parameterisation = ""
    provenance: dict[str, Any] = {}
    for (score, ck), result in results.items():
        key = grid_key(score, ck)
        rows, notes[key] = histogram_rows(result, key, index)
        histograms += rows
        curves += curve_rows(result, key, index)
        count_columns, cells = count_cells(result, key, index)
        counts += cells
        metric_columns, cells = metric_cells(result, key, index)
        metrics += cells
        parameterisation = result.parameterisation
        if score == settings.score and ck == clip_key(settings.clip):
            provenance = result.provenance
    return ReportData(
        settings=settings,
        parameterisation=parameterisation,
        signals=tuple(signals),
        shown=tuple(signals if shown is None else shown),
        colours=sample_colours(signals),
        clips=tuple(clips),
        histograms=histograms,
        curves=curves,
        counts=counts,
        metrics=metrics,
        notes=notes,
        count_columns=tuple(count_columns),
        metric_columns=tuple(metric_columns),
        provenance=provenance,
        summary=summary,
        versions=dict(versions or {}),
    )


def collect(evaluator: Evaluator, settings: EvaluationSettings) -> ReportData:
    """Evaluate every score x clip of the grid (all signals) and build the report's data."""
    shown = evaluator.check_signals(settings.signals)
    signals = evaluator.signal_names
    clips = clip_choices(settings.clip)
    results = {}
    for score in GRID_SCORES:
        for choice in clips:
            point = replace(settings, score=score, clip=choice.clip, signals=signals)
            results[(score, choice.key)] = evaluator.evaluate(point)
    summary = guard_summary(evaluator.evaluate(replace(settings, signals=shown)), evaluator)
    return build_report_data(
        results,
        settings,
        clips,
        signals,
        shown=shown,
        summary=summary,
        versions=vega_versions(),
    )


# -- chart specs (Vega-Lite, as dicts) ------------------------------------------------------
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


def _config(style: Style) -> dict[str, Any]:
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


def _shown_filter(n_signals: int) -> str:
    flags = ", ".join(f"show_{i}" for i in range(n_signals))
    return f"datum.i < 0 || [{flags}][datum.i]"


def _grid_filter() -> str:
    return f"datum.g == {P_SCORE} + '|' + {P_CLIP}"


def _legend_values(data: ReportData, background: bool) -> dict[str, str]:
    parts = [json.dumps(_SEP + "background")] if background else []
    parts += [f"(show_{i} ? {json.dumps(_SEP + name)} : '')" for i, name in enumerate(data.signals)]
    return {"expr": f"slice(split({' + '.join(parts) or repr('')}, {json.dumps(_SEP)}), 1)"}


def _colour(data: ReportData, *, background: bool, legend: bool = True) -> dict[str, Any]:
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


def _title(
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
        lines = f"split(join({lines}, {json.dumps(_SEP)}) + {extra}, {json.dumps(_SEP)})"
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


def _params(data: ReportData, *, bind: bool) -> list[dict[str, Any]]:
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
        "params": [*_params(data, bind=bind), {"name": "hist_notes", "value": data.notes}],
        "data": {"name": "histograms"},
        "transform": [
            {"filter": _grid_filter()},
            {"filter": _shown_filter(len(data.signals))},
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
            "color": _colour(data, background=True),
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
        "title": _title(data, "Loss distributions" if titled else None, style, _notes_expr(data)),
        "width": style.hist_width,
        "height": style.hist_height,
        "config": _config(style),
    }


def _notes_expr(data: ReportData) -> str:
    """Vega expression: one separator-prefixed line per shown sample with values not drawn."""
    key = f"hist_notes[{P_SCORE} + '|' + {P_CLIP}]"
    sep = json.dumps(_SEP)
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
    colour = _colour(data, background=False)
    colour["legend"] |= {"orient": orient, "fillColor": "white", "padding": 6}
    return {"x": x, "y": y, "color": colour}


def roc_spec(data: ReportData, style: Style = PAGE, *, bind: bool = False) -> dict:
    """Signal efficiency against background efficiency, with the random-guess diagonal."""
    unit = {"domain": [0, 1]}
    lines = {
        "data": {"name": "curves"},
        "transform": [
            {"filter": _grid_filter()},
            {"filter": _shown_filter(len(data.signals))},
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
        "params": _params(data, bind=bind),
        "layer": [diagonal, lines],
        "title": _title(data, "ROC", style, split=True),
        "width": style.curve_width,
        "height": style.curve_height,
        "config": _config(style),
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
    refs = [{"r": 1.0 / e, "t": _pow10_text(e)} for e in REFERENCE_BKG_EFFS]
    y_axis = {"title": "background rejection 1/ε_B", "labelExpr": _log_labels("y"), "grid": False}
    lines = {
        "data": {"name": "curves"},
        "transform": [
            {"filter": _grid_filter()},
            {"filter": _shown_filter(len(data.signals))},
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
        "params": _params(data, bind=bind),
        "layer": [rules, labels, lines],
        "title": _title(data, "Background rejection", style, split=True),
        "width": style.curve_width,
        "height": style.curve_height,
        "config": _config(style),
    }


# -- tables as text marks -------------------------------------------------------------------
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
        {"filter": _grid_filter()},
        {"filter": _shown_filter(len(data.signals))},
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
            "mark": {"type": "rect", "color": _HIGHLIGHT},
            "encoding": {"x": y("x0"), "x2": y("x1"), "y": y("y0"), "y2": y("y1")},
        },
        {
            "transform": [*common, {"filter": "datum.c == 0"}],
            "mark": {"type": "square", "size": 90, "opacity": 1, "filled": True},
            "encoding": {
                "x": {"value": _PAD + 5},
                "y": y("ym"),
                "color": _colour(data, background=True, legend=False),
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
        "params": _params(data, bind=bind),
        "data": {"name": dataset},
        "layer": layers,
        "title": _title(data, None, PAGE),
        "width": total_width,
        "height": top + 2 + (fixed_rows + len(data.shown)) * _ROW,
        "config": _config(PAGE) | {"view": {"stroke": None}},
        "usermeta": {"table": {"base": top + 2, "row": _ROW, "fixed": fixed_rows}},
    }


def counts_spec(data: ReportData, *, bind: bool = False) -> dict:
    """The filtered-event counts per sample (the dashboard's table), exclusions highlighted."""
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


# -- figures for slides ---------------------------------------------------------------------
def _datasets(data: ReportData, key: str | None = None) -> dict[str, list[dict[str, Any]]]:
    sets = {
        "histograms": data.histograms,
        "curves": data.curves,
        "counts": data.counts,
        "metrics": data.metrics,
    }
    if key is None:
        return sets
    return {name: [r for r in rows if r["g"] == key] for name, rows in sets.items()}


def figure_specs(data: ReportData, style: Style = SLIDE) -> dict[str, dict]:
    """Self-contained Vega-Lite specs of the three figures at the report's settings."""
    sets = _datasets(data, data.current_key)
    specs = {
        "loss_distributions": histogram_spec(data, style),
        "roc": roc_spec(data, style),
        "rejection": rejection_spec(data, style),
    }
    for spec in specs.values():
        spec["datasets"] = {"histograms": sets["histograms"], "curves": sets["curves"]}
    return specs


def write_figures(data: ReportData, out_dir: str | Path) -> list[Path]:
    """Each figure at the report's settings as PNG (slide size) and SVG."""
    import vl_convert as vlc

    out = Path(out_dir)
    _ensure_dir(out)
    paths = []
    for name, spec in figure_specs(data).items():
        png = out / f"{name}.png"
        svg = out / f"{name}.svg"
        _write(png, vlc.vegalite_to_png(spec, scale=FIGURE_SCALE))
        _write(svg, vlc.vegalite_to_svg(spec).encode())
        paths += [png, svg]
    return paths


# -- the page -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (from vl-convert, no network)."""
    import vl_convert as vlc

    return vlc.javascript_bundle()


def vega_versions() -> dict[str, str]:
    import vl_convert as vlc

    return {
        "vega": vlc.get_vega_version(),
        "vega-lite": vlc.get_vegalite_versions()[-1],
        "vega-embed": vlc.get_vega_embed_version(),
        "vl-convert": getattr(vlc, "__version__", "?"),
    }


VIEWS = ("counts", "hist", "roc", "rejection", "metrics")
CONTROLLER = "hist"


def page_specs(data: ReportData) -> dict[str, dict]:
    """The five views of the page; the controller's parameters are bound to the widgets."""
    specs = {
        "counts": counts_spec(data),
        "hist": histogram_spec(data, titled=False),
        "roc": roc_spec(data),
        "rejection": rejection_spec(data),
        "metrics": metrics_spec(data),
    }
    specs[CONTROLLER]["params"][: len(_params(data, bind=True))] = _params(data, bind=True)
    for spec in specs.values():
        spec["autosize"] = {"type": "pad", "resize": True}  # legends change with the widgets
    return specs


def _named_data(spec: Any) -> set[str]:
    """Names of the shared datasets a spec reads (``{"data": {"name": ...}}`` anywhere)."""
    found: set[str] = set()
    if isinstance(spec, list):
        for item in spec:
            found |= _named_data(item)
    elif isinstance(spec, dict):
        data = spec.get("data")
        if isinstance(data, dict) and "name" in data:
            found.add(data["name"])
        for key, value in spec.items():
            if key != "data":
                found |= _named_data(value)
    return found


def page_document(data: ReportData) -> dict[str, Any]:
    """The JSON the page's script reads: specs, shared datasets, what to keep in sync."""
    specs = page_specs(data)
    return {
        "views": list(VIEWS),
        "uses": {view: sorted(_named_data(spec)) for view, spec in specs.items()},
        "controller": CONTROLLER,
        "sync": [P_SCORE, P_CLIP, *(f"show_{i}" for i in range(len(data.signals)))],
        "specs": specs,
        "datasets": _datasets(data),
        "colours": data.colours,
        "count_columns": list(data.count_columns),
        "settings": data.settings.to_json_dict()
        | {"signals": list(data.shown), "parameterisation": data.parameterisation},
        "current": data.current_key,
        "provenance": data.provenance,
    }


_SCRIPT = """
(function () {
  const doc = JSON.parse(document.getElementById("hepfm-report-data").textContent);
  const options = {
    mode: "vega-lite",
    renderer: "svg",
    actions: {export: true, source: false, compiled: false, editor: false},
  };
  const embeds = doc.views.map((id) => {
    const spec = structuredClone(doc.specs[id]);
    spec.datasets = {};
    for (const name of doc.uses[id]) spec.datasets[name] = structuredClone(doc.datasets[name]);
    return vegaEmbed("#view-" + id, spec, options).then((r) => [id, r.view]);
  });
  Promise.all(embeds).then((pairs) => {
    const views = Object.fromEntries(pairs);
    const ctrl = views[doc.controller];
    const fit = () => {
      const shown = doc.sync.filter((n) => n.startsWith("show_") && ctrl.signal(n)).length;
      for (const [id, view] of pairs) {
        const table = (doc.specs[id].usermeta || {}).table;
        if (table) view.height(table.base + (table.fixed + shown) * table.row);
      }
    };
    for (const name of doc.sync) {
      ctrl.addSignalListener(name, (n, value) => {
        for (const [id, view] of pairs) if (id !== doc.controller) view.signal(n, value);
        fit();
        for (const [id, view] of pairs) if (id !== doc.controller) view.runAsync();
      });
    }
    for (const el of document.querySelectorAll("#controls-signals .vega-bind-name")) {
      const colour = doc.colours[el.textContent.trim()];
      if (colour) el.style.borderLeft = "14px solid " + colour;
    }
    window.hepfmReport = {views: views, doc: doc};
    document.body.dataset.ready = "1";
  }).catch((err) => {
    console.error(err);
    document.getElementById("report-error").textContent = "A chart failed to draw: " + err;
  });
})();
"""

_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0 auto;
  max-width: 1320px; padding: 0 24px 40px; color: #111; }
h1 { font-size: 24px; margin: 22px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
table.prov { border-collapse: collapse; font-size: 13px; margin-top: 10px; }
table.prov th { text-align: left; vertical-align: top; padding: 2px 14px 2px 0;
  font-weight: 600; white-space: nowrap; }
table.prov td { padding: 2px 0; }
code { font-size: 12px; }
.summary { background: #eef5fb; border-left: 4px solid #0072B2; padding: 8px 12px;
  font-size: 14px; }
.controls { position: sticky; top: 0; z-index: 10; background: #fafafa;
  border: 1px solid #ddd; padding: 8px 12px; font-size: 14px; display: flex;
  flex-direction: column; gap: 6px; }
.controls .vega-bind { display: inline-block; margin-right: 14px; }
.controls .vega-bind-name { font-weight: 600; margin-right: 6px; }
.controls .vega-bind-radio label { margin-right: 10px; }
#controls-signals .vega-bind-name { font-weight: normal; padding-left: 6px; }
.controls .group { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
.controls .group > b { min-width: 60px; }
.row { display: flex; gap: 24px; flex-wrap: wrap; }
.note { font-size: 13px; color: #444; }
.error { color: #b00020; font-weight: 600; }
footer { margin-top: 30px; font-size: 12px; color: #555; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _json_for_script(doc: Any) -> str:
    """Strict JSON that cannot end its ``<script>`` element early."""
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _safe_script(js: str) -> str:
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _provenance_rows(data: ReportData) -> list[tuple[str, str]]:
    p = data.provenance
    s = data.settings
    fps = p.get("fingerprints", {})
    versions = p.get("versions", {}) | data.versions
    clip = "none (float64 guards)" if s.clip is None else clip_label(s.clip)
    shown = ", ".join(data.shown) if data.shown else "none"
    return [
        ("model", f"{p.get('model_description', '')} · <code>{_esc(p.get('model', ''))}</code>"),
        ("data", f"<code>{_esc(p.get('data', ''))}</code> ({_esc(p.get('data_kind', ''))})"),
        ("signal normalisation", _esc(p.get("signal_normalisation_description", ""))),
        ("fill", _esc(f"{p.get('fill', 'median')}: {p.get('fill_description', '')}")),
        (
            "settings",
            _esc(
                f"score {s.score}, clip z_log_var {clip}, β = {s.beta:g}, policy '{s.policy}', "
                f"KL form '{s.kl_form}', {data.parameterisation} variance; signals: {shown}"
            ),
        ),
        (
            "fingerprints",
            " · ".join(f"{_esc(k)} <code>{_esc(v)}</code>" for k, v in fps.items()),
        ),
        ("versions", _esc(", ".join(f"{k} {v}" for k, v in versions.items()))),
        ("date", _esc(p.get("date", ""))),
    ]


def render_html(data: ReportData, bundle: str) -> str:
    """The whole page: header, controls, the five views, the data and the libraries inline."""
    p = data.provenance
    s = data.settings
    rows = "\n".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in _provenance_rows(data))
    grid = (
        f"{len(GRID_SCORES)} scores × {len(data.clips)} clip settings, computed by hepfm at "
        f"β = {s.beta:g}, policy '{s.policy}', KL form '{s.kl_form}'"
    )
    title = f"hepfm report · {p.get('model_description', '')}"
    payload = _json_for_script(page_document(data))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title>
<style>{_CSS}</style>
<script id="hepfm-vega-bundle">{_safe_script(bundle)}</script>
</head>
<body>
<header>
<h1>Anomaly detection report</h1>
<table class="prov">
{rows}
</table>
</header>
<p class="summary">{_esc(data.summary)}</p>
<nav class="controls" aria-label="report settings">
<div class="group" id="controls-score"></div>
<div class="group" id="controls-clip"></div>
<div class="group" id="controls-signals"><b>signals</b></div>
</nav>
<p class="note">The controls switch between precomputed results ({_esc(grid)}); the summary
above is for the report's own settings. Every table and chart below follows the controls.
Hover a table cell for the reason behind an "n/a", or a counts header for what the cause
means.</p>
<p class="error" id="report-error"></p>
<section>
<h2>Filtered-event counts</h2>
<div id="view-counts" class="view"></div>
<p class="note">Shaded cells: events excluded or without a finite score under these settings
(for every sample, kept + excluded = total). "Non-finite without guards" counts the events
whose score would be NaN or inf if computed in float32 or float16 without hepfm's guards.</p>
</section>
<section>
<h2>Loss distributions</h2>
<div id="view-hist" class="view"></div>
</section>
<section>
<h2>Separation</h2>
<div class="row"><div id="view-roc" class="view"></div>
<div id="view-rejection" class="view"></div></div>
</section>
<section>
<h2>Metrics</h2>
<div id="view-metrics" class="view"></div>
<p class="note">ε_S at ε_B: signal efficiency of the loosest cut whose background efficiency
is at most ε_B, with its {_esc(EFF_INTERVAL)} interval [lower, upper] (exact, so still
meaningful when no signal event or every one passes); hover a cell for the background
efficiency the cut actually reached, with its interval and the number of background events it
rests on; "n/a" when too few background events would pass. AUC ± its Hanley-McNeil standard
error. SIC = ε_S / √ε_B.</p>
</section>
<footer>Written by hepfm {_esc(p.get("versions", {}).get("hepfm", ""))} on
{_esc(p.get("date", ""))}. Self-contained: this file needs no network.</footer>
<script type="application/json" id="hepfm-report-data">{payload}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


# -- files ----------------------------------------------------------------------------------
def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"cannot create the folder ({exc.strerror})", path, "choose a writable folder"
        ) from exc


def _write(path: Path, payload: bytes) -> None:
    try:
        path.write_bytes(payload)
    except OSError as exc:
        raise SettingsError(
            f"cannot write the file ({exc.strerror})", path, "choose a writable path"
        ) from exc


def write_report(
    evaluator: Evaluator,
    settings: EvaluationSettings,
    out: str | Path,
    *,
    figures: str | Path | None = None,
) -> Path:
    """Write the offline report for ``settings`` to ``out`` (and the figures to ``figures``).

    Scores every sample first if needed (cached). Returns the report's path.
    """
    out = Path(out)
    data = collect(evaluator, settings)
    page = render_html(data, javascript_bundle())
    _ensure_dir(out.parent)
    _write(out, page.encode("utf-8"))
    if figures is not None:
        write_figures(data, figures)
    return out
