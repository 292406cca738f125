"""Compare two models scored on the same events: their pairs and the paired AUC test.

Two models scored on the same events give correlated AUCs, so their difference is judged by
the paired DeLong test (E. R. DeLong, D. M. DeLong, D. L. Clarke-Pearson, Biometrics 44
(1988) 837-845, doi:10.2307/2531595): each AUC is the mean of per-event *placements*
(structural components), and the variance of the difference follows from the covariance of
the two models' placements over the signal events and over the background events. The
placements come from midranks, as in the fast algorithm of X. Sun and W. Xu (IEEE Signal
Processing Letters 21 (2014) 1389-1393, doi:10.1109/LSP.2014.2337313), in ``O(N log N)``
for ``N`` events. Several comparisons (signals x pairs of models) are corrected by Holm's
step-down procedure (S. Holm, Scand. J. Statist. 6 (1979) 65-70).

DeLong covers the sampling of events, not the training: a model group (the same variant
trained with several seeds) reports its seed-to-seed spread (``seeds``); the efficiencies
at working points are compared in ``efficiency``.

Inputs are KEPT scores, as for ``metrics.py``: finite or ``+inf`` (the "worst" policy's
overflowed score, ranked above every finite score and tied with other ``+inf``). NaN or
``-inf`` raise ``ValueError``: pairs are formed first on the events both models keep
(:func:`pair_events`). Scores: higher = more anomalous, AUC = P(s > b) + P(s == b) / 2,
exactly as ``roc.py`` counts it. A number that cannot be given is None with a ``status``
and a ``reason``, never a made-up value."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...common.json_fields import FINITE, JsonFields
from ..metrics.roc import BackgroundRef, as_1d, prepare_background
from ..metrics.working_points import (
    STATUS_NO_BACKGROUND,
    STATUS_NO_SIGNAL,
    STATUS_OK,
)

__all__ = [
    "STATUS_TOO_FEW_EVENTS",
    "ZERO_MOMENTS",
    "AucComparison",
    "Moments",
    "PairedBackground",
    "PairedScores",
    "PlacementSums",
    "background_moments",
    "background_placements",
    "delong_from_sums",
    "delong_test",
    "delong_test_against",
    "holm",
    "pair_events",
    "paired_background",
    "sum_of_squares",
    "withheld_comparison",
]


STATUS_TOO_FEW_EVENTS = "too_few_events"


"""A class holds a single event: the AUCs exist, their covariance (ddof=1) does not."""


@dataclass(frozen=True, eq=False)
class PairedScores:
    """Two models' scores on the events both keep, in event order, and what each dropped.

    ``a`` / ``b``: float64, read-only, ``n_both`` each (finite or ``+inf``). ``kept``: bool,
    ``n_total`` entries, the events both keep. ``n_dropped_a_only``: kept by B, not by A
    (and the other way round); ``n_both + n_dropped_a_only + n_dropped_b_only +
    n_dropped_both == n_total``.
    """

    a: np.ndarray
    b: np.ndarray
    kept: np.ndarray
    n_total: int
    n_both: int
    n_dropped_a_only: int
    n_dropped_b_only: int
    n_dropped_both: int


def pair_events(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    keep_a: np.ndarray | None = None,
    keep_b: np.ndarray | None = None,
) -> PairedScores:
    """The events of one sample that both models keep: the pairs the paired test needs.

    Why: each model's guards drop their own events; a paired comparison must use the same
    events for both, and say how many each model lost.

    Parameters
    ----------
    scores_a, scores_b : np.ndarray
        Per-event scores of one sample (the same events in the same order), or, with a keep
        mask, only the kept events' values in event order (as ``PolicyScores.values``).
    keep_a, keep_b : np.ndarray of bool, optional
        Which events each model keeps (``PolicyScores.kept_mask``). Without one, a model
        keeps its finite scores (the "drop" policy); with one, its kept scores must be
        finite or ``+inf`` (the "worst" policy).

    Returns
    -------
    PairedScores
        The scores on the events both keep and the counts of dropped events.

    Raises
    ------
    ValueError
        For arrays that are not 1-D, sizes that do not match (between the models, or between
        scores and mask), a mask that is not boolean, or a kept NaN / ``-inf``.

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.engine.compare.paired import pair_events
    >>> p = pair_events(np.array([1.0, np.nan, 3.0, np.nan]), np.array([5.0, 6.0, np.inf, np.nan]))
    >>> p.a.tolist(), p.b.tolist(), p.n_dropped_a_only, p.n_dropped_b_only, p.n_dropped_both
    ([1.0], [5.0], 1, 1, 1)
    """
    values_a, mask_a = _per_event(scores_a, keep_a, "model A")
    values_b, mask_b = _per_event(scores_b, keep_b, "model B")
    if mask_a.size != mask_b.size:
        raise ValueError(
            f"the two models were scored on different numbers of events: "
            f"{mask_a.size} (model A) and {mask_b.size} (model B)"
        )
    both = mask_a & mask_b
    a = values_a[both]
    b = values_b[both]
    for arr in (a, b, both):
        arr.setflags(write=False)
    n_both = int(np.count_nonzero(both))
    n_a = int(np.count_nonzero(mask_a))
    n_b = int(np.count_nonzero(mask_b))
    n_total = int(mask_a.size)
    return PairedScores(
        a=a,
        b=b,
        kept=both,
        n_total=n_total,
        n_both=n_both,
        n_dropped_a_only=n_b - n_both,
        n_dropped_b_only=n_a - n_both,
        n_dropped_both=n_total - n_a - n_b + n_both,
    )


def _per_event(
    scores: np.ndarray, keep: np.ndarray | None, who: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-event values (anything where not kept) and the keep mask of one model."""
    x = as_1d(scores, who)
    if keep is None:
        return x, np.isfinite(x)
    mask = np.asarray(keep)
    if mask.ndim != 1 or mask.dtype != np.bool_:
        raise ValueError(f"the keep mask of {who} must be a 1-D boolean array")
    n_kept = int(np.count_nonzero(mask))
    if x.size == mask.size:
        values = x
        kept_values = x[mask]
    elif x.size == n_kept:
        values = np.full(mask.size, np.nan)
        values[mask] = x
        kept_values = x
    else:
        raise ValueError(
            f"{who}: {x.size} scores fit neither the {mask.size} events of its keep mask "
            f"nor the {n_kept} it keeps"
        )
    _check_kept(kept_values, f"the kept scores of {who}")
    return values, mask


def _check_kept(x: np.ndarray, what: str) -> None:
    n_nan = int(np.count_nonzero(np.isnan(x)))
    n_neg = int(np.count_nonzero(x == -np.inf))
    if n_nan or n_neg:
        raise ValueError(
            f"{what} contain {n_nan} NaN and {n_neg} -inf values; compare only the events "
            "both models keep (pair_events)"
        )


@dataclass(frozen=True, eq=False)
class PairedBackground:
    """The background events both models keep, checked and sorted once per setting.

    Why: a comparison tests every signal against the same background; its two sorts
    (``O(N log N)`` on millions of events) are done once here, not once per signal.
    ``a`` / ``b``: the paired scores in event order; ``ref_a`` / ``ref_b``: each sorted.
    """

    a: np.ndarray
    b: np.ndarray
    ref_a: BackgroundRef
    ref_b: BackgroundRef


def paired_background(background_a: np.ndarray, background_b: np.ndarray) -> PairedBackground:
    """Check (finite or ``+inf``, equal lengths) and sort the paired background scores.

    Raises
    ------
    ValueError
        For unpaired lengths, a non-1-D array, or any NaN / ``-inf`` score (named).
    """
    xa, xb = _paired(background_a, background_b, "background")
    return PairedBackground(xa, xb, prepare_background(xa), prepare_background(xb))


def _paired(scores_a: np.ndarray, scores_b: np.ndarray, what: str) -> tuple[np.ndarray, ...]:
    """Both models' kept scores of one class, checked (finite or ``+inf``, equal lengths)."""
    xa = _finite_or_posinf(scores_a, f"{what} scores of model A")
    xb = _finite_or_posinf(scores_b, f"{what} scores of model B")
    if xa.size != xb.size:
        raise ValueError(
            f"{what} scores are not paired: {xa.size} events for model A, {xb.size} for "
            "model B (form the pairs on the events both keep: pair_events)"
        )
    return xa, xb


@dataclass(frozen=True, eq=False)
class AucComparison(JsonFields):
    """Paired DeLong comparison of models A and B on the same events, for one signal.

    ``delta_auc = auc_a - auc_b``; ``delta_auc_err`` its standard error, ``z`` the ratio and
    ``p_value`` the two-sided normal p-value; ``auc_a_err`` / ``auc_b_err`` each AUC's own
    DeLong error. ``status``: ``"ok"``; ``"no_background_events"`` / ``"no_signal_events"``
    (every number None); ``"too_few_events"`` (a class holds one event: AUCs and delta
    given, errors, ``z`` and ``p_value`` None). ``reason`` explains any status but ``"ok"``,
    and for ``"ok"`` notes a zero variance with a non-zero delta (see :func:`delong_test`).
    Its JSON is strict: an infinite ``z`` is null.
    """

    status: str
    reason: str | None
    n_background: int
    n_signal: int
    auc_a: float | None = field(metadata=FINITE)
    auc_b: float | None = field(metadata=FINITE)
    auc_a_err: float | None = field(metadata=FINITE)
    auc_b_err: float | None = field(metadata=FINITE)
    delta_auc: float | None = field(metadata=FINITE)
    delta_auc_err: float | None = field(metadata=FINITE)
    z: float | None = field(metadata=FINITE)
    p_value: float | None = field(metadata=FINITE)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def delong_test(
    background_a: np.ndarray,
    background_b: np.ndarray,
    signal_a: np.ndarray,
    signal_b: np.ndarray,
) -> AucComparison:
    """Paired DeLong test of ``AUC_A - AUC_B`` for two models scored on the same events.

    Placements (structural components), with ``psi(s, b) = 1`` for ``s > b``, ``1/2`` for a
    tie, else 0: ``V10_j = mean_i psi(s_j, b_i)`` per signal event, ``V01_i = mean_j psi(s_j,
    b_i)`` per background event; each AUC is their mean. Then ``Var(delta) = S10/m + S01/n``
    with ``S10`` the sample variance (ddof=1) over the ``m`` signal events of ``V10_A -
    V10_B``, ``S01`` the same over the ``n`` background events (the DeLong covariance
    ``Var_A + Var_B - 2 Cov_AB``, formed on the differences so that identical models give
    exactly 0). The placements are midrank differences: an event's midrank in the pooled
    sample minus its midrank in its own class is the number of events of the other class
    below it plus half those tied with it; they are counted here by binary search in the
    sorted other class (``O(N log N)``), in exact integers.

    Degenerate variance: identical rankings (e.g. the same model twice) give delta 0, error
    0, ``z = 0`` and ``p_value = 1.0``. A zero variance with a non-zero delta (every
    placement difference constant, e.g. one model separating perfectly and the other
    scoring every event alike) gives ``z = +-inf`` and ``p_value = 0.0``, with a ``reason``:
    nothing in the sample varies, so the difference is as sure as the sample can tell; on a
    handful of events that says little, and the counts are there to judge it.

    Parameters
    ----------
    background_a, background_b : np.ndarray
        The two models' scores of the same background events, in the same order (equal
        lengths: the events both models keep, see :func:`pair_events`).
    signal_a, signal_b : np.ndarray
        The same for one signal sample.

    Returns
    -------
    AucComparison
        Status ``"ok"`` and every number with at least two events in each class; fewer:
        the status, its reason, and what can still be given.

    Raises
    ------
    ValueError
        For unpaired lengths, a non-1-D array, or any NaN / ``-inf`` score (named).

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.engine.compare.paired import delong_test
    >>> bkg_b = np.array([0.1, 0.4, 0.35, 0.8, 0.2])
    >>> sig_b = np.array([0.9, 0.3, 0.7, 0.75, 0.85])
    >>> same = delong_test(bkg_b, bkg_b, sig_b, sig_b)
    >>> same.delta_auc, same.delta_auc_err, same.p_value
    (0.0, 0.0, 1.0)
    >>> bkg_a = np.array([0.1, 0.4, 0.35, 0.5, 0.2])  # A ranks one event of each class better
    >>> sig_a = np.array([0.9, 0.45, 0.7, 0.75, 0.85])
    >>> r = delong_test(bkg_a, bkg_b, sig_a, sig_b)
    >>> print(r.auc_a, r.auc_b, f"{r.delta_auc:.2f} +- {r.delta_auc_err:.3f}, p = {r.p_value:.2f}")
    0.96 0.8 0.16 +- 0.106, p = 0.13
    """
    return delong_test_against(paired_background(background_a, background_b), signal_a, signal_b)


def delong_test_against(
    background: PairedBackground, signal_a: np.ndarray, signal_b: np.ndarray
) -> AucComparison:
    """:func:`delong_test` against a background checked and sorted once
    (:func:`paired_background`): what a comparison of several signals calls."""
    xa, xb = background.a, background.b
    ya, yb = _paired(signal_a, signal_b, "signal")
    if xa.size == 0 or ya.size == 0:
        return delong_from_sums(PlacementSums.none(int(xa.size), int(ya.size)))
    c10a, c01a = _placements(background.ref_a.scores, xa, ya)
    c10b, c01b = _placements(background.ref_b.scores, xb, yb)
    return delong_from_sums(PlacementSums.of(c10a, c10b, c01a, c01b))


@dataclass(frozen=True)
class Moments:
    """Count, sum and sum of squares of integer placements: exact, and additive over the
    events of any split (``+``), so partitions of a sample add theirs."""

    n: int
    s1: int
    s2: int

    @classmethod
    def of(cls, c: np.ndarray) -> Moments:
        """``c``: int64 doubled placements (``|c| <= 2N``). The sum of squares is exact at any
        size: ``c . c`` in int64 wraps once about ``4 N^2 m > 2^63`` (15 M background events
        against 10 k signal events gave a negative variance), so it is summed in slices
        that cannot wrap, as Python integers."""
        return cls(int(c.size), int(c.sum()), sum_of_squares(c))

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, self.s1 + other.s1, self.s2 + other.s2)


def sum_of_squares(c: np.ndarray) -> int:
    """``sum(c * c)`` of an integer array, exactly (a Python integer): int64 dot products of
    slices short enough not to wrap, added as Python integers; values of 2^31 or more are
    split into high and low halves first.

    >>> import numpy as np
    >>> c = np.full(20_000, 40_000_000, dtype=np.int64)  # int64's own dot wraps here
    >>> sum_of_squares(c) == 20_000 * 40_000_000**2, int(np.dot(c, c)) < 0
    (True, True)
    """
    a = np.abs(np.asarray(c, dtype=np.int64)).reshape(-1)
    if a.size == 0:
        return 0
    top = int(a.max())
    if top >= 2**31:  # a = hi 2^31 + lo: a^2 = hi^2 2^62 + hi lo 2^32 + lo^2
        hi, lo = a >> 31, a & (2**31 - 1)
        return (sum_of_squares(hi) << 62) + (_dot(hi, lo) << 32) + sum_of_squares(lo)
    return _dot(a, a)


def _dot(a: np.ndarray, b: np.ndarray) -> int:
    """``a . b`` of non-negative int64 arrays below 2^31, exactly, in slices that cannot wrap."""
    top = max(int(a.max()) * int(b.max()), 1) if a.size else 1
    step = max(1, (2**63 - 1) // top)
    return sum(int(np.dot(a[i : i + step], b[i : i + step])) for i in range(0, a.size, step))


ZERO_MOMENTS = Moments(0, 0, 0)


@dataclass(frozen=True)
class PlacementSums:
    """What the paired DeLong test reads of the doubled placements (``_placements``): the
    :class:`Moments` of ``c10`` (over the signal events) and of ``c01`` (over the background
    events) for model A, model B and their difference A - B.

    Why: the test needs no placement but through these integer sums, so a background cut
    into partitions can ship its ``c01`` moments (they add) and the test is the very same
    arithmetic on the very same integers (:func:`delong_from_sums`).
    """

    n_background: int
    n_signal: int
    c10_a: Moments
    c10_b: Moments
    c10_d: Moments
    c01_a: Moments
    c01_b: Moments
    c01_d: Moments

    @classmethod
    def of(
        cls, c10a: np.ndarray, c10b: np.ndarray, c01a: np.ndarray, c01b: np.ndarray
    ) -> PlacementSums:
        """From the per-event doubled placements of both models (paired, event order)."""
        return cls(
            n_background=int(c01a.size),
            n_signal=int(c10a.size),
            c10_a=Moments.of(c10a),
            c10_b=Moments.of(c10b),
            c10_d=Moments.of(c10a - c10b),
            **background_moments(c01a, c01b),
        )

    @classmethod
    def none(cls, n_background: int, n_signal: int) -> PlacementSums:
        """Sums of a class without events (the test then withholds every number)."""
        z = ZERO_MOMENTS
        return cls(n_background, n_signal, z, z, z, z, z, z)


def background_moments(c01a: np.ndarray, c01b: np.ndarray) -> dict[str, Moments]:
    """The ``c01`` moments of some background events (``c01_a``, ``c01_b``, ``c01_d``)."""
    return {
        "c01_a": Moments.of(c01a),
        "c01_b": Moments.of(c01b),
        "c01_d": Moments.of(c01a - c01b),
    }


def delong_from_sums(sums: PlacementSums) -> AucComparison:
    """The paired DeLong test (:func:`delong_test`) from its placements' integer sums."""
    n, m = sums.n_background, sums.n_signal
    if n == 0 or m == 0:
        return withheld_comparison(*_no_events(n), n, m)
    with np.errstate(all="raise", under="ignore"):
        total = 2 * m * n
        sum_a, sum_b = sums.c10_a.s1, sums.c10_b.s1
        # int / int: correctly rounded, the same float as roc.Counts.auc
        auc_a, auc_b, delta = sum_a / total, sum_b / total, (sum_a - sum_b) / total
        if n < 2 or m < 2:
            too_few = (
                f"{n} background and {m} signal events kept by both models: the DeLong "
                "covariance needs at least 2 of each"
            )
            # the AUCs are known; their errors and the test are not
            withheld = withheld_comparison(STATUS_TOO_FEW_EVENTS, too_few, n, m)
            return dataclasses.replace(withheld, auc_a=auc_a, auc_b=auc_b, delta_auc=delta)
        var_a = _var_of_mean(sums.c10_a, 2 * n) + _var_of_mean(sums.c01_a, 2 * m)
        var_b = _var_of_mean(sums.c10_b, 2 * n) + _var_of_mean(sums.c01_b, 2 * m)
        var_d = _var_of_mean(sums.c10_d, 2 * n) + _var_of_mean(sums.c01_d, 2 * m)
    se = math.sqrt(var_d)
    reason = None
    if se > 0.0:
        z = delta / se
        p = math.erfc(abs(z) / math.sqrt(2.0))  # 2 * (1 - Phi(|z|)) without cancellation
    elif delta == 0.0:
        z, p = 0.0, 1.0
    else:
        z, p = math.copysign(math.inf, delta), 0.0
        reason = (
            "the DeLong variance is zero with a non-zero delta (every placement difference "
            f"is constant over {n} background and {m} signal events): p-value 0"
        )
    return AucComparison(
        status=STATUS_OK,
        reason=reason,
        n_background=n,
        n_signal=m,
        auc_a=auc_a,
        auc_b=auc_b,
        auc_a_err=math.sqrt(var_a),
        auc_b_err=math.sqrt(var_b),
        delta_auc=delta,
        delta_auc_err=se,
        z=z,
        p_value=p,
    )


def _finite_or_posinf(scores: np.ndarray, what: str) -> np.ndarray:
    x = as_1d(scores, what)
    _check_kept(x, what)
    return x


def _placements(b: np.ndarray, bkg: np.ndarray, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Twice the placements, in exact integers: ``c10_j = 2 V10_j n``, ``c01_i = 2 V01_i m``.

    ``c10_j = 2 #(b < s_j) + #(b == s_j)`` (the pooled minus the within-signal midrank of
    ``s_j``, doubled); ``c01_i = 2 #(s > b_i) + #(s == b_i)`` (``2m`` minus the doubled
    difference of midranks of ``b_i``). ``b``: ``bkg`` sorted.
    """
    c10 = np.searchsorted(b, sig, side="left") + np.searchsorted(b, sig, side="right")
    return c10.astype(np.int64), background_placements(np.sort(sig), bkg)


def background_placements(s: np.ndarray, bkg: np.ndarray) -> np.ndarray:
    """The doubled placements ``c01_i = 2 #(s > b_i) + #(s == b_i)`` of background events
    ``bkg`` against the whole signal ``s`` (sorted), int64: what a background partition
    computes of its own events."""
    c01 = 2 * s.size - np.searchsorted(s, bkg, side="left") - np.searchsorted(s, bkg, "right")
    return c01.astype(np.int64)


def _var_of_mean(c: Moments, scale: int) -> float:
    """Sample variance (ddof=1) of ``c / scale`` divided by its size; exactly 0 if constant.

    From the integer sums ``S1 = sum c`` and ``S2 = sum c^2`` (exact: ``c <= 2N``, so
    ``S2`` stays far below 2^63 for any sample that fits in memory):
    ``var = (n S2 - S1^2) / (n (n - 1) scale^2)``, one rounding at the end.
    """
    n, s1, s2 = c.n, c.s1, c.s2
    spread = n * s2 - s1 * s1  # Python integers: exact
    if spread == 0:
        return 0.0
    return spread / (n * (n - 1) * scale * scale) / n


def _no_events(n_background: int) -> tuple[str, str]:
    """Status and reason when a class is empty (the background if ``n_background == 0``)."""
    if n_background == 0:
        return STATUS_NO_BACKGROUND, "no background events kept by both models"
    return STATUS_NO_SIGNAL, "no signal events kept by both models"


def withheld_comparison(status: str, reason: str, n: int, m: int) -> AucComparison:
    """A comparison whose numbers are withheld (status and reason; every number None)."""
    return AucComparison(
        status=status,
        reason=reason,
        n_background=n,
        n_signal=m,
        auc_a=None,
        auc_b=None,
        auc_a_err=None,
        auc_b_err=None,
        delta_auc=None,
        delta_auc_err=None,
        z=None,
        p_value=None,
    )


def holm(p_values: Sequence[float | None]) -> tuple[float | None, ...]:
    """Holm-corrected p-values (step-down, monotone, capped at 1), in the original order.

    With the ``m`` p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted
    ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``: ``H_(i)`` is rejected at level
    ``alpha`` exactly when ``p~_(i) <= alpha``. A withheld p-value (None or NaN) is no test:
    it stays as it came (None or NaN) and does not count in ``m``, so a comparison without a
    number neither gets one nor weakens the others.

    Examples
    --------
    >>> from hepfm_core.engine.compare.paired import holm
    >>> [round(p, 6) for p in holm([0.01, 0.04, 0.03, 0.005])]
    [0.03, 0.06, 0.06, 0.02]
    >>> holm([0.02, None, 0.5])
    (0.04, None, 0.5)
    """
    values: list[float | None] = []
    for p in p_values:
        v = None if p is None else float(p)
        if v is not None and not math.isnan(v) and not 0.0 <= v <= 1.0:
            raise ValueError(f"a p-value lies in [0, 1], got {p!r}")
        values.append(v)
    tested = [(v, i) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    tested.sort()
    m = len(tested)
    out = list(values)
    running = 0.0
    for rank, (v, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * v))
        out[i] = running
    return tuple(out)
