"""Exact order statistics of a background cut into partitions, without sorting it whole.

The working points and the max SIC read the background only at a few ranks from the top
(``working_points.needed_ranks``): the ``k``-th largest score and how many scores lie
strictly above it and at or above it (:class:`~hepfm_core.engine.metrics.roc.RankedScore`). Each
partition sorts its own scores (``roc.prepare_background``) and ships a small summary; a
merge on one machine selects those ranks exactly, ties and ``+inf`` included, and returns a
:class:`RankTable`, which the metrics read like a sorted background.

Two ways, the same answer:

- **One round, top-K** (:func:`top_scores`, :func:`merge_top`). Each partition ships its
  ``K = max(ranks)`` largest scores, plus how many of its scores tie with the last one
  shipped. Exact: the ``k``-th largest overall (``k <= K``) is at or above every partition's
  last shipped score, so every score above it, and every tie with it, is accounted for.
  Cost: ``8 * min(K, n_p)`` bytes per partition of ``n_p`` events, and ``K`` grows with the
  background: at ``eff_B = 1e-2`` of ``1e9`` events ``K`` is ``1e7`` (80 MB per partition,
  or the whole partition when it is smaller). Fine for ``K`` up to about ``1e5``.
- **Two rounds, sketch then window** (:func:`sketch_scores`, :func:`plan_windows`,
  :func:`window_scores`, :func:`merge_windows`). Round one: each partition ships its scores
  at every ``s``-th rank of its top ``min(K, n_p)`` (``points`` of them, ``s`` the stride).
  From these, exact bounds of every partition's count above any candidate give, per rank,
  a window ``[lo, hi]`` of scores that surely holds the ``k``-th largest. Round two: each
  partition ships how many of its scores lie above ``hi`` and its scores inside the window.
  Cost: ``16 * points`` bytes per partition, then about ``2 s`` scores (the window) per
  partition and rank; ``points`` near ``sqrt(2 K)`` balances the rounds (``K = 1e7``:
  ``points ~ 4500``, about 72 kB then 35 kB per partition and rank, instead of 80 MB).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..metrics.roc import BackgroundRef, RankedScore

__all__ = [
    "RankTable",
    "Sketch",
    "TopScores",
    "Window",
    "WindowScores",
    "merge_top",
    "merge_windows",
    "plan_windows",
    "sketch_scores",
    "top_scores",
    "window_scores",
]


@dataclass(frozen=True)
class RankTable:
    """The background's size and its scores at the selected ranks: a ``roc.BackgroundTail``.

    ``ranked`` maps a rank ``k`` (the ``k``-th largest score) to its :class:`RankedScore`;
    asking for a rank that was not selected is a ``KeyError`` naming the ranks held.
    """

    n: int
    ranked: Mapping[int, RankedScore] = field(default_factory=dict)

    def at_rank(self, k: int) -> RankedScore:
        if k not in self.ranked:
            raise KeyError(
                f"rank {k} of the background was not selected (selected: {sorted(self.ranked)});"
                " select working_points.needed_ranks(n, bkg_effs, min_bkg_pass)"
            )
        return self.ranked[k]


def _check_ranks(ranks: Sequence[int], n: int) -> tuple[int, ...]:
    out = tuple(sorted({int(k) for k in ranks}))
    if out and not (1 <= out[0] and out[-1] <= n):
        raise ValueError(f"ranks must lie in 1..{n} (the background's events), got {list(out)}")
    return out


def _descending(background: BackgroundRef, k: int) -> np.ndarray:
    """The ``k`` largest scores of a sorted background, largest first (a copy)."""
    b = background.scores
    return b[b.size - k :][::-1].copy()


# -- one round: top-K ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TopScores:
    """One partition's largest scores: what :func:`merge_top` needs of it.

    ``n``: the partition's events; ``values``: its ``min(K, n)`` largest scores, largest
    first; ``extra_at_cut``: how many of its scores equal ``values[-1]`` but did not fit.
    """

    n: int
    values: np.ndarray
    extra_at_cut: int

    @property
    def nbytes(self) -> int:
        """Size of the payload: the scores and the two counts."""
        return int(self.values.nbytes) + 16


def top_scores(background: BackgroundRef, k: int) -> TopScores:
    """The ``k`` largest scores of one partition (all of them if it has fewer).

    Parameters
    ----------
    background : BackgroundRef
        The partition's kept scores, sorted (``prepare_background``).
    k : int
        The largest rank the merge will ask for: ``max(needed_ranks(...))`` of the whole
        background, or an upper bound of it.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    m = min(k, background.n)
    values = _descending(background, m)
    extra = 0
    if 0 < m < background.n:
        b = background.scores
        ties = int(np.searchsorted(b, values[-1], side="right")) - int(
            np.searchsorted(b, values[-1], side="left")
        )
        extra = ties - int(np.count_nonzero(values == values[-1]))
    values.setflags(write=False)
    return TopScores(n=background.n, values=values, extra_at_cut=extra)


def merge_top(parts: Sequence[TopScores], ranks: Sequence[int]) -> RankTable:
    """The background's scores at ``ranks``, exactly, from every partition's top scores.

    Raises ``ValueError`` when a partition shipped fewer scores than the largest rank needs
    (and held more): its ``k`` was too small.

    Examples
    --------
    The 2nd largest of ``[5, 3, 3, 3, 1]`` is 3; its partition shipped one 3 of three, the
    other counts travel as ``extra_at_cut``:

    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.roc import prepare_background
    >>> from hepfm_core.engine.distributed.order_statistics import merge_top, top_scores
    >>> parts = [np.array([3.0, 3.0, 1.0]), np.array([5.0, 3.0])]
    >>> tops = [top_scores(prepare_background(p), 2) for p in parts]
    >>> merge_top(tops, [2]).at_rank(2)
    RankedScore(value=3.0, above=1, at_or_above=4)
    """
    n = sum(p.n for p in parts)
    wanted = _check_ranks(ranks, n)
    if not wanted:
        return RankTable(n=n)
    for i, p in enumerate(parts):
        if p.values.size < min(wanted[-1], p.n):
            raise ValueError(
                f"partition {i} shipped its top {p.values.size} scores of {p.n}; rank "
                f"{wanted[-1]} needs the top {wanted[-1]}"
            )
    # The k-th largest of the shipped scores by selection, not a sort (26 partitions of a
    # 27 M background ship 7 M scores: 0.5 s sorted on the client per clip change); the
    # counts by a binary search in each partition's own scores (largest first).
    merged = np.concatenate([p.values for p in parts])
    size = merged.size
    chosen = np.partition(merged, [size - k for k in wanted])
    ascending = [np.negative(p.values) for p in parts]
    ranked = {}
    for k in wanted:
        value = chosen[size - k]
        above = sum(int(np.searchsorted(a, -value, side="left")) for a in ascending)
        at_or_above = sum(int(np.searchsorted(a, -value, side="right")) for a in ascending)
        # Ties with a partition's last shipped score may not all have fitted.
        at_or_above += sum(
            p.extra_at_cut for p in parts if p.extra_at_cut and p.values[-1] == value
        )
        ranked[k] = RankedScore(value=float(value), above=above, at_or_above=at_or_above)
    return RankTable(n=n, ranked=ranked)


# -- two rounds: sketch, then window ------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Sketch:
    """One partition's scores at every ``s``-th rank of its top: round one of two.

    ``ranks``: ascending 1-based ranks ``s, 2s, ...`` and the last rank ``min(K, n)``;
    ``values``: the partition's scores at those ranks (non-increasing).
    """

    n: int
    ranks: np.ndarray
    values: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.ranks.nbytes + self.values.nbytes) + 8


def sketch_scores(background: BackgroundRef, k: int, points: int = 1024) -> Sketch:
    """About ``points`` scores at evenly spaced ranks of the partition's top ``min(k, n)``.

    ``k`` is as for :func:`top_scores`; ``points`` near ``sqrt(2 k)`` balances the bytes of
    the two rounds.
    """
    if k < 0 or points < 1:
        raise ValueError(f"need k >= 0 and points >= 1, got k={k}, points={points}")
    top = min(k, background.n)
    stride = max(1, math.ceil(top / points))
    ranks = np.arange(stride, top + 1, stride, dtype=np.int64)
    if top and (ranks.size == 0 or ranks[-1] != top):
        ranks = np.append(ranks, np.int64(top))
    values = background.scores[background.n - ranks]
    for a in (ranks, values):
        a.setflags(write=False)
    return Sketch(n=background.n, ranks=ranks, values=values)


@dataclass(frozen=True)
class Window:
    """Scores ``lo <= x <= hi`` that surely hold the background's ``rank``-th largest."""

    rank: int
    lo: float
    hi: float


def plan_windows(sketches: Sequence[Sketch], ranks: Sequence[int]) -> tuple[Window, ...]:
    """Per rank, a window of scores that holds the background's score at that rank.

    From the sketches, per candidate score ``v`` (every score in them) and per partition:
    a lower bound of its count ``>= v`` (the largest sketched rank whose score is ``>= v``)
    and an upper bound of its count ``> v`` (the smallest sketched rank whose score is
    ``<= v``, minus one; else its size). ``lo``: the largest candidate whose lower bounds add
    up to at least ``k``; ``hi``: the smallest candidate whose upper bounds add up to less
    than ``k`` (``+inf`` if none). Then the ``k``-th largest score lies in ``[lo, hi]``.
    """
    n = sum(s.n for s in sketches)
    wanted = _check_ranks(ranks, n)
    if not wanted:
        return ()
    for i, s in enumerate(sketches):
        if s.n and (s.ranks.size == 0 or s.ranks[-1] < min(wanted[-1], s.n)):
            raise ValueError(
                f"partition {i} sketched its top {int(s.ranks[-1]) if s.ranks.size else 0} "
                f"scores of {s.n}; rank {wanted[-1]} needs the top {wanted[-1]}"
            )
    # Both bounds are sums of step functions of v: per sketched score, what a partition's
    # bound gains once v passes it. One sort of all sketched scores evaluates them at every
    # candidate: O(C log C) for C sketched scores, whatever the number of partitions.
    full = [s for s in sketches if s.n]
    values = np.concatenate([np.empty(0), *(s.values for s in full)])
    # lower bound of #(>= v): the rank of the last sketched score >= v
    gain_ge = np.concatenate([np.empty(0, np.int64), *(np.diff(s.ranks, prepend=0) for s in full)])
    # upper bound of #(> v): (rank of the first sketched score <= v) - 1, else n
    gain_gt = np.concatenate(
        [np.empty(0, np.int64), *(np.append(s.ranks[1:], s.n + 1) - s.ranks for s in full)]
    )
    base_gt = sum(int(s.ranks[0]) - 1 for s in full)
    order = np.argsort(values, kind="stable")
    ascending = values[order]
    cum_ge = np.concatenate(([0], np.cumsum(gain_ge[order])))
    cum_gt = np.concatenate(([0], np.cumsum(gain_gt[order])))
    cand = np.unique(ascending)
    at_least = cum_ge[-1] - cum_ge[np.searchsorted(ascending, cand, side="left")]
    at_most = base_gt + cum_gt[-1] - cum_gt[np.searchsorted(ascending, cand, side="right")]
    windows = []
    for k in wanted:
        # at_least falls and at_most falls as v grows: the last / first index that qualifies.
        lo_i = int(np.searchsorted(-at_least, -k, side="right")) - 1
        hi_i = int(np.searchsorted(-at_most, -k, side="right"))
        lo = float(cand[lo_i])
        hi = float(cand[hi_i]) if hi_i < cand.size else math.inf
        windows.append(Window(rank=k, lo=lo, hi=hi))
    return tuple(windows)


@dataclass(frozen=True, eq=False)
class WindowScores:
    """One partition's answer to the windows: round two of two.

    Per window (same order): ``above[i]`` its scores ``> hi``, ``at_hi[i]`` its scores
    ``== hi``, ``inside[i]`` its scores strictly between ``lo`` and ``hi`` (ascending) and
    ``at_lo[i]`` its scores ``== lo`` (0 when ``lo == hi``). Ties at the ends travel as
    counts, so a block of tied scores (``+inf`` under the ``worst`` policy) costs nothing.
    """

    n: int
    above: np.ndarray
    at_hi: np.ndarray
    at_lo: np.ndarray
    inside: tuple[np.ndarray, ...]

    @property
    def nbytes(self) -> int:
        counts = self.above.nbytes + self.at_hi.nbytes + self.at_lo.nbytes
        return int(counts + sum(v.nbytes for v in self.inside)) + 8


def window_scores(background: BackgroundRef, windows: Sequence[Window]) -> WindowScores:
    """How many of the partition's scores lie above each window and at its ends, and the
    scores strictly inside it."""
    b = background.scores
    rows = []
    inside = []
    for w in windows:
        lo_start = int(np.searchsorted(b, w.lo, side="left"))
        lo_stop = int(np.searchsorted(b, w.lo, side="right"))
        hi_start = int(np.searchsorted(b, w.hi, side="left"))
        hi_stop = int(np.searchsorted(b, w.hi, side="right"))
        at_lo = lo_stop - lo_start if w.lo != w.hi else 0
        rows.append((b.size - hi_stop, hi_stop - hi_start, at_lo))
        part = b[lo_stop:hi_start].copy() if lo_stop < hi_start else b[:0].copy()
        part.setflags(write=False)
        inside.append(part)
    table = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return WindowScores(
        n=background.n,
        above=table[:, 0].copy(),
        at_hi=table[:, 1].copy(),
        at_lo=table[:, 2].copy(),
        inside=tuple(inside),
    )


def merge_windows(parts: Sequence[WindowScores], windows: Sequence[Window]) -> RankTable:
    """The background's scores at the windows' ranks, exactly, from every partition's answer.

    Every score above the selected one lies above ``hi``, at an end or inside the window,
    and every tie with it at the same place, so the counts are exact.
    """
    n = sum(p.n for p in parts)
    ranked = {}
    for i, w in enumerate(windows):
        above_hi = sum(int(p.above[i]) for p in parts)
        at_hi = sum(int(p.at_hi[i]) for p in parts)
        at_lo = sum(int(p.at_lo[i]) for p in parts)
        inside = np.sort(np.concatenate([p.inside[i] for p in parts]))
        j = w.rank - above_hi - at_hi  # 1-based rank below hi, from the top
        if w.rank <= above_hi or j > inside.size + at_lo:
            raise ValueError(
                f"the window [{w.lo!r}, {w.hi!r}] does not hold rank {w.rank}: it was not "
                "planned from these partitions' sketches"
            )
        if j <= 0:
            value, above, at_or_above = w.hi, above_hi, above_hi + at_hi
        elif j <= inside.size:
            value = float(inside[inside.size - j])
            top = above_hi + at_hi + inside.size
            above = top - int(np.searchsorted(inside, value, side="right"))
            at_or_above = top - int(np.searchsorted(inside, value, side="left"))
        else:
            value = w.lo
            above = above_hi + at_hi + inside.size
            at_or_above = above + at_lo
        ranked[w.rank] = RankedScore(value=float(value), above=above, at_or_above=at_or_above)
    return RankTable(n=n, ranked=ranked)
