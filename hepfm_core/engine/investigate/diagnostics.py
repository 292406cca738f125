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
are left out of the latent statistics and counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from ..guards.latent import variance
from ..guards.prepared import CHUNK_ROWS
from ..metrics.binning import tally
from ..metrics.intervals import clopper_pearson
from ..metrics.roc import BackgroundRef, Counts
from ..metrics.separation import WorkingPoint, prepare_background
from ..metrics.working_points import json_float, working_point
from .events import TrackLayout, json_floats

__all__ = [
    "ACTIVE_THRESHOLD",
    "LATENT_LEVELS",
    "LatentDiagnostics",
    "ResidualProfile",
    "SculptingCheck",
    "SculptingCurve",
    "grid_histogram_range",
    "kl_medians",
    "kl_per_dimension",
    "latent_diagnostics",
    "log_edges",
    "multiplicity_edges",
    "residual_profile",
    "sculpting_check",
    "sculpting_curve",
    "working_threshold",
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


@dataclass(frozen=True, eq=False)
class LatentDiagnostics:
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
    n_nonfinite: int
    clip: tuple[float, float] | None
    parameterisation: str
    kl_form: str
    kl_mean: np.ndarray
    kl_mean_finite: np.ndarray
    kl_median: np.ndarray
    kl_median_events: int
    kl_nonfinite: np.ndarray
    mu_mean: np.ndarray
    mu_var: np.ndarray
    active_threshold: float
    s_quantiles: np.ndarray
    below_clip: np.ndarray
    above_clip: np.ndarray
    s_edges: np.ndarray
    s_counts: np.ndarray
    s_underflow: np.ndarray
    s_overflow: np.ndarray

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

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "n_events": self.n_events,
            "n_used": self.n_used,
            "n_nonfinite_encoder": self.n_nonfinite,
            "clip": None if self.clip is None else list(self.clip),
            "parameterisation": self.parameterisation,
            "kl_form": self.kl_form,
            "kl_mean": json_floats(self.kl_mean),
            "kl_mean_finite": json_floats(self.kl_mean_finite),
            "kl_median": json_floats(self.kl_median),
            "kl_median_events": self.kl_median_events,
            "kl_nonfinite": self.kl_nonfinite.tolist(),
            "mu_mean": json_floats(self.mu_mean),
            "mu_var": json_floats(self.mu_var),
            "active_threshold": self.active_threshold,
            "active": self.active.tolist(),
            "n_active": self.n_active,
            "z_log_var_levels": list(LATENT_LEVELS),
            "z_log_var_quantiles": json_floats(self.s_quantiles),
            "below_clip": self.below_clip.tolist(),
            "above_clip": self.above_clip.tolist(),
            "z_log_var_edges": json_floats(self.s_edges),
            "z_log_var_counts": self.s_counts.tolist(),
            "z_log_var_underflow": self.s_underflow.tolist(),
            "z_log_var_overflow": self.s_overflow.tolist(),
        }


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
    count = 0
    mean = np.zeros(k)
    m2 = np.zeros(k)
    kl_sum = np.zeros(k)
    kl_fin_sum = np.zeros(k)
    kl_bad = np.zeros(k, dtype=np.int64)
    below = np.zeros(k, dtype=np.int64)
    above = np.zeros(k, dtype=np.int64)
    with np.errstate(all="ignore"):
        for start in range(0, n, chunk_rows):
            mu = np.asarray(z_mean[start : start + chunk_rows], dtype=np.float64)
            s = np.asarray(z_log_var[start : start + chunk_rows], dtype=np.float64)
            ok = np.isfinite(mu).all(axis=1) & np.isfinite(s).all(axis=1)
            used[start : start + mu.shape[0]] = ok
            mu, s = mu[ok], s[ok]
            m = mu.shape[0]
            if m == 0:
                continue
            # pairwise update of the mean and the sum of squared deviations (chunk into total)
            c_mean = mu.mean(axis=0)
            c_m2 = ((mu - c_mean) ** 2).sum(axis=0)
            delta = c_mean - mean
            total = count + m
            mean = mean + delta * (m / total)
            m2 = m2 + c_m2 + delta * delta * (count * m / total)
            count = total
            if clip is not None:
                below += (s < clip[0]).sum(axis=0)
                above += (s > clip[1]).sum(axis=0)
                s = np.clip(s, clip[0], clip[1])
            kl = kl_per_dimension(mu, s, parameterisation, kl_form)
            fin = np.isfinite(kl)
            kl_sum += kl.sum(axis=0)
            kl_fin_sum += np.where(fin, kl, 0.0).sum(axis=0)
            kl_bad += (~fin).sum(axis=0)
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


# -- residuals ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ResidualProfile:
    """Mean squared residual ``(x - x_hat)^2`` of every input over a sample's events.

    ``mean``: ``(D,)``, over the ``n_used`` events whose residuals are all finite
    (``n_nonfinite`` others left out), of ``n_events`` read (``note``: all of the sample, or
    which sample of it); ``median``: the median instead (a few extreme events move the mean
    by orders of magnitude, not the median). With a track layout, ``per_slot`` ``(T, B)``
    is ``mean`` by track slot and feature, ``per_track`` / ``per_feature`` its sums over
    features / slots (each one's share of the mean reconstruction error), and
    ``median_per_track`` / ``median_per_feature`` the medians over events of each event's
    sums per track slot / per feature; ``real_fraction[t]`` is the fraction of events whose
    slot ``t`` holds a track (the rest is padding, which the loss sees too).
    """

    sample: str
    n_events: int
    n_used: int
    n_nonfinite: int
    note: str
    mean: np.ndarray
    median: np.ndarray
    layout: TrackLayout | None
    real_fraction: np.ndarray | None
    median_per_track: np.ndarray | None
    median_per_feature: np.ndarray | None

    @property
    def per_slot(self) -> np.ndarray | None:
        if self.layout is None:
            return None
        return self.mean.reshape(self.layout.n_tracks, self.layout.n_branches)

    @property
    def per_track(self) -> np.ndarray | None:
        grid = self.per_slot
        return None if grid is None else grid.sum(axis=1)

    @property
    def per_feature(self) -> np.ndarray | None:
        grid = self.per_slot
        return None if grid is None else grid.sum(axis=0)

    def to_json_dict(self) -> dict[str, Any]:
        def opt(a: np.ndarray | None) -> list[Any] | None:
            return None if a is None else json_floats(a)

        return {
            "sample": self.sample,
            "n_events": self.n_events,
            "n_used": self.n_used,
            "n_nonfinite": self.n_nonfinite,
            "note": self.note,
            "mean": json_floats(self.mean),
            "median": json_floats(self.median),
            "per_track": opt(self.per_track),
            "per_feature": opt(self.per_feature),
            "median_per_track": opt(self.median_per_track),
            "median_per_feature": opt(self.median_per_feature),
            "real_fraction": opt(self.real_fraction),
        }


def residual_profile(
    parts: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    layout: TrackLayout | None,
    *,
    sample: str = "",
    note: str = "",
) -> ResidualProfile:
    """Accumulate ``(inputs, x_hat, shown values)`` blocks (float32 ``(m, D)`` each; the
    shown values find the padding) into a :class:`ResidualProfile`. The medians keep every
    finite event's residuals: ``8 D`` bytes per event (the caller bounds the events).

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.diagnostics import residual_profile
    >>> x = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    >>> p = residual_profile([(x, np.zeros_like(x), x)], None)
    >>> p.mean.tolist(), p.median.tolist(), p.n_used
    ([4.666666666666667, 0.0], [4.0, 0.0], 3)
    """
    kept: list[np.ndarray] = []
    real_sum = None
    bad = n = 0
    with np.errstate(all="ignore"):
        for x, x_hat, shown in parts:
            sq = (np.asarray(x, dtype=np.float64) - np.asarray(x_hat, dtype=np.float64)) ** 2
            ok = np.isfinite(sq).all(axis=1)
            kept.append(sq[ok])
            bad += int((~ok).sum())
            n += int(sq.shape[0])
            if layout is not None:
                r = layout.real(np.asarray(shown)).sum(axis=0)
                real_sum = r if real_sum is None else real_sum + r
        if not kept:
            raise ValueError("no events to profile")
        sq = np.concatenate(kept)
        used = int(sq.shape[0])
        width = sq.shape[1]
        mean = sq.mean(axis=0) if used else np.full(width, np.nan)
        median = np.median(sq, axis=0) if used else np.full(width, np.nan)
        med_track = med_feature = None
        if layout is not None:
            grid = layout.tracks(sq)
            nan_t, nan_b = np.full(layout.n_tracks, np.nan), np.full(layout.n_branches, np.nan)
            med_track = np.median(grid.sum(axis=2), axis=0) if used else nan_t
            med_feature = np.median(grid.sum(axis=1), axis=0) if used else nan_b
    return ResidualProfile(
        sample=sample,
        n_events=n,
        n_used=used,
        n_nonfinite=bad,
        note=note,
        mean=mean,
        median=median,
        layout=layout,
        real_fraction=None if real_sum is None else real_sum / max(n, 1),
        median_per_track=med_track,
        median_per_feature=med_feature,
    )


# -- sculpting ----------------------------------------------------------------------------
def multiplicity_edges(n_tracks: int) -> np.ndarray:
    """One bin per track count 0 ... ``n_tracks`` (edges at half-integers)."""
    return np.arange(n_tracks + 2, dtype=np.float64) - 0.5


def log_edges(values: Sequence[np.ndarray], per_decade: int = 2) -> np.ndarray:
    """Log-spaced edges on whole fractions of a decade covering every positive finite value.

    >>> from hepfm_core.engine.investigate.diagnostics import log_edges
    >>> import numpy as np
    >>> log_edges([np.array([0.7, 40.0])]).tolist()
    [0.31622776601683794, 1.0, 3.1622776601683795, 10.0, 31.622776601683793, 100.0]
    """
    with np.errstate(all="ignore"):
        pos = [v[np.isfinite(v) & (v > 0)] for v in map(np.asarray, values)]
        pos = [p for p in pos if p.size]
        if not pos:
            return np.array([0.1, 1.0])
        lo = min(float(p.min()) for p in pos)
        hi = max(float(p.max()) for p in pos)
    a = math.floor(math.log10(lo) * per_decade)
    b = max(math.ceil(math.log10(hi) * per_decade), a + 1)
    if 10.0 ** (b / per_decade) <= hi:
        b += 1
    return 10.0 ** (np.arange(a, b + 1) / per_decade)


def working_threshold(
    background: np.ndarray | BackgroundRef, target: float, min_bkg_pass: int = 10
) -> WorkingPoint:
    """The cut ``score > threshold`` of the working point at background efficiency
    ``target``: the very rule of ``evaluate``'s metrics (``working_points.working_point``)
    on the background's kept scores (the cut depends on the background alone; its "signal"
    efficiency is the background's own). Given sorted (``EvaluationResult.sorted_background``),
    it costs a few binary searches."""
    if isinstance(background, BackgroundRef):
        ref = background
    else:
        ref = prepare_background(np.asarray(background, dtype=np.float64))
    return working_point(Counts.for_cuts(ref, ref.scores), float(target), int(min_bkg_pass))


@dataclass(frozen=True, eq=False)
class SculptingCurve:
    """One sample's score and cut efficiency in bins of one variable.

    Per bin ``[edges[i], edges[i+1])``: ``n`` events the policy kept, ``n_pass`` of them
    above the threshold, ``efficiency`` with its exact interval (None without a threshold
    or an event), and the score's median and 16 / 84 % quantiles (+inf under ``worst``
    for events without a finite score). Events outside the edges or without a value (no
    track: no leading pt) are counted in ``outside``.
    """

    sample: str
    variable: str
    edges: np.ndarray
    n: np.ndarray
    n_pass: np.ndarray | None
    efficiency: np.ndarray | None
    eff_lower: np.ndarray | None
    eff_upper: np.ndarray | None
    score_median: np.ndarray
    score_q16: np.ndarray
    score_q84: np.ndarray
    outside: int

    def frame(self) -> pl.DataFrame:
        nb = self.n.size
        none: list[float | None] = [None] * nb

        def col(a: np.ndarray | None) -> list[float | None]:
            return none if a is None else [json_float(float(v)) for v in a]

        return pl.DataFrame(
            {
                "sample": [self.sample] * nb,
                "variable": [self.variable] * nb,
                "lo": self.edges[:-1],
                "hi": self.edges[1:],
                "n": self.n,
                "n_pass": none if self.n_pass is None else self.n_pass.tolist(),
                "efficiency": col(self.efficiency),
                "eff_lower": col(self.eff_lower),
                "eff_upper": col(self.eff_upper),
                "score_median": col(self.score_median),
                "score_q16": col(self.score_q16),
                "score_q84": col(self.score_q84),
            },
            schema_overrides={
                c: pl.Float64
                for c in (
                    "efficiency",
                    "eff_lower",
                    "eff_upper",
                    "score_median",
                    "score_q16",
                    "score_q84",
                )
            }
            | {"n_pass": pl.Int64},
        )


def sculpting_curve(
    sample: str,
    variable: str,
    x: np.ndarray,
    scores: np.ndarray,
    edges: np.ndarray,
    threshold: float | None,
) -> SculptingCurve:
    """Bin events by ``x`` on ``edges``; ``scores`` is the policy's view per event (NaN: not
    kept, so not counted). Efficiency: the fraction of kept events with ``score >
    threshold``.

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.diagnostics import sculpting_curve
    >>> c = sculpting_curve("bkg", "tracks", np.array([1, 1, 2, 2]), np.array([0.1, 5, 6, np.nan]),
    ...                     np.array([0.5, 1.5, 2.5]), threshold=1.0)
    >>> c.n.tolist(), c.n_pass.tolist(), c.efficiency.tolist()
    ([2, 1], [1, 1], [0.5, 1.0])
    """
    x = np.asarray(x, dtype=np.float64)
    v = np.asarray(scores, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    nb = e.size - 1
    with np.errstate(all="ignore"):
        kept = ~np.isnan(v)
        inside = kept & np.isfinite(x) & (x >= e[0]) & (x < e[-1])
        idx = np.searchsorted(e, x[inside], side="right") - 1
        vals = v[inside]
        n = np.bincount(idx, minlength=nb).astype(np.int64)
        med = np.full(nb, np.nan)
        q16 = np.full(nb, np.nan)
        q84 = np.full(nb, np.nan)
        order = np.argsort(idx, kind="stable")
        splits = np.split(vals[order], np.cumsum(n)[:-1])
        for i, part in enumerate(splits):
            if part.size:
                q16[i], med[i], q84[i] = np.quantile(part, [0.16, 0.5, 0.84], method="inverted_cdf")
        n_pass = eff = lo = hi = None
        if threshold is not None:
            n_pass = np.bincount(idx[vals > threshold], minlength=nb).astype(np.int64)
            eff = np.where(n > 0, n_pass / np.maximum(n, 1), np.nan)
            lo = np.full(nb, np.nan)
            hi = np.full(nb, np.nan)
            some = n > 0
            if some.any():
                lo[some], hi[some] = clopper_pearson(n_pass[some], n[some])
    return SculptingCurve(
        sample=sample,
        variable=variable,
        edges=e,
        n=n,
        n_pass=n_pass,
        efficiency=eff,
        eff_lower=lo,
        eff_upper=hi,
        score_median=med,
        score_q16=q16,
        score_q84=q84,
        outside=int(kept.sum() - inside.sum()),
    )


@dataclass(frozen=True, eq=False)
class SculptingCheck:
    """Every sample's :class:`SculptingCurve` for each variable, at one working point.

    ``working_point``: the background cut (its status says when there is none:
    too few background events for the target); ``note``: which events were binned.
    """

    target_bkg_eff: float
    working_point: WorkingPoint
    curves: tuple[SculptingCurve, ...]
    note: str

    @property
    def threshold(self) -> float | None:
        wp = self.working_point
        return wp.threshold if wp.status in ("ok", "tied_background") else None

    def frame(self) -> pl.DataFrame:
        """Long format: one row per (sample, variable, bin)."""
        return pl.concat([c.frame() for c in self.curves], how="vertical")

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "target_bkg_eff": self.target_bkg_eff,
            "working_point": self.working_point.to_json_dict(),
            "note": self.note,
            "bins": self.frame().to_dicts(),
        }


def sculpting_check(
    per_sample: dict[str, dict[str, np.ndarray]],
    background_scores: np.ndarray | BackgroundRef,
    *,
    target_bkg_eff: float = 1e-2,
    edges: dict[str, np.ndarray],
    min_bkg_pass: int = 10,
    note: str = "",
) -> SculptingCheck:
    """The sculpting check of several samples.

    ``per_sample[name]``: ``"scores"`` (policy view per binned event, NaN: not kept) and
    one array per variable of ``edges`` (``"tracks"``, ``"leading_pt"``). The threshold
    comes from the background's kept scores, all of them (``background_scores``), not only
    the binned ones.
    """
    wp = working_threshold(background_scores, target_bkg_eff, min_bkg_pass)
    threshold = wp.threshold if wp.status in ("ok", "tied_background") else None
    curves = []
    for name, arrays in per_sample.items():
        for variable, e in edges.items():
            curves.append(
                sculpting_curve(name, variable, arrays[variable], arrays["scores"], e, threshold)
            )
    return SculptingCheck(float(target_bkg_eff), wp, tuple(curves), note)
