"""What upstream's unguarded arithmetic would have made of a pass, in float32 or float16.

The "unguarded" counts come from real arithmetic in that type (numpy, IEEE
round-to-nearest): mu and z_log_var are first rounded to it (float16(255.95) = 256, whose
square is inf), every operation rounds, the KL and radius sums run term by term, and
0 / 0 = NaN, x / 0 = inf, inf - inf = NaN happen as in upstream's arithmetic (so a mu == 0
dimension over an underflowed variance counts). Only rows that a float64 bound cannot clear
are evaluated. The reconstruction counts come from the pass's bits, set where the float64
error would round to inf in that type (from max + half an ulp on, the shared
``passes.overflow_threshold``). The total is ``recon + beta * KL`` evaluated in that type
too, so a finite reconstruction and a finite KL whose sum overflows count (float16:
40000 + 30000), and so does a non-finite KL at beta == 0 (upstream's 0 * inf is NaN).
Callers run these under ``np.errstate(all="ignore")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...vocabulary import SOFTPLUS_EPS
from ..scoring.passes import ScoringPass, overflow_threshold
from .latent import RECOMPUTE_ROWS

__all__ = [
    "F16",
    "F32",
    "Range",
    "lowp_kl",
    "lowp_nonfinite",
    "lowp_parts",
    "range_of",
    "running_sum",
    "sum_overflows",
]


@dataclass(frozen=True)
class Range:
    """Where values round to +-inf (magnitude >= big) or to 0 (magnitude <= tiny) in a dtype."""

    dtype: type[np.floating]
    big: float
    tiny: float


def range_of(dtype: type[np.floating]) -> Range:
    # Round-to-nearest: overflow from max + half an ulp on; underflow to 0 at half the
    # smallest subnormal and below (the tie goes to the even neighbour, 0).
    tiny = float(np.finfo(dtype).smallest_subnormal) / 2
    return Range(dtype=dtype, big=overflow_threshold(dtype), tiny=tiny)


F32 = range_of(np.float32)
F16 = range_of(np.float16)


def running_sum(terms: np.ndarray) -> np.ndarray:
    """Sum over axis 1 term by term in the terms' own dtype (each partial sum rounds)."""
    acc = terms[:, 0].copy()
    for j in range(1, terms.shape[1]):
        acc += terms[:, j]
    return acc


def lowp_parts(
    mu: np.ndarray, s: np.ndarray, dtype: type[np.floating], parameterisation: str, kl_form: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mu^2``, ``v`` and the KL terms ``(1 + log v) - mu^2 - v`` as upstream computes them
    in ``dtype``: inputs rounded to it first, every operation rounding (call under errstate)."""
    m = np.asarray(mu).astype(dtype)
    z = np.asarray(s).astype(dtype)
    mu2 = m * m
    if parameterisation == "exp":
        v = np.exp(z)
        log_v = z
    else:
        v = np.logaddexp(dtype(0), z)
        v += dtype(SOFTPLUS_EPS)
        log_v = z if kl_form == "upstream" else np.log(v)
    term = dtype(1) + log_v
    term -= mu2
    term -= v
    return mu2, v, term


def lowp_kl(
    mu: np.ndarray, s: np.ndarray, dtype: type[np.floating], parameterisation: str, kl_form: str
) -> np.ndarray:
    """Upstream's unclipped per-row KL, -0.5 * sum_j term_j, computed for real in ``dtype``."""
    _, _, term = lowp_parts(mu, s, dtype, parameterisation, kl_form)
    return dtype(-0.5) * running_sum(term)


def lowp_nonfinite(
    mu: np.ndarray, s: np.ndarray, dtype: type[np.floating], parameterisation: str, kl_form: str
) -> tuple[np.ndarray, np.ndarray]:
    """Would unclipped KL / radius of these rows be non-finite in ``dtype``?

    Real ``dtype`` arithmetic, so rounding (float16(255.95) = 256, whose square is inf),
    inf - inf = NaN, x / 0 = inf and 0 / 0 = NaN all happen as they would upstream.
    """
    mu2, v, term = lowp_parts(mu, s, dtype, parameterisation, kl_form)
    kl_bad = ~np.isfinite(running_sum(term))
    radius_bad = ~np.isfinite(running_sum(mu2 / v))
    return kl_bad, radius_bad


def sum_overflows(
    pass_: ScoringPass,
    kl_mag: np.ndarray,
    bad: np.ndarray,
    rng: Range,
    beta: float,
    parameterisation: str,
    kl_form: str,
) -> int:
    """Events outside ``bad`` whose ``recon + beta * KL`` is non-finite in ``rng.dtype``.

    Both terms are finite there. The screen ``abs(recon) + beta * kl_mag < big / 2``
    clears most events (every rounding together stays far below a factor 2); the rest get
    upstream's KL recomputed for real in the dtype, ``RECOMPUTE_ROWS`` at a time.
    """
    dtype = rng.dtype
    with np.errstate(all="ignore"):
        reach = np.abs(np.asarray(pass_.recon, dtype=np.float64))
        reach += beta * kl_mag
        rows = np.setdiff1d(np.flatnonzero(~(reach < rng.big / 2)), bad, assume_unique=True)
        found = 0
        for start in range(0, rows.size, RECOMPUTE_ROWS):
            part = rows[start : start + RECOMPUTE_ROWS]
            mu = np.take(np.asarray(pass_.z_mean), part, axis=0)
            s = np.take(np.asarray(pass_.z_log_var), part, axis=0)
            kl = lowp_kl(mu, s, dtype, parameterisation, kl_form)
            total = np.asarray(pass_.recon[part]).astype(dtype)
            total += dtype(beta) * kl
            found += int(np.count_nonzero(~np.isfinite(total)))
    return found
