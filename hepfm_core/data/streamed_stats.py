"""The background's normalisation from streamed passes: exact, in memory bounded by a block.

The same estimator as the demo's (``generator.estimate_normalisation``), over every event of
a sample however many there are: per branch, the mean and std of the finite values (padding
included, upstream's convention) after trimming those outside the branch's 0.01 % and
99.99 % quantiles (numpy's default, linear interpolation), and the median of the finite
values of real (not all-zero) tracks as the fill value.

Quantiles and medians are order statistics, found exactly without holding the values: each
float32 value maps to a 32-bit key that sorts as the value does; one pass counts the keys'
upper 16 bits (65,536 bins) per branch, which locates every wanted rank in one bin, and a
second pass counts the lower 16 bits of the values in those bins, which gives the values.
A third pass sums the trimmed moments (merged per block, Chan et al.'s update).

Pure: ``passes()`` hands a fresh iterator over the raw ``(events, tracks * branches)`` blocks
for each pass (a file read again, say); nothing here opens a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .normalisation import Normalisation

__all__ = [
    "TRIM_QUANTILE",
    "BranchMoments",
    "Passes",
    "float32_keys",
    "streamed_normalisation",
]

TRIM_QUANTILE = 1e-4
"""Each branch is trimmed below this quantile and above 1 minus it (the demo's choice)."""

_SIGN = np.uint32(0x80000000)
_LOW = np.uint32(0xFFFF)
_BINS = 1 << 16

Passes = Callable[[], Iterable[np.ndarray]]


def float32_keys(values: np.ndarray) -> np.ndarray:
    """uint32 keys ordered as the float32 ``values`` are (NaN excluded by the caller).

    Non-negative floats keep their bits with the sign bit set; negative ones are inverted.
    ``-0.0`` sorts just below ``+0.0``, which are equal as values.
    """
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _key_value(key: int) -> float:
    """The float32 value of a key of :func:`float32_keys`, as a Python float."""
    k = np.uint32(key)
    bits = k & ~_SIGN if k & _SIGN else ~k
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


@dataclass
class BranchMoments:
    """Count, mean and sum of squared deviations, merged block by block."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        v = values.astype(np.float64)
        n_b = int(v.size)
        mean_b = float(v.mean())
        m2_b = float(((v - mean_b) ** 2).sum())
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n

    @property
    def std(self) -> float:
        return float(np.sqrt(max(self.m2 / self.n, 0.0))) if self.n else 0.0


def _columns(block: np.ndarray, n_branches: int) -> tuple[np.ndarray, np.ndarray]:
    """(per-track rows ``(k, n_branches)`` float32, which rows are real tracks)."""
    per_track = np.asarray(block, dtype=np.float32).reshape(-1, n_branches)
    return per_track, np.any(per_track != 0.0, axis=1)


def _rank_positions(n: int, q: float) -> tuple[int, int, float]:
    """numpy's linear quantile of ``n`` sorted values: lower rank, upper rank, weight."""
    h = (n - 1) * q
    lower = int(np.floor(h))
    return lower, min(lower + 1, n - 1), float(h - lower)


def _lerp(a: float, b: float, gamma: float) -> float:
    """``np.quantile``'s interpolation between two neighbouring order statistics."""
    return float(np.quantile(np.array([a, b], dtype=np.float64), gamma))


def streamed_normalisation(
    passes: Passes,
    n_branches: int,
    n_tracks: int,
    *,
    clip: float | None = None,
    source: str = "",
    trim: float = TRIM_QUANTILE,
) -> Normalisation:
    """Per-branch trimmed means and stds and real-track medians over every block, exactly.

    Parameters
    ----------
    passes : callable
        Returns a fresh iterable of raw ``(events, n_tracks * n_branches)`` float32 blocks,
        track-major; called three times.
    n_branches, n_tracks : int
        The layout of a row.
    clip, source : optional
        Stored with the normalisation.
    trim : float
        Values outside the ``trim`` and ``1 - trim`` quantiles of a branch are left out of
        its mean and std.

    Returns
    -------
    Normalisation
        Tiled over ``n_tracks``; a branch without any finite value gets mean 0, std 0 and
        fill 0.

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.data.generator import GeneratorConfig, estimate_normalisation
    >>> raw = np.random.default_rng(1).normal(size=(500, 12)).astype(np.float32)
    >>> blocks = lambda: (raw[i : i + 64] for i in range(0, 500, 64))
    >>> streamed = streamed_normalisation(blocks, 6, 2, clip=None)
    >>> reference = estimate_normalisation(raw, GeneratorConfig(n_tracks=2))
    >>> bool(np.allclose(streamed.means, reference.means, rtol=1e-12, atol=1e-15))
    True
    >>> bool(np.array_equal(streamed.fill, reference.fill))
    True
    """
    sets = ("all", "real")
    # pass 1: the upper 16 bits of every finite value's key, per branch and set
    upper = {(b, s): np.zeros(_BINS, dtype=np.int64) for b in range(n_branches) for s in sets}
    for block in passes():
        per_track, real = _columns(block, n_branches)
        for b in range(n_branches):
            col = per_track[:, b]
            fin = np.isfinite(col)
            for s, mask in (("all", fin), ("real", fin & real)):
                keys = float32_keys(col[mask])
                upper[b, s] += np.bincount(keys >> 16, minlength=_BINS)

    # the ranks wanted: two per quantile (interpolation), one or two for the median
    wanted: dict[tuple[int, str], set[int]] = {key: set() for key in upper}
    counts = {key: int(h.sum()) for key, h in upper.items()}
    for b in range(n_branches):
        n_all, n_real = counts[b, "all"], counts[b, "real"]
        if n_all:
            for q in (trim, 1 - trim):
                lower, up, _ = _rank_positions(n_all, q)
                wanted[b, "all"].update((lower, up))
        if n_real:
            wanted[b, "real"].update(((n_real - 1) // 2, n_real // 2))
    cum = {key: np.cumsum(h) for key, h in upper.items()}
    prefix_of: dict[tuple[int, str, int], int] = {}
    for key, ranks in wanted.items():
        for r in ranks:
            prefix_of[(*key, r)] = int(np.searchsorted(cum[key], r, side="right"))
    prefixes = {key: sorted({prefix_of[(*key, r)] for r in ranks}) for key, ranks in wanted.items()}

    # pass 2: the lower 16 bits of the values in the bins that hold a wanted rank
    low_bins = {
        (b, s, p): np.zeros(_BINS, dtype=np.int64) for (b, s), ps in prefixes.items() for p in ps
    }
    if low_bins:
        for block in passes():
            per_track, real = _columns(block, n_branches)
            for b in range(n_branches):
                if not (prefixes[b, "all"] or prefixes[b, "real"]):
                    continue
                col = per_track[:, b]
                fin = np.isfinite(col)
                for s, mask in (("all", fin), ("real", fin & real)):
                    if not prefixes[b, s]:
                        continue
                    keys = float32_keys(col[mask])
                    top = keys >> 16
                    for p in prefixes[b, s]:
                        low_bins[b, s, p] += np.bincount(keys[top == p] & _LOW, minlength=_BINS)

    def order_statistic(b: int, s: str, r: int) -> float:
        p = prefix_of[(b, s, r)]
        before = int(cum[b, s][p - 1]) if p else 0
        low = int(np.searchsorted(np.cumsum(low_bins[b, s, p]), r - before, side="right"))
        return _key_value((p << 16) | low)

    lo = np.full(n_branches, np.nan)
    hi = np.full(n_branches, np.nan)
    fill = np.zeros(n_branches)
    for b in range(n_branches):
        n_all, n_real = counts[b, "all"], counts[b, "real"]
        if n_all:
            bounds = []
            for q in (trim, 1 - trim):
                r_lo, r_up, gamma = _rank_positions(n_all, q)
                a, c = order_statistic(b, "all", r_lo), order_statistic(b, "all", r_up)
                bounds.append(_lerp(a, c, gamma))
            lo[b], hi[b] = bounds
        if n_real:
            a = order_statistic(b, "real", (n_real - 1) // 2)
            c = order_statistic(b, "real", n_real // 2)
            fill[b] = float(np.mean(np.array([a, c], dtype=np.float64)))

    # pass 3: moments of the finite values within each branch's trimmed range
    moments = [BranchMoments() for _ in range(n_branches)]
    for block in passes():
        per_track, _ = _columns(block, n_branches)
        for b in range(n_branches):
            if np.isnan(lo[b]):
                continue
            col = per_track[:, b].astype(np.float64)
            with np.errstate(invalid="ignore"):
                keep = np.isfinite(col) & (col >= lo[b]) & (col <= hi[b])
            moments[b].add(col[keep])
    means = np.array([m.mean for m in moments])
    stds = np.array([m.std for m in moments])
    return Normalisation.per_branch(means, stds, n_tracks, fill=fill, clip=clip, source=source)
