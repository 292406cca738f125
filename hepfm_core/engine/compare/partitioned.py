"""Two models compared on samples cut into partitions: pairs formed where the events live,
small summaries merged into the very comparison one process gives.

Why: on a cluster each partition's kept scores stay on its worker. The paired DeLong test
and the efficiency differences read the paired events only through integer counts and a
few order statistics, so, as for one model (``engine.distributed.partitions``), each
partition ships a summary and one merge gives equal numbers:

1. Every partition of every sample: both models' kept scores of the same events are paired
   there (:func:`pair_partition`: the events both keep, and the counts of those dropped).
   A signal partition ships its pairs (signals are small); a background partition ships its
   :class:`PairCounts` and sorts its pairs once per model (``paired.paired_background``).
2. Every background partition, sent each signal's pairs (:func:`paired_signal`):
   :func:`summarize_pairs` ships per model its top scores (or a sketch) and its
   ``partitions.SignalTies`` against the signal, and per signal the integer moments of its
   own events' DeLong placements (``paired.Moments``, which add over partitions).
3. Only with sketches: each model's windows' round (``order_statistics``).

On the client :func:`merge_pairs` sums the ties into each model's ``roc.Counts`` (the signal
events' placements are those counts, read per event), adds the background's moments and runs
``paired.delong_from_sums`` and ``efficiency.efficiency_differences_of``: the arithmetic of
the single-process comparison on the same integers and the same selected scores.

Cost of a background partition for one pair of models: twice the single-model summary
(``partitions``: top scores, ties per distinct signal score), plus 3 x 3 integers per signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...vocabulary import DEFAULT_BKG_EFFS
from ..distributed.order_statistics import (
    Sketch,
    TopScores,
    Window,
    WindowScores,
    merge_top,
    sketch_scores,
    top_scores,
    window_scores,
)
from ..distributed.partitions import (
    SignalTies,
    merge_signal_counts,
    signal_ties,
    signal_values,
)
from ..guards.policy import PolicyScores
from ..metrics.roc import BackgroundTail, Counts, sorted_signal
from ..metrics.working_points import check_effs, needed_ranks
from .efficiency import EfficiencyDifference, efficiency_differences_of
from .paired import (
    ZERO_MOMENTS,
    AucComparison,
    Moments,
    PairedBackground,
    PlacementSums,
    background_moments,
    background_placements,
    delong_from_sums,
    pair_events,
    paired_background,
)
from .results import PairCounts

__all__ = [
    "PairedSignal",
    "PairedSummary",
    "PartitionPairs",
    "SignalTest",
    "merge_pair_counts",
    "merge_pairs",
    "pair_partition",
    "paired_signal",
    "paired_windows",
    "summarize_pairs",
]


@dataclass(frozen=True, eq=False)
class PartitionPairs:
    """One partition's events both models keep: their counts, and each model's scores of
    them in event order (finite or ``+inf``); for a background partition also sorted per
    model (``sorted``, what :func:`summarize_pairs` reads)."""

    counts: PairCounts
    a: np.ndarray
    b: np.ndarray
    sorted: PairedBackground | None = None


def pair_partition(
    policy_a: PolicyScores, policy_b: PolicyScores, *, sort: bool = False
) -> PartitionPairs:
    """The pairs of one partition, from each model's policy of the same events
    (``paired.pair_events`` on the kept scores and masks); ``sort``: a background
    partition's, sorted once per model (``paired.paired_background``)."""
    p = pair_events(policy_a.values, policy_b.values, policy_a.kept_mask, policy_b.kept_mask)
    ordered = paired_background(p.a, p.b) if sort else None
    return PartitionPairs(PairCounts.of(p), p.a, p.b, ordered)


def merge_pair_counts(parts: Sequence[PairCounts]) -> PairCounts:
    """One sample's pair counts from its partitions' (sums)."""
    return PairCounts(
        both=sum(p.both for p in parts),
        dropped_a_only=sum(p.dropped_a_only for p in parts),
        dropped_b_only=sum(p.dropped_b_only for p in parts),
        dropped_both=sum(p.dropped_both for p in parts),
    )


@dataclass(frozen=True, eq=False)
class PairedSignal:
    """One signal's pairs as the background partitions are sent them: each model's kept
    scores sorted, and their distinct values (``partitions.signal_values``)."""

    sorted_a: np.ndarray
    sorted_b: np.ndarray
    values_a: np.ndarray
    values_b: np.ndarray


def paired_signal(signal_a: np.ndarray, signal_b: np.ndarray) -> PairedSignal:
    """What the background partitions need of a signal's pairs (all its partitions')."""
    sa, sb = sorted_signal(signal_a), sorted_signal(signal_b)
    if sa.size != sb.size:
        raise ValueError(f"signal scores are not paired: {sa.size} and {sb.size} events")
    for arr in (sa, sb):
        arr.setflags(write=False)
    # the distinct values from the scores as given, as merge_pairs finds them: a sort of
    # the sorted copy may order 0.0 and -0.0 otherwise, and the digests would differ
    return PairedSignal(sa, sb, signal_values(signal_a), signal_values(signal_b))


@dataclass(frozen=True, eq=False)
class PairedSummary:
    """What one background partition ships for a pair of models (round two).

    ``n``: its events both models keep. Per model (``_a``, ``_b``): its top scores of them
    (or a sketch) and per signal its ``SignalTies``. ``c01``: per signal, the moments of the
    partition's doubled background placements (``paired.background_moments``).
    """

    n: int
    top_a: TopScores | Sketch
    top_b: TopScores | Sketch
    ties_a: dict[str, SignalTies]
    ties_b: dict[str, SignalTies]
    c01: dict[str, dict[str, Moments]]

    @property
    def nbytes(self) -> int:
        """Bytes of the payload (arrays and counts; the pickling adds a little)."""
        ties = sum(t.nbytes for d in (self.ties_a, self.ties_b) for t in d.values())
        return self.top_a.nbytes + self.top_b.nbytes + ties + 72 * len(self.c01) + 8


def summarize_pairs(
    background: PairedBackground,
    signals: Mapping[str, PairedSignal],
    *,
    k: int,
    points: int | None = None,
) -> PairedSummary:
    """Round two of one background partition's pairs, sorted once per model
    (``paired.paired_background``). ``k`` and ``points`` as for
    ``partitions.summarize_background``, on the events both models keep."""
    tops: list[TopScores | Sketch] = []
    for ref in (background.ref_a, background.ref_b):
        tops.append(top_scores(ref, k) if points is None else sketch_scores(ref, k, points))
    c01 = {}
    for name, s in signals.items():
        c01a = background_placements(s.sorted_a, background.a)
        c01b = background_placements(s.sorted_b, background.b)
        c01[name] = background_moments(c01a, c01b)
    return PairedSummary(
        n=int(background.a.size),
        top_a=tops[0],
        top_b=tops[1],
        ties_a={n: signal_ties(background.ref_a, s.values_a) for n, s in signals.items()},
        ties_b={n: signal_ties(background.ref_b, s.values_b) for n, s in signals.items()},
        c01=c01,
    )


def paired_windows(
    background: PairedBackground, windows_a: Sequence[Window], windows_b: Sequence[Window]
) -> tuple[WindowScores, WindowScores]:
    """After sketches: the partition's scores inside each model's planned windows."""
    return window_scores(background.ref_a, windows_a), window_scores(background.ref_b, windows_b)


SignalTest = tuple[AucComparison, tuple[EfficiencyDifference, ...]]


def merge_pairs(
    parts: Sequence[PairedSummary],
    signals: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
    tails: tuple[BackgroundTail, BackgroundTail] | None = None,
) -> dict[str, SignalTest]:
    """Per signal, the paired test and the efficiency differences from the background
    partitions' summaries: equal to ``paired.delong_test_against`` and
    ``efficiency.efficiency_differences_against`` on the whole paired background.

    Parameters
    ----------
    parts : sequence of PairedSummary
        Every background partition's (at least one; empty ones included).
    signals : mapping
        Per signal, both models' scores of its pairs in event order (all its partitions').
    bkg_effs, min_bkg_pass
        As for ``efficiency.efficiency_differences``.
    tails : (BackgroundTail, BackgroundTail), optional
        None selects each model's needed ranks from the partitions' top scores
        (``order_statistics.merge_top``); after sketches, the merged windows of A and B.

    Examples
    --------
    A background in two partitions against one signal, compared with the whole:

    >>> import numpy as np
    >>> from hepfm_core.engine.compare.paired import delong_test, paired_background
    >>> from hepfm_core.engine.compare.partitioned import (
    ...     merge_pairs, paired_signal, summarize_pairs)
    >>> bkg_a, bkg_b = np.array([0.1, 0.4, 0.35, 0.5, 0.2]), np.array([0.1, 0.4, 0.35, 0.8, 0.2])
    >>> sig_a, sig_b = np.array([0.9, 0.45, 0.7, 0.75, 0.85]), np.array([0.9, 0.3, 0.7, 0.75, 0.85])
    >>> sent = {"s": paired_signal(sig_a, sig_b)}
    >>> parts = [summarize_pairs(paired_background(bkg_a[i:j], bkg_b[i:j]), sent, k=3)
    ...          for i, j in ((0, 2), (2, 5))]
    >>> merged, _ = merge_pairs(parts, {"s": (sig_a, sig_b)}, bkg_effs=[0.5], min_bkg_pass=1)["s"]
    >>> merged.to_json_dict() == delong_test(bkg_a, bkg_b, sig_a, sig_b).to_json_dict()
    True
    >>> print(merged.auc_a, merged.auc_b, round(merged.p_value, 2))
    0.96 0.8 0.13
    """
    effs = check_effs(bkg_effs)
    if not parts:
        raise ValueError("a sample has at least one partition (it may be empty)")
    n = sum(p.n for p in parts)
    if tails is None:
        ranks = needed_ranks(n, effs, min_bkg_pass)
        tails = (
            _merged_top([p.top_a for p in parts], ranks),
            _merged_top([p.top_b for p in parts], ranks),
        )
    out = {}
    for name, (ya, yb) in signals.items():
        core_a = merge_signal_counts(tails[0], [p.ties_a[name] for p in parts], ya)
        core_b = merge_signal_counts(tails[1], [p.ties_b[name] for p in parts], yb)
        c10a, c10b = _signal_placements(core_a, ya), _signal_placements(core_b, yb)
        c01 = {key: sum((p.c01[name][key] for p in parts), ZERO_MOMENTS) for key in _C01}
        if any(m.n != n for m in c01.values()):
            raise ValueError(f"the partitions' placements of {name!r} miss background events")
        sums = PlacementSums(
            n_background=n,
            n_signal=int(c10a.size),
            c10_a=Moments.of(c10a),
            c10_b=Moments.of(c10b),
            c10_d=Moments.of(c10a - c10b),
            **c01,
        )
        diffs = efficiency_differences_of(
            core_a, core_b, ya, yb, bkg_effs=effs, min_bkg_pass=min_bkg_pass
        )
        out[name] = (delong_from_sums(sums), diffs)
    return out


_C01 = ("c01_a", "c01_b", "c01_d")


def _merged_top(tops: Sequence[TopScores | Sketch], ranks: Sequence[int]) -> BackgroundTail:
    if not all(isinstance(t, TopScores) for t in tops):
        raise ValueError("sketched partitions need the windows' round: pass the merged tails")
    return merge_top([t for t in tops if isinstance(t, TopScores)], ranks)


def _signal_placements(core: Counts, signal: np.ndarray) -> np.ndarray:
    """Per signal event (in event order), its doubled placement ``c10 = 2 #(b < s) +
    #(b == s)``: the merged counts at its distinct value."""
    at = np.searchsorted(core.values, np.asarray(signal, dtype=np.float64))
    return (core.bkg_below + core.bkg_at_or_below)[at].astype(np.int64)
