"""The investigation view's tables: one event's tracks, a page of events, a selection's
summary, and the whole-sample diagnostics'."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from ...engine.investigate.detail import EventDetail
from ...engine.investigate.diagnostics import LatentDiagnostics
from ...engine.investigate.events import TrackLayout
from ...engine.investigate.explain import LEVELS, SelectionSummary
from ...engine.investigate.residuals import ResidualProfile
from ...engine.investigate.sculpting import SculptingCheck
from ...vocabulary import COLUMNS
from ..charts import DIGITS
from .titles import FEATURE_TITLE, FILLED_TITLE, RESIDUAL_TITLE, TRACK_RESIDUAL_TITLE, TRACK_TITLE
from .values import _keep, _r, _with_unit

__all__ = [
    "event_table",
    "latent_table",
    "residual_profile_table",
    "sculpting_table",
    "summary_table",
    "track_table",
]


def _schema(*columns: tuple[str, Any]) -> dict[str, Any]:
    return {COLUMNS[key].title: dtype for key, dtype in columns}


_EVENT_SCHEMA = _schema(
    ("event", pl.Int64),
    ("cause", pl.String),
    ("score", pl.Float64),
    ("reconstruction", pl.Float64),
    ("tracks", pl.Int64),
    ("largest_residual", pl.String),
    ("largest_share", pl.Float64),
    ("max_z_log_var", pl.Float64),
)
"""A page of events: each column's title and type."""
_SUMMARY_SCHEMA = _schema(
    ("statistic", pl.String),
    ("unit", pl.String),
    ("distance", pl.Float64),
    ("direction", pl.String),
    ("selected_median", pl.Float64),
    ("rest_median", pl.Float64),
    ("discrepant_level", pl.Float64),
    ("discrepant_position", pl.Float64),
)
"""A selection's statistics against the rest's: each column's title and type."""
_SAMPLE, _EVENTS = COLUMNS["sample"].title, COLUMNS["events"].title


def track_table(detail: EventDetail, layout: TrackLayout | None) -> pl.DataFrame:
    """The event's real tracks, one row each: slot, every branch (with its unit), and the
    track's summed squared residual; for an event with filled raw values, which of its
    branches the reader filled (:data:`FILLED_TITLE`, second). Without a layout, one row per
    input."""
    filled = detail.filled
    if layout is None or detail.tracks is None or detail.track_slots is None:
        value = COLUMNS["value"].title
        flat: dict[str, Any] = {
            COLUMNS["input"].title: np.arange(detail.values.size),
            value: [_keep(float(v)) for v in detail.values],
            RESIDUAL_TITLE: [_keep(float(v)) for v in detail.residuals],
        }
        if filled is not None:
            flat[FILLED_TITLE] = ["yes" if f else "" for f in filled]
        return pl.DataFrame(flat, schema_overrides={value: pl.Float64, RESIDUAL_TITLE: pl.Float64})
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


def event_table(details: Sequence[EventDetail], layout: TrackLayout | None) -> pl.DataFrame:
    """A page of events, one row each: event, cause, score, reconstruction error, tracks,
    the input with the largest residual and its share, the largest z_log_var."""
    rows = []
    for d in details:
        largest = _largest(d, layout)
        with np.errstate(all="ignore"):
            s_max = float(np.max(d.z_log_var)) if d.z_log_var.size else math.nan
        values = (
            d.event,
            d.cause,
            _r(d.score),
            _keep(d.reconstruction),
            None if d.tracks is None else len(d.tracks),
            None if largest is None else largest[0],
            None if largest is None else _r(largest[1]),
            _keep(s_max),
        )
        rows.append(dict(zip(_EVENT_SCHEMA, values, strict=True)))
    return pl.DataFrame(rows, schema=_EVENT_SCHEMA)


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
        selected = c.selected_quantiles
        values = (
            c.name,
            c.unit,
            _r(c.distance),
            c.direction,
            None if selected is None else _r(float(selected[median])),
            _r(c.rest_median),
            worst,
            where,
        )
        rows.append(dict(zip(_SUMMARY_SCHEMA, values, strict=True)))
    return pl.DataFrame(rows, schema=_SUMMARY_SCHEMA)


def latent_table(diag: LatentDiagnostics) -> pl.DataFrame:
    """:meth:`LatentDiagnostics.frame`, rounded for display."""
    frame = diag.frame()
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    return frame.with_columns(pl.col(floats).round_sig_figs(DIGITS))


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
                {_SAMPLE: name, FEATURE_TITLE: b, statistic: _r(float(v)), _EVENTS: p.n_used}
            )
    schema = {
        _SAMPLE: pl.String,
        FEATURE_TITLE: pl.String,
        statistic: pl.Float64,
        _EVENTS: pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def sculpting_table(check: SculptingCheck) -> pl.DataFrame:
    """:meth:`SculptingCheck.frame`, rounded for display."""
    frame = check.frame()
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    return frame.with_columns(pl.col(floats).round_sig_figs(DIGITS))
