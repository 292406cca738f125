"""The investigation view's charts: one event (residual heat map, eta-phi display, latent
values against the clip), and the whole-sample diagnostics (latent space, residual profile,
sculpting check). Conventions of ``views.charts``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import polars as pl

from ...engine.investigate.detail import EventDetail
from ...engine.investigate.diagnostics import LatentDiagnostics
from ...engine.investigate.events import TrackLayout
from ...engine.investigate.residuals import ResidualProfile
from ...engine.investigate.sculpting import SculptingCheck
from ...vocabulary import COLUMNS, SCORE_TITLES
from ..channels import tooltips
from ..charts import APP, ChartSize
from .tables import _profile_sums
from .titles import (
    ACTIVE_COLOURS,
    BRUSH,
    CLIP_COLOUR,
    EFFICIENCY_TITLE,
    ETA_PHI_BRANCHES,
    ETA_RANGE,
    ETA_TITLE,
    EVENTS_TITLE,
    FEATURE_TITLE,
    KL_DIM_TITLE,
    LATENT_DIM_TITLE,
    PADDING,
    PHI_TITLE,
    PT_TITLE,
    RESIDUAL_MEAN_TITLE,
    RESIDUAL_MEDIAN_TITLE,
    RESIDUAL_TITLE,
    SCULPTING_TITLES,
    TRACK_RESIDUAL_TITLE,
    TRACK_TITLE,
    Z_LOG_VAR_TITLE,
    Z_MEAN_TITLE,
)
from .values import _lines, _r, number_text

__all__ = [
    "EtaPhiParts",
    "eta_phi_chart",
    "eta_phi_of",
    "eta_phi_parts",
    "heat_rows",
    "heatmap_of",
    "heatmap_title",
    "latent_chart",
    "latent_event_chart",
    "latent_event_of",
    "latent_event_rows",
    "residual_heatmap",
    "residual_profile_chart",
    "sculpting_chart",
    "with_score_brush",
]


def heat_rows(detail: EventDetail, layout: TrackLayout) -> pl.DataFrame:
    """:func:`residual_heatmap`'s rows: one per track slot and feature, its value, squared
    residual and colour shade (non-positive residuals at the smallest positive one), and
    whether the slot holds a track or padding."""
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
    return heatmap_of(heat_rows(detail, layout), layout.branches, heatmap_title(detail), size)


def heatmap_title(detail: EventDetail) -> str:
    """The residual heat map's title: whose event it is."""
    return f"{detail.sample} event {detail.event}: where the residuals are"


def heatmap_of(
    rows: pl.DataFrame, branches: Sequence[str], title: str, size: ChartSize = APP
) -> alt.Chart:
    """:func:`residual_heatmap` of its rows (``heat_rows``), the layout's branches and its
    title: the event enters through these only (``event_specs`` keeps the rest per shape)."""
    return (
        alt.Chart(rows)
        .mark_rect()
        .encode(
            x=alt.X(
                f"{FEATURE_TITLE}:N",
                sort=list(branches),
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
        .properties(width=size.width * 0.75, height=size.height, title=title)
    )


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


@dataclass(frozen=True)
class EtaPhiParts:
    """What :func:`eta_phi_chart` draws of one event: its placed tracks' rows, the axes'
    domains, the title and the notes under it (none: no subtitle)."""

    rows: pl.DataFrame
    eta_domain: list[float]
    phi_domain: list[float]
    title: str
    notes: list[str]


def eta_phi_parts(detail: EventDetail, layout: TrackLayout | None) -> EtaPhiParts | None:
    """The parts of :func:`eta_phi_chart` for ``detail``; None where it draws nothing."""
    if (
        layout is None
        or detail.tracks is None
        or detail.track_slots is None
        or any(b not in layout.branches for b in ETA_PHI_BRANCHES)
    ):
        return None
    rows, unplaced = _eta_phi_rows(detail, layout)
    notes = []
    if not rows["pt usable"].all():
        notes.append("red cross: pt not finite or ≤ 0")
    if unplaced:
        more = f" and {len(unplaced) - 3} more" if len(unplaced) > 3 else ""
        notes.append(f"not placed: {', '.join(unplaced[:3])}{more}")
    return EtaPhiParts(
        rows=rows,
        eta_domain=_span(rows["eta"], ETA_RANGE),
        phi_domain=_span(rows["phi"], math.pi),
        title=f"{detail.sample} event {detail.event}: tracks in η-φ",
        notes=[f"{n[:70]}…" if len(n) > 71 else n for n in notes],
    )


def eta_phi_chart(
    detail: EventDetail, layout: TrackLayout | None, *, size: ChartSize = APP
) -> alt.LayerChart | None:
    """The event's real tracks in the η-φ plane, coloured by pt (log scale); padding left
    out. A track whose pt is not finite (or not positive) is a red cross; one whose η or φ is
    not finite has no place in the plane and is named under the title. None without the
    ``eta``, ``phi`` and ``pt`` branches (or without tracks)."""
    parts = eta_phi_parts(detail, layout)
    if parts is None:
        return None
    return eta_phi_of(
        parts.rows, parts.eta_domain, parts.phi_domain, parts.title, parts.notes or None, size
    )


def eta_phi_of(
    rows: pl.DataFrame,
    eta_domain: Any,
    phi_domain: Any,
    title: str,
    notes: Any = None,
    size: ChartSize = APP,
) -> alt.LayerChart:
    """:func:`eta_phi_chart` of its parts (:class:`EtaPhiParts`; ``notes`` None: no
    subtitle): the event enters through these only (``event_specs`` keeps the rest)."""
    x = alt.X(
        "eta:Q",
        title=ETA_TITLE,
        scale=alt.Scale(domain=eta_domain, nice=True, zero=False),
    )
    y = alt.Y(
        "phi:Q",
        title=PHI_TITLE,
        scale=alt.Scale(domain=phi_domain, nice=False, zero=False),
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
    heading: dict[str, Any] = {"text": title}
    if notes is not None:
        heading["subtitle"] = notes
    return alt.LayerChart(
        layer=[usable, unusable],
        width=size.width * 0.75,
        height=size.height,
        title=alt.TitleParams(**heading),
    )


def _clip_frame(
    clip: tuple[float, float] | None, within: tuple[float, float] | None = None
) -> pl.DataFrame | None:
    """The finite clip bounds (those inside ``within``, if given) as rows; None if none."""
    if clip is None:
        return None
    lo, hi = within or (-math.inf, math.inf)
    bounds = [b for b in clip if math.isfinite(b) and lo <= b <= hi]
    if not bounds:
        return None
    return pl.DataFrame({"clip": bounds, "bound": ["clip"] * len(bounds)})


def _rules_of(frame: pl.DataFrame | None, axis: str) -> list[alt.Chart]:
    """Dashed rules at the bounds of ``frame`` (:func:`_clip_frame`); none without one."""
    if frame is None:
        return []
    enc = {axis: alt.X("clip:Q") if axis == "x" else alt.Y("clip:Q")}
    return [
        alt.Chart(frame)
        .mark_rule(color=CLIP_COLOUR, strokeDash=[4, 3])
        .encode(**enc, tooltip=tooltips("clip:Q"))
    ]


def _clip_rules(
    clip: tuple[float, float] | None, axis: str, within: tuple[float, float] | None = None
) -> list[alt.Chart]:
    """Dashed rules at the finite clip bounds (those inside ``within``, if given)."""
    return _rules_of(_clip_frame(clip, within), axis)


_OUTSIDE = COLUMNS["outside_clip"].title
"""Whether a latent dimension's z_log_var lies outside the clip (the counts' column's words)."""


def latent_event_rows(detail: EventDetail) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """What :func:`latent_event_chart` draws of one event: its latent values per dimension,
    and its clip's finite bounds (None: no rules)."""
    k = detail.z_mean.size
    frame = pl.DataFrame(
        {
            LATENT_DIM_TITLE: np.arange(k),
            "z_mean": [_r(float(v)) for v in detail.z_mean],
            "z_log_var": [_r(float(v)) for v in detail.z_log_var],
            _OUTSIDE: detail.outside_clip,
        },
        schema_overrides={"z_mean": pl.Float64, "z_log_var": pl.Float64},
    )
    return frame, _clip_frame(detail.clip)


def latent_event_chart(detail: EventDetail, *, size: ChartSize = APP) -> alt.HConcatChart:
    """The event's z_mean (bars) and z_log_var (points, symlog axis) per latent dimension,
    the clip bounds as dashed rules; points outside the clip stand out."""
    return latent_event_of(*latent_event_rows(detail), size)


def latent_event_of(
    frame: pl.DataFrame, rules: pl.DataFrame | None, size: ChartSize = APP
) -> alt.HConcatChart:
    """:func:`latent_event_chart` of its rows (:func:`latent_event_rows`): the event enters
    through these only (``event_specs`` keeps the rest per shape)."""
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
            color=alt.condition(alt.datum[_OUTSIDE], alt.value(CLIP_COLOUR), alt.value("#333333")),
            tooltip=tooltips(x, "z_log_var:Q", f"{_OUTSIDE}:N"),
        )
    )
    logvar = alt.layer(points, *_rules_of(rules, "y")).properties(
        width=size.width * 0.7,
        height=size.height * 0.7,
        title=f"{Z_LOG_VAR_TITLE} against the clip bounds",
    )
    return alt.hconcat(mean, logvar)


def with_score_brush(chart: alt.LayerChart) -> alt.LayerChart:
    """The loss distributions with a brush along the score axis (:data:`BRUSH`): the app
    reads its range as a score range to look at."""
    return chart.add_params(alt.selection_interval(name=BRUSH, encodings=["x"]))


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
