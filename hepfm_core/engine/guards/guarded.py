"""Guarded scores: the loss for the current settings, in float64, and why any event has none.

The expensive part (``exp`` over the whole ``(n, k)`` latent matrix) runs once per scoring pass
in :func:`prepare`. :func:`guard` then only recomputes the events whose ``z_log_var`` leaves the
clip bounds, so moving a clip slider costs milliseconds for millions of events (plus a fraction
of a microsecond per event the clip touches; a clip inside the bulk of z_log_var touches most).

Every event gets a :class:`Cause`. A non-OK event's score is NaN: it is explained by its cause
and never used as a number; ``policy.apply_policy`` decides whether it is dropped or ranked as
the most anomalous.

Decisions about non-finite values (all arithmetic runs under ``np.errstate(all="ignore")``);
the float64 KL and radius follow ``latent.py``, the counts of what upstream's unguarded float32
/ float16 arithmetic would have lost follow ``precision.py``:

- An overflowed KL is ``KL_OVERFLOW``, an overflowed radius (a variance underflowed to 0)
  ``RADIUS_OVERFLOW``.
- ``total = recon + beta * KL``; with ``beta == 0`` the KL is not used at all (so an overflowed
  KL does not spoil the total); a finite recon and finite ``beta * KL`` whose sum overflows is
  blamed on the larger of the two terms.
- Rows whose ``finite`` bits say a stage was finite but whose latent arrays hold NaN/inf anyway
  are treated as ``ENCODER_NONFINITE`` (the arrays win over the bits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...common.json_fields import JsonFields, json_meta, shown
from ...vocabulary import COLUMNS, Cause
from ..scoring.passes import read_only
from .latent import clipped_latent_score
from .prepared import CHUNK_ROWS, PreparedPass, prepare
from .settings import GuardSettings

__all__ = [
    "CHUNK_ROWS",
    "GuardCounts",
    "GuardSettings",
    "GuardedScores",
    "PreparedPass",
    "guard",
    "outside_clip",
    "prepare",
]


# -- guard --------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuardCounts(JsonFields):
    """Event counts of one guarded score.

    ``by_cause``: every cause label, zeros included. ``outside_clip``: events with finite
    encoder output and some z_log_var outside the clip bounds (0 without a clip).
    ``unguarded_nonfinite_f32`` / ``_f16``: events whose score, computed as upstream did (no
    clip) in that precision, would have been NaN or inf, i.e. what the guard saved (for the
    total, ``recon + beta * KL`` at this beta, the sum's own overflow included).
    A field shown in a column (``shown``) is a column of the counts table, of the terminal's
    summary and of the report, after the causes; every field is in the sample's JSON.
    """

    total: int
    by_cause: dict[str, int] = field(metadata=json_meta(key="causes"))
    outside_clip: int = field(metadata=shown(COLUMNS["outside_clip"]))
    unguarded_nonfinite_f32: int = field(metadata=shown(COLUMNS["nonfinite_unguarded_float32"]))
    unguarded_nonfinite_f16: int = field(metadata=shown(COLUMNS["nonfinite_unguarded_float16"]))

    @property
    def ok(self) -> int:
        return self.by_cause[Cause.OK.label]


@dataclass(frozen=True, eq=False)
class GuardedScores:
    """Scores for one setting: float64 ``scores`` (NaN where not OK), uint8 ``causes``."""

    scores: np.ndarray
    causes: np.ndarray
    settings: GuardSettings
    counts: GuardCounts


def _float32_bounds(lo: float, hi: float) -> tuple[np.float32, np.float32]:
    """float32 bounds that classify float32 values exactly as the float64 ``lo``, ``hi`` do.

    For a float32 ``x``: ``x < lo`` iff ``x < c`` with ``c`` the smallest float32 >= lo, and
    ``x > hi`` iff ``x > f`` with ``f`` the largest float32 <= hi.
    """
    c = np.float32(lo)
    if float(c) < lo:
        c = np.nextafter(c, np.float32(np.inf))
    f = np.float32(hi)
    if float(f) > hi:
        f = np.nextafter(f, np.float32(-np.inf))
    return c, f


def outside_clip(prepared: PreparedPass, clip: tuple[float, float] | None) -> np.ndarray:
    """The events (ascending) whose z_log_var leaves ``clip``: the only ones whose guarded
    scores (and causes) differ from those without a clip (none without one)."""
    if clip is None:
        return np.empty(0, dtype=np.intp)
    c, f = _float32_bounds(*clip)
    outside = prepared.s_min < c
    outside |= prepared.s_max > f
    return np.flatnonzero(outside)


def _patched_at(
    events: np.ndarray, base: np.ndarray, rows: np.ndarray, row_values: np.ndarray
) -> np.ndarray:
    """``base[events]`` with the recomputed ``row_values`` where an event is in ``rows``."""
    out = base[events].copy()
    if rows.size:
        pos = np.minimum(np.searchsorted(rows, events), rows.size - 1)
        hit = rows[pos] == events
        out[hit] = row_values[pos[hit]]
    return out


def guard(prepared: PreparedPass, settings: GuardSettings) -> GuardedScores:
    """Scores and causes for ``settings``; recomputes only events the clip touches.

    Every event gets a :class:`Cause`; a non-OK event's score is NaN (the cause explains it,
    ``policy.apply_policy`` decides what a metric sees). Costs milliseconds for millions of
    events plus the events whose z_log_var leaves the clip bounds.

    Parameters
    ----------
    prepared : PreparedPass
        From :func:`prepare`, with the settings' parameterisation (and KL form).
    settings : GuardSettings
        Clip bounds on z_log_var, score (reconstruction, kl, total = reconstruction +
        beta * KL, radius = sum mu^2 / sigma^2) and beta.

    Returns
    -------
    GuardedScores
        float64 ``scores`` (NaN where not OK), uint8 ``causes`` and their ``counts``.

    Examples
    --------
    The four events of :func:`prepare`'s example: without a clip, float64 scores three of
    them (upstream's float32 only two) and names the fourth's overflow; clipping z_log_var to
    +-20 touches two and scores all four:

    >>> import numpy as np
    >>> from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
    >>> from hepfm_core.engine.scoring.passes import ScoringPass
    >>> from hepfm_core.vocabulary import Cause
    >>> s = np.array([[0.0], [20.0], [100.0], [800.0]], dtype=np.float32)
    >>> ok = np.full(4, 7, dtype=np.uint8)
    >>> prepared = prepare(ScoringPass(np.ones((4, 1), np.float32), s, np.ones(4), np.ones(4), ok))
    >>> kl = guard(prepared, GuardSettings(score="kl"))
    >>> print([f"{v:.3g}" for v in kl.scores], [Cause(c).label for c in kl.causes])
    ['0.5', '2.43e+08', '1.34e+43', 'nan'] ['ok', 'ok', 'ok', 'kl_overflow']
    >>> kl.counts.unguarded_nonfinite_f32, kl.counts.unguarded_nonfinite_f16
    (2, 3)
    >>> clipped = guard(prepared, GuardSettings(score="kl", clip=(-20.0, 20.0)))
    >>> print([f"{v:.3g}" for v in clipped.scores], clipped.counts.outside_clip)
    ['0.5', '2.43e+08', '2.43e+08', '2.43e+08'] 2
    """
    if settings.parameterisation != prepared.parameterisation or (
        settings.parameterisation == "softplus" and settings.kl_form != prepared.kl_form
    ):
        raise ValueError(
            f"settings ask for {settings.parameterisation}/{settings.kl_form} but the pass was "
            f"prepared for {prepared.parameterisation}/{prepared.kl_form}: prepare() it again"
        )
    pass_ = prepared.pass_
    score = settings.score
    beta = settings.beta

    with np.errstate(all="ignore"):
        lo, hi = (-math.inf, math.inf) if settings.clip is None else settings.clip
        rows = outside_clip(prepared, settings.clip)

        uses_kl = score == "kl" or (score == "total" and beta != 0)
        sub_kl = sub_radius = np.empty(0)
        if rows.size and (uses_kl or score == "radius"):
            fresh = clipped_latent_score(
                pass_,
                rows,
                (lo, hi),
                "radius" if score == "radius" else "kl",
                prepared.parameterisation,
                prepared.kl_form,
            )
            if score == "radius":
                sub_radius = fresh
            else:
                sub_kl = fresh
        recon = pass_.recon
        if score == "reconstruction" or (score == "total" and beta == 0):
            values = np.array(recon, dtype=np.float64)
        elif score == "kl":
            values = prepared.kl.copy()
            values[rows] = sub_kl
        elif score == "radius":
            values = prepared.radius.copy()
            values[rows] = sub_radius
        else:
            values = prepared.kl * beta
            values += recon
            values[rows] = np.asarray(recon[rows], dtype=np.float64) + beta * sub_kl

        uses_recon = score in ("reconstruction", "total")
        base = prepared.recon_cause if uses_recon else prepared.latent_cause
        stage_bad = prepared.recon_bad if uses_recon else prepared.latent_bad
        causes = base.copy()
        nonfinite = np.flatnonzero(~np.isfinite(values))
        overflow = nonfinite[base[nonfinite] == Cause.OK]
        if score == "reconstruction":
            why = np.full(overflow.size, Cause.RECONSTRUCTION_OVERFLOW, dtype=np.uint8)
        elif score == "kl":
            why = np.full(overflow.size, Cause.KL_OVERFLOW, dtype=np.uint8)
        elif score == "radius":
            why = np.full(overflow.size, Cause.RADIUS_OVERFLOW, dtype=np.uint8)
        else:
            why = _total_causes(overflow, recon, prepared.kl, rows, sub_kl, beta, uses_kl)
        causes[overflow] = why
        values[stage_bad] = np.nan
        values[overflow] = np.nan

        by_cause = dict(prepared.recon_counts if uses_recon else prepared.latent_counts)
        for cause, count in zip(*np.unique(why, return_counts=True), strict=True):
            by_cause[Cause(int(cause)).label] += int(count)
        by_cause[Cause.OK.label] -= int(overflow.size)

    unguarded_f32, unguarded_f16 = prepared.unguarded_nonfinite(score, beta)
    counts = GuardCounts(
        total=prepared.n_events,
        by_cause=by_cause,
        outside_clip=int(rows.size),
        unguarded_nonfinite_f32=unguarded_f32,
        unguarded_nonfinite_f16=unguarded_f16,
    )
    return GuardedScores(
        scores=read_only(values), causes=read_only(causes), settings=settings, counts=counts
    )


def _total_causes(
    events: np.ndarray,
    recon: np.ndarray,
    kl: np.ndarray,
    rows: np.ndarray,
    sub_kl: np.ndarray,
    beta: float,
    uses_kl: bool,
) -> np.ndarray:
    """Causes of non-finite totals: the KL (encoder side) first, then the reconstruction."""
    r = np.asarray(recon[events], dtype=np.float64)
    if not uses_kl:
        return np.full(events.size, Cause.RECONSTRUCTION_OVERFLOW, dtype=np.uint8)
    bk = beta * _patched_at(events, kl, rows, sub_kl)
    kl_first = ~np.isfinite(bk) | (np.isfinite(r) & (np.abs(bk) >= np.abs(r)))
    return np.where(kl_first, Cause.KL_OVERFLOW, Cause.RECONSTRUCTION_OVERFLOW).astype(np.uint8)
