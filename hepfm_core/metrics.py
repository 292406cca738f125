"""Separation of one signal from the background: exact ROC, AUC with its error, working points.

Scores: higher = more anomalous; a cut keeps ``score > threshold``. Inputs are the KEPT scores
of a sample (the guards have already applied the non-finite policy), so every value is finite
or ``+inf``: ``+inf`` is an overflowed score that the "worst" policy ranks above every finite
score, and ``+inf`` values tie with each other. NaN or ``-inf`` here is a programming error
(the policy should have removed or mapped it) and raises ``ValueError``.

The background is sorted once (:func:`prepare_background`) and shared by every signal;
:func:`separation` then costs ``O(m log n)`` per signal of ``m`` events, via binary search in
the sorted background, never a sort of the union. Every count is an exact integer, so the
AUC, the ROC and the working points are invariant under any strictly increasing transform of
the score.

A degenerate case (no background or no signal events) returns an explicit status with its
reason and ``auc=None``, never a made-up 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BKG_EFFS: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5)

STATUS_OK = "ok"
STATUS_NO_BACKGROUND = "no_background_events"
STATUS_NO_SIGNAL = "no_signal_events"
# Working-point statuses besides "ok" (and the two above, copied when the whole is degenerate).
STATUS_INSUFFICIENT_BACKGROUND = "insufficient_background"
STATUS_TIED_BACKGROUND = "tied_background"

EFF_CL = 0.6827
"""Confidence level of the efficiency intervals: the central 1-sigma (68.27 %) band."""
EFF_INTERVAL = "Clopper-Pearson, 68.27 % central"
"""How efficiency intervals are computed, for docs and table captions to cite."""

# Tolerance, in events, when turning a target efficiency into an event count: 1e-3 * 1e5 may
# round to 99.99999999999999, which must still allow 100 background events to pass.
_COUNT_TOL = 1e-9


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BackgroundRef:
    """The background scores sorted ascending once, shared by every signal.

    Build it with :func:`prepare_background`; ``scores`` is read-only and must stay sorted.
    """

    scores: np.ndarray
    n: int


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


@dataclass(frozen=True, eq=False)
class WorkingPoint:
    """Signal efficiency at the loosest cut whose background efficiency is <= a target.

    ``status``: ``"ok"``; ``"insufficient_background"`` when ``n_background * target`` is below
    ``min_bkg_pass`` (too few background events would pass to mean anything);
    ``"tied_background"`` when the target allows enough events but ties at the top of the
    background force a cut that passes fewer than ``min_bkg_pass``; or the status of a
    degenerate :class:`Separation`. ``eff_sig`` is None unless the status is ``"ok"``.
    ``reason`` explains any status but a plain ``"ok"`` (for ``"ok"`` it notes a shortfall
    of the achieved efficiency caused by ties, if any).
    ``eff_sig_err`` is the binomial (Wald) error, 0 at an efficiency of 0 or 1;
    ``eff_sig_lower`` / ``eff_sig_upper`` and ``achieved_bkg_eff_lower`` / ``_upper`` are
    exact :data:`EFF_INTERVAL` intervals from the passing and total event counts, which stay
    meaningful there (no signal passing out of 100 still allows up to 1.8 %).
    """

    target_bkg_eff: float
    status: str
    reason: str | None
    eff_sig: float | None
    eff_sig_err: float | None
    achieved_bkg_eff: float | None
    threshold: float | None
    n_bkg_pass: int | None
    eff_sig_lower: float | None = None
    eff_sig_upper: float | None = None
    achieved_bkg_eff_lower: float | None = None
    achieved_bkg_eff_upper: float | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """Strict-JSON-safe dict; a threshold of +-inf (nothing / everything passes) is null."""
        return {
            "target_bkg_eff": _json_float(self.target_bkg_eff),
            "key": format_eff(self.target_bkg_eff),
            "status": self.status,
            "reason": self.reason,
            "eff_sig": _json_float(self.eff_sig),
            "eff_sig_err": _json_float(self.eff_sig_err),
            "achieved_bkg_eff": _json_float(self.achieved_bkg_eff),
            "threshold": _json_float(self.threshold),
            "n_bkg_pass": self.n_bkg_pass,
            "eff_sig_lower": _json_float(self.eff_sig_lower),
            "eff_sig_upper": _json_float(self.eff_sig_upper),
            "achieved_bkg_eff_lower": _json_float(self.achieved_bkg_eff_lower),
            "achieved_bkg_eff_upper": _json_float(self.achieved_bkg_eff_upper),
        }


@dataclass(frozen=True, eq=False)
class Separation:
    """Everything the metrics table and the ROC charts show for one signal sample.

    ``status`` is ``"ok"``, ``"no_background_events"`` or ``"no_signal_events"``; unless it is
    ``"ok"``, ``reason`` says why and every number is None (working points carry the same
    status). ``roc`` is the full exact curve, ``roc_thinned`` at most ``max_points`` of its
    vertices for plotting. ``max_sic`` is None with ``max_sic_reason`` when the background is
    too small for any cut to pass ``min_bkg_pass`` events.
    """

    status: str
    reason: str | None
    n_background: int
    n_signal: int
    auc: float | None
    auc_err: float | None
    roc: RocCurve | None
    roc_thinned: RocCurve | None
    working_points: tuple[WorkingPoint, ...]
    max_sic: float | None
    max_sic_eff_sig: float | None
    max_sic_eff_bkg: float | None
    max_sic_reason: str | None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_json_dict(self) -> dict[str, Any]:
        """Strict-JSON-safe summary (no NaN or infinity anywhere; null plus a reason instead)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "n_background": self.n_background,
            "n_signal": self.n_signal,
            "auc": _json_float(self.auc),
            "auc_err": _json_float(self.auc_err),
            "eff_at_bkg_eff": {
                format_eff(wp.target_bkg_eff): _json_float(wp.eff_sig) for wp in self.working_points
            },
            "eff_at_bkg_eff_err": {
                format_eff(wp.target_bkg_eff): _json_float(wp.eff_sig_err)
                for wp in self.working_points
            },
            "eff_at_bkg_eff_lower": {
                format_eff(wp.target_bkg_eff): _json_float(wp.eff_sig_lower)
                for wp in self.working_points
            },
            "eff_at_bkg_eff_upper": {
                format_eff(wp.target_bkg_eff): _json_float(wp.eff_sig_upper)
                for wp in self.working_points
            },
            "working_points": [wp.to_json_dict() for wp in self.working_points],
            "max_sic": _json_float(self.max_sic),
            "max_sic_eff_sig": _json_float(self.max_sic_eff_sig),
            "max_sic_eff_bkg": _json_float(self.max_sic_eff_bkg),
            "max_sic_reason": self.max_sic_reason,
        }


# -- public functions ---------------------------------------------------------------------
def format_eff(eff: float) -> str:
    """A background efficiency as a short JSON key: ``1e-3 -> "1e-3"``, ``2.5e-4 -> "2.5e-4"``."""
    e = float(eff)
    if not (math.isfinite(e) and e > 0.0):
        raise ValueError(f"an efficiency must be finite and positive, got {eff!r}")
    mantissa, exponent = f"{e:.12e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def prepare_background(scores: np.ndarray) -> BackgroundRef:
    """Sort the background scores once (a copy; the input is not touched).

    Raises ``ValueError`` for a non-1-D array or any NaN / ``-inf`` value.
    """
    x = _as_1d(scores, "background")
    ordered = np.sort(x)
    # After sorting, NaN sits at the end and -inf at the start: an O(1) check.
    if ordered.size and (np.isnan(ordered[-1]) or ordered[0] == -np.inf):
        n_nan = int(np.count_nonzero(np.isnan(ordered)))
        n_neg = int(np.count_nonzero(ordered == -np.inf))
        raise ValueError(_bad_values_message("background", n_nan, n_neg))
    ordered.setflags(write=False)
    return BackgroundRef(scores=ordered, n=int(ordered.size))


def roc_curve(background: BackgroundRef, signal: np.ndarray) -> RocCurve:
    """The exact ROC of ``signal`` against ``background`` (both must be non-empty)."""
    s = _sorted_signal(signal)
    if background.n == 0 or s.size == 0:
        raise ValueError("a ROC needs at least one background and one signal event")
    core = _Core.build(background, s)
    return core.roc()


def hanley_mcneil_se(auc: float, n_signal: int, n_background: int) -> float:
    """Analytic (Hanley-McNeil) standard error of an AUC, cheap enough for every slider move.

    ``Q1 = A/(2-A)`` (two signal events both above one background event) and
    ``Q2 = 2A^2/(1+A)`` (one signal event above two background events);
    ``SE^2 = [A(1-A) + (n_s-1)(Q1-A^2) + (n_b-1)(Q2-A^2)] / (n_s n_b)``.
    Evaluated in the cancellation-free form ``Q1-A^2 = A(1-A)^2/(2-A)``,
    ``Q2-A^2 = A^2(1-A)/(1+A)``, i.e. ``SE^2 = A(1-A) [1 + (n_s-1)(1-A)/(2-A) +
    (n_b-1)A/(1+A)] / (n_s n_b)``: near A = 1 the differences ``Q - A^2`` would otherwise lose
    every digit (``1 - A`` itself is exact for A >= 1/2).
    """
    a = float(auc)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"an AUC lies in [0, 1], got {auc!r}")
    if n_signal < 1 or n_background < 1:
        raise ValueError("the AUC error needs at least one signal and one background event")
    with np.errstate(all="raise"):
        b = 1.0 - a
        bracket = 1.0 + (n_signal - 1) * b / (2.0 - a) + (n_background - 1) * a / (1.0 + a)
        var = a * b * bracket / (float(n_signal) * float(n_background))
    return math.sqrt(var)


def clopper_pearson(k: Any, n: Any, cl: float = EFF_CL) -> tuple[Any, Any]:
    """Exact (Clopper-Pearson) central ``cl`` interval of a binomial proportion ``k / n``.

    Why: the Wald error sqrt(p(1-p)/n) is 0 at p = 0 or 1, exactly where a tight cut leaves
    few events. ``lo`` is the ``(1-cl)/2`` quantile of Beta(k, n-k+1) (0 for k = 0), ``hi``
    the ``(1+cl)/2`` quantile of Beta(k+1, n-k) (1 for k = n). Scalars give floats, arrays
    (broadcast) give arrays. Raises ``ValueError`` unless 0 <= k <= n, n >= 1, integers,
    and 0 < cl < 1.
    """
    # Lazy import. betaincinv(a, b, q) is scipy.stats.beta.ppf(q, a, b) as a plain ufunc:
    # about 20 times less overhead per call and no scipy.stats import.
    from scipy.special import betaincinv

    k_arr = np.asarray(k)
    n_arr = np.asarray(n)
    if not 0.0 < cl < 1.0:
        raise ValueError(f"a confidence level lies in (0, 1), got {cl!r}")
    if (
        k_arr.dtype.kind not in "iuf"
        or n_arr.dtype.kind not in "iuf"
        or not np.all(np.isfinite(n_arr))
        or np.any(k_arr != np.floor(k_arr))
        or np.any(n_arr != np.floor(n_arr))
        or np.any(n_arr < 1)
        or np.any(k_arr < 0)
        or np.any(k_arr > n_arr)
    ):
        raise ValueError(f"need integer counts with 0 <= k <= n and n >= 1, got k={k!r}, n={n!r}")
    kf, nf = np.broadcast_arrays(k_arr.astype(np.float64), n_arr.astype(np.float64))
    alpha = 1.0 - cl
    with np.errstate(all="ignore"):
        # Beta(0, .) and Beta(., 0) are the k = 0 and k = n edges: fed 1 instead, then replaced.
        lo = np.where(kf > 0, betaincinv(np.maximum(kf, 1.0), nf - kf + 1.0, alpha / 2), 0.0)
        hi = np.where(kf < nf, betaincinv(kf + 1.0, np.maximum(nf - kf, 1.0), 1.0 - alpha / 2), 1.0)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


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


def separation(
    background: BackgroundRef,
    signal: np.ndarray,
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
    max_points: int = 1000,
) -> Separation:
    """AUC +- Hanley-McNeil error, exact ROC, eff_S at each eff_B target and max SIC.

    ``min_bkg_pass``: the fewest background events that must pass a cut for its efficiency to
    mean something; it gates the working points and the range of the max SIC.
    ``max_points``: size limit of the thinned ROC for plotting.
    """
    effs = _check_effs(bkg_effs)
    if min_bkg_pass < 0:
        raise ValueError(f"min_bkg_pass must be >= 0, got {min_bkg_pass}")
    s = _sorted_signal(signal)
    nb, ns = background.n, int(s.size)
    if nb == 0:
        return _degenerate(
            STATUS_NO_BACKGROUND,
            f"the background has no events left (signal: {ns}); nothing to compare against",
            nb,
            ns,
            effs,
        )
    if ns == 0:
        return _degenerate(
            STATUS_NO_SIGNAL,
            f"the signal has no events left (background: {nb}); nothing to separate",
            nb,
            ns,
            effs,
        )
    with np.errstate(all="raise", under="ignore"):
        core = _Core.build(background, s)
        auc = core.auc()
        roc = core.roc()
        wps = tuple(core.working_point(e, min_bkg_pass) for e in effs)
        sic, sic_s, sic_b, sic_reason = core.max_sic(min_bkg_pass)
        thinned = thin_roc(roc, max_points)
    return Separation(
        status=STATUS_OK,
        reason=None,
        n_background=nb,
        n_signal=ns,
        auc=auc,
        auc_err=hanley_mcneil_se(auc, ns, nb),
        roc=roc,
        roc_thinned=thinned,
        working_points=wps,
        max_sic=sic,
        max_sic_eff_sig=sic_s,
        max_sic_eff_bkg=sic_b,
        max_sic_reason=sic_reason,
    )


# -- internals ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Core:
    """Integer counts shared by all metrics of one (background, signal) pair."""

    bkg: np.ndarray  # sorted ascending
    sig: np.ndarray  # sorted ascending
    values: np.ndarray  # distinct signal scores, ascending
    counts: np.ndarray  # signal events at each distinct score
    bkg_below: np.ndarray  # background events < value
    bkg_at_or_below: np.ndarray  # background events <= value

    @classmethod
    def build(cls, background: BackgroundRef, sig: np.ndarray) -> _Core:
        first = np.empty(sig.size, dtype=bool)
        first[:1] = True
        np.not_equal(sig[1:], sig[:-1], out=first[1:])  # +inf == +inf: a tie, as intended
        starts = np.flatnonzero(first)
        values = sig[starts]
        counts = np.diff(np.append(starts, sig.size))
        b = background.scores
        below = np.searchsorted(b, values, side="left")
        # A second binary search only for values that some background event ties with.
        at_or_below = below.copy()
        inside = np.flatnonzero(below < b.size)
        tied = inside[b[below[inside]] == values[inside]]
        at_or_below[tied] = np.searchsorted(b, values[tied], side="right")
        return cls(
            bkg=b,
            sig=sig,
            values=values,
            counts=counts,
            bkg_below=below,
            bkg_at_or_below=at_or_below,
        )

    @property
    def nb(self) -> int:
        return int(self.bkg.size)

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

    def working_point(self, target: float, min_bkg_pass: int) -> WorkingPoint:
        nb, ns = self.nb, self.ns
        expected = nb * target
        key = format_eff(target)
        if expected < min_bkg_pass:
            reason = (
                f"only {expected:.3g} background events expected to pass at eff_B={key} "
                f"(need >= {min_bkg_pass})"
            )
            return _empty_wp(target, STATUS_INSUFFICIENT_BACKGROUND, reason)
        allowed = min(math.floor(expected + _COUNT_TOL), nb)
        # The loosest cut passing <= `allowed` events sits at the (allowed+1)-th largest score:
        # any lower cut passes that event too. Ties there may make it pass fewer.
        threshold = float(self.bkg[nb - allowed - 1]) if allowed < nb else -math.inf
        n_pass = nb - int(np.searchsorted(self.bkg, threshold, side="right"))
        n_sig = ns - int(np.searchsorted(self.sig, threshold, side="right"))
        achieved = n_pass / nb
        if n_pass < min_bkg_pass:
            reason = (
                f"background ties at the cut: the loosest cut with eff_B <= {key} passes only "
                f"{n_pass} background events (need >= {min_bkg_pass})"
            )
            bkg_lo, bkg_hi = clopper_pearson(n_pass, nb)
            return WorkingPoint(
                target_bkg_eff=target,
                status=STATUS_TIED_BACKGROUND,
                reason=reason,
                eff_sig=None,
                eff_sig_err=None,
                achieved_bkg_eff=achieved,
                threshold=threshold,
                n_bkg_pass=n_pass,
                achieved_bkg_eff_lower=bkg_lo,
                achieved_bkg_eff_upper=bkg_hi,
            )
        reason = None
        if n_pass < allowed:
            reason = (
                f"background ties at the cut: achieved eff_B={achieved:.3g} "
                f"({n_pass} events) instead of {key}"
            )
        eff = n_sig / ns
        (sig_lo, bkg_lo), (sig_hi, bkg_hi) = clopper_pearson(
            np.array([n_sig, n_pass]), np.array([ns, nb])
        )
        return WorkingPoint(
            target_bkg_eff=target,
            status=STATUS_OK,
            reason=reason,
            eff_sig=eff,
            eff_sig_err=math.sqrt(eff * (1.0 - eff) / ns),
            achieved_bkg_eff=achieved,
            threshold=threshold,
            n_bkg_pass=n_pass,
            eff_sig_lower=float(sig_lo),
            eff_sig_upper=float(sig_hi),
            achieved_bkg_eff_lower=float(bkg_lo),
            achieved_bkg_eff_upper=float(bkg_hi),
        )

    def max_sic(
        self, min_bkg_pass: int
    ) -> tuple[float | None, float | None, float | None, str | None]:
        """Max of eff_S / sqrt(eff_B) over every cut passing >= max(min_bkg_pass, 1) bkg events.

        Candidates: the ROC vertices in range, plus the tightest cut passing at least that many
        background events (on a background-only stretch of the curve the best point is its
        left end, which may lie between two vertices).
        """
        nb, ns = self.nb, self.ns
        need = max(min_bkg_pass, 1)
        if need > nb:
            return None, None, None, f"only {nb} background events (need >= {need} passing)"
        counts = self.counts[::-1]
        tp_ge = np.cumsum(counts)
        fp = np.concatenate(((nb - self.bkg_at_or_below)[::-1], (nb - self.bkg_below)[::-1], [nb]))
        tp = np.concatenate((tp_ge - counts, tp_ge, [ns]))
        edge = self.bkg[nb - need]
        fp_edge = nb - int(np.searchsorted(self.bkg, edge, side="left"))
        tp_edge = ns - int(np.searchsorted(self.sig, edge, side="left"))
        fp = np.append(fp, fp_edge)
        tp = np.append(tp, tp_edge)
        ok = fp >= need
        eff_b = fp[ok] / nb
        eff_s = tp[ok] / ns
        sic = eff_s / np.sqrt(eff_b)
        best = int(np.argmax(sic))
        return float(sic[best]), float(eff_s[best]), float(eff_b[best]), None


def _as_1d(scores: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} scores must be a 1-D array, got shape {x.shape}")
    return x


def _sorted_signal(signal: np.ndarray) -> np.ndarray:
    s = np.sort(_as_1d(signal, "signal"))
    if s.size and (np.isnan(s[-1]) or s[0] == -np.inf):
        n_nan = int(np.count_nonzero(np.isnan(s)))
        n_neg = int(np.count_nonzero(s == -np.inf))
        raise ValueError(_bad_values_message("signal", n_nan, n_neg))
    return s


def _bad_values_message(name: str, n_nan: int, n_neginf: int) -> str:
    return (
        f"{name} scores contain {n_nan} NaN and {n_neginf} -inf values; the non-finite policy "
        "must remove or map them before the metrics"
    )


def _check_effs(bkg_effs: Sequence[float]) -> tuple[float, ...]:
    effs = tuple(float(e) for e in bkg_effs)
    for e in effs:
        if not (math.isfinite(e) and 0.0 < e <= 1.0):
            raise ValueError(f"a background efficiency target lies in (0, 1], got {e!r}")
    keys = [format_eff(e) for e in effs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"background efficiency targets must be distinct, got {keys}")
    return effs


def _empty_wp(target: float, status: str, reason: str) -> WorkingPoint:
    return WorkingPoint(
        target_bkg_eff=target,
        status=status,
        reason=reason,
        eff_sig=None,
        eff_sig_err=None,
        achieved_bkg_eff=None,
        threshold=None,
        n_bkg_pass=None,
    )


def _degenerate(status: str, reason: str, nb: int, ns: int, effs: tuple[float, ...]) -> Separation:
    return Separation(
        status=status,
        reason=reason,
        n_background=nb,
        n_signal=ns,
        auc=None,
        auc_err=None,
        roc=None,
        roc_thinned=None,
        working_points=tuple(_empty_wp(e, status, reason) for e in effs),
        max_sic=None,
        max_sic_eff_sig=None,
        max_sic_eff_bkg=None,
        max_sic_reason=reason,
    )


def _json_float(x: float | None) -> float | None:
    """None for None or a non-finite value, else a plain float."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def withheld_separation(
    status: str,
    reason: str,
    n_background: int,
    n_signal: int,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
) -> Separation:
    """A separation whose numbers are withheld for a reason found upstream of the metrics
    (e.g. inputs that are mostly fill values): the status and reason, every number None."""
    return _degenerate(status, reason, n_background, n_signal, _check_effs(bkg_effs))
