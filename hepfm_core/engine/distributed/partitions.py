"""Guards and metrics of a sample cut into partitions: small summaries, merged exactly.

Why: a background of ``1e8``-``1e9`` events does not fit one machine, but every number
hepfm shows is a sum of integer counts or an order statistic of the background, so each
partition (whole scoring chunks, guarded and policy-applied where it lives) can ship a few
kilobytes to megabytes and one merge gives the very objects the single-process path gives:
the same :class:`~hepfm_core.engine.guards.guarded.GuardCounts`, the same
:class:`~hepfm_core.engine.metrics.separation.Separation` (it runs
``metrics.separation_from_counts``, the code ``metrics.separation`` runs), the same histogram
tallies. Equal, not close: every
merged quantity is an integer sum, a min/max or an exactly selected score, so the
arithmetic after the merge is the single-process arithmetic on the same numbers.

The rounds (the caller ships the summaries; nothing here knows about a cluster):

1. Every partition of every sample: :func:`partition_counts` (guard and policy counts,
   and the range of its guarded scores). A signal partition also ships its kept scores
   (``PolicyScores.values``): signals are small. On the client: :func:`merge_counts` per
   sample (the background's ``kept`` is ``n_background``), :func:`merge_edges` over all
   partitions of the samples histogrammed, ``working_points.needed_ranks`` and per signal
   :func:`signal_values`, broadcast to the background partitions.
2. Every partition: ``binning.tally`` of its guarded scores on the edges; a background
   partition also :func:`summarize_background` (its top scores, or a sketch of them, and
   per signal :class:`SignalTies`). On the client: :func:`merge_tallies` per sample and
   :func:`merge_background` per signal.
3. Only with sketches (``selection.py``, when the top would be too large): the windows'
   round, then :func:`merge_background` with the merged ``tail``.

Cost of a background partition: ``8 * min(K, n_p)`` bytes of top scores
(``K = max(needed_ranks)``, about ``n_background * max(bkg_effs)``; or ``16 * points`` for a
sketch), plus per signal 8 bytes per distinct signal score and 16 per tied one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...vocabulary import DEFAULT_BKG_EFFS, Policy
from ..guards.guarded import GuardCounts, GuardedScores
from ..guards.policy import PolicyScores
from ..metrics.binning import DEFAULT_BINS, Tally, shared_log_edges
from ..metrics.roc import BackgroundRef, BackgroundTail, Counts, distinct_scores, sorted_signal
from ..metrics.separation import Separation, separation_from_counts
from ..metrics.working_points import needed_ranks
from .order_statistics import Sketch, TopScores, merge_top, sketch_scores, top_scores

__all__ = [
    "BackgroundSummary",
    "PartitionCounts",
    "PolicyCounts",
    "SignalTies",
    "merge_background",
    "merge_counts",
    "merge_edges",
    "merge_separation",
    "merge_signal_counts",
    "merge_tallies",
    "partition_counts",
    "signal_ties",
    "signal_values",
    "summarize_background",
]


# -- counts -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartitionCounts:
    """What one partition of a sample adds to the sample's counts (round one).

    The :class:`GuardCounts` fields, the policy's ``kept`` and ``excluded``, and the range
    of the partition's guarded scores that ``binning.shared_log_edges`` reads:
    ``positive_min`` (smallest positive finite score, ``+inf`` if none) and ``finite_max``
    (largest finite score, ``-inf`` if none).
    """

    total: int
    by_cause: dict[str, int]
    outside_clip: int
    unguarded_nonfinite_f32: int
    unguarded_nonfinite_f16: int
    policy: Policy
    kept: int
    excluded: dict[str, int]
    positive_min: float
    finite_max: float


@dataclass(frozen=True)
class PolicyCounts:
    """The counts of ``policy.PolicyScores`` (without the scores): ``kept + sum(excluded)
    == total``."""

    kept: int
    excluded: dict[str, int]
    total: int
    policy: Policy


def partition_counts(guarded: GuardedScores, policy: PolicyScores) -> PartitionCounts:
    """The counts and score range of one partition, guarded (``guards.guard``) and with the
    policy applied (``policy.apply_policy``)."""
    c = guarded.counts
    if policy.total != c.total:
        raise ValueError(f"the policy saw {policy.total} events, the guard {c.total}")
    scores = np.asarray(guarded.scores, dtype=np.float64)
    finite = np.isfinite(scores)
    # The same extremes as binning.shared_log_edges takes (min and max are exact).
    lo = float(np.min(scores, where=finite & (scores > 0.0), initial=np.inf))
    hi = float(np.max(scores, where=finite, initial=-np.inf))
    return PartitionCounts(
        total=c.total,
        by_cause=dict(c.by_cause),
        outside_clip=c.outside_clip,
        unguarded_nonfinite_f32=c.unguarded_nonfinite_f32,
        unguarded_nonfinite_f16=c.unguarded_nonfinite_f16,
        policy=policy.policy,
        kept=policy.kept,
        excluded=dict(policy.excluded),
        positive_min=lo,
        finite_max=hi,
    )


def _sum_dicts(dicts: Sequence[dict[str, int]], what: str) -> dict[str, int]:
    keys = list(dicts[0])
    if any(list(d) != keys for d in dicts):
        raise ValueError(f"the partitions disagree on the {what} they count")
    return {k: sum(d[k] for d in dicts) for k in keys}


def merge_counts(parts: Sequence[PartitionCounts]) -> tuple[GuardCounts, PolicyCounts]:
    """One sample's guard and policy counts from its partitions' (at least one)."""
    if not parts:
        raise ValueError("a sample has at least one partition (it may be empty)")
    policies = {p.policy for p in parts}
    if len(policies) != 1:
        raise ValueError(f"the partitions were given different policies: {sorted(policies)}")
    counts = GuardCounts(
        total=sum(p.total for p in parts),
        by_cause=_sum_dicts([p.by_cause for p in parts], "causes"),
        outside_clip=sum(p.outside_clip for p in parts),
        unguarded_nonfinite_f32=sum(p.unguarded_nonfinite_f32 for p in parts),
        unguarded_nonfinite_f16=sum(p.unguarded_nonfinite_f16 for p in parts),
    )
    kept = PolicyCounts(
        kept=sum(p.kept for p in parts),
        excluded=_sum_dicts([p.excluded for p in parts], "exclusions"),
        total=counts.total,
        policy=parts[0].policy,
    )
    if kept.kept + sum(kept.excluded.values()) != kept.total:
        raise AssertionError("merged counts lost events: kept + excluded != total")
    return counts, kept


# -- histograms ---------------------------------------------------------------------------
def merge_edges(
    parts: Sequence[PartitionCounts],
    n_bins: int = DEFAULT_BINS,
    lo: float | None = None,
    hi: float | None = None,
) -> np.ndarray:
    """``binning.shared_log_edges`` of all the samples whose partitions are ``parts``.

    The data range is the min of the partitions' ``positive_min`` and the max of their
    ``finite_max``, exactly what ``shared_log_edges`` finds in the whole samples; it then
    applies its own rule (default range, one decade around a single value, overrides).
    """
    data_lo = min((p.positive_min for p in parts), default=np.inf)
    data_hi = max((p.finite_max for p in parts), default=-np.inf)
    # Two values with those extremes stand for the data; none when nothing is positive.
    extremes = np.array([data_lo, data_hi]) if np.isfinite(data_lo) else np.empty(0)
    return shared_log_edges({"partitions": extremes}, n_bins=n_bins, lo=lo, hi=hi)


def merge_tallies(parts: Sequence[Tally]) -> Tally:
    """One sample's ``binning.Tally`` from its partitions' tallies on the same edges."""
    if not parts:
        raise ValueError("a sample has at least one partition (it may be empty)")
    shapes = {p.counts.shape for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"the partitions' tallies have different bins: {sorted(shapes)}")
    return Tally(
        counts=np.stack([p.counts for p in parts]).sum(axis=0, dtype=np.int64),
        total=sum(p.total for p in parts),
        underflow=sum(p.underflow for p in parts),
        overflow=sum(p.overflow for p in parts),
        nan=sum(p.nan for p in parts),
        posinf=sum(p.posinf for p in parts),
        neginf=sum(p.neginf for p in parts),
    )


# -- separation ---------------------------------------------------------------------------
def _digest(values: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=8).hexdigest()


def signal_values(signal: np.ndarray) -> np.ndarray:
    """The distinct kept scores of a whole signal, ascending: what the background partitions
    are broadcast (NaN or ``-inf`` raise ``ValueError``, as in ``metrics.separation``)."""
    values, _ = distinct_scores(sorted_signal(signal))
    values.setflags(write=False)
    return values


@dataclass(frozen=True, eq=False)
class SignalTies:
    """One background partition against one signal's distinct scores (round two).

    ``below[i]``: the partition's scores ``< values[i]``; ``tie_index`` / ``tie_count``:
    the ``i`` where some of its scores equal ``values[i]``, and how many (sparse: ties are
    rare but for ``+inf`` under ``worst``). ``digest`` identifies the values.
    """

    n: int
    below: np.ndarray
    tie_index: np.ndarray
    tie_count: np.ndarray
    digest: str

    @property
    def nbytes(self) -> int:
        return int(self.below.nbytes + self.tie_index.nbytes + self.tie_count.nbytes) + 24


def signal_ties(background: BackgroundRef, values: np.ndarray) -> SignalTies:
    """Mann-Whitney counts of one sorted background partition against ``values``
    (:func:`signal_values`): by binary search, as ``roc.Counts.build`` does."""
    b = background.scores
    v = np.asarray(values, dtype=np.float64)
    below = np.searchsorted(b, v, side="left").astype(np.int64)
    inside = np.flatnonzero(below < b.size)
    tied = inside[b[below[inside]] == v[inside]]
    count = np.searchsorted(b, v[tied], side="right").astype(np.int64) - below[tied]
    return SignalTies(
        n=background.n,
        below=below,
        tie_index=tied.astype(np.int64),
        tie_count=count,
        digest=_digest(v),
    )


@dataclass(frozen=True, eq=False)
class BackgroundSummary:
    """What one background partition ships in round two: its top scores
    (``selection.TopScores``, or a ``selection.Sketch`` for two rounds) and per signal its
    :class:`SignalTies`."""

    n: int
    top: TopScores | Sketch
    ties: dict[str, SignalTies]

    @property
    def nbytes(self) -> int:
        """Bytes of the payload (arrays and counts; the pickling adds a little)."""
        return self.top.nbytes + sum(t.nbytes for t in self.ties.values()) + 8


def summarize_background(
    background: BackgroundRef,
    signals: Mapping[str, np.ndarray],
    *,
    k: int,
    points: int | None = None,
) -> BackgroundSummary:
    """Round two of one background partition, sorted once (``prepare_background`` of its
    kept scores).

    ``signals``: per signal, its :func:`signal_values`. ``k``: the largest rank needed,
    ``max(working_points.needed_ranks(n_background, bkg_effs, min_bkg_pass))`` (or a bound).
    ``points``: None ships the top ``k`` scores (one round); a number ships a sketch of
    about that many scores instead (``selection.sketch_scores``: two rounds).
    """
    top: TopScores | Sketch
    top = top_scores(background, k) if points is None else sketch_scores(background, k, points)
    ties = {name: signal_ties(background, v) for name, v in signals.items()}
    return BackgroundSummary(n=background.n, top=top, ties=ties)


def merge_separation(
    tail: BackgroundTail,
    ties: Sequence[SignalTies],
    signal: np.ndarray,
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
    max_points: int = 1000,
) -> Separation:
    """``metrics.separation`` of one signal from the merged background summaries.

    Parameters
    ----------
    tail : BackgroundTail
        The background's size and its scores at ``needed_ranks``: ``selection.merge_top``
        or ``selection.merge_windows`` of its partitions.
    ties : sequence of SignalTies
        Every background partition's counts against this signal's :func:`signal_values`.
    signal : np.ndarray
        The signal's kept scores (all its partitions, in any order).
    bkg_effs, min_bkg_pass, max_points
        As for ``metrics.separation``.

    Returns
    -------
    Separation
        Equal to ``separation(prepare_background(whole background), signal, ...)``: the
        Mann-Whitney counts are sums over partitions, so the AUC, its error, the ROC (whose
        vertices are those counts at the signal's scores) and the max SIC are the same
        numbers; the working points read the same selected scores.
    """
    core = merge_signal_counts(tail, ties, signal)
    return separation_from_counts(
        core, bkg_effs=bkg_effs, min_bkg_pass=min_bkg_pass, max_points=max_points
    )


def merge_signal_counts(
    tail: BackgroundTail, ties: Sequence[SignalTies], signal: np.ndarray
) -> Counts:
    """The ``roc.Counts`` of one signal against a partitioned background: the merged
    ``tail`` and every partition's :class:`SignalTies` (see :func:`merge_separation`), the
    very counts ``Counts.build`` gives against the whole background sorted."""
    s = sorted_signal(signal)
    values, counts = distinct_scores(s)
    digest = _digest(values)
    for i, t in enumerate(ties):
        if t.digest != digest or t.below.size != values.size:
            raise ValueError(
                f"background partition {i} was counted against other signal scores "
                f"({t.below.size} values) than this signal's ({values.size})"
            )
    if sum(t.n for t in ties) != tail.n:
        raise ValueError(
            f"the partitions' ties cover {sum(t.n for t in ties)} background events, "
            f"the selection {tail.n}"
        )
    below = np.zeros(values.size, dtype=np.int64)
    equal = np.zeros(values.size, dtype=np.int64)
    for t in ties:
        below += t.below
        np.add.at(equal, t.tie_index, t.tie_count)
    return Counts(
        tail=tail,
        sig=s,
        values=values,
        counts=counts,
        bkg_below=below,
        bkg_at_or_below=below + equal,
    )


def merge_background(
    parts: Sequence[BackgroundSummary],
    signals: Mapping[str, np.ndarray],
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
    max_points: int = 1000,
    tail: BackgroundTail | None = None,
) -> dict[str, Separation]:
    """Per signal, its ``metrics.separation`` from the background partitions' summaries.

    ``signals``: per signal, its kept scores (all partitions). ``tail``: None selects the
    needed ranks from the partitions' top scores (``selection.merge_top``); after sketches,
    pass ``selection.merge_windows``'s table.

    Examples
    --------
    A background in three partitions (one empty) against one signal: the merge equals the
    single-process result, JSON and all.

    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.separation import prepare_background, separation
    >>> from hepfm_core.engine.distributed.partitions import (
    ...     merge_background, signal_values, summarize_background)
    >>> from hepfm_core.engine.metrics.working_points import needed_ranks
    >>> parts = [np.array([1.0, 4.0, 2.0]), np.array([3.0]), np.array([])]
    >>> signal = np.array([3.0, 5.0, np.inf])
    >>> k = max(needed_ranks(4, [0.5], min_bkg_pass=1))  # n_background: 4, from round one
    >>> broadcast = {"sig": signal_values(signal)}
    >>> summaries = [summarize_background(prepare_background(p), broadcast, k=k) for p in parts]
    >>> opts = dict(bkg_effs=[0.5], min_bkg_pass=1)
    >>> merged = merge_background(summaries, {"sig": signal}, **opts)["sig"]
    >>> whole = separation(prepare_background(np.concatenate(parts)), signal, **opts)
    >>> merged.auc, merged.working_points[0].threshold, round(merged.max_sic, 4)
    (0.875, 2.0, 1.4142)
    >>> merged.to_json_dict() == whole.to_json_dict()
    True
    """
    if tail is None:
        tops = [p.top for p in parts]
        if not all(isinstance(t, TopScores) for t in tops):
            raise ValueError(
                "sketched partitions need the windows' round: pass the tail from "
                "selection.merge_windows"
            )
        n = sum(p.n for p in parts)
        ranks = needed_ranks(n, bkg_effs, min_bkg_pass)
        tail = merge_top([t for t in tops if isinstance(t, TopScores)], ranks)
    return {
        name: merge_separation(
            tail,
            [p.ties[name] for p in parts],
            scores,
            bkg_effs=bkg_effs,
            min_bkg_pass=min_bkg_pass,
            max_points=max_points,
        )
        for name, scores in signals.items()
    }
