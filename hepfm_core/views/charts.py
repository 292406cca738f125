"""Altair charts from pre-binned tables and thinned curves; nothing here knows about models.

One builder per figure (``loss_histogram``, ``roc_chart``, ``roc_log_chart``,
``rejection_chart``), called by the app with one evaluation's rows and by the offline report
with the rows of every grid point at once (long format: each row tagged with its grid point
in the ``GRID`` column) plus ``Widgets``: the parameters the report's controls set and the
filters that follow them.

One colour per sample everywhere (``vocabulary.sample_colours``): the background grey and filled,
signals outlined in distinct colours. Axis titles carry units; log axes where physicists
expect them (loss distributions, the log-x ROC, background rejection).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from ..engine.metrics.separation import Separation, thin_roc
from ..vocabulary import BACKGROUND_COLOUR, COLUMNS, DEFAULT_BKG_EFFS, SCORE_TITLES
from .channels import tooltips

WIDTH = 360
HEIGHT = 300
HIST_WIDTH = 500  # with its legend, the loss chart fits a page 1,280 px wide
CURVE_POINTS = 300  # per signal on screen: the thinned curve keeps the shape on log axes
DIGITS = 6
"""Significant digits of every plotted number (finer than any screen or print resolves)."""
GRID = "grid"
"""The column that tags a row of long-format data with its grid point (the report's)."""
MODEL = "model"
"""The column that tags a curve with its model when several models are overlaid."""
DASHES = ([1, 0], [7, 3], [2, 2], [9, 3, 2, 3], [4, 4], [12, 4, 2, 4, 2, 4])
"""One stroke dash per overlaid model, in the order given: the first model solid."""


@dataclass(frozen=True)
class ChartSize:
    """Sizes of one rendering: the app's (the default), the report's page, or slides."""

    width: int = WIDTH
    height: int = HEIGHT
    hist_width: int = HIST_WIDTH
    hist_height: int = HEIGHT
    stroke: float = 1.8
    outline: float | None = None  # the background's outline (None: Vega-Lite's default)
    note_size: float = 10  # the labels of the rejection chart's reference lines


APP = ChartSize()


@dataclass(frozen=True)
class Widgets:
    """How a chart of long-format rows follows the report's controls.

    ``params`` are added to the chart (the page's controls set them); ``grid`` is a Vega
    expression giving the grid key to draw (matched with each row's ``GRID``), ``samples``
    one giving the samples to draw (background included) and ``signals`` the signals among
    them: they are also the legends' entries, in that order.
    """

    params: tuple[alt.Parameter, ...]
    grid: str
    samples: str
    signals: str

    def follow(self, chart: alt.Chart) -> alt.Chart:
        """``chart`` filtered to the selected grid point and samples."""
        return chart.transform_filter(
            f"datum.{GRID} === ({self.grid}) && indexof({self.samples}, datum.sample) >= 0"
        )

    def per_grid(self, values: Mapping[str, float], default: float) -> alt.ExprRef:
        """A Vega expression: the selected grid point's value in ``values`` (else ``default``)."""
        return alt.ExprRef(expr=f"{json.dumps(dict(values))}[{self.grid}] || {default!r}")


def _colour_scale(colours: Mapping[str, str], present: Sequence[str]) -> alt.Scale:
    names = [n for n in colours if n in present]
    return alt.Scale(domain=names, range=[colours[n] for n in names])


def _legend(shown: str | None, **kwargs: Any) -> Any:
    """A legend; ``shown``: a Vega expression listing its entries (the samples the report's
    widgets show). The app's (``shown`` None) lists every sample plotted."""
    if shown is not None:
        kwargs["values"] = alt.ExprRef(expr=shown)
    return alt.Legend(**kwargs) if kwargs else alt.Undefined


def _signal_colour(
    colours: Mapping[str, str], present: Sequence[str], corner: str, widgets: Widgets | None
) -> alt.Color:
    """The signal colour encoding, its legend inside the plot at ``corner`` (empty there)."""
    shown = widgets.signals if widgets else None
    legend = _legend(shown, orient=corner, fillColor="white", padding=4)
    return alt.Color(
        "sample:N", scale=_colour_scale(colours, present), title="signal", legend=legend
    )


def _with_params(chart: alt.LayerChart | alt.FacetChart, widgets: Widgets | None) -> alt.LayerChart:
    """``chart`` (a layer chart) with the widgets' parameters (unchanged without widgets)."""
    out = chart if widgets is None else chart.add_params(*widgets.params)
    assert isinstance(out, alt.LayerChart)
    return out


def _chart(rows: pl.DataFrame, widgets: Widgets | None) -> alt.Chart:
    """A chart of ``rows``; with ``widgets``, of the rows they select."""
    chart = alt.Chart(rows)
    return chart if widgets is None else widgets.follow(chart)


SUBTITLE_CHARS = 80
"""Longest subtitle line, in characters (about 480 px at Vega's 11 px subtitle font): a
longer one is wrapped, since Vega widens the chart to a title line and so pushes the plot
aside (a "not drawn: ..." note of seven samples was wider than the page)."""


def subtitle_lines(subtitle: str | Sequence[str] | None) -> list[str]:
    """The subtitle as lines of at most :data:`SUBTITLE_CHARS` characters (split at spaces;
    a single longer word is kept whole).

    >>> from hepfm_core.views.charts import subtitle_lines
    >>> subtitle_lines("a " * 50)[0] == "a " * 39 + "a"
    True
    """
    given = [subtitle] if isinstance(subtitle, str) else list(subtitle or [""])
    lines: list[str] = []
    for line in given:
        lines += textwrap.wrap(line, SUBTITLE_CHARS, break_long_words=False) or [""]
    return lines


def _title(text: str, subtitle: str | Sequence[str] | None) -> alt.Title:
    lines = subtitle_lines(subtitle)
    return alt.Title(text, subtitle=lines[0] if len(lines) == 1 else lines)


def _grid_keys(frame: pl.DataFrame) -> list[str]:
    return [GRID] if GRID in frame.columns else []


def step_points(hist: pl.DataFrame, *, log_y: bool = True) -> pl.DataFrame:
    """The vertices of step histograms: (``GRID``,) sample, edge, value, floor.

    ``hist`` is ``binning.histogram_table``'s frame (sample, bin, lo, hi, count, value),
    optionally with a ``GRID`` column. Each bin contributes its left edge, and each sample gets
    a closing point at the last right edge, so ``interpolate="step-after"`` draws the exact
    step shape. A filled area needs a baseline; zero does not exist on a log axis, so
    ``floor`` is half the smallest plotted value of the grid point (0 on a linear axis).
    """
    keys = _grid_keys(hist)
    groups = [*keys, "sample"]
    last = (
        hist.sort("bin")
        .group_by(groups, maintain_order=True)
        .agg(pl.col("hi").last().alias("lo"), pl.col("value").last())
    )
    pts = pl.concat([hist.select(*groups, "lo", "value"), last.select(*groups, "lo", "value")])
    pts = pts.rename({"lo": "edge"})
    # Keep each sample between its first and last filled bin; on a log axis empty bins
    # inside that span are drawn at the floor, so a step never bridges a gap.
    span = (
        hist.filter(pl.col("value") > 0)
        .group_by(groups)
        .agg(pl.col("lo").min().alias("first"), pl.col("hi").max().alias("last"))
    )
    pts = (
        pts.join(span, on=groups, maintain_order="left")
        .filter((pl.col("edge") >= pl.col("first")) & (pl.col("edge") <= pl.col("last")))
        .drop("first", "last")
        .with_columns(pl.col("edge", "value").round_sig_figs(DIGITS))
    )
    if not log_y:
        return pts.with_columns(floor=pl.lit(0.0))
    floor = (pl.col("value").filter(pl.col("value") > 0).min() / 2.0).round_sig_figs(DIGITS)
    floor = floor.over(keys) if keys else floor
    pts = pts.with_columns(floor=floor)
    return pts.with_columns(pl.col("value").clip(lower_bound=pl.col("floor")))


def loss_histogram(
    hist: pl.DataFrame,
    colours: Mapping[str, str],
    *,
    score: str,
    density: bool = False,
    log_y: bool = True,
    subtitle: str | Sequence[str] | None = None,
    widgets: Widgets | None = None,
    size: ChartSize = APP,
) -> alt.LayerChart:
    """Step histograms on shared log-spaced bins: background filled, signals outlined.

    ``hist``: ``binning.histogram_table``'s frame (see ``step_points``); with ``widgets``,
    the frames of every grid point of ``score`` in one, tagged in ``GRID``.
    """
    pts = step_points(hist, log_y=log_y)
    present = pts["sample"].unique().to_list()
    colour = alt.Color(
        "sample:N",
        scale=_colour_scale(colours, present),
        title="sample",
        legend=_legend(widgets.samples if widgets else None),
    )
    y_title = "fraction of events per unit score" if density else "events per bin"
    x = alt.X(
        "edge:Q",
        scale=alt.Scale(type="log"),
        # decades of a KL running to 1e+300 crowd the axis: labels that would overlap drop
        axis=alt.Axis(
            format="~e", title=SCORE_TITLES.get(score, score), labelOverlap="greedy", tickCount=8
        ),
    )
    # the axis starts at the floor (one per grid point) that the background is filled to
    y_scale = alt.Scale(type="linear")
    if log_y:
        lowest = float(pts.select(pl.col("floor").min()).item() or 0.0)
        domain_min: float | alt.ExprRef = lowest
        if widgets is not None:
            floors = pts.group_by(GRID, maintain_order=True).agg(pl.col("floor").first())
            per_grid = dict(zip(floors[GRID], floors["floor"], strict=True))
            domain_min = widgets.per_grid(per_grid, lowest)
        y_scale = alt.Scale(type="log", domainMin=domain_min, clamp=True)
    y = alt.Y("value:Q", scale=y_scale, title=y_title)
    base = _chart(pts, widgets).encode(
        x=x, y=y, color=colour, tooltip=tooltips("sample:N", "edge:Q", "value:Q")
    )
    bkg = (
        base.transform_filter(alt.datum.sample == "background")
        .mark_area(
            interpolate="step-after",
            opacity=0.45,
            line={"color": BACKGROUND_COLOUR}
            | ({} if size.outline is None else {"strokeWidth": size.outline}),
        )
        .encode(y2=alt.Y2("floor:Q"))
    )
    sig = base.transform_filter(alt.datum.sample != "background").mark_line(
        interpolate="step-after", strokeWidth=size.stroke
    )
    chart = alt.layer(bkg, sig).properties(
        width=size.hist_width,
        height=size.hist_height,
        title=_title("Loss distributions", subtitle or ""),
    )
    return _with_params(chart, widgets)


def model_curve_frame(separations: Mapping[str, Mapping[str, Separation]]) -> pl.DataFrame:
    """Several models' curves in one frame, each row tagged with its model (``MODEL``):
    ``separations`` maps a model's label to its evaluation's separations."""
    return pl.concat(
        [curve_frame(seps).select(pl.lit(label).alias(MODEL), pl.all()) for label, seps in
         separations.items()]
    )  # fmt: skip


def _dash(frame: pl.DataFrame) -> dict[str, Any]:
    """The model dash encoding when ``frame`` tags its curves with models (else nothing:
    one model's chart is unchanged), its legend under the plot."""
    if MODEL not in frame.columns:
        return {}
    models = list(dict.fromkeys(frame[MODEL].to_list()))
    scale = alt.Scale(domain=models, range=[DASHES[i % len(DASHES)] for i in range(len(models))])
    # long symbols, so that each dash pattern shows in the legend
    legend = alt.Legend(
        orient="bottom", symbolType="stroke", symbolStrokeColor="#333333", symbolSize=900
    )
    return {"strokeDash": alt.StrokeDash(f"{MODEL}:N", scale=scale, title="model", legend=legend)}


def _tooltip(frame: pl.DataFrame, fields: Sequence[str]) -> list[Any]:
    return tooltips(*([f"{MODEL}:N", *fields] if MODEL in frame.columns else fields))


def curve_frame(separations: Mapping[str, Separation]) -> pl.DataFrame:
    """The thinned ROC of every signal with a defined curve: sample, fpr, tpr."""
    frames = []
    for name, sep in separations.items():
        if sep.roc_thinned is None or not sep.ok:
            continue
        curve = thin_roc(sep.roc_thinned, max_points=CURVE_POINTS)
        frames.append(
            pl.DataFrame(
                {
                    "sample": name,
                    "fpr": np.asarray(curve.fpr, dtype=np.float64),
                    "tpr": np.asarray(curve.tpr, dtype=np.float64),
                }
            )
        )
    if not frames:
        return pl.DataFrame(schema={"sample": pl.String, "fpr": pl.Float64, "tpr": pl.Float64})
    return pl.concat(frames).with_columns(pl.col("fpr", "tpr").round_sig_figs(DIGITS))


def curve_rows(curves: Mapping[str, Separation] | pl.DataFrame) -> pl.DataFrame:
    """``curves`` as :func:`curve_frame`'s rows (rows given are kept as they are)."""
    return curves if isinstance(curves, pl.DataFrame) else curve_frame(curves)


def _roc_lines(
    base: alt.Chart,
    df: pl.DataFrame,
    x: alt.X,
    colours: Mapping[str, str],
    widgets: Widgets | None,
    size: ChartSize,
) -> alt.Chart:
    """The curves of a ROC on the x channel ``x``: eff_S up, colour = signal, dash = model."""
    present = df["sample"].unique().to_list()
    return base.mark_line(strokeWidth=size.stroke, clip=True).encode(
        x=x,
        y=alt.Y("tpr:Q", title=COLUMNS["eff_sig"].title, scale=alt.Scale(domain=[0, 1])),
        color=_signal_colour(colours, present, "bottom-right", widgets),
        tooltip=_tooltip(df, ["sample:N", "fpr:Q", "tpr:Q"]),
        **_dash(df),
    )


def _with_guess(
    lines: alt.Chart,
    guess: Sequence[float],
    x_scale: alt.Scale | None,
    title: alt.Title,
    widgets: Widgets | None,
    size: ChartSize,
) -> alt.LayerChart:
    """An ROC's ``lines`` over the random guess (eff_S = eff_B, drawn through the points
    ``guess``, on ``x_scale``), sized and titled."""
    x = alt.X("fpr:Q") if x_scale is None else alt.X("fpr:Q", scale=x_scale)
    diag = (
        alt.Chart(pl.DataFrame({"fpr": guess, "tpr": guess}))
        .mark_line(strokeDash=[4, 4], color="#777777")
        .encode(x=x, y=alt.Y("tpr:Q"))
    )
    chart = alt.layer(diag, lines).properties(width=size.width, height=size.height, title=title)
    return _with_params(chart, widgets)


def roc_chart(
    curves: Mapping[str, Separation] | pl.DataFrame,
    colours: Mapping[str, str],
    subtitle: str | Sequence[str] = "",
    *,
    widgets: Widgets | None = None,
    size: ChartSize = APP,
) -> alt.LayerChart:
    """Signal efficiency vs background efficiency, with the random-guess diagonal.

    ``curves``: an evaluation's separations, or ``curve_frame``'s rows (with ``widgets``,
    those of every grid point, tagged in ``GRID``); rows of several models, tagged in
    ``MODEL`` (``model_curve_frame``), are overlaid: colour = signal, dash = model.
    """
    df = curve_rows(curves)
    x = alt.X("fpr:Q", title=COLUMNS["eff_bkg"].title, scale=alt.Scale(domain=[0, 1]))
    lines = _roc_lines(_chart(df, widgets), df, x, colours, widgets, size)
    return _with_guess(lines, [0.0, 1.0], None, _title("ROC", subtitle), widgets, size)


LOG_ROC_MIN = 1e-6
"""The log-x ROC's smallest background efficiency: below what a sample of a few million
events can measure."""
LOG_ROC_TICKS = [10.0**k for k in range(-6, 1)]
"""Its labelled ticks: the decades (Vega's default labels every tick of a log axis)."""


def roc_log_chart(
    curves: Mapping[str, Separation] | pl.DataFrame,
    colours: Mapping[str, str],
    subtitle: str | Sequence[str] = "",
    *,
    widgets: Widgets | None = None,
    size: ChartSize = APP,
) -> alt.LayerChart:
    """Signal efficiency vs background efficiency on a log axis from :data:`LOG_ROC_MIN` to
    1, with the random guess (eff_S = eff_B).

    Why: the working points physicists cut at (eff_B 1e-5 to 1e-2) are squeezed into the
    linear ROC's left edge, where curves of AUC 0.999 all look alike. Points at eff_B = 0 are
    not on a log axis and are left out. ``curves`` as for :func:`roc_chart`.
    """
    df = curve_rows(curves)  # the linear ROC's rows, so that a page stores them once
    x_scale = alt.Scale(type="log", domain=[LOG_ROC_MIN, 1.0], clamp=True)
    x = alt.X(
        "fpr:Q",
        title=f"{COLUMNS['eff_bkg'].title} (log)",
        scale=x_scale,
        axis=alt.Axis(format=".0e", values=LOG_ROC_TICKS),
    )
    on_axis = _chart(df, widgets).transform_filter(alt.datum.fpr > 0)
    lines = _roc_lines(on_axis, df, x, colours, widgets, size)
    guess = np.logspace(np.log10(LOG_ROC_MIN), 0.0, 61).tolist()  # straight on a log axis
    return _with_guess(lines, guess, x_scale, _title("ROC, log ε_B", subtitle), widgets, size)


def rejection_chart(
    curves: Mapping[str, Separation] | pl.DataFrame,
    colours: Mapping[str, str],
    subtitle: str | Sequence[str] = "",
    *,
    widgets: Widgets | None = None,
    size: ChartSize = APP,
) -> alt.LayerChart:
    """Background rejection 1/ε_B (log) vs signal efficiency, lines at ε_B = 1e-2 ... 1e-5.

    ``curves`` as for ``roc_chart`` (the same rows: the rejection is computed in the chart;
    several models overlaid the same way).
    """
    df = curve_rows(curves)
    present = df["sample"].unique().to_list()
    refs = pl.DataFrame(
        {
            "rejection": [1.0 / e for e in DEFAULT_BKG_EFFS],
            "text": [f"ε_B = {e:.0e}" for e in DEFAULT_BKG_EFFS],
        }
    )
    rules = (
        alt.Chart(refs).mark_rule(strokeDash=[2, 3], color="#999999").encode(y=alt.Y("rejection:Q"))
    )
    labels = (
        alt.Chart(refs)
        .mark_text(align="right", dx=-4, dy=-6, fontSize=size.note_size, color="#666666")
        .encode(y=alt.Y("rejection:Q"), x=alt.XValue(size.width), text=alt.Text("text:N"))
    )
    lines = (
        _chart(df, widgets)
        .transform_filter(alt.datum.fpr > 0)
        .transform_calculate(rejection=1 / alt.datum.fpr)
        .mark_line(strokeWidth=size.stroke)
        .encode(
            x=alt.X("tpr:Q", title=COLUMNS["eff_sig"].title, scale=alt.Scale(domain=[0, 1])),
            y=alt.Y(
                "rejection:Q",
                title=COLUMNS["rejection"].title,
                scale=alt.Scale(type="log"),
                axis=alt.Axis(format="~e", values=[10.0**k for k in range(0, 9)]),
            ),
            color=_signal_colour(colours, present, "bottom-left", widgets),
            tooltip=_tooltip(df, ["sample:N", "tpr:Q", "rejection:Q"]),
            **_dash(df),
        )
    )
    chart = alt.layer(rules, labels, lines).properties(
        width=size.width, height=size.height, title=_title("Background rejection", subtitle)
    )
    return _with_params(chart, widgets)


def roc_views(
    curves: Mapping[str, Separation] | pl.DataFrame,
    colours: Mapping[str, str],
    subtitle: str | Sequence[str] = "",
    *,
    size: ChartSize = APP,
) -> alt.ConcatChart:
    """The ROC, the log-eff_B ROC and the background rejection (``subtitle`` under its
    title) in one column, their curves' rows stored once, at the top.

    Why: drawn as three charts, the same rows went to the page three times (160 kB at the
    seed's scale after every change of a setting) and the page parsed and drew three views;
    one spec with the rows once is 65 kB, and a signal or score change measured 0.07-0.1 s
    sooner in the browser. One column: a concatenation keeps its width on a narrow page
    (:func:`concat_parts`), and one 420 px column fits a page 1,280 px wide.
    """
    df = curve_rows(curves)
    views = [
        roc_chart(df, colours, size=size),
        roc_log_chart(df, colours, size=size),
        rejection_chart(df, colours, subtitle, size=size),
    ]
    for view in views:
        for layer in view.layer:
            if layer.data is df:  # the curves: read from the concatenation's rows
                layer.data = alt.Undefined
    return alt.concat(*views, columns=1, data=df)


def concat_parts(chart: alt.TopLevelMixin) -> list[alt.TopLevelMixin]:
    """The charts a concatenation is made of (rows of pairs read row by row), each drawn on
    its own; any other chart alone. Why: a page wraps separate charts to its width, where
    one concatenated view keeps its width and is clipped (two 360 px charts and their
    legends do not fit a page 1,280 px wide)."""
    if isinstance(chart, alt.HConcatChart):
        return [p for c in chart.hconcat for p in concat_parts(c)]
    if isinstance(chart, alt.VConcatChart):
        return [p for c in chart.vconcat for p in concat_parts(c)]
    return [chart]
