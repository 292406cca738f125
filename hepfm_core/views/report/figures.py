"""The report's figures, built by the app's chart functions (``views.charts``): on the page,
from the rows of every grid point with the widgets' parameters; for slides, from the
report's own grid point, as the app draws it, larger. Plus the page's document: the charts'
Vega-Lite specs and their data, each dataset once, packed by column."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl

from ...common.atomic import atomic_write
from ...vocabulary import SCORE_LABELS
from .. import charts
from .grid import GRID_SCORES, GridPoint, ReportData, clip_label, grid_key

P_GRID = "grid_point"
"""The Vega parameter holding the grid key the page's controls select."""
P_SAMPLES = "shown_samples"
"""The Vega parameter holding the samples ticked on the page (the background first)."""
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
PAGE = charts.ChartSize(width=440, height=360, hist_width=760, hist_height=340)
SLIDE = charts.ChartSize(
    width=640, height=560, hist_width=960, hist_height=560, stroke=3.0, outline=3.0, note_size=16
)
FIGURE_SCALE = 2.0
FIGURE_NAMES = ("loss_distributions", "roc", "roc_log", "rejection")


def widgets(data: ReportData, score: str | None = None) -> charts.Widgets:
    """The page's parameters, at the report's own settings (at ``score``'s grid point for a
    view that draws one score: the page keeps it there while another score is shown)."""
    key = data.current_key if score is None else grid_key(score, data.current.clip.key)
    return charts.Widgets(
        params=(
            alt.param(name=P_GRID, value=key),
            alt.param(name=P_SAMPLES, value=["background", *data.shown]),
        ),
        grid=P_GRID,
        samples=P_SAMPLES,
        signals=f"slice({P_SAMPLES}, 1)",
    )


def _config(chart: Any, slide: bool) -> Any:
    """Fonts of the page (close to the app's) or of a slide (readable from the back, fewer
    ticks, room for the legend's last letters); legend entries drawn as the lines they are."""
    label, title, head, sub = (18, 20, 26, 17) if slide else (12, 13, 16, 12)
    if slide:
        chart = chart.properties(padding={"left": 5, "top": 5, "right": 24, "bottom": 5})
    return (
        chart.configure(font=FONT)
        .configure_axis(labelFontSize=label, titleFontSize=title, titleFontWeight="normal")
        .configure_axisX(
            tickCount=10 if slide else alt.Undefined, labelFlush=False if slide else alt.Undefined
        )
        .configure_legend(
            labelFontSize=label,
            titleFontSize=title,
            labelLimit=400,
            symbolType="stroke",
            symbolOpacity=1,
            symbolStrokeWidth=4 if slide else 2.5,
        )
        .configure_title(fontSize=head, subtitleFontSize=sub, subtitleColor="#444444")
    )


def page_charts(data: ReportData) -> dict[str, alt.LayerChart]:
    """The page's views by id: one histogram per score (its axis says the score's unit) and
    the two curves, each following the widgets."""
    views = {
        f"hist-{score}": charts.loss_histogram(
            data.hist_rows(score),
            data.colours,
            score=score,
            widgets=widgets(data, score),
            size=PAGE,
        )
        for score in GRID_SCORES
    }
    curves = data.curve_rows()
    note = data.normalisation
    w = widgets(data)
    views["roc"] = charts.roc_chart(curves, data.colours, note, widgets=w, size=PAGE)
    views["roc-log"] = charts.roc_log_chart(curves, data.colours, note, widgets=w, size=PAGE)
    views["rejection"] = charts.rejection_chart(curves, data.colours, note, widgets=w, size=PAGE)
    # legends change with the ticked signals: the view re-lays itself out
    resize = alt.AutoSizeParams(type="pad", resize=True)
    return {
        name: _config(chart.properties(autosize=resize), False) for name, chart in views.items()
    }


def settings_line(data: ReportData, point: GridPoint) -> str:
    """The settings of a grid point in words, under a figure's title."""
    s = data.settings
    score = SCORE_LABELS[point.score]
    if point.score == "total":
        score += f" (β = {s.beta:g})"
    clip = clip_label(point.clip.clip)
    return f"{score} · clip z_log_var {clip} · policy '{s.policy}' · KL form '{s.kl_form}'"


def figure_charts(data: ReportData) -> dict[str, alt.LayerChart]:
    """The four figures at the report's settings, for slides: the app's charts of the same
    rows (the report's signals), larger, with the settings under their titles."""
    point = data.current
    samples = ["background", *data.shown]
    shown = pl.col("sample").is_in(samples)
    hist = point.hist.filter(shown).drop(charts.GRID)
    curves = point.curves.filter(shown).drop(charts.GRID)
    line = settings_line(data, point)
    sub = [line, data.normalisation]
    figures = {
        "loss_distributions": charts.loss_histogram(
            hist,
            data.colours,
            score=point.score,
            subtitle=[line, point.hist_note(samples)],
            size=SLIDE,
        ),
        "roc": charts.roc_chart(curves, data.colours, sub, size=SLIDE),
        "roc_log": charts.roc_log_chart(curves, data.colours, sub, size=SLIDE),
        "rejection": charts.rejection_chart(curves, data.colours, sub, size=SLIDE),
    }
    return {name: _config(chart, slide=True) for name, chart in figures.items()}


@contextmanager
def _all_rows() -> Iterator[None]:
    """Altair's own transformer, its rows inline in the spec: the same report from the CLI and
    from the app (whose charts use marimo's); without the 5,000-row limit, for the report's
    data are long on purpose."""
    with alt.data_transformers.enable("default", max_rows=None):
        yield


def to_spec(chart: alt.LayerChart) -> dict[str, Any]:
    """A chart's Vega-Lite spec, without the schema's URL (the page names no address)."""
    with _all_rows():
        spec = chart.to_dict()
    spec.pop("$schema", None)
    return spec


def write_figures(data: ReportData, out: Path) -> list[Path]:
    """Each figure at the report's settings as PNG (slide size, 2x) and SVG."""
    import vl_convert as vlc

    written = []
    for name, chart in figure_charts(data).items():
        spec = to_spec(chart)
        png, svg = out / f"{name}.png", out / f"{name}.svg"
        # each whole or not at all (a temporary beside it, renamed): no truncated figure
        atomic_write(png, vlc.vegalite_to_png(spec, scale=FIGURE_SCALE), "a figure")
        atomic_write(svg, vlc.vegalite_to_svg(spec), "a figure")
        written += [png, svg]
    return written


# -- the page's document ---------------------------------------------------------------------
def pack(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows as columns: numbers as lists, text as its distinct values plus one index a row.

    A row-per-object dataset repeats every field name and grid key; this is about four
    times smaller. ``report.js`` (``unpack``) turns it back into the same rows."""
    names = list(rows[0]) if rows else []
    columns: dict[str, Any] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if all(isinstance(v, str) for v in values):
            levels = list(dict.fromkeys(values))
            index = {v: i for i, v in enumerate(levels)}
            columns[name] = {"levels": levels, "codes": [index[v] for v in values]}
        else:
            columns[name] = values
    return {"length": len(rows), "columns": columns}


def unpack(packed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows ``pack`` packed (what ``report.js`` does in the page)."""
    columns = {
        name: [col["levels"][i] for i in col["codes"]] if isinstance(col, dict) else col
        for name, col in packed["columns"].items()
    }
    return [{name: col[i] for name, col in columns.items()} for i in range(packed["length"])]


def event_charts(data: ReportData) -> dict[str, Any]:
    """The events section's heat maps by id (static: they follow no control)."""
    return {
        card.key: _config(card.heatmap, False)
        for group in data.events.groups
        for card in group.cards
        if card.heatmap is not None
    }


def _specs(
    charts_by_id: Mapping[str, Any], datasets: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Each chart's spec without its data, and the datasets it uses (added to ``datasets``,
    each once, packed)."""
    specs: dict[str, Any] = {}
    uses: dict[str, list[str]] = {}
    for view, chart in charts_by_id.items():
        spec = to_spec(chart)
        own = spec.pop("datasets", {})
        for name, rows in own.items():
            datasets.setdefault(name, pack(rows))
        specs[view], uses[view] = spec, list(own)
    return specs, uses


def page_document(data: ReportData) -> dict[str, Any]:
    """What the page's script reads: each view's spec (without data), the datasets the views
    use (each once, packed), which view uses which, the parameters and grid keys it sets
    (``scores``: the views that draw one score, whatever score is selected); the events
    section's heat maps (``events``: static views) and its selections."""
    datasets: dict[str, Any] = {}
    specs, uses = _specs(page_charts(data), datasets)
    event_specs, event_uses = _specs(event_charts(data), datasets)
    grid: dict[str, dict[str, str]] = {score: {} for score in GRID_SCORES}
    for point in data.points:
        grid[point.score][point.clip.key] = point.key
    compared: dict[str, Any] = {}
    if data.models:
        compared = {
            "models": list(data.models),
            "comparisons": list(data.current.comparison_json),
            "warnings": list(data.warnings),
        }
    return compared | {
        "params": {"grid": P_GRID, "samples": P_SAMPLES},
        "grid": grid,
        "scores": {f"hist-{score}": score for score in GRID_SCORES},
        "specs": specs,
        "uses": uses,
        "datasets": datasets,
        "events": {
            "specs": event_specs,
            "uses": event_uses,
            "groups": [g.to_json_dict() for g in data.events.groups],
        },
        "current": data.current_key,
        "settings": data.settings.to_json_dict()
        | {"signals": list(data.shown), "parameterisation": data.parameterisation},
        "provenance": data.provenance,
    }
