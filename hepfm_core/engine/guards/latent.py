"""Latent scores in float64: the variance, the KL divergence and the latent radius.

Decisions about non-finite values (callers run these under ``np.errstate(all="ignore")``):

- The KL is +inf only where the KL itself exceeds float64: a row whose plain sum overflows
  (``exp(s)`` is +inf from s = 709.78) is recomputed with ``exp(s - ln 2)`` in place of
  ``exp(s) / 2``, so s up to about 710.47 (one dimension) still gives a finite KL.
- A variance that underflows to 0 makes ``mu^2 / 0`` = +inf in the radius; a latent dimension
  with ``mu == 0`` contributes 0 to the radius even then (no information, no NaN).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from ...vocabulary import SOFTPLUS_EPS
from ..scoring.passes import ScoringPass

__all__ = [
    "RECOMPUTE_ROWS",
    "clipped_latent_score",
    "kl_from",
    "radius_from",
    "variance",
]

RECOMPUTE_ROWS = 4096
"""Rows a clip recompute processes at a time: small enough for the temporaries to stay in cache."""


def variance(s: np.ndarray, parameterisation: str, kl_form: str) -> tuple[np.ndarray, np.ndarray]:
    """Variance ``v`` and the ``log v`` stand-in the KL uses, both float64."""
    if parameterisation == "exp":
        return np.exp(s), s
    v = np.logaddexp(0.0, s)
    v += SOFTPLUS_EPS
    return v, (s if kl_form == "upstream" else np.log(v))


_LN2 = math.log(2.0)


def kl_from(
    sum_mu2: np.ndarray, v: np.ndarray, log_v: np.ndarray, s: np.ndarray | None = None
) -> np.ndarray:
    """Per-row KL = -1/2 sum_j (1 + log_v - mu^2 - v), with sum_j mu^2 taken from the pass.

    Splitting off the mu part means a clip recompute never has to read z_mean. ``s`` (exp
    parameterisation only): rows that come out +inf, because some ``v = exp(s)`` overflowed,
    are recomputed as 1/2 sum mu^2 + sum_j (exp(s_j - ln 2) - (1 + s_j) / 2), so they are +inf
    only if the KL itself exceeds float64 (every term is >= 0: nothing cancels).
    """
    term = 1.0 + log_v
    term -= v
    kl = term.sum(axis=1)
    kl -= sum_mu2
    kl *= -0.5
    if s is not None:
        rows = np.flatnonzero(np.isposinf(kl))
        if rows.size:
            s_rows = s[rows]
            half = np.exp(s_rows - _LN2)
            half -= 0.5 * (1.0 + s_rows)
            kl[rows] = half.sum(axis=1) + 0.5 * sum_mu2[rows]
    return kl


def radius_from(mu: np.ndarray, mu2: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per-row radius sum_j mu^2 / v; a dimension with mu == 0 adds 0 even where v == 0."""
    ratio = np.divide(mu2, v, out=np.zeros_like(mu2), where=mu != 0)
    return ratio.sum(axis=1)


def clipped_latent_score(
    pass_: ScoringPass,
    rows: np.ndarray,
    clip: tuple[float, float],
    which: Literal["kl", "radius"],
    parameterisation: str,
    kl_form: str,
) -> np.ndarray:
    """KL or radius of the given rows with z_log_var clipped, ``RECOMPUTE_ROWS`` at a time."""
    z_log_var = np.asarray(pass_.z_log_var)
    out = np.empty(rows.size)
    for start in range(0, rows.size, RECOMPUTE_ROWS):
        part = rows[start : start + RECOMPUTE_ROWS]
        s = np.take(z_log_var, part, axis=0).astype(np.float64)
        np.clip(s, clip[0], clip[1], out=s)
        v, log_v = variance(s, parameterisation, kl_form)
        if which == "kl":
            sum_mu2 = np.asarray(pass_.sum_mu2[part], dtype=np.float64)
            exp_s = s if parameterisation == "exp" else None
            out[start : start + part.size] = kl_from(sum_mu2, v, log_v, exp_s)
        else:
            mu = np.take(np.asarray(pass_.z_mean), part, axis=0).astype(np.float64)
            out[start : start + part.size] = radius_from(mu, mu * mu, v)
    return out
