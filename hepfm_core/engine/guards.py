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
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..errors import SettingsError
from ..vocabulary import (
    KL_FORMS,
    PARAMETERISATIONS,
    SCORES,
    Cause,
    KLForm,
    Parameterisation,
    Score,
)
from .latent import clipped_latent_score, kl_from, radius_from, variance
from .passes import (
    DECODER_FINITE,
    ENCODER_FINITE,
    INPUT_FINITE,
    RECON_F16_OVERFLOW,
    RECON_F32_OVERFLOW,
    ScoringPass,
    read_only,
)
from .precision import F16, F32, lowp_nonfinite, sum_overflows

__all__ = [
    "CHUNK_ROWS",
    "GuardCounts",
    "GuardSettings",
    "GuardedScores",
    "PreparedPass",
    "guard",
    "prepare",
]

CHUNK_ROWS = 16384
"""Rows :func:`prepare` processes at a time (bounds memory)."""


# -- settings -----------------------------------------------------------------------------
def _bad_setting(what: str, field_name: str, todo: str) -> SettingsError:
    return SettingsError(what, where=f"guard settings: {field_name}", todo=todo)


@dataclass(frozen=True)
class GuardSettings:
    """What to compute: clip bounds on z_log_var, which score, beta, variance form.

    ``clip``: ``(lo, hi)`` applied to z_log_var before any use, or None for no clip; an
    infinite bound means no clip on that side. ``kl_form`` only matters for ``softplus``:
    ``"true"`` is the Gaussian KL with variance ``v``, ``"upstream"`` upstream's formula with
    ``s`` in place of ``log v`` (it can go negative).
    """

    clip: tuple[float, float] | None = None
    score: Score = "reconstruction"
    beta: float = 1.0
    parameterisation: Parameterisation = "exp"
    kl_form: KLForm = "true"

    def __post_init__(self) -> None:
        if self.clip is not None:
            object.__setattr__(self, "clip", _validated_clip(self.clip))
        if self.score not in SCORES:
            raise _bad_setting(
                f"unknown score {self.score!r}", "score", f"use one of {', '.join(SCORES)}"
            )
        if self.parameterisation not in PARAMETERISATIONS:
            raise _bad_setting(
                f"unknown variance parameterisation {self.parameterisation!r}",
                "parameterisation",
                f"use one of {', '.join(PARAMETERISATIONS)}",
            )
        if self.kl_form not in KL_FORMS:
            raise _bad_setting(
                f"unknown KL form {self.kl_form!r}", "kl_form", f"use one of {', '.join(KL_FORMS)}"
            )
        try:
            beta = float(self.beta)
        except (TypeError, ValueError):
            raise _bad_setting(
                f"beta must be a number, got {self.beta!r}", "beta", "give a number >= 0"
            ) from None
        if not math.isfinite(beta) or beta < 0:
            raise _bad_setting(
                f"beta must be finite and >= 0, got {beta!r}", "beta", "give a number >= 0"
            )
        object.__setattr__(self, "beta", beta)


def _validated_clip(clip: object) -> tuple[float, float]:
    todo = "give (lo, hi) with lo <= hi, or no clip; use -inf / inf for an open side"
    try:
        if not isinstance(clip, Iterable):
            raise TypeError
        lo, hi = (float(b) for b in clip)
    except (TypeError, ValueError):
        raise _bad_setting(f"clip bounds must be two numbers, got {clip!r}", "clip", todo) from None
    if math.isnan(lo) or math.isnan(hi):
        raise _bad_setting(f"clip bound is NaN: ({lo}, {hi})", "clip", todo)
    if lo > hi:
        raise _bad_setting(f"clip bounds are inverted: lo={lo} > hi={hi}", "clip", todo)
    if lo == math.inf or hi == -math.inf:
        raise _bad_setting(f"clip bounds ({lo}, {hi}) would clip every value to inf", "clip", todo)
    return (lo, hi)


# -- prepare ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PreparedPass:
    """Per-event quantities of one scoring pass that do not depend on the clip.

    ``kl`` / ``radius``: unclipped float64 values (garbage where the encoder was not finite).
    ``s_min`` / ``s_max``: float32 extremes of z_log_var over latent dims; ``+inf`` / ``-inf``
    where the encoder output is not finite, so such rows never count as outside a clip.
    ``latent_cause`` / ``recon_cause``: the stage cause (input, encoder[, decoder]) for scores
    built from the latent only or from the reconstruction.
    ``unguarded_f32`` / ``unguarded_f16``: per score, how many events upstream's unclipped
    computation in that precision would have left NaN or inf; for ``"total"`` only those
    whose reconstruction or KL already is (:meth:`unguarded_nonfinite` adds the events whose
    sum ``recon + beta * KL`` overflows, which depends on beta). ``total_bad_f32`` /
    ``total_bad_f16``: those events' indices. ``kl_mag``: float32, half the KL screen bound
    (1/2 sum_j (1 + abs(log v) + mu^2 + v), at least max abs(s) / 2), above abs(KL) in either
    precision up to rounding, to screen the sum.
    """

    pass_: ScoringPass
    parameterisation: Parameterisation
    kl_form: KLForm
    kl: np.ndarray
    radius: np.ndarray
    s_min: np.ndarray
    s_max: np.ndarray
    latent_cause: np.ndarray
    recon_cause: np.ndarray
    latent_bad: np.ndarray
    recon_bad: np.ndarray
    latent_counts: dict[str, int]
    recon_counts: dict[str, int]
    unguarded_f32: dict[str, int]
    unguarded_f16: dict[str, int]
    kl_mag: np.ndarray
    total_bad_f32: np.ndarray
    total_bad_f16: np.ndarray
    _total_memo: dict[tuple[str, float], int] = field(default_factory=dict, repr=False)

    @property
    def n_events(self) -> int:
        return int(self.kl.shape[0])

    def unguarded_nonfinite(self, score: Score, beta: float) -> tuple[int, int]:
        """(float32, float16) counts of events upstream's unclipped ``score`` would have lost.

        For the total, ``recon + beta * KL`` is evaluated in that precision (memoised per beta:
        a clip change does not repeat it).
        """
        if score != "total":
            return self.unguarded_f32[score], self.unguarded_f16[score]
        counts = []
        for rng, bad in ((F32, self.total_bad_f32), (F16, self.total_bad_f16)):
            key = (rng.dtype.__name__, float(beta))
            if key not in self._total_memo:
                self._total_memo[key] = bad.size + sum_overflows(
                    self.pass_,
                    self.kl_mag,
                    bad,
                    rng,
                    float(beta),
                    self.parameterisation,
                    self.kl_form,
                )
            counts.append(self._total_memo[key])
        return counts[0], counts[1]


def _check_pass(pass_: ScoringPass) -> tuple[int, int]:
    zm, zs = pass_.z_mean, pass_.z_log_var
    if zm.ndim != 2 or zs.shape != zm.shape:
        raise ValueError(
            f"z_mean {zm.shape} and z_log_var {zs.shape} must be (n, k) arrays of one shape"
        )
    n, k = zm.shape
    if k == 0:
        raise ValueError("latent dimension is 0: no KL or radius can be computed")
    for name in ("sum_mu2", "recon", "finite"):
        shape = getattr(pass_, name).shape
        if shape != (n,):
            raise ValueError(f"ScoringPass.{name} has shape {shape}, expected ({n},)")
    return n, k


def _stage_counts(cause: np.ndarray) -> dict[str, int]:
    counts = np.bincount(cause, minlength=len(Cause))
    return {c.label: int(counts[c]) for c in Cause}


def prepare(
    pass_: ScoringPass, parameterisation: Parameterisation = "exp", kl_form: KLForm = "true"
) -> PreparedPass:
    """Precompute the clip-independent per-event quantities of a pass (seconds, once).

    The expensive part of every guarded score: ``exp`` over the whole ``(n, k)`` latent
    matrix, the float64 KL and radius, each event's stage cause, and how many events
    upstream's unguarded float32 / float16 arithmetic would have lost. Reads the pass in row
    chunks and never writes to it (its arrays may be read-only memmaps).

    Parameters
    ----------
    pass_ : ScoringPass
        What the model said about every event of one sample.
    parameterisation : {"exp", "softplus"}
        How the model turns ``s = z_log_var`` into a variance: ``exp(s)`` or
        ``softplus(s) + 1e-6``.
    kl_form : {"true", "upstream"}
        For ``softplus`` only: the Gaussian KL with ``log v``, or upstream's with ``s``.

    Returns
    -------
    PreparedPass
        Input of :func:`guard`, for any clip, score and beta.

    Examples
    --------
    Four events with ``z_mean = 1``: KL = 1/2 (exp(s) - 1 - s + 1). At s = 100, exp(s)
    overflows float32 (not float64); at s = 20 it already overflows float16; at s = 800 the
    KL exceeds even float64:

    >>> import numpy as np
    >>> from hepfm_core.engine.guards import prepare
    >>> from hepfm_core.engine.passes import ScoringPass
    >>> s = np.array([[0.0], [20.0], [100.0], [800.0]], dtype=np.float32)
    >>> pass_ = ScoringPass(
    ...     z_mean=np.ones((4, 1), dtype=np.float32),
    ...     z_log_var=s,
    ...     sum_mu2=np.ones(4),
    ...     recon=np.array([1.0, 2.0, 3.0, 4.0]),
    ...     finite=np.full(4, 7, dtype=np.uint8),  # input, encoder and decoder finite
    ... )
    >>> prepared = prepare(pass_)
    >>> prepared.unguarded_f32["kl"], prepared.unguarded_f16["kl"]
    (2, 3)
    >>> prepared.latent_counts["ok"]  # no stage failed: the encoder's output is finite
    4
    """
    # Reuse the settings validation for the two choices prepare depends on.
    GuardSettings(parameterisation=parameterisation, kl_form=kl_form)
    n, _ = _check_pass(pass_)
    kl = np.empty(n)
    radius = np.empty(n)
    kl_mag = np.empty(n, dtype=np.float32)
    s_min = np.empty(n, dtype=np.float32)
    s_max = np.empty(n, dtype=np.float32)
    latent_cause = np.zeros(n, dtype=np.uint8)
    recon_cause = np.zeros(n, dtype=np.uint8)
    kl_f32 = np.zeros(n, dtype=bool)
    kl_f16 = np.zeros(n, dtype=bool)
    rad_f32 = np.zeros(n, dtype=bool)
    rad_f16 = np.zeros(n, dtype=bool)

    with np.errstate(all="ignore"):
        for start in range(0, n, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, n)
            sl = slice(start, stop)
            bits = np.asarray(pass_.finite[sl])
            mu = np.asarray(pass_.z_mean[sl], dtype=np.float64)
            s = np.asarray(pass_.z_log_var[sl], dtype=np.float64)

            enc_ok = ((bits & ENCODER_FINITE) != 0) & np.isfinite(mu).all(axis=1)
            enc_ok &= np.isfinite(s).all(axis=1)
            cause = np.where(enc_ok, Cause.OK, Cause.ENCODER_NONFINITE).astype(np.uint8)
            cause[(bits & INPUT_FINITE) == 0] = Cause.INPUT_NONFINITE
            latent_cause[sl] = cause
            dec_bad = (cause == Cause.OK) & ((bits & DECODER_FINITE) == 0)
            cause[dec_bad] = Cause.DECODER_NONFINITE
            recon_cause[sl] = cause

            s32 = np.asarray(pass_.z_log_var[sl])
            s_min[sl] = np.where(enc_ok, s32.min(axis=1), np.inf)
            s_max[sl] = np.where(enc_ok, s32.max(axis=1), -np.inf)

            mu2 = mu * mu
            v, log_v = variance(s, parameterisation, kl_form)
            exp_s = s if parameterisation == "exp" else None
            kl[sl] = kl_from(np.asarray(pass_.sum_mu2[sl], dtype=np.float64), v, log_v, exp_s)
            radius[sl] = radius_from(mu, mu2, v)

            # Screens: a row whose float64 magnitudes bound every low-precision intermediate
            # well below the dtype's overflow (and, for the radius, no variance near
            # underflow) cannot go non-finite there; only the other rows are evaluated in the
            # dtype. The factor 1/2 absorbs every rounding on the way (inputs rounded to the
            # dtype, exp of a rounded s, k partial sums, subnormal variances) with room.
            kl_bound = (1.0 + np.abs(log_v) + mu2 + v).sum(axis=1)
            np.maximum(kl_bound, np.abs(s).max(axis=1), out=kl_bound)
            kl_mag[sl] = 0.5 * kl_bound
            rad_bound = (mu2 / v).sum(axis=1)
            np.maximum(rad_bound, np.maximum(mu2, v).max(axis=1), out=rad_bound)
            np.maximum(rad_bound, np.abs(s).max(axis=1), out=rad_bound)
            v_min = v.min(axis=1)
            for rng, kl_flag, rad_flag in ((F32, kl_f32, rad_f32), (F16, kl_f16, rad_f16)):
                limit = rng.big / 2
                kl_unsafe = ~(kl_bound < limit)
                rad_unsafe = ~((rad_bound < limit) & (v_min > rng.tiny * 2))
                rows = np.flatnonzero(enc_ok & (kl_unsafe | rad_unsafe))
                if rows.size:
                    kl_bad, rad_bad = lowp_nonfinite(
                        mu[rows], s[rows], rng.dtype, parameterisation, kl_form
                    )
                    kl_flag[start + rows] = kl_bad
                    rad_flag[start + rows] = rad_bad

    finite_bits = np.asarray(pass_.finite)
    latent_bad = latent_cause != Cause.OK
    recon_bad = recon_cause != Cause.OK
    unguarded: list[dict[str, int]] = []
    total_bad: list[np.ndarray] = []
    for kl_flag, rad_flag, recon_bit in (
        (kl_f32, rad_f32, RECON_F32_OVERFLOW),
        (kl_f16, rad_f16, RECON_F16_OVERFLOW),
    ):
        recon_flag = recon_bad | ((finite_bits & recon_bit) != 0)
        total_bad.append(read_only(np.flatnonzero(recon_flag | kl_flag)))
        unguarded.append(
            {
                "reconstruction": int(np.count_nonzero(recon_flag)),
                "kl": int(np.count_nonzero(latent_bad | kl_flag)),
                "total": int(total_bad[-1].size),
                "radius": int(np.count_nonzero(latent_bad | rad_flag)),
            }
        )

    return PreparedPass(
        pass_=pass_,
        parameterisation=parameterisation,
        kl_form=kl_form,
        kl=read_only(kl),
        radius=read_only(radius),
        s_min=read_only(s_min),
        s_max=read_only(s_max),
        latent_cause=read_only(latent_cause),
        recon_cause=read_only(recon_cause),
        latent_bad=read_only(np.flatnonzero(latent_bad)),
        recon_bad=read_only(np.flatnonzero(recon_bad)),
        latent_counts=_stage_counts(latent_cause),
        recon_counts=_stage_counts(recon_cause),
        unguarded_f32=unguarded[0],
        unguarded_f16=unguarded[1],
        kl_mag=read_only(kl_mag),
        total_bad_f32=total_bad[0],
        total_bad_f16=total_bad[1],
    )


# -- guard --------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuardCounts:
    """Event counts of one guarded score.

    ``by_cause``: every cause label, zeros included. ``outside_clip``: events with finite
    encoder output and some z_log_var outside the clip bounds (0 without a clip).
    ``unguarded_nonfinite_f32`` / ``_f16``: events whose score, computed as upstream did (no
    clip) in that precision, would have been NaN or inf, i.e. what the guard saved (for the
    total, ``recon + beta * KL`` at this beta, the sum's own overflow included).
    """

    total: int
    by_cause: dict[str, int]
    outside_clip: int
    unguarded_nonfinite_f32: int
    unguarded_nonfinite_f16: int

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
    >>> from hepfm_core.engine.guards import GuardSettings, guard, prepare
    >>> from hepfm_core.engine.passes import ScoringPass
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
        if settings.clip is None:
            lo, hi = -math.inf, math.inf
            rows = np.empty(0, dtype=np.intp)
        else:
            lo, hi = settings.clip
            c, f = _float32_bounds(lo, hi)
            outside = prepared.s_min < c
            outside |= prepared.s_max > f
            rows = np.flatnonzero(outside)

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
