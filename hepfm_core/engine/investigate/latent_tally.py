"""The latent diagnostics of a whole sample under any clip, without a pass over its events.

:func:`diagnostics.latent_diagnostics` reads every event of a sample for each clip: seconds
at millions of events, redone on every slider step. Here the clip-independent part is read
once (:func:`build_latent_tally`): per latent dimension, the raw ``z_log_var`` of the events
tallied on a fine grid (:data:`GRID_STEP` wide bins over :data:`GRID_LIMITS`, the clip
slider's range and step) with, per bin, the sum of ``mu^2 / 2`` and of the ``z_log_var``
part of the KL term, ``g(s) = -1/2 (1 + log v - v)``. The KL term of an event is
``mu^2 / 2 + g(s)`` (float64), so a clip whose bounds lie on the grid changes only which
``g`` an event gets: ``g(s)`` inside the bounds, ``g(lo)`` below, ``g(hi)`` above. Sums,
counts, the histogram of raw ``z_log_var`` and the events outside the clip then come from the
tallies (:func:`latent_from_tally`): work bounded by the grid's bins, not by the events.

Exact but for summation order (relative differences ~1e-13 from the event loop), and for
one statistic: the median KL term per dimension, which no tally gives, is taken over a
fixed set of at most ``median_rows`` events (all of a smaller sample; the result says how
many). Bounds off the grid (a clip typed on the command line, say) return None: the caller
falls back to the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...vocabulary import CLIP_RANGE, CLIP_STEP
from .diagnostics import (
    ACTIVE_THRESHOLD,
    LATENT_LEVELS,
    LatentDiagnostics,
    RunningMoments,
    finite_latent_chunks,
    grid_histogram_range,
    kl_medians,
    kl_per_dimension,
)

__all__ = [
    "GRID_LIMITS",
    "GRID_SCALE",
    "GRID_STEP",
    "LatentTally",
    "build_latent_tally",
    "grid_index",
    "latent_from_tally",
]

GRID_SCALE = 100
"""Grid points per unit of z_log_var: edges at ``i / GRID_SCALE`` (every 0.01)."""
GRID_STEP = 1.0 / GRID_SCALE
GRID_LIMITS = (round(CLIP_RANGE[0] * GRID_SCALE), round(CLIP_RANGE[1] * GRID_SCALE))
"""The grid's first and last edge, as integers of :data:`GRID_STEP` (the slider's range)."""
assert round(CLIP_STEP * GRID_SCALE) * GRID_STEP == CLIP_STEP  # the slider's steps are edges
_ROWS = 131_072  # rows tallied at a time: temporaries of ~16 MB at 16 latent dimensions


def grid_index(bound: float) -> int | None:
    """The grid integer ``i`` with ``i / GRID_SCALE == bound`` exactly, inside the grid; else
    None.

    >>> from hepfm_core.engine.investigate.latent_tally import grid_index
    >>> grid_index(-20.0), grid_index(0.1), grid_index(0.123), grid_index(1e6)
    (-2000, 10, None, None)
    """
    if not np.isfinite(bound):
        return None
    i = round(bound * GRID_SCALE)
    if i / GRID_SCALE != bound or not GRID_LIMITS[0] <= i <= GRID_LIMITS[1]:
        return None
    return int(i)


def _bin_of(s: np.ndarray) -> np.ndarray:
    """Grid bin of each value: ``i`` for ``i/S <= s < (i+1)/S`` (float64 comparisons, as a
    clip compares), ``GRID_LIMITS[0] - 1`` below the grid, ``GRID_LIMITS[1]`` from its end."""
    lo, hi = GRID_LIMITS
    i = np.floor(s * GRID_SCALE)
    np.clip(i, lo - 1, hi, out=i)
    down = (s < i / GRID_SCALE) & (i > lo - 1)
    i[down] -= 1
    up = (s >= (i + 1) / GRID_SCALE) & (i < hi)
    i[up] += 1
    return i.astype(np.int64)


@dataclass(frozen=True, eq=False)
class LatentTally:
    """The clip-independent latent statistics of one sample, one variance form.

    Columns of the ``(k, m)`` tallies: column 0 holds the values below the grid, column
    ``m - 1`` those from its last edge on, and column ``c`` in between the grid bin
    ``first + c - 1``. Per column: ``count``; ``half_mu2`` the sum of ``mu^2 / 2``; ``g_sum``
    the sum of the finite ``g(s)``; ``bad`` how many ``g(s)`` are not finite, ``bad_sum``
    their sum (inf or NaN) and ``bad_half_mu2`` their ``mu^2 / 2``. ``at_edge[i]``: per
    dimension, the values equal to the grid edge ``i`` (a bound they sit on leaves them
    inside). ``median_mu`` / ``median_s``: the used events among ``median_rows`` events, for
    the median KL term.
    """

    sample: str
    n_events: int
    n_used: int
    parameterisation: str
    kl_form: str
    mu_mean: np.ndarray
    mu_var: np.ndarray
    quantiles: np.ndarray
    first: int
    count: np.ndarray
    half_mu2: np.ndarray
    g_sum: np.ndarray
    bad: np.ndarray
    bad_sum: np.ndarray
    bad_half_mu2: np.ndarray
    at_edge: dict[int, np.ndarray]
    median_mu: np.ndarray
    median_s: np.ndarray

    @property
    def latent_dim(self) -> int:
        return int(self.mu_mean.size)

    def column(self, edge: int) -> int:
        """The first column at or above grid edge ``edge`` (columns below it hold the
        values below that edge)."""
        return int(np.clip(edge - self.first + 1, 1, self.count.shape[1] - 1))

    def below(self, edge: int) -> np.ndarray:
        """Per dimension, how many values lie below grid edge ``edge``."""
        return self.count[:, : self.column(edge)].sum(axis=1)


def build_latent_tally(
    z_mean: np.ndarray,
    z_log_var: np.ndarray,
    *,
    parameterisation: str = "exp",
    kl_form: str = "true",
    sample: str = "",
    median_rows: np.ndarray | None = None,
) -> LatentTally:
    """Read a sample's ``(n, k)`` latent arrays once (memory maps welcome) into a
    :class:`LatentTally`. Events whose encoder output is not finite are left out, as in
    :func:`diagnostics.latent_diagnostics`. ``median_rows``: the events of the median KL
    term (default all)."""
    n, k = np.shape(z_mean)
    lo, hi = GRID_LIMITS
    width = hi - lo + 2  # below the grid, its bins, from its end on
    acc = {name: np.zeros(k * width) for name in ("half_mu2", "g_sum", "bad_sum", "bad_half")}
    count = np.zeros(k * width, dtype=np.int64)
    bad = np.zeros(k * width, dtype=np.int64)
    edge_hits: list[np.ndarray] = []
    used = np.zeros(n, dtype=bool)
    moments = RunningMoments(k)
    offset = np.arange(k, dtype=np.int64) * width
    with np.errstate(all="ignore"):
        for mu, s in finite_latent_chunks(z_mean, z_log_var, _ROWS, used):
            moments.add(mu)
            grid = _bin_of(s)
            col = (grid - (lo - 1) + offset).reshape(-1)
            half = (0.5 * mu * mu).reshape(-1)
            g = kl_per_dimension(np.zeros_like(s), s, parameterisation, kl_form).reshape(-1)
            fin = np.isfinite(g)
            count += np.bincount(col, minlength=k * width)
            acc["half_mu2"] += np.bincount(col, half, minlength=k * width)
            acc["g_sum"] += np.bincount(col[fin], g[fin], minlength=k * width)
            if not fin.all():
                nf = ~fin
                bad += np.bincount(col[nf], minlength=k * width)
                acc["bad_half"] += np.bincount(col[nf], half[nf], minlength=k * width)
                np.add.at(acc["bad_sum"], col[nf], g[nf])
            on_edge = (s == grid / GRID_SCALE) & (grid >= lo)
            if on_edge.any():
                dims = np.broadcast_to(np.arange(k), s.shape)[on_edge]
                edge_hits.append(np.stack([grid[on_edge], dims]))
        rows = np.flatnonzero(used)
        quantiles = np.full((k, len(LATENT_LEVELS)), np.nan)
        if rows.size:
            for j in range(k):
                col_j = np.asarray(z_log_var[:, j], dtype=np.float64)[rows]
                quantiles[j] = np.quantile(col_j, LATENT_LEVELS)
    shaped = {name: a.reshape(k, width) for name, a in acc.items()}
    count2, bad2 = count.reshape(k, width), bad.reshape(k, width)
    # keep the columns that hold values: below the grid, the occupied span, from its end on
    inner = np.flatnonzero(count2[:, 1:-1].any(axis=0))
    a, b = (int(inner[0]) + 1, int(inner[-1]) + 2) if inner.size else (1, 1)
    keep = np.r_[0, a:b, width - 1]

    def trim(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x[:, keep])

    at_edge: dict[int, np.ndarray] = {}
    if edge_hits:
        hits = np.concatenate(edge_hits, axis=1)
        for edge in np.unique(hits[0]):
            at_edge[int(edge)] = np.bincount(hits[1][hits[0] == edge], minlength=k)
    chosen = rows if median_rows is None else np.intersect1d(rows, median_rows)
    return LatentTally(
        sample=sample,
        n_events=int(n),
        n_used=int(moments.count),
        parameterisation=parameterisation,
        kl_form=kl_form,
        mu_mean=moments.mean if moments.count else np.full(k, np.nan),
        mu_var=moments.m2 / moments.count if moments.count else np.full(k, np.nan),
        quantiles=quantiles,
        first=lo + a - 1,
        count=trim(count2),
        half_mu2=trim(shaped["half_mu2"]),
        g_sum=trim(shaped["g_sum"]),
        bad=trim(bad2),
        bad_sum=trim(shaped["bad_sum"]),
        bad_half_mu2=trim(shaped["bad_half"]),
        at_edge=at_edge,
        median_mu=np.asarray(z_mean[chosen], dtype=np.float64),
        median_s=np.asarray(z_log_var[chosen], dtype=np.float64),
    )


def _g(t: LatentTally, s: float) -> float:
    """``g(s)``, the z_log_var part of one KL term, in the tally's variance form."""
    return float(kl_per_dimension(np.zeros(1), np.array([s]), t.parameterisation, t.kl_form)[0])


def _group(
    t: LatentTally, cols: slice, g_bound: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(events, finite sum, non-finite count, non-finite sum) of the KL terms of the events
    in columns ``cols``: their own ``g(s)``, or ``g_bound`` when a clip moved them there."""
    n = t.count[:, cols].sum(axis=1)
    half = t.half_mu2[:, cols].sum(axis=1)
    if g_bound is None:
        fin = t.g_sum[:, cols].sum(axis=1) + half - t.bad_half_mu2[:, cols].sum(axis=1)
        return n, fin, t.bad[:, cols].sum(axis=1), t.bad_sum[:, cols].sum(axis=1)
    zero = np.zeros(n.shape)
    if np.isfinite(g_bound):
        return n, n * g_bound + half, zero.astype(np.int64), zero
    return n, zero, n, np.where(n > 0, g_bound, 0.0)


def latent_from_tally(
    t: LatentTally,
    clip: tuple[float, float] | None,
    *,
    n_bins: int = 40,
    active_threshold: float = ACTIVE_THRESHOLD,
) -> LatentDiagnostics | None:
    """:class:`LatentDiagnostics` of the tallied sample under ``clip``; None when a bound
    is not on the grid (use :func:`diagnostics.latent_diagnostics`)."""
    k, m = t.latent_dim, t.count.shape[1]
    bounds = None
    if clip is not None:
        ia, ib = grid_index(clip[0]), grid_index(clip[1])
        if ia is None or ib is None:
            return None
        bounds = (ia, ib)
    with np.errstate(all="ignore"):
        if bounds is None:
            groups = [_group(t, slice(0, m), None)]
            below = above = np.zeros(k, dtype=np.int64)
        else:
            ca, cb = t.column(bounds[0]), t.column(bounds[1])
            g_lo, g_hi = (
                float(
                    kl_per_dimension(np.zeros(1), np.array([b]), t.parameterisation, t.kl_form)[0]
                )
                for b in clip  # type: ignore[union-attr]
            )
            groups = [
                _group(t, slice(0, ca), g_lo),
                _group(t, slice(ca, cb), None),
                _group(t, slice(cb, m), g_hi),
            ]
            below = groups[0][0]
            above = groups[2][0] - t.at_edge.get(bounds[1], np.zeros(k, dtype=np.int64))
        fin_sum = np.sum([g[1] for g in groups], axis=0)
        n_bad = np.sum([g[2] for g in groups], axis=0).astype(np.int64)
        bad_sum = np.sum([g[3] for g in groups], axis=0)
        kl_sum = np.where(n_bad > 0, fin_sum + bad_sum, fin_sum)
        used = t.n_used
        n_fin = used - n_bad
        median_s = t.median_s if clip is None else np.clip(t.median_s, clip[0], clip[1])
        kl_median = kl_medians(t.median_mu, median_s, t.parameterisation, t.kl_form)
        edges, counts, under, over = _histogram(t, clip, n_bins)
    return LatentDiagnostics(
        sample=t.sample,
        n_events=t.n_events,
        n_used=used,
        n_nonfinite=t.n_events - used,
        clip=None if clip is None else (float(clip[0]), float(clip[1])),
        parameterisation=t.parameterisation,
        kl_form=t.kl_form,
        kl_mean=kl_sum / used if used else np.full(k, np.nan),
        kl_mean_finite=np.where(n_fin > 0, fin_sum / np.maximum(n_fin, 1), np.nan),
        kl_median=kl_median,
        kl_median_events=int(t.median_mu.shape[0]),
        kl_nonfinite=n_bad,
        mu_mean=t.mu_mean,
        mu_var=t.mu_var,
        active_threshold=float(active_threshold),
        s_quantiles=t.quantiles,
        below_clip=np.asarray(below, dtype=np.int64),
        above_clip=np.asarray(above, dtype=np.int64),
        s_edges=edges,
        s_counts=counts,
        s_underflow=under,
        s_overflow=over,
    )


def _histogram(
    t: LatentTally, clip: tuple[float, float] | None, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The raw z_log_var histogram of every dimension on edges of the grid (the range of
    ``diagnostics.latent_diagnostics``, widened outward to grid edges): ``np.histogram``'s
    bins (the last one closed), and the values below and above them."""
    k = t.latent_dim
    lo, hi = grid_histogram_range(t.quantiles, t.n_used, clip)
    i_lo = int(np.clip(np.floor(lo * GRID_SCALE), *GRID_LIMITS))
    i_hi = int(np.clip(np.ceil(hi * GRID_SCALE), *GRID_LIMITS))
    if i_hi <= i_lo:
        i_lo, i_hi = (i_lo - 1, i_hi) if i_lo > GRID_LIMITS[0] else (i_lo, i_hi + 1)
    step = max(1, -(-(i_hi - i_lo) // n_bins))
    nb = -(-(i_hi - i_lo) // step)
    i_lo = max(GRID_LIMITS[0], min(i_lo, GRID_LIMITS[1] - step * nb))  # inside the grid
    grid_edges = np.minimum(i_lo + step * np.arange(nb + 1), GRID_LIMITS[1])
    below = np.stack([t.below(int(e)) for e in grid_edges], axis=1)  # (k, nb + 1)
    counts = np.diff(below, axis=1)
    last = t.at_edge.get(int(grid_edges[-1]), np.zeros(k, dtype=np.int64))
    counts[:, -1] += last
    over = t.n_used - below[:, -1] - last
    return grid_edges / GRID_SCALE, counts.astype(np.int64), below[:, 0], over.astype(np.int64)
