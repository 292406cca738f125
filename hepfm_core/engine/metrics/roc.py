"""The ROC of one signal against the background, exactly, from integer counts.

Scores: higher = more anomalous; a cut keeps ``score > threshold``. The background is sorted
once (:func:`prepare_background`) and shared by every signal; the counts of one signal
(:class:`Counts`) then cost ``O(m log n)`` for ``m`` signal events, via binary search in the
sorted background, never a sort of the union. NaN or ``-inf`` scores are a programming error
(the non-finite policy removes or maps them) and raise ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "BackgroundRef",
    "BackgroundTail",
    "Counts",
    "RankedScore",
    "RocCurve",
    "as_1d",
    "bad_values_message",
    "distinct_scores",
    "prepare_background",
    "resorted",
    "roc_curve",
    "sorted_signal",
    "thin_roc",
]


@dataclass(frozen=True)
class RankedScore:
    """The ``k``-th largest background score and how many background scores reach it.

    ``above``: background events with a score ``> value``; ``at_or_above``: ``>= value``
    (they differ by the events tied at ``value``).
    """

    value: float
    above: int
    at_or_above: int


class BackgroundTail(Protocol):
    """What the working points and the max SIC read of the background: its size and the
    scores at a few ranks from the top, with the counts above them.

    A sorted array answers for any rank (:class:`BackgroundRef`); a merge of partitions
    answers for the ranks it selected (``selection.RankTable``), which is all they need.
    """

    @property
    def n(self) -> int: ...

    def at_rank(self, k: int) -> RankedScore:
        """The ``k``-th largest score (``1 <= k <= n``) and the counts above it."""
        ...


@dataclass(frozen=True, eq=False)
class BackgroundRef:
    """The background scores sorted ascending once, shared by every signal.

    Build it with :func:`prepare_background`; ``scores`` is read-only and must stay sorted.
    """

    scores: np.ndarray
    n: int

    def at_rank(self, k: int) -> RankedScore:
        """The ``k``-th largest score (``1 <= k <= n``) and the counts above it."""
        if not 1 <= k <= self.n:
            raise ValueError(f"rank {k} outside 1..{self.n}")
        b = self.scores
        value = b[self.n - k]
        return RankedScore(
            value=float(value),
            above=self.n - int(np.searchsorted(b, value, side="right")),
            at_or_above=self.n - int(np.searchsorted(b, value, side="left")),
        )


@dataclass(frozen=True, eq=False)
class RocCurve:
    """Vertices of the exact ROC step curve, ``fpr`` (eff_B) and ``tpr`` (eff_S) non-decreasing.

    Point ``i`` is what the cut ``score > thresholds[i]`` selects. Thresholds decrease from
    ``+inf`` (nothing selected) to ``-inf`` (everything); a point reached only by including a
    whole tie block carries ``nextafter(t, -inf)``, the exact float below the tied score ``t``.
    Straight lines between vertices are the curve (a diagonal is a tie of signal and background).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray

    def __len__(self) -> int:
        return int(self.fpr.shape[0])


def prepare_background(scores: np.ndarray) -> BackgroundRef:
    """Sort the background scores once (a copy; the input is not touched).

    Every signal is then compared against this one sorted copy by binary search, so a
    signal of ``m`` events costs ``O(m log n)``, never a sort of the union.

    Parameters
    ----------
    scores : np.ndarray
        The background's kept scores, 1-D, finite or ``+inf``.

    Returns
    -------
    BackgroundRef
        The sorted, read-only scores and their number.

    Raises
    ------
    ValueError
        For a non-1-D array or any NaN / ``-inf`` value.

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.separation import prepare_background
    >>> ref = prepare_background(np.array([3.0, np.inf, 1.0, 2.0]))
    >>> ref.n, ref.scores.tolist()
    (4, [1.0, 2.0, 3.0, inf])
    """
    x = as_1d(scores, "background")
    ordered = np.sort(x)
    # After sorting, NaN sits at the end and -inf at the start: an O(1) check.
    if ordered.size and (np.isnan(ordered[-1]) or ordered[0] == -np.inf):
        n_nan = int(np.count_nonzero(np.isnan(ordered)))
        n_neg = int(np.count_nonzero(ordered == -np.inf))
        raise ValueError(bad_values_message("background", n_nan, n_neg))
    ordered.setflags(write=False)
    return BackgroundRef(scores=ordered, n=int(ordered.size))


def resorted(ref: BackgroundRef, scores: np.ndarray) -> BackgroundRef | None:
    """``scores`` sorted, read from ``ref`` without a sort, where ``scores`` are ``ref``'s
    finite scores with another number of +inf: the same scores under the other policy
    (``worst`` ranks the events without a finite score as +inf, ``drop`` leaves them out),
    which the caller vouches for. Only the +inf tail changes: a slice or one copy instead of
    a sort (0.25 s at the seed's 2.7 M). None where the counts say otherwise.

    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.roc import prepare_background, resorted
    >>> worst = prepare_background(np.array([3.0, np.inf, 1.0, np.inf, 2.0]))
    >>> resorted(worst, np.array([2.0, 1.0, 3.0])).scores.tolist()  # drop's
    [1.0, 2.0, 3.0]
    >>> drop = prepare_background(np.array([2.0, 3.0, 1.0]))
    >>> resorted(drop, np.array([np.inf, 3.0, 1.0, 2.0])).scores.tolist()  # worst's
    [1.0, 2.0, 3.0, inf]
    >>> resorted(drop, np.array([3.0, 1.0])) is None  # not the same finite scores
    True
    """
    x = as_1d(scores, "background")
    n_finite = int(np.searchsorted(ref.scores, np.inf, side="left"))
    n_inf = int(np.count_nonzero(np.isposinf(x)))
    if x.size - n_inf != n_finite:
        return None
    if n_inf == ref.n - n_finite:
        return ref
    tail = np.full(n_inf, np.inf)
    ordered = np.concatenate([ref.scores[:n_finite], tail]) if n_inf else ref.scores[:n_finite]
    ordered.setflags(write=False)
    return BackgroundRef(scores=ordered, n=int(ordered.size))


def roc_curve(background: BackgroundRef, signal: np.ndarray) -> RocCurve:
    """The exact ROC of ``signal`` against ``background`` (both must be non-empty)."""
    s = sorted_signal(signal)
    if background.n == 0 or s.size == 0:
        raise ValueError("a ROC needs at least one background and one signal event")
    return Counts.build(background, s).roc()


def thin_roc(roc: RocCurve, max_points: int = 1000) -> RocCurve:
    """At most ``max_points`` vertices of ``roc`` that keep its shape on log-eff_B axes.

    Why: a 2.7M-event background gives a curve with up to millions of vertices, too many to
    draw. The kept points are a subsequence (so the result stays monotone), the first and last
    vertices are kept, and the run at eff_B = 0 (invisible on a log axis) is reduced to its
    first and last point. On the rest, the path length in (log10 eff_B scaled to [0, 1], eff_S)
    is cut into equal buckets and the first and last vertex of each bucket is kept: between
    two kept points either the path is a single original segment or its length is below the
    bucket size, so eff_S deviates by less than about ``4 / max_points`` (also for the
    rejection 1/eff_B, which is the same log axis).
    """
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    n = len(roc)
    if n <= max_points:
        return roc
    fpr, tpr = roc.fpr, roc.tpr
    n_zero = int(np.searchsorted(fpr, 0.0, side="right"))  # fpr is sorted: zeros come first
    forced = [0, n_zero - 1] if n_zero > 0 else [0]
    budget = max_points - len(set(forced))
    with np.errstate(all="raise", under="ignore"):
        x = np.log10(fpr[n_zero:])
        y = tpr[n_zero:]
        span = float(x[-1] - x[0]) or 1.0
        step = np.abs(np.diff(x)) / span + np.abs(np.diff(y))
        path = np.concatenate(([0.0], np.cumsum(step)))
        total = float(path[-1])
        last = x.size - 1
        if total <= 0.0 or budget < 4:
            local = np.array([0, last], dtype=np.int64)
        else:
            bucket_size = total / max(budget / 2.0 - 1.0, 1.0)
            while True:
                bucket = np.floor(path / bucket_size).astype(np.int64)
                change = np.flatnonzero(bucket[1:] != bucket[:-1])
                local = np.concatenate(([0], change, change + 1, [last]))
                if np.count_nonzero(np.diff(np.sort(local))) + 1 <= budget:
                    break
                bucket_size *= 1.25
    keep = np.zeros(n, dtype=bool)
    keep[forced] = True
    keep[local + n_zero] = True
    idx = np.flatnonzero(keep)
    parts = (roc.fpr[idx], roc.tpr[idx], roc.thresholds[idx])
    for arr in parts:
        arr.setflags(write=False)
    return RocCurve(*parts)


def distinct_scores(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of the sorted ``sig`` (ascending) and how many events hold each.

    ``+inf`` values tie with each other: they are one distinct value.
    """
    first = np.empty(sig.size, dtype=bool)
    first[:1] = True
    np.not_equal(sig[1:], sig[:-1], out=first[1:])  # +inf == +inf: a tie, as intended
    starts = np.flatnonzero(first)
    return sig[starts], np.diff(np.append(starts, sig.size))


@dataclass(frozen=True, eq=False)
class Counts:
    """Integer counts shared by all metrics of one (background, signal) pair.

    The background enters only through ``tail`` (its size and top ranks) and the two count
    arrays, so the same counts can come from one sorted array (:meth:`build`) or be summed
    over partitions of the background (``partitions.merge_separation``).
    """

    tail: BackgroundTail
    sig: np.ndarray  # sorted ascending
    values: np.ndarray  # distinct signal scores, ascending
    counts: np.ndarray  # signal events at each distinct score
    bkg_below: np.ndarray  # background events < value
    bkg_at_or_below: np.ndarray  # background events <= value

    @classmethod
    def build(cls, background: BackgroundRef, sig: np.ndarray) -> Counts:
        values, counts = distinct_scores(sig)
        b = background.scores
        below = np.searchsorted(b, values, side="left")
        # A second binary search only for values that some background event ties with.
        at_or_below = below.copy()
        inside = np.flatnonzero(below < b.size)
        tied = inside[b[below[inside]] == values[inside]]
        at_or_below[tied] = np.searchsorted(b, values[tied], side="right")
        return cls(
            tail=background,
            sig=sig,
            values=values,
            counts=counts,
            bkg_below=below,
            bkg_at_or_below=at_or_below,
        )

    @classmethod
    def for_cuts(cls, background: BackgroundRef, sig: np.ndarray) -> Counts:
        """Counts for working points only (``working_points.working_point`` reads the
        background's ranks and the sorted signal, nothing else): no distinct-value arrays,
        so no pass over the events. Not for the AUC, the ROC or the SIC."""
        none = np.empty(0, dtype=np.int64)
        return cls(background, sig, none, none, none, none)

    @property
    def nb(self) -> int:
        return int(self.tail.n)

    @property
    def ns(self) -> int:
        return int(self.sig.size)

    def auc(self) -> float:
        """Mann-Whitney: (#(S > B) + #(S == B) / 2) / (n_s n_b), in exact integers."""
        wins = int(np.dot(self.counts, self.bkg_below))
        ties = int(np.dot(self.counts, self.bkg_at_or_below - self.bkg_below))
        return (2 * wins + ties) / (2 * self.ns * self.nb)  # int / int: correctly rounded

    def roc(self) -> RocCurve:
        nb, ns = self.nb, self.ns
        counts = self.counts[::-1]
        tp_ge = np.cumsum(counts)
        tp_gt = tp_ge - counts
        fp_gt = nb - self.bkg_at_or_below[::-1]
        fp_ge = nb - self.bkg_below[::-1]
        t = self.values[::-1]
        fp = np.concatenate(([0], np.column_stack((fp_gt, fp_ge)).ravel(), [nb]))
        tp = np.concatenate(([0], np.column_stack((tp_gt, tp_ge)).ravel(), [ns]))
        thr = np.concatenate(
            ([np.inf], np.column_stack((t, np.nextafter(t, -np.inf))).ravel(), [-np.inf])
        )
        keep = np.ones(fp.size, dtype=bool)
        keep[1:] = (fp[1:] != fp[:-1]) | (tp[1:] != tp[:-1])
        fpr = fp[keep] / nb
        tpr = tp[keep] / ns
        thresholds = thr[keep]
        for arr in (fpr, tpr, thresholds):
            arr.setflags(write=False)
        return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds)


def as_1d(scores: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} scores must be a 1-D array, got shape {x.shape}")
    return x


def sorted_signal(signal: np.ndarray) -> np.ndarray:
    s = np.sort(as_1d(signal, "signal"))
    if s.size and (np.isnan(s[-1]) or s[0] == -np.inf):
        n_nan = int(np.count_nonzero(np.isnan(s)))
        n_neg = int(np.count_nonzero(s == -np.inf))
        raise ValueError(bad_values_message("signal", n_nan, n_neg))
    return s


def bad_values_message(name: str, n_nan: int, n_neginf: int) -> str:
    return (
        f"{name} scores contain {n_nan} NaN and {n_neginf} -inf values; the non-finite policy "
        "must remove or map them before the metrics"
    )
