"""The clip-independent part of the guards: per-event quantities of one scoring pass.

The expensive part (``exp`` over the whole ``(n, k)`` latent matrix) runs once per scoring
pass here; :func:`hepfm_core.engine.guards.guarded.guard` then only recomputes the events a clip
touches.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ...vocabulary import Cause, KLForm, Parameterisation, Score
from ..scoring.passes import (
    DECODER_FINITE,
    ENCODER_FINITE,
    INPUT_FINITE,
    RECON_F16_OVERFLOW,
    RECON_F32_OVERFLOW,
    ScoringPass,
    read_only,
)
from .latent import kl_from, radius_from, variance
from .precision import F16, F32, lowp_nonfinite, sum_overflows
from .settings import GuardSettings

__all__ = ["CHUNK_ROWS", "PREPARE_THREADS", "PreparedPass", "prepare"]

CHUNK_ROWS = 16384
"""Rows :func:`prepare` processes at a time (bounds memory)."""
PREPARE_THREADS = min(os.cpu_count() or 1, 4)
"""Threads :func:`prepare` spreads its chunks over (numpy's loops release the GIL)."""


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
    pass_: ScoringPass,
    parameterisation: Parameterisation = "exp",
    kl_form: KLForm = "true",
    *,
    threads: int | None = None,
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
    threads : int, optional
        Threads to spread the row chunks over (default ``PREPARE_THREADS``); a Dask worker
        passes its own, so that it never runs more threads than it was given.

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
    >>> from hepfm_core.engine.guards.guarded import prepare
    >>> from hepfm_core.engine.scoring.passes import ScoringPass
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

    def chunk(start: int) -> None:
        # disjoint rows per chunk: the chunks may run in threads (numpy releases the
        # GIL in its loops); np.errstate is per thread, so it is set here
        with np.errstate(all="ignore"):
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

    starts = range(0, n, CHUNK_ROWS)
    n_threads = PREPARE_THREADS if threads is None else max(1, threads)
    if n_threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(n_threads, thread_name_prefix="hepfm-prepare") as pool:
            list(pool.map(chunk, starts))  # list: a chunk's exception is raised here
    else:
        for first in starts:
            chunk(first)

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
