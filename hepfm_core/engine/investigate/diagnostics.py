"""Whole-sample diagnostics beside the per-event view: the latent space, where the
reconstruction error sits, and whether a cut on the score sculpts the event population.

- :func:`latent_diagnostics`: per latent dimension the KL divergence to N(0, 1), the
  activity (variance over events of ``z_mean``; a dimension is *active* when it exceeds
  :data:`ACTIVE_THRESHOLD`, 0.01: below it the encoder's mean barely moves with the input,
  posterior collapse), and the distribution of ``z_log_var`` against the clip bounds.
- :func:`residual_profile`: the mean squared residual of every input (per track slot and
  feature), from ``(inputs, reconstruction)`` blocks.
- :func:`sculpting_curve` / :func:`sculpting_check`: the score and the efficiency of the
  cut at a background-efficiency working point, in bins of track multiplicity and of the
  leading track's pt: a cut that does not sculpt keeps the background's efficiency flat.

Pure computation, float64 under ``np.errstate``; events whose encoder output is not finite
are left out of the latent statistics and counted."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ...common.json_fields import FLOATS, JsonFields, json_clip, json_floats, json_meta
from ..guards.latent import variance
from ..guards.prepared import CHUNK_ROWS
from ..metrics.binning import tally

__all__ = [
    "ACTIVE_THRESHOLD",
    "LATENT_LEVELS",
    "LatentDiagnostics",
    "RunningMoments",
    "finite_latent_chunks",
    "grid_histogram_range",
    "kl_medians",
    "kl_per_dimension",
    "latent_diagnostics",
]


ACTIVE_THRESHOLD = 0.01


"""A latent dimension is active when the variance over events of its z_mean exceeds this."""


LATENT_LEVELS = (0.0, 0.001, 0.01, 0.5, 0.99, 0.999, 1.0)


"""Quantile levels of each dimension's z_log_var."""


_LN2 = math.log(2.0)


def kl_per_dimension(
    mu: np.ndarray, s: np.ndarray, parameterisation: str, kl_form: str
) -> np.ndarray:
    """``(n, k)`` KL terms ``-1/2 (1 + log v - mu^2 - v)`` in float64 (``s`` already clipped).

    For the exp parameterisation a term whose ``exp(s)`` overflowed is recomputed as
    ``mu^2 / 2 + exp(s - ln 2) - (1 + s) / 2``, so it is +inf only when the term itself
    exceeds float64 (as the guards' KL, ``latent.kl_from``).
    """
    mu = np.asarray(mu, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    with np.errstate(all="ignore"):
        v, log_v = variance(s, parameterisation, kl_form)
        kl = -0.5 * (1.0 + log_v - mu * mu - v)
        if parameterisation == "exp":
            bad = np.isposinf(kl)
            if bad.any():
                kl[bad] = 0.5 * mu[bad] ** 2 + np.exp(s[bad] - _LN2) - 0.5 * (1.0 + s[bad])
    return kl


def kl_medians(mu: np.ndarray, s: np.ndarray, parameterisation: str, kl_form: str) -> np.ndarray:
    """Per dimension, the median over the rows of ``(n, k)`` ``mu`` and (clipped) ``s`` of the
    KL term (NaN without rows)."""
    k = np.shape(mu)[1]
    if np.shape(mu)[0] == 0:
        return np.full(k, np.nan)
    with np.errstate(all="ignore"):
        return np.median(kl_per_dimension(mu, s, parameterisation, kl_form), axis=0)


def _activity_entries(d: LatentDiagnostics) -> dict[str, Any]:
    """The threshold, which dimensions pass it, and the levels of the quantiles that follow."""
    return {
        "active_threshold": d.active_threshold,
        "active": d.active.tolist(),
        "n_active": d.n_active,
        "z_log_var_levels": list(LATENT_LEVELS),
    }


@dataclass(frozen=True, eq=False)
class LatentDiagnostics(JsonFields):
    """Per latent dimension ``j`` of one sample under one clip.

    ``kl_mean[j]``: mean over the used events of the KL term of dimension j (+inf if one
    event's term is), ``kl_nonfinite[j]`` how many terms are not finite and
    ``kl_mean_finite[j]`` the mean of the others; the ``kl_mean`` add up to the sample's
    mean KL; ``kl_median[j]``: the median term (robust to a few extreme events), over
    ``kl_median_events`` of the used events (all, or a fixed sample of a large sample).
    ``mu_mean`` / ``mu_var``: mean and variance (over events, ddof 0) of z_mean;
    ``active``: ``mu_var > active_threshold``. ``s_quantiles[j]``: raw (unclipped) z_log_var
    at :data:`LATENT_LEVELS`; ``below_clip`` / ``above_clip``: events below / above the
    clip bounds. ``s_edges`` and ``s_counts[j]``: the histogram of raw z_log_var, with
    ``s_underflow`` / ``s_overflow`` outside the edges. ``n_used`` events have a finite
    encoder output, ``n_nonfinite`` do not (left out).
    """

    sample: str
    n_events: int
    n_used: int
    n_nonfinite: int = field(metadata=json_meta(key="n_nonfinite_encoder"))
    clip: tuple[float, float] | None = field(metadata=json_meta(convert=json_clip))
    parameterisation: str
    kl_form: str
    kl_mean: np.ndarray = field(metadata=FLOATS)
    kl_mean_finite: np.ndarray = field(metadata=FLOATS)
    kl_median: np.ndarray = field(metadata=FLOATS)
    kl_median_events: int
    kl_nonfinite: np.ndarray
    mu_mean: np.ndarray = field(metadata=FLOATS)
    mu_var: np.ndarray = field(metadata=FLOATS)
    active_threshold: float = field(metadata=json_meta(entries=_activity_entries))
    s_quantiles: np.ndarray = field(
        metadata=json_meta(key="z_log_var_quantiles", convert=json_floats)
    )
    below_clip: np.ndarray
    above_clip: np.ndarray
    s_edges: np.ndarray = field(metadata=json_meta(key="z_log_var_edges", convert=json_floats))
    s_counts: np.ndarray = field(metadata=json_meta(key="z_log_var_counts"))
    s_underflow: np.ndarray = field(metadata=json_meta(key="z_log_var_underflow"))
    s_overflow: np.ndarray = field(metadata=json_meta(key="z_log_var_overflow"))

    @property
    def latent_dim(self) -> int:
        return int(self.kl_mean.size)

    @property
    def active(self) -> np.ndarray:
        return self.mu_var > self.active_threshold

    @property
    def n_active(self) -> int:
        return int(np.count_nonzero(self.active))

    def frame(self) -> pl.DataFrame:
        """One row per dimension: KL, activity, z_log_var quantiles and clip counts."""
        cols: dict[str, Any] = {
            "dim": np.arange(self.latent_dim),
            "kl_mean": self.kl_mean,
            "kl_median": self.kl_median,
            "kl_nonfinite": self.kl_nonfinite,
            "mu_mean": self.mu_mean,
            "mu_var": self.mu_var,
            "active": self.active,
            "below_clip": self.below_clip,
            "above_clip": self.above_clip,
        }
        for i, q in enumerate(LATENT_LEVELS):
            cols[f"s_q{q:g}"] = self.s_quantiles[:, i]
        return pl.DataFrame(cols)


def _histogram_range(
    q_lo: float, q_hi: float, clip: tuple[float, float] | None
) -> tuple[float, float]:
    """Edges' range: the bulk of every dimension, widened to a clip bound within one more
    bulk width of it (so the bound is drawn on the axis), padded by 2 %."""
    lo, hi = q_lo, q_hi
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = -1.0, 1.0
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    span = hi - lo
    for b in clip or ():
        if math.isfinite(b) and q_lo - span <= b <= q_hi + span:
            lo, hi = min(lo, b), max(hi, b)
    pad = 0.02 * (hi - lo)
    return lo - pad, hi + pad


def grid_histogram_range(
    quantiles: np.ndarray, n_used: int, clip: tuple[float, float] | None
) -> tuple[float, float]:
    """The z_log_var histogram's range: every dimension's bulk (its 0.1 % to 99.9 %
    quantiles), widened to a nearby clip bound, padded by 2 %."""
    with np.errstate(all="ignore"):
        q_lo = float(np.nanmin(quantiles[:, 1])) if n_used else -1.0
        q_hi = float(np.nanmax(quantiles[:, -2])) if n_used else 1.0
    return _histogram_range(q_lo, q_hi, clip)


class RunningMoments:
    """Per column, the count, mean and sum of squared deviations of rows added chunk by
    chunk: each chunk's own mean and sum merged into the total (the pairwise update), so
    that a sample of any size is read once in bounded memory."""

    def __init__(self, k: int) -> None:
        self.count = 0
        self.mean = np.zeros(k)
        self.m2 = np.zeros(k)

    def add(self, rows: np.ndarray) -> None:
        """Merge ``rows`` (``(m, k)`` float64, m > 0) into the totals."""
        m = rows.shape[0]
        c_mean = rows.mean(axis=0)
        c_m2 = ((rows - c_mean) ** 2).sum(axis=0)
        delta = c_mean - self.mean
        total = self.count + m
        self.mean = self.mean + delta * (m / total)
        self.m2 = self.m2 + c_m2 + delta * delta * (self.count * m / total)
        self.count = total


def finite_latent_chunks(
    z_mean: np.ndarray, z_log_var: np.ndarray, chunk_rows: int, used: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The events of each chunk of ``chunk_rows`` whose encoder output is finite, as float64
    ``(z_mean, z_log_var)`` rows (chunks without any are skipped); ``used`` (bool, one per
    event) is set to which events those are."""
    n = np.shape(z_mean)[0]
    for start in range(0, n, chunk_rows):
        mu = np.asarray(z_mean[start : start + chunk_rows], dtype=np.float64)
        s = np.asarray(z_log_var[start : start + chunk_rows], dtype=np.float64)
        ok = np.isfinite(mu).all(axis=1) & np.isfinite(s).all(axis=1)
        used[start : start + mu.shape[0]] = ok
        if ok.any():
            yield mu[ok], s[ok]


def latent_diagnostics(
    z_mean: np.ndarray,
    z_log_var: np.ndarray,
    *,
    clip: tuple[float, float] | None,
    parameterisation: str = "exp",
    kl_form: str = "true",
    sample: str = "",
    n_bins: int = 40,
    active_threshold: float = ACTIVE_THRESHOLD,
    chunk_rows: int = CHUNK_ROWS,
    median_rows: np.ndarray | None = None,
) -> LatentDiagnostics:
    """Latent statistics of a whole sample, read in chunks of ``chunk_rows`` (memory maps
    welcome); the quantiles read one dimension's column at a time. The median KL term is
    taken over the used events among ``median_rows`` (default: all).

    Every event is read for each clip: ``latent_tally`` gives the same from tallies made
    once (this function is its reference, and its fallback for bounds off its grid).

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.diagnostics import latent_diagnostics
    >>> mu = np.array([[0.0, 1.0], [0.0, -1.0]], np.float32)  # dim 0 collapsed, dim 1 moves
    >>> s = np.zeros((2, 2), np.float32)
    >>> d = latent_diagnostics(mu, s, clip=None)
    >>> d.kl_mean.tolist(), d.mu_var.tolist(), d.active.tolist()
    ([0.0, 0.5], [0.0, 1.0], [False, True])
    """
    n, k = np.shape(z_mean)
    used = np.zeros(n, dtype=bool)
    moments = RunningMoments(k)
    kl_sum = np.zeros(k)
    kl_fin_sum = np.zeros(k)
    kl_bad = np.zeros(k, dtype=np.int64)
    below = np.zeros(k, dtype=np.int64)
    above = np.zeros(k, dtype=np.int64)
    with np.errstate(all="ignore"):
        for mu, s in finite_latent_chunks(z_mean, z_log_var, chunk_rows, used):
            moments.add(mu)
            if clip is not None:
                below += (s < clip[0]).sum(axis=0)
                above += (s > clip[1]).sum(axis=0)
                s = np.clip(s, clip[0], clip[1])
            kl = kl_per_dimension(mu, s, parameterisation, kl_form)
            fin = np.isfinite(kl)
            kl_sum += kl.sum(axis=0)
            kl_fin_sum += np.where(fin, kl, 0.0).sum(axis=0)
            kl_bad += (~fin).sum(axis=0)
        count, mean, m2 = moments.count, moments.mean, moments.m2
        rows = np.flatnonzero(used)
        quantiles = np.full((k, len(LATENT_LEVELS)), np.nan)
        columns = []
        for j in range(k):
            col = np.asarray(z_log_var[:, j], dtype=np.float64)[rows]
            columns.append(col)
            if col.size:
                quantiles[j] = np.quantile(col, LATENT_LEVELS)
        chosen = rows if median_rows is None else np.intersect1d(rows, median_rows)
        mu_m = np.asarray(z_mean[chosen], dtype=np.float64)
        s_m = np.asarray(z_log_var[chosen], dtype=np.float64)
        s_m = s_m if clip is None else np.clip(s_m, clip[0], clip[1])
        kl_median = kl_medians(mu_m, s_m, parameterisation, kl_form)
        lo, hi = grid_histogram_range(quantiles, count, clip)
        edges = np.linspace(lo, hi, n_bins + 1)
        tallies = [tally(col, edges) for col in columns]
        safe = max(count, 1)
        kl_fin_n = np.maximum(count - kl_bad, 1)
    return LatentDiagnostics(
        sample=sample,
        n_events=int(n),
        n_used=int(count),
        n_nonfinite=int(n - count),
        clip=None if clip is None else (float(clip[0]), float(clip[1])),
        parameterisation=parameterisation,
        kl_form=kl_form,
        kl_mean=kl_sum / safe if count else np.full(k, np.nan),
        kl_mean_finite=np.where(count - kl_bad > 0, kl_fin_sum / kl_fin_n, np.nan),
        kl_median=kl_median,
        kl_median_events=int(chosen.size),
        kl_nonfinite=kl_bad,
        mu_mean=mean if count else np.full(k, np.nan),
        mu_var=m2 / safe if count else np.full(k, np.nan),
        active_threshold=float(active_threshold),
        s_quantiles=quantiles,
        below_clip=below,
        above_clip=above,
        s_edges=edges,
        s_counts=np.array([t.counts for t in tallies], dtype=np.int64).reshape(k, n_bins),
        s_underflow=np.array([t.underflow + t.neginf for t in tallies], dtype=np.int64),
        s_overflow=np.array([t.overflow + t.posinf for t in tallies], dtype=np.int64),
    )
