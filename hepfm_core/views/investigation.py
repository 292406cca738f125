"""The investigation view's tables, words and charts: one event (its tracks, a residual heat
map track x feature, its latent values against the clip bounds), a selection's summary, the
latent diagnostics, the residual profile and the sculpting check of whole samples.

Builders take the engine's results (``engine.investigate.events``, ``engine.investigate.explain``,
``engine.investigate.diagnostics``) and know nothing of models. Conventions of ``charts.py``: sizes
from :class:`~hepfm_core.views.charts.ChartSize`, one colour per sample
(``vocabulary.sample_colours``), units in axis titles, numbers rounded to
``charts.DIGITS`` significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from ..engine.investigate.diagnostics import (
    LatentDiagnostics,
    ResidualProfile,
    SculptingCheck,
)
from ..engine.investigate.events import EventDetail, Selection, TrackLayout
from ..engine.investigate.explain import LEVELS, SelectionSummary
from ..vocabulary import BACKGROUND_COLOUR, SCORE_TITLES, Cause
from .channels import tooltips
from .charts import APP, DIGITS, ChartSize

__all__ = [
    "ACTIVE_COLOURS",
    "BRUSH",
    "CLIP_COLOUR",
    "EFFICIENCY_TITLE",
    "ETA_PHI_BRANCHES",
    "ETA_RANGE",
    "ETA_TITLE",
    "EVENTS_TITLE",
    "FEATURE_TITLE",
    "FILLED_TITLE",
    "KL_DIM_TITLE",
    "LATENT_DIM_TITLE",
    "PADDING",
    "PHI_TITLE",
    "PT_TITLE",
    "RESIDUAL_MEAN_TITLE",
    "RESIDUAL_MEDIAN_TITLE",
    "RESIDUAL_TITLE",
    "SCULPTING_TITLES",
    "TRACK_RESIDUAL_TITLE",
    "TRACK_TITLE",
    "Z_LOG_VAR_TITLE",
    "Z_MEAN_TITLE",
    "empty_selection_sentence",
    "eta_phi_chart",
    "event_caption",
    "event_table",
    "filled_names",
    "latent_chart",
    "latent_event_chart",
    "latent_sentence",
    "latent_table",
    "number_text",
    "page_sentence",
    "residual_heatmap",
    "residual_profile_chart",
    "residual_profile_table",
    "sculpting_chart",
    "sculpting_table",
    "selection_sentence",
    "summary_table",
    "table_formats",
    "track_table",
    "with_score_brush",
]

RESIDUAL_TITLE = "squared residual (x − x̂)² [standardised units²]"
RESIDUAL_MEAN_TITLE = "mean squared residual [standardised units²]"
RESIDUAL_MEDIAN_TITLE = "median squared residual per event [standardised units²]"
LATENT_DIM_TITLE = "latent dimension"
Z_MEAN_TITLE = "z_mean (μ)"
Z_LOG_VAR_TITLE = "z_log_var (log σ²)"
KL_DIM_TITLE = "KL per dimension [nats]"
TRACK_TITLE = "track slot"
TRACK_RESIDUAL_TITLE = "Σ residual²"
"""The track table's column of each track's summed squared residual."""
FEATURE_TITLE = "feature"
FILLED_TITLE = "filled by the reader"
"""The track table's column naming the raw values the reader replaced by its fill value."""
EFFICIENCY_TITLE = "fraction of events above the cut"
EVENTS_TITLE = "events per bin"
SCULPTING_TITLES = {"tracks": "track multiplicity", "leading_pt": "leading-track pt [GeV]"}
CLIP_COLOUR = "#d62728"
ACTIVE_COLOURS = {"active": "#0072B2", "inactive": BACKGROUND_COLOUR}
PADDING = "padding"
BRUSH = "score_brush"
"""The interval selection on the loss distributions' score axis (the app's brush)."""


def _r(x: float | None) -> float | None:
    """``x`` to :data:`charts.DIGITS` significant digits; None for None or non-finite."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{DIGITS}g}")


def _keep(x: float | None) -> float | None:
    """``x`` to :data:`charts.DIGITS` significant digits, NaN and infinities kept (a table
    spells them; a chart's data cannot hold them: :func:`_r`)."""
    if x is None or not math.isfinite(x):
        return x
    return float(f"{x:.{DIGITS}g}")


def number_text(value: object) -> str:
    """A number of a table as text: :data:`charts.DIGITS` significant digits, NaN and the
    infinities spelled, "n/a" for none.

    >>> from hepfm_core.views.investigation import number_text
    >>> number_text(2786060.0), number_text(float("nan")), number_text(None), number_text(7)
    ('2.78606e+06', 'NaN', 'n/a', '7')
    """
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{DIGITS}g}"
    return str(value)


def table_formats(frame: pl.DataFrame) -> dict[str, Any]:
    """How the app shows a builder's table: every number by :func:`number_text` (indices
    without thousands separators, so that they read as ``hepfm events`` writes them)."""
    return {c: number_text for c, t in frame.schema.items() if t.is_numeric()}


def _with_unit(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


# -- one event ----------------------------------------------------------------------------
def track_table(detail: EventDetail, layout: TrackLayout | None) -> pl.DataFrame:
    """The event's real tracks, one row each: slot, every branch (with its unit), and the
    track's summed squared residual; for an event with filled raw values, which of its
    branches the reader filled (:data:`FILLED_TITLE`, second). Without a layout, one row per
    input."""
    filled = detail.filled
    if layout is None or detail.tracks is None or detail.track_slots is None:
        flat: dict[str, Any] = {
            "input": np.arange(detail.values.size),
            "value": [_keep(float(v)) for v in detail.values],
            RESIDUAL_TITLE: [_keep(float(v)) for v in detail.residuals],
        }
        if filled is not None:
            flat[FILLED_TITLE] = ["yes" if f else "" for f in filled]
        return pl.DataFrame(
            flat, schema_overrides={"value": pl.Float64, RESIDUAL_TITLE: pl.Float64}
        )
    cols: dict[str, Any] = {TRACK_TITLE: detail.track_slots.astype(np.int64)}
    if filled is not None:  # beside the slot: a wide table scrolls, this column must show
        grid = filled.reshape(layout.n_tracks, layout.n_branches)
        cols[FILLED_TITLE] = [
            ", ".join(b for b, f in zip(layout.branches, grid[s], strict=True) if f)
            for s in detail.track_slots
        ]
    for j, (b, u) in enumerate(zip(layout.branches, layout.units, strict=True)):
        cols[_with_unit(b, u)] = [_keep(float(v)) for v in detail.tracks[:, j]]
    per_track = detail.residuals_per_track
    cols[TRACK_RESIDUAL_TITLE] = [
        _keep(float(per_track[s])) if per_track is not None else None for s in detail.track_slots
    ]
    numeric = {k for k in cols if k not in (TRACK_TITLE, FILLED_TITLE)}
    return pl.DataFrame(cols, schema_overrides={k: pl.Float64 for k in numeric})


def filled_names(detail: EventDetail, layout: TrackLayout | None) -> list[str]:
    """The inputs whose raw value the reader filled: ``track 3 pt`` (or ``input 17``).

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.events import TrackLayout, event_details
    >>> layout = TrackLayout(2, ("d0", "pt"), ("mm", "GeV"))
    >>> x = np.array([[1.0, 2.0, np.nan, 3.0]])
    >>> (d,) = event_details(sample="s", events=np.array([0]), values=x, values_kind="raw",
    ...     inputs=x, x_hat=x, z_mean=np.zeros((1, 1)), z_log_var=np.zeros((1, 1)),
    ...     scores=np.array([1.0]), causes=np.array([0]), recon=np.array([1.0]),
    ...     layout=layout, clip=None, filled=~np.isfinite(x))
    >>> filled_names(d, layout), filled_names(d, None)
    (['track 1 d0'], ['input 2'])
    """
    names = []
    for i in detail.filled_inputs:
        if layout is None:
            names.append(f"input {i}")
        else:
            t, b = divmod(int(i), layout.n_branches)
            names.append(f"track {t} {layout.branches[b]}")
    return names


def _largest(detail: EventDetail, layout: TrackLayout | None) -> tuple[str, float] | None:
    """The input with the largest squared residual, named, and its share of the sum."""
    r = detail.residuals
    with np.errstate(all="ignore"):
        total = float(np.sum(r))
    if not np.isfinite(r).all() or not math.isfinite(total) or total <= 0:
        return None
    i = int(np.argmax(r))
    if layout is None:
        return f"input {i}", float(r[i]) / total
    t, b = divmod(i, layout.n_branches)
    return f"track {t} {layout.branches[b]}", float(r[i]) / total


def event_caption(detail: EventDetail, layout: TrackLayout | None) -> str:
    """One line: which event, its cause and score, and which input drives its residuals."""
    score = "no finite score" if detail.score is None else f"score {detail.score:.4g}"
    ident = ""
    if detail.identity:
        ident = " (" + ", ".join(f"{k} {v}" for k, v in detail.identity.items()) + ")"
    n_tracks = "" if detail.tracks is None else f", {len(detail.tracks)} tracks"
    head = f"{detail.sample} event {detail.event}{ident}: {detail.cause}, {score}{n_tracks}"
    filled = filled_names(detail, layout)
    if filled:
        more = f" and {len(filled) - 3} more" if len(filled) > 3 else ""
        head += f"; filled by the reader (not data): {', '.join(filled[:3])}{more}"
    largest = _largest(detail, layout)
    if largest is None:
        return head + "; its reconstruction is not finite"
    name, share = largest
    return f"{head}; largest residual: {name} ({share:.0%} of the sum)"


def event_table(details: Sequence[EventDetail], layout: TrackLayout | None) -> pl.DataFrame:
    """A page of events, one row each: event, cause, score, reconstruction error, tracks,
    the input with the largest residual and its share, the largest z_log_var."""
    rows = []
    for d in details:
        largest = _largest(d, layout)
        with np.errstate(all="ignore"):
            s_max = float(np.max(d.z_log_var)) if d.z_log_var.size else math.nan
        rows.append(
            {
                "event": d.event,
                "cause": d.cause,
                "score": _r(d.score),
                "reconstruction": _keep(d.reconstruction),
                "tracks": None if d.tracks is None else len(d.tracks),
                "largest residual": None if largest is None else largest[0],
                "its share": None if largest is None else _r(largest[1]),
                "max z_log_var": _keep(s_max),
            }
        )
    schema = {
        "event": pl.Int64,
        "cause": pl.String,
        "score": pl.Float64,
        "reconstruction": pl.Float64,
        "tracks": pl.Int64,
        "largest residual": pl.String,
        "its share": pl.Float64,
        "max z_log_var": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def _lines(title: str) -> list[str]:
    """A long title in two lines, broken before its parenthesis (a legend's title)."""
    head, sep, tail = title.partition(" (")
    return [head, f"({tail}"] if sep else [title]


def _heat_rows(detail: EventDetail, layout: TrackLayout) -> pl.DataFrame:
    t, b = layout.n_tracks, layout.n_branches
    slots = np.repeat(np.arange(t), b)
    real = np.zeros(t, dtype=bool)
    if detail.track_slots is not None:
        real[detail.track_slots] = True
    r = np.asarray(detail.residuals, dtype=np.float64)
    pos = r[np.isfinite(r) & (r > 0)]
    floor = float(pos.min()) if pos.size else 1e-12
    return pl.DataFrame(
        {
            TRACK_TITLE: slots,
            FEATURE_TITLE: np.tile(np.asarray(layout.branches), t),
            "value": [_r(float(v)) for v in detail.values],
            "residual": [_r(float(v)) for v in r],
            "shade": [_r(float(v)) for v in np.where(np.isfinite(r), np.maximum(r, floor), np.nan)],
            "track": np.where(real[slots], "track", PADDING),
        },
        schema_overrides={"value": pl.Float64, "residual": pl.Float64, "shade": pl.Float64},
    )


def residual_heatmap(
    detail: EventDetail, layout: TrackLayout, *, size: ChartSize = APP
) -> alt.Chart:
    """Squared residual per track slot (rows) and feature (columns), log colour scale;
    padding slots faded, non-finite residuals blank."""
    rows = _heat_rows(detail, layout)
    return (
        alt.Chart(rows)
        .mark_rect()
        .encode(
            x=alt.X(
                f"{FEATURE_TITLE}:N",
                sort=list(layout.branches),
                title=FEATURE_TITLE,
                axis=alt.Axis(labelAngle=-35),
            ),
            y=alt.Y(f"{TRACK_TITLE}:O", title=TRACK_TITLE),
            color=alt.Color(
                "shade:Q",
                scale=alt.Scale(type="log", scheme="viridis"),
                legend=alt.Legend(title=_lines(RESIDUAL_TITLE), format=".0e", titleLimit=320),
            ),
            opacity=alt.condition(alt.datum.track == PADDING, alt.value(0.35), alt.value(1.0)),
            tooltip=tooltips(
                f"{TRACK_TITLE}:O",
                f"{FEATURE_TITLE}:N",
                "track:N",
                "value:Q",
                "residual:Q",
            ),
        )
        .properties(
            width=size.width * 0.75,
            height=size.height,
            title=f"{detail.sample} event {detail.event}: where the residuals are",
        )
    )


ETA_PHI_BRANCHES = ("eta", "phi", "pt")
"""The branches the η-φ display needs."""
ETA_TITLE = "η"
PHI_TITLE = "φ [rad]"
PT_TITLE = "pt [GeV]"
ETA_RANGE = 2.5
"""The inner detector's |η| acceptance: the display's η axis spans at least this."""


def _eta_phi_rows(detail: EventDetail, layout: TrackLayout) -> tuple[pl.DataFrame, list[str]]:
    """The real tracks that have a place in the η-φ plane, and the names of those that have
    none (η or φ not finite), with the offending value."""
    assert detail.tracks is not None and detail.track_slots is not None
    j_eta, j_phi, j_pt = (layout.branches.index(b) for b in ETA_PHI_BRANCHES)
    tracks = np.asarray(detail.tracks, dtype=np.float64)
    eta, phi, pt = tracks[:, j_eta], tracks[:, j_phi], tracks[:, j_pt]
    placed = np.isfinite(eta) & np.isfinite(phi)
    unplaced = []
    for i in np.flatnonzero(~placed):
        bad = [f"{n} {number_text(float(v))}" for n, v in (("η", eta[i]), ("φ", phi[i]))
               if not math.isfinite(float(v))]  # fmt: skip
        unplaced.append(f"track {int(detail.track_slots[i])} ({', '.join(bad)})")
    per_track = detail.residuals_per_track
    rows = pl.DataFrame(
        {
            TRACK_TITLE: detail.track_slots[placed].astype(np.int64),
            "eta": [_r(float(v)) for v in eta[placed]],
            "phi": [_r(float(v)) for v in phi[placed]],
            "pt": [_r(float(v)) if v > 0 else None for v in pt[placed]],
            "pt as stored": [number_text(float(v)) for v in pt[placed]],
            "pt usable": [bool(math.isfinite(float(v)) and v > 0) for v in pt[placed]],
            TRACK_RESIDUAL_TITLE: [
                None if per_track is None else _r(float(per_track[s]))
                for s in detail.track_slots[placed]
            ],
        },
        schema_overrides={"eta": pl.Float64, "phi": pl.Float64, "pt": pl.Float64,
                          TRACK_RESIDUAL_TITLE: pl.Float64},
    )  # fmt: skip
    return rows, unplaced


def _span(values: pl.Series, floor: float) -> list[float]:
    """An axis domain holding ``[-floor, floor]`` and every value."""
    finite = [v for v in values.to_list() if v is not None]
    return [min([-floor, *finite]), max([floor, *finite])]


def eta_phi_chart(
    detail: EventDetail, layout: TrackLayout | None, *, size: ChartSize = APP
) -> alt.LayerChart | None:
    """The event's real tracks in the η-φ plane, coloured by pt (log scale); padding left
    out. A track whose pt is not finite (or not positive) is a red cross; one whose η or φ is
    not finite has no place in the plane and is named under the title. None without the
    ``eta``, ``phi`` and ``pt`` branches (or without tracks)."""
    if (
        layout is None
        or detail.tracks is None
        or detail.track_slots is None
        or any(b not in layout.branches for b in ETA_PHI_BRANCHES)
    ):
        return None
    rows, unplaced = _eta_phi_rows(detail, layout)
    x = alt.X(
        "eta:Q",
        title=ETA_TITLE,
        scale=alt.Scale(domain=_span(rows["eta"], ETA_RANGE), nice=True, zero=False),
    )
    y = alt.Y(
        "phi:Q",
        title=PHI_TITLE,
        scale=alt.Scale(domain=_span(rows["phi"], math.pi), nice=False, zero=False),
    )
    tips = tooltips(
        f"{TRACK_TITLE}:O",
        alt.Tooltip("eta:Q", title=ETA_TITLE),
        alt.Tooltip("phi:Q", title=PHI_TITLE),
        alt.Tooltip("pt as stored:N", title=PT_TITLE),
        f"{TRACK_RESIDUAL_TITLE}:Q",
    )
    base = alt.Chart(rows)
    usable = (
        base.transform_filter(alt.datum["pt usable"])
        .mark_circle(size=90, opacity=0.85, stroke="#333333", strokeWidth=0.5)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "pt:Q",
                title=PT_TITLE,
                scale=alt.Scale(type="log", scheme="viridis"),
                legend=alt.Legend(format=".2g"),
            ),
            tooltip=tips,
        )
    )
    unusable = (
        base.transform_filter(~alt.datum["pt usable"])
        .mark_point(shape="cross", filled=True, size=120, color=CLIP_COLOUR)
        .encode(x=x, y=y, tooltip=tips)
    )
    title: dict[str, Any] = {"text": f"{detail.sample} event {detail.event}: tracks in η-φ"}
    notes = []
    if not rows["pt usable"].all():
        notes.append("red cross: pt not finite or ≤ 0")
    if unplaced:
        more = f" and {len(unplaced) - 3} more" if len(unplaced) > 3 else ""
        notes.append(f"not placed: {', '.join(unplaced[:3])}{more}")
    if notes:
        title["subtitle"] = [f"{n[:70]}…" if len(n) > 71 else n for n in notes]
    return alt.LayerChart(
        layer=[usable, unusable],
        width=size.width * 0.75,
        height=size.height,
        title=alt.TitleParams(**title),
    )


def _clip_rules(
    clip: tuple[float, float] | None, axis: str, within: tuple[float, float] | None = None
) -> list[alt.Chart]:
    """Dashed rules at the finite clip bounds (those inside ``within``, if given)."""
    if clip is None:
        return []
    lo, hi = within or (-math.inf, math.inf)
    bounds = [b for b in clip if math.isfinite(b) and lo <= b <= hi]
    if not bounds:
        return []
    frame = pl.DataFrame({"clip": bounds, "bound": ["clip"] * len(bounds)})
    enc = {axis: alt.X("clip:Q") if axis == "x" else alt.Y("clip:Q")}
    return [
        alt.Chart(frame)
        .mark_rule(color=CLIP_COLOUR, strokeDash=[4, 3])
        .encode(**enc, tooltip=tooltips("clip:Q"))
    ]


def latent_event_chart(detail: EventDetail, *, size: ChartSize = APP) -> alt.HConcatChart:
    """The event's z_mean (bars) and z_log_var (points, symlog axis) per latent dimension,
    the clip bounds as dashed rules; points outside the clip stand out."""
    k = detail.z_mean.size
    frame = pl.DataFrame(
        {
            LATENT_DIM_TITLE: np.arange(k),
            "z_mean": [_r(float(v)) for v in detail.z_mean],
            "z_log_var": [_r(float(v)) for v in detail.z_log_var],
            "outside clip": detail.outside_clip,
        },
        schema_overrides={"z_mean": pl.Float64, "z_log_var": pl.Float64},
    )
    x = alt.X(f"{LATENT_DIM_TITLE}:O", title=LATENT_DIM_TITLE)
    mean = (
        alt.Chart(frame)
        .mark_bar(color="#0072B2")
        .encode(x=x, y=alt.Y("z_mean:Q", title=Z_MEAN_TITLE), tooltip=tooltips(x, "z_mean:Q"))
        .properties(width=size.width * 0.7, height=size.height * 0.7, title=Z_MEAN_TITLE)
    )
    points = (
        alt.Chart(frame)
        .mark_point(filled=True, size=60)
        .encode(
            x=x,
            y=alt.Y(
                "z_log_var:Q",
                title=Z_LOG_VAR_TITLE,
                scale=alt.Scale(type="symlog"),
                axis=alt.Axis(labelOverlap="greedy"),
            ),
            color=alt.condition(
                alt.datum["outside clip"], alt.value(CLIP_COLOUR), alt.value("#333333")
            ),
            tooltip=tooltips(x, "z_log_var:Q", "outside clip:N"),
        )
    )
    logvar = alt.layer(points, *_clip_rules(detail.clip, "y")).properties(
        width=size.width * 0.7,
        height=size.height * 0.7,
        title=f"{Z_LOG_VAR_TITLE} against the clip bounds",
    )
    return alt.hconcat(mean, logvar)


# -- a selection --------------------------------------------------------------------------
def selection_sentence(selection: Selection, summary: SelectionSummary | None = None) -> str:
    """What was selected and, with its summary, why these events stand apart."""
    head = (
        f"{selection.size} of {selection.n_events} {selection.sample} events with "
        f"{selection.criterion.describe()} (score {selection.settings.score}, policy "
        f"{selection.policy})"
    )
    if summary is None or not summary.sentences:
        return head + "."
    return f"{head}: {summary.text}."


def empty_selection_sentence(selection: Selection, by_cause: Mapping[str, int]) -> str:
    """Why a selection is empty, and what would not be: ``by_cause`` is the sample's count
    per cause under the same settings."""
    s = selection.settings
    clip = "none" if s.clip is None else f"[{s.clip[0]:g}, {s.clip[1]:g}]"
    where = f"under these settings (score {s.score}, clip {clip}, policy {selection.policy})"
    crit = selection.criterion
    if crit.kind == "cause":
        present = [f"{c} ({n:,})" for c, n in by_cause.items() if n and c != Cause.OK.label]
        others = (
            f"its events without a usable score: {', '.join(present)}"
            if present
            else "every one of its events has a usable score"
        )
        return f"No {selection.sample} event has cause {crit.cause} {where}; {others}."
    if crit.kind == "imputed":
        return (
            f"No {selection.sample} event has a filled raw value: the reader filled none"
            " (with fill none, such events are counted as input_nonfinite)."
        )
    if crit.kind == "range":
        return (
            f"No kept {selection.sample} event has a score in [{crit.lo:g}, {crit.hi:g}] {where}."
        )
    return f"No {selection.sample} event is kept {where}."


def page_sentence(selection: Selection, page: int, limit: int, max_shown: int) -> str:
    """Which events a page shows: ``page`` (from 1) of ``limit`` events over the first
    ``max_shown`` of the selection."""
    shown = min(selection.size, max_shown)
    first = (page - 1) * limit + 1
    last = min(page * limit, shown)
    pages = -(-shown // limit)
    head = f"Events {first}-{last} of {selection.size:,}, page {page} of {pages}"
    by_index = selection.criterion.kind in ("cause", "imputed")
    order = "by event index" if by_index else "highest score first"
    if shown < selection.size:
        return f"{head} (the first {max_shown} are paged; {order})."
    return f"{head} ({order})."


def summary_table(summary: SelectionSummary) -> pl.DataFrame:
    """Per track statistic, most different first: the distance D, the selection's side,
    its median and the rest's, the most discrepant quantile and where it falls."""
    rows = []
    median = LEVELS.index(0.5)
    for c in summary.comparisons:
        worst = None
        where = None
        if c.positions is not None and c.most_discrepant_level is not None:
            i = LEVELS.index(c.most_discrepant_level)
            worst = c.most_discrepant_level
            where = _r(float(c.positions[i]))
        rows.append(
            {
                "statistic": c.name,
                "unit": c.unit,
                "D": _r(c.distance),
                "selection is": c.direction,
                "selected median": None
                if c.selected_quantiles is None
                else _r(float(c.selected_quantiles[median])),
                "rest median": _r(c.rest_median),
                "most discrepant quantile": worst,
                "its position in the rest": where,
            }
        )
    schema = {
        "statistic": pl.String,
        "unit": pl.String,
        "D": pl.Float64,
        "selection is": pl.String,
        "selected median": pl.Float64,
        "rest median": pl.Float64,
        "most discrepant quantile": pl.Float64,
        "its position in the rest": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def with_score_brush(chart: alt.LayerChart) -> alt.LayerChart:
    """The loss distributions with a brush along the score axis (:data:`BRUSH`): the app
    reads its range as a score range to look at."""
    return chart.add_params(alt.selection_interval(name=BRUSH, encodings=["x"]))


# -- whole samples ------------------------------------------------------------------------
def latent_sentence(diag: LatentDiagnostics) -> str:
    """Active units, and how many events the clip touches in which dimensions."""
    k = diag.latent_dim
    text = (
        f"{diag.sample}: {diag.n_active} of {k} latent dimensions active (variance of z_mean "
        f"over events > {diag.active_threshold:g})"
    )
    if diag.n_nonfinite:
        text += f"; {diag.n_nonfinite} events with a non-finite encoder output left out"
    if diag.clip is not None:
        touched = diag.below_clip + diag.above_clip
        dims = [str(j) for j in np.flatnonzero(touched)]
        if dims:
            text += (
                f"; z_log_var outside the clip [{diag.clip[0]:g}, {diag.clip[1]:g}] in "
                f"dimension{'s' if len(dims) > 1 else ''} {', '.join(dims)} "
                f"({int(touched.sum())} values)"
            )
    bad = [str(j) for j in np.flatnonzero(diag.kl_nonfinite)]
    if bad:
        text += f"; KL term not finite in dimension{'s' if len(bad) > 1 else ''} {', '.join(bad)}"
    return text + "."


def latent_table(diag: LatentDiagnostics) -> pl.DataFrame:
    """:meth:`LatentDiagnostics.frame`, rounded for display."""
    frame = diag.frame()
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    return frame.with_columns(pl.col(floats).round_sig_figs(DIGITS))


def latent_chart(diag: LatentDiagnostics, *, size: ChartSize = APP) -> alt.HConcatChart:
    """KL per dimension (median and mean bars; inactive dimensions grey) and the
    z_log_var distribution of every dimension as a heat map, clip bounds as dashed rules."""
    k = diag.latent_dim
    kl = pl.DataFrame(
        {
            LATENT_DIM_TITLE: np.arange(k),
            "kl_median": [_r(float(v)) for v in diag.kl_median],
            "kl_mean": [_r(float(v)) for v in diag.kl_mean],
            "mu_var": [_r(float(v)) for v in diag.mu_var],
            "unit": np.where(diag.active, "active", "inactive"),
        },
        schema_overrides={"kl_median": pl.Float64, "kl_mean": pl.Float64, "mu_var": pl.Float64},
    )
    x = alt.X(f"{LATENT_DIM_TITLE}:O", title=LATENT_DIM_TITLE)
    bars = (
        alt.Chart(kl)
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("kl_median:Q", title=f"median {KL_DIM_TITLE}"),
            color=alt.Color(
                "unit:N",
                scale=alt.Scale(domain=list(ACTIVE_COLOURS), range=list(ACTIVE_COLOURS.values())),
                title="posterior",
            ),
            tooltip=tooltips(x, "kl_median:Q", "kl_mean:Q", "mu_var:Q", "unit:N"),
        )
        .properties(
            width=size.width * 0.7,
            height=size.height * 0.8,
            title=f"{KL_DIM_TITLE}: {diag.n_active} of {k} active",
        )
    )
    e = diag.s_edges
    heat = pl.DataFrame(
        {
            LATENT_DIM_TITLE: np.repeat(np.arange(k), e.size - 1),
            "lo": np.tile(np.round(e[:-1], 6), k),
            "hi": np.tile(np.round(e[1:], 6), k),
            "count": diag.s_counts.reshape(-1),
        }
    ).filter(pl.col("count") > 0)
    rects = (
        alt.Chart(heat)
        .mark_rect()
        .encode(
            x=alt.X("lo:Q", title=Z_LOG_VAR_TITLE, scale=alt.Scale(domain=[e[0], e[-1]])),
            x2=alt.X2("hi:Q"),
            y=alt.Y(f"{LATENT_DIM_TITLE}:O", title=LATENT_DIM_TITLE),
            color=alt.Color(
                "count:Q", scale=alt.Scale(type="log", scheme="greys"), title=EVENTS_TITLE
            ),
            tooltip=tooltips(f"{LATENT_DIM_TITLE}:O", "lo:Q", "hi:Q", "count:Q"),
        )
    )
    domain = (float(e[0]), float(e[-1]))
    beyond = [b for b in diag.clip or () if math.isfinite(b) and not domain[0] <= b <= domain[1]]
    note = f"clip bound {', '.join(f'{b:g}' for b in beyond)} beyond the axis" if beyond else ""
    dist = alt.layer(rects, *_clip_rules(diag.clip, "x", domain)).properties(
        width=size.width * 0.85,
        height=size.height * 0.8,
        title=alt.Title(f"{Z_LOG_VAR_TITLE} per dimension ({diag.sample})", subtitle=note),
    )
    return alt.hconcat(bars, dist)


def _profile_sums(p: ResidualProfile, statistic: str) -> tuple[Any, Any]:
    """Per feature and per track slot: the sums of the mean, or the medians of the sums."""
    if statistic == "median":
        return p.median_per_feature, p.median_per_track
    return p.per_feature, p.per_track


def residual_profile_table(
    profiles: Mapping[str, ResidualProfile], statistic: str = "mean"
) -> pl.DataFrame:
    """Per sample and feature: its share of the ``statistic`` ("mean" or "median")
    reconstruction error, summed over track slots, and the sample's events used."""
    rows = []
    for name, p in profiles.items():
        per_feature, _ = _profile_sums(p, statistic)
        if per_feature is None or p.layout is None:
            continue
        for b, v in zip(p.layout.branches, per_feature, strict=True):
            rows.append(
                {"sample": name, FEATURE_TITLE: b, statistic: _r(float(v)), "events": p.n_used}
            )
    schema = {
        "sample": pl.String,
        FEATURE_TITLE: pl.String,
        statistic: pl.Float64,
        "events": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def residual_profile_chart(
    profiles: Mapping[str, ResidualProfile],
    colours: Mapping[str, str],
    *,
    statistic: str = "mean",
    size: ChartSize = APP,
) -> alt.HConcatChart:
    """Squared residual per feature (summed over slots) and per track slot (summed over
    features), one line per sample on log axes: the ``statistic`` "mean" (its share of the
    mean reconstruction error: a few extreme events dominate it) or "median" (of each
    event's sums: the typical event)."""
    feats, slots = [], []
    for name, p in profiles.items():
        per_feature, per_track = _profile_sums(p, statistic)
        if p.layout is None or per_feature is None or per_track is None:
            continue
        for b, v in zip(p.layout.branches, per_feature, strict=True):
            feats.append({"sample": name, FEATURE_TITLE: b, "value": _r(float(v))})
        for t, v in enumerate(per_track):
            slots.append({"sample": name, TRACK_TITLE: t, "value": _r(float(v))})
    names = [n for n in colours if n in profiles]
    colour = alt.Color(
        "sample:N",
        scale=alt.Scale(domain=names, range=[colours[n] for n in names]),
        title="sample",
    )
    title = RESIDUAL_MEAN_TITLE if statistic == "mean" else RESIDUAL_MEDIAN_TITLE
    y = alt.Y("value:Q", title=title, scale=alt.Scale(type="log"))
    order = next((list(p.layout.branches) for p in profiles.values() if p.layout), None)
    by_feature = (
        alt.Chart(pl.DataFrame(feats))
        .mark_line(point=True, strokeWidth=size.stroke)
        .encode(
            x=alt.X(f"{FEATURE_TITLE}:N", sort=order, title=FEATURE_TITLE),
            y=y,
            color=colour,
            tooltip=tooltips("sample:N", f"{FEATURE_TITLE}:N", "value:Q"),
        )
        .properties(width=size.width * 0.8, height=size.height, title="per feature")
    )
    by_slot = (
        alt.Chart(pl.DataFrame(slots))
        .mark_line(point=True, strokeWidth=size.stroke)
        .encode(
            x=alt.X(f"{TRACK_TITLE}:Q", title=TRACK_TITLE),
            y=y,
            color=colour,
            tooltip=tooltips("sample:N", f"{TRACK_TITLE}:Q", "value:Q"),
        )
        .properties(width=size.width, height=size.height, title="per track slot")
    )
    return alt.hconcat(by_feature, by_slot)


def sculpting_table(check: SculptingCheck) -> pl.DataFrame:
    """:meth:`SculptingCheck.frame`, rounded for display."""
    frame = check.frame()
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    return frame.with_columns(pl.col(floats).round_sig_figs(DIGITS))


def sculpting_chart(
    check: SculptingCheck,
    colours: Mapping[str, str],
    *,
    score: str,
    size: ChartSize = APP,
) -> alt.VConcatChart:
    """Per variable (track multiplicity, leading-track pt): the fraction of events above the
    working point's cut (points with exact intervals, the target as a dashed line), and the
    median score with its 16-84 % band; one colour per sample."""
    frame = check.frame().with_columns(
        centre=pl.when(pl.col("variable") == "leading_pt")
        .then((pl.col("lo") * pl.col("hi")).sqrt())
        .otherwise((pl.col("lo") + pl.col("hi")) / 2)
    )
    frame = frame.filter(pl.col("n") > 0)
    names = [n for n in colours if n in set(frame["sample"].to_list())]
    colour = alt.Color(
        "sample:N",
        scale=alt.Scale(domain=names, range=[colours[n] for n in names]),
        title="sample",
    )
    rows = []
    for variable, x_title in SCULPTING_TITLES.items():
        part = frame.filter(pl.col("variable") == variable)
        x_scale = alt.Scale(type="log") if variable == "leading_pt" else alt.Scale(zero=False)
        x = alt.X("centre:Q", title=x_title, scale=x_scale)
        base = alt.Chart(part).encode(x=x, color=colour)
        target = (
            alt.Chart(pl.DataFrame({"target": [check.target_bkg_eff]}))
            .mark_rule(strokeDash=[4, 3], color="#777777")
            .encode(y=alt.Y("target:Q"))
        )
        eff = alt.layer(
            base.mark_rule().encode(y=alt.Y("eff_lower:Q"), y2=alt.Y2("eff_upper:Q")),
            base.mark_point(filled=True).encode(
                y=alt.Y(
                    "efficiency:Q",
                    title=EFFICIENCY_TITLE,
                    scale=alt.Scale(type="symlog", constant=1e-3),
                ),
                tooltip=tooltips("sample:N", "lo:Q", "hi:Q", "n:Q", "n_pass:Q", "efficiency:Q"),
            ),
            target,
        ).properties(
            width=size.width,
            height=size.height * 0.8,
            title=f"cut at ε_B = {check.target_bkg_eff:g}",
        )
        med = alt.layer(
            base.mark_area(opacity=0.15).encode(
                y=alt.Y(
                    "score_q16:Q",
                    title=SCORE_TITLES.get(score, score),
                    scale=alt.Scale(type="log"),
                    axis=alt.Axis(format="~e"),
                ),
                y2=alt.Y2("score_q84:Q"),
            ),
            base.mark_line(point=True).encode(
                y=alt.Y("score_median:Q"),
                tooltip=tooltips("sample:N", "lo:Q", "hi:Q", "score_median:Q"),
            ),
        ).properties(width=size.width, height=size.height * 0.8, title="median score, 16-84 %")
        rows.append(alt.hconcat(eff, med))
    return alt.vconcat(*rows)
