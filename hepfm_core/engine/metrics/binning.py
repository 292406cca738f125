"""Pre-binned loss distributions for the charts: shared log-spaced edges, counts, and
what fell outside them.

Nothing is dropped silently: every value of a sample is counted exactly once, either in a
bin or as underflow (finite, below the first edge, which includes every value <= 0 on a log
axis), overflow (finite, above the last edge), NaN, +inf or -inf. Bins are half-open
``[lo, hi)`` except the last, which is closed ``[lo, hi]`` so the largest value that set the
range lands in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from ...errors import SettingsError

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_RANGE",
    "Tally",
    "histogram_table",
    "histogram_table_from_tallies",
    "overflow_table",
    "overflow_table_from_tallies",
    "shared_log_edges",
    "tally",
    "tally_sorted",
]

DEFAULT_RANGE: tuple[float, float] = (1e-3, 1.0)
DEFAULT_BINS = 60
"""Log bins of the loss histograms (the dashboard's slider starts here)."""


@dataclass(frozen=True, eq=False)
class Tally:
    """Counts of one sample against one set of edges (:func:`tally`).

    ``counts`` per bin; ``underflow`` / ``overflow``: finite values below / above the edges;
    ``nan``, ``posinf``, ``neginf``: the non-finite values; all of them add up to ``total``.
    Tallies of parts of a sample on the same edges add up to the sample's tally.
    """

    counts: np.ndarray  # (n_bins,) int64
    total: int
    underflow: int
    overflow: int
    nan: int
    posinf: int
    neginf: int


def shared_log_edges(
    samples: Mapping[str, np.ndarray],
    n_bins: int = DEFAULT_BINS,
    lo: float | None = None,
    hi: float | None = None,
) -> np.ndarray:
    """``n_bins + 1`` log-spaced edges shared by all samples, so their histograms compare.

    Default range: the smallest positive finite value to the largest finite value over all
    samples (exact extremes, no quantiles: every positive finite value lands in a bin, and
    extreme values stay visible instead of going to the overflow count). ``lo`` / ``hi``
    override either end. If no sample has a positive finite value the range is
    ``DEFAULT_RANGE`` (1e-3 .. 1); a single distinct value gets one decade around it.

    Parameters
    ----------
    samples : mapping of str to np.ndarray
        Each sample's scores, 1-D; NaN, +-inf and values <= 0 are allowed (and ignored here).
    n_bins : int
        Number of bins, at least 1.
    lo, hi : float, optional
        Fixed ends of the range (finite and positive); None for the data's.

    Returns
    -------
    np.ndarray
        ``n_bins + 1`` increasing, read-only edges, ``lo`` and ``hi`` exactly at the ends.

    Raises
    ------
    SettingsError
        For ``n_bins < 1`` or bounds that are not ``0 < lo < hi < inf``.

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.binning import shared_log_edges
    >>> samples = {"background": np.array([0.5, 1.0, 2.0, 5.0]), "signal": np.array([3.0, 10.0])}
    >>> shared_log_edges(samples, n_bins=2).round(4).tolist()  # 0.5 .. 10, sqrt(5) between
    [0.5, 2.2361, 10.0]
    >>> shared_log_edges(samples, n_bins=2, hi=1e3).round(4).tolist()
    [0.5, 22.3607, 1000.0]
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise SettingsError(
            f"the number of bins must be a positive integer, got {n_bins!r}",
            todo="choose at least 1 bin",
        )
    for name, bound in (("lower", lo), ("upper", hi)):
        if bound is not None and not (math.isfinite(bound) and bound > 0.0):
            raise SettingsError(
                f"the {name} histogram bound must be finite and positive on a log axis, "
                f"got {bound!r}",
                todo="choose a positive bound or leave it automatic",
            )
    if lo is None or hi is None:
        data_lo, data_hi = _positive_range(samples)
        if data_lo is None or data_hi is None:
            data_lo, data_hi = DEFAULT_RANGE
        elif data_lo == data_hi:
            data_lo, data_hi = data_lo / math.sqrt(10.0), data_hi * math.sqrt(10.0)
        if lo is None and hi is not None and data_lo >= hi:
            data_lo = hi / 10.0
        if hi is None and lo is not None and data_hi <= lo:
            data_hi = lo * 10.0
        lo = data_lo if lo is None else lo
        hi = data_hi if hi is None else hi
    if not lo < hi:
        raise SettingsError(
            f"the histogram range is empty: lower bound {lo!r} >= upper bound {hi!r}",
            todo="choose a lower bound below the upper bound",
        )
    edges = np.geomspace(lo, hi, int(n_bins) + 1)
    edges[0], edges[-1] = lo, hi  # exact ends, whatever rounding geomspace does
    edges.setflags(write=False)
    return edges


def histogram_table(
    samples: Mapping[str, np.ndarray], edges: np.ndarray, *, density: bool = False
) -> pl.DataFrame:
    """One row per (sample, bin): ``sample, bin, lo, hi, count, value``.

    ``value`` is ``count``, or with ``density=True`` ``count / (total * (hi - lo))``, where
    ``total`` is the sample's full size including under/overflow and non-finite values:
    the areas then sum to the fraction of the sample inside the range, and a sample with many
    non-finite scores visibly has less area. An empty sample has value 0 in every bin.
    Values may contain NaN and +-inf (they are counted by :func:`overflow_table`).

    Parameters
    ----------
    samples : mapping of str to np.ndarray
        Each sample's scores, 1-D.
    edges : np.ndarray
        Finite, strictly increasing bin edges (:func:`shared_log_edges`); bins are
        ``[lo, hi)``, the last one closed.
    density : bool
        Divide each count by the sample's total and the bin's width.

    Returns
    -------
    pl.DataFrame
        Columns ``sample, bin, lo, hi, count, value``, ``len(samples) * (len(edges) - 1)``
        rows.

    Examples
    --------
    The signal's +inf is in no bin (:func:`overflow_table` counts it), so its density
    integrates to 2/3:

    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.binning import histogram_table
    >>> samples = {"background": np.array([0.5, 1.0, 2.0, 5.0]), "signal": np.array([3.0, np.inf])}
    >>> table = histogram_table(samples, np.array([0.5, 2.5, 10.0]))
    >>> table.select("sample", "bin", "count").rows()
    [('background', 0, 3), ('background', 1, 1), ('signal', 0, 0), ('signal', 1, 1)]
    >>> dens = histogram_table(samples, np.array([0.5, 2.5, 10.0]), density=True)
    >>> [round(v, 4) for v in dens["value"]]
    [0.375, 0.0333, 0.0, 0.0667]
    """
    e = _check_edges(edges)
    return histogram_table_from_tallies(
        {name: _tally(x, e) for name, x in samples.items()}, e, density=density
    )


def histogram_table_from_tallies(
    tallies: Mapping[str, Tally], edges: np.ndarray, *, density: bool = False
) -> pl.DataFrame:
    """:func:`histogram_table` from each sample's :class:`Tally` on ``edges`` (e.g. summed
    over partitions of the samples)."""
    e = _check_edges(edges)
    n_bins = e.size - 1
    names: list[str] = []
    counts: list[np.ndarray] = []
    values: list[np.ndarray] = []
    width = np.diff(e)
    for name, tally in tallies.items():
        if tally.counts.shape != (n_bins,):
            raise ValueError(f"the tally of {name!r} has {tally.counts.size} bins, not {n_bins}")
        names.append(str(name))
        counts.append(tally.counts)
        if density:
            norm = tally.total * width
            with np.errstate(all="raise"):
                v = tally.counts / norm if tally.total > 0 else np.zeros(n_bins)
        else:
            v = tally.counts.astype(np.float64)
        values.append(v)
    k = len(names)
    return pl.DataFrame(
        {
            "sample": pl.Series("sample", [n for n in names for _ in range(n_bins)], pl.String),
            "bin": pl.Series("bin", np.tile(np.arange(n_bins, dtype=np.int64), k), pl.Int64),
            "lo": pl.Series("lo", np.tile(e[:-1], k), pl.Float64),
            "hi": pl.Series("hi", np.tile(e[1:], k), pl.Float64),
            "count": pl.Series(
                "count", np.concatenate(counts) if k else np.empty(0, np.int64), pl.Int64
            ),
            "value": pl.Series(
                "value", np.concatenate(values) if k else np.empty(0, np.float64), pl.Float64
            ),
        }
    )


def overflow_table(samples: Mapping[str, np.ndarray], edges: np.ndarray) -> pl.DataFrame:
    """One row per sample: what fell outside the bins of ``edges``.

    Columns ``sample, total, in_range, underflow, overflow, nonfinite, posinf, neginf``:
    ``underflow`` = finite values below ``edges[0]`` (including every value <= 0),
    ``overflow`` = finite values above ``edges[-1]`` (the last edge itself is in range),
    ``nonfinite`` = NaN, ``posinf`` / ``neginf`` = +inf / -inf. The six counts sum to ``total``.
    """
    e = _check_edges(edges)
    return overflow_table_from_tallies({name: _tally(x, e) for name, x in samples.items()}, e)


def overflow_table_from_tallies(tallies: Mapping[str, Tally], edges: np.ndarray) -> pl.DataFrame:
    """:func:`overflow_table` from each sample's :class:`Tally` on ``edges``."""
    _check_edges(edges)
    rows = []
    for name, t in tallies.items():
        rows.append(
            {
                "sample": str(name),
                "total": t.total,
                "in_range": int(t.counts.sum()),
                "underflow": t.underflow,
                "overflow": t.overflow,
                "nonfinite": t.nan,
                "posinf": t.posinf,
                "neginf": t.neginf,
            }
        )
    schema = {"sample": pl.String} | {
        c: pl.Int64
        for c in ("total", "in_range", "underflow", "overflow", "nonfinite", "posinf", "neginf")
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


# -- internals ----------------------------------------------------------------------------
def _as_1d(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)  # no copy for float64 input (memory maps included)
    if a.ndim != 1:
        raise ValueError(f"sample values must be a 1-D array, got shape {a.shape}")
    return a


def _positive_range(samples: Mapping[str, np.ndarray]) -> tuple[float | None, float | None]:
    """Smallest positive finite and largest finite value over all samples (no copies)."""
    lo, hi = math.inf, -math.inf
    for x in samples.values():
        a = _as_1d(x)
        if a.size == 0:
            continue
        finite = np.isfinite(a)
        hi = max(hi, float(np.max(a, where=finite, initial=-np.inf)))
        lo = min(lo, float(np.min(a, where=finite & (a > 0.0), initial=np.inf)))
    if not math.isfinite(lo) or hi <= 0.0:
        return None, None
    return lo, hi


def _check_edges(edges: np.ndarray) -> np.ndarray:
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise ValueError(f"edges must be a 1-D array of at least 2 values, got shape {e.shape}")
    if not np.all(np.isfinite(e)) or not np.all(e[1:] > e[:-1]):
        raise ValueError("edges must be finite and strictly increasing")
    return e


def tally(x: np.ndarray, edges: np.ndarray) -> Tally:
    """Count the values ``x`` (1-D; NaN and +-inf allowed) against ``edges``: bins, values
    outside them and non-finite values, adding up to ``x.size``.

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.binning import tally
    >>> t = tally(np.array([0.0, 1.0, 3.0, 99.0, np.nan, np.inf]), np.array([0.5, 2.5, 10.0]))
    >>> t.counts.tolist(), t.underflow, t.overflow, t.nan, t.posinf, t.total
    ([1, 1], 1, 1, 1, 1, 6)
    """
    return _tally(x, _check_edges(edges))


def _tally(x: np.ndarray, edges: np.ndarray) -> Tally:
    """Count one sample against ``edges``: ``[e_i, e_i+1)``, the last bin closed.

    The bins are ``np.histogram``'s (explicit edges: the last bin is closed, values outside
    and NaN are left out); what it leaves out is counted here: -inf and finite values below
    the first edge, +inf and finite values above the last, and NaN, so that the counts add up
    to the sample's size.
    """
    a = _as_1d(x)
    counts, _ = np.histogram(a, bins=edges)
    below = int(np.count_nonzero(a < edges[0]))  # -inf included
    above = int(np.count_nonzero(a > edges[-1]))  # +inf included
    neginf = int(np.count_nonzero(a == -np.inf))
    posinf = int(np.count_nonzero(a == np.inf))
    total = int(a.size)
    return Tally(
        counts=counts.astype(np.int64, copy=False),
        total=total,
        underflow=below - neginf,
        overflow=above - posinf,
        nan=total - int(counts.sum()) - below - above,
        posinf=posinf,
        neginf=neginf,
    )


def tally_sorted(finite_sorted: np.ndarray, total: int, edges: np.ndarray) -> Tally:
    """:func:`tally` of a sample given as its finite values sorted ascending, the other
    ``total - finite_sorted.size`` being NaN: a few binary searches, no pass over the values.

    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.binning import tally_sorted
    >>> t = tally_sorted(np.array([0.0, 1.0, 2.5, 3.0, 99.0]), 7, np.array([0.5, 2.5, 10.0]))
    >>> t.counts.tolist(), t.underflow, t.overflow, t.nan, t.total
    ([1, 2], 1, 1, 2, 7)
    """
    e = _check_edges(edges)
    a = _as_1d(finite_sorted)
    left = np.searchsorted(a, e, side="left")
    counts = np.diff(left)
    at_last = int(np.searchsorted(a, e[-1], side="right")) - int(left[-1])
    counts[-1] += at_last  # np.histogram's last bin is closed
    return Tally(
        counts=counts.astype(np.int64),
        total=int(total),
        underflow=int(left[0]),
        overflow=int(a.size - left[-1] - at_last),
        nan=int(total) - int(a.size),
        posinf=0,
        neginf=0,
    )
