"""Altair charts from pre-binned tables and thinned curves; nothing here knows about models.

One colour per sample everywhere (``vocabulary.sample_colours``): the background grey and filled,
signals outlined in distinct colours. Axis titles carry units; log axes where physicists
expect them (loss distributions, background rejection).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import polars as pl

from ..engine.metrics import Separation, thin_roc
from ..vocabulary import BACKGROUND_COLOUR, DEFAULT_BKG_EFFS, SCORE_TITLES

WIDTH = 360
HEIGHT = 300
HIST_WIDTH = 640


def _colour_scale(colours: Mapping[str, str], present: Sequence[str]) -> alt.Scale:
    names = [n for n in colours if n in present]
    return alt.Scale(domain=names, range=[colours[n] for n in names])


def _signal_colour(colours: Mapping[str, str], present: Sequence[str], corner: str) -> alt.Color:
    """The signal colour encoding, its legend inside the plot at ``corner`` (empty there)."""
    return alt.Color(
        "sample:N",
        scale=_colour_scale(colours, present),
        title="signal",
        legend=alt.Legend(orient=corner, fillColor="white", padding=4),
    )


def loss_histogram(
    hist: pl.DataFrame,
    colours: Mapping[str, str],
    *,
    score: str,
    density: bool = False,
    log_y: bool = True,
    subtitle: str | None = None,
) -> alt.LayerChart:
    """Step histograms on shared log-spaced bins: background filled, signals outlined.

    ``hist`` is ``binning.histogram_table``'s frame (sample, bin, lo, hi, count, value).
    Each bin contributes its left edge, and each sample gets a closing point at the last
    right edge, so ``interpolate="step-after"`` draws the exact step shape.
    """
    last = (
        hist.sort("bin")
        .group_by("sample", maintain_order=True)
        .agg(pl.col("hi").last().alias("lo"), pl.col("value").last())
    )
    pts = pl.concat([hist.select("sample", "lo", "value"), last.select("sample", "lo", "value")])
    pts = pts.rename({"lo": "edge"})
    # Keep each sample between its first and last filled bin; on a log axis empty bins
    # inside that span are drawn at the floor, so a step never bridges a gap.
    span = (
        hist.filter(pl.col("value") > 0)
        .group_by("sample")
        .agg(pl.col("lo").min().alias("first"), pl.col("hi").max().alias("last"))
    )
    pts = (
        pts.join(span, on="sample")
        .filter((pl.col("edge") >= pl.col("first")) & (pl.col("edge") <= pl.col("last")))
        .drop("first", "last")
    )
    present = pts["sample"].unique().to_list()
    colour = alt.Color("sample:N", scale=_colour_scale(colours, present), title="sample")
    y_title = "fraction of events per unit score" if density else "events per bin"
    x = alt.X(
        "edge:Q",
        scale=alt.Scale(type="log"),
        axis=alt.Axis(format="~e", title=SCORE_TITLES.get(score, score)),
    )
    # A filled area needs a baseline; zero does not exist on a log axis, so the background
    # is filled down to half the smallest plotted value and the axis starts there.
    floor = 0.0
    positive = pts.filter(pl.col("value") > 0)
    if log_y and positive.height:
        floor = float(positive["value"].min()) / 2.0
        pts = pts.with_columns(pl.col("value").clip(lower_bound=floor))
    y_scale = (
        alt.Scale(type="log", domainMin=floor, clamp=True) if log_y else alt.Scale(type="linear")
    )
    y = alt.Y("value:Q", scale=y_scale, title=y_title)
    base = alt.Chart(pts).encode(x=x, y=y, color=colour, tooltip=["sample:N", "edge:Q", "value:Q"])
    bkg = (
        base.transform_filter(alt.datum.sample == "background")
        .mark_area(interpolate="step-after", opacity=0.45, line={"color": BACKGROUND_COLOUR})
        .encode(y2=alt.datum(floor))
    )
    sig = base.transform_filter(alt.datum.sample != "background").mark_line(
        interpolate="step-after", strokeWidth=1.8
    )
    title = alt.Title("Loss distributions", subtitle=subtitle or "")
    return alt.layer(bkg, sig).properties(width=HIST_WIDTH, height=HEIGHT, title=title)


CURVE_POINTS = 300  # per signal on screen: the thinned curve keeps the shape on log axes


def _curve_frame(separations: Mapping[str, Separation]) -> pl.DataFrame:
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
    return pl.concat(frames).with_columns(pl.col("fpr", "tpr").round_sig_figs(6))


def roc_chart(
    separations: Mapping[str, Separation], colours: Mapping[str, str], subtitle: str = ""
) -> alt.LayerChart:
    """Signal efficiency vs background efficiency, with the random-guess diagonal."""
    df = _curve_frame(separations)
    present = df["sample"].unique().to_list()
    diag = (
        alt.Chart(pl.DataFrame({"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="#777777")
        .encode(x="fpr:Q", y="tpr:Q")
    )
    lines = (
        alt.Chart(df)
        .mark_line(strokeWidth=1.8)
        .encode(
            x=alt.X("fpr:Q", title="background efficiency ε_B", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("tpr:Q", title="signal efficiency ε_S", scale=alt.Scale(domain=[0, 1])),
            color=_signal_colour(colours, present, "bottom-right"),
            tooltip=["sample:N", "fpr:Q", "tpr:Q"],
        )
    )
    return alt.layer(diag, lines).properties(
        width=WIDTH, height=HEIGHT, title=alt.Title("ROC", subtitle=subtitle)
    )


def rejection_chart(
    separations: Mapping[str, Separation], colours: Mapping[str, str], subtitle: str = ""
) -> alt.LayerChart:
    """Background rejection 1/ε_B (log) vs signal efficiency, lines at ε_B = 1e-2 ... 1e-5."""
    df = _curve_frame(separations).filter(pl.col("fpr") > 0)
    df = df.with_columns((1.0 / pl.col("fpr")).alias("rejection"))
    present = df["sample"].unique().to_list()
    refs = pl.DataFrame(
        {
            "rejection": [1.0 / e for e in DEFAULT_BKG_EFFS],
            "text": [f"ε_B = {e:.0e}" for e in DEFAULT_BKG_EFFS],
        }
    )
    rules = alt.Chart(refs).mark_rule(strokeDash=[2, 3], color="#999999").encode(y="rejection:Q")
    labels = (
        alt.Chart(refs)
        .mark_text(align="right", dx=-4, dy=-6, fontSize=10, color="#666666")
        .encode(y="rejection:Q", x=alt.value(WIDTH), text="text:N")
    )
    lines = (
        alt.Chart(df)
        .mark_line(strokeWidth=1.8)
        .encode(
            x=alt.X("tpr:Q", title="signal efficiency ε_S", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y(
                "rejection:Q",
                title="background rejection 1/ε_B",
                scale=alt.Scale(type="log"),
                axis=alt.Axis(format="~e", values=[10.0**k for k in range(0, 9)]),
            ),
            color=_signal_colour(colours, present, "bottom-left"),
            tooltip=["sample:N", "tpr:Q", "rejection:Q"],
        )
    )
    return alt.layer(rules, labels, lines).properties(
        width=WIDTH, height=HEIGHT, title=alt.Title("Background rejection", subtitle=subtitle)
    )
