"""Working points: the signal efficiency at a fixed background efficiency, and the max SIC.

A working point is the loosest cut whose background efficiency is at most the target; it
needs enough background events passing to mean anything, and says so by its status when
there are too few (or when ties at the top of the background force a tighter cut).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...common.json_fields import (
    FINITE,
    JsonFields,
    json_bound,
    json_clip,
    json_float,
    json_meta,
)
from .intervals import clopper_pearson
from .roc import Counts

__all__ = [
    "FINITE",
    "STATUS_INSUFFICIENT_BACKGROUND",
    "STATUS_NO_BACKGROUND",
    "STATUS_NO_SIGNAL",
    "STATUS_OK",
    "STATUS_TIED_BACKGROUND",
    "TARGET",
    "WorkingPoint",
    "check_effs",
    "empty_working_point",
    "format_eff",
    "json_bound",
    "json_clip",
    "json_float",
    "max_sic",
    "needed_ranks",
    "working_point",
]

STATUS_OK = "ok"
STATUS_NO_BACKGROUND = "no_background_events"
STATUS_NO_SIGNAL = "no_signal_events"
# Working-point statuses besides "ok" (and the two above, copied when the whole is degenerate).
STATUS_INSUFFICIENT_BACKGROUND = "insufficient_background"
STATUS_TIED_BACKGROUND = "tied_background"

# Tolerance, in events, when turning a target efficiency into an event count: 1e-3 * 1e5 may
# round to 99.99999999999999, which must still allow 100 background events to pass.
_COUNT_TOL = 1e-9


def format_eff(eff: float) -> str:
    """A background efficiency as a short JSON key: ``1e-3 -> "1e-3"``, ``2.5e-4 -> "2.5e-4"``."""
    e = float(eff)
    if not (math.isfinite(e) and e > 0.0):
        raise ValueError(f"an efficiency must be finite and positive, got {eff!r}")
    mantissa, exponent = f"{e:.12e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _target_entries(point: Any) -> dict[str, float | str | None]:
    """A background-efficiency target and, after it, its short key."""
    target = point.target_bkg_eff
    return {"target_bkg_eff": json_float(target), "key": format_eff(target)}


TARGET = json_meta(entries=_target_entries)
"""The metadata of a ``target_bkg_eff`` field: the target and its key (:func:`format_eff`)."""


@dataclass(frozen=True, eq=False)
class WorkingPoint(JsonFields):
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
    Its JSON is strict: a threshold of +-inf (nothing / everything passes) is null, and the
    target's short key (``format_eff``) follows the target.
    """

    target_bkg_eff: float = field(metadata=TARGET)
    status: str
    reason: str | None
    eff_sig: float | None = field(metadata=FINITE)
    eff_sig_err: float | None = field(metadata=FINITE)
    achieved_bkg_eff: float | None = field(metadata=FINITE)
    threshold: float | None = field(metadata=FINITE)
    n_bkg_pass: int | None
    eff_sig_lower: float | None = field(default=None, metadata=FINITE)
    eff_sig_upper: float | None = field(default=None, metadata=FINITE)
    achieved_bkg_eff_lower: float | None = field(default=None, metadata=FINITE)
    achieved_bkg_eff_upper: float | None = field(default=None, metadata=FINITE)


def check_effs(bkg_effs: Sequence[float]) -> tuple[float, ...]:
    effs = tuple(float(e) for e in bkg_effs)
    for e in effs:
        if not (math.isfinite(e) and 0.0 < e <= 1.0):
            raise ValueError(f"a background efficiency target lies in (0, 1], got {e!r}")
    keys = [format_eff(e) for e in effs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"background efficiency targets must be distinct, got {keys}")
    return effs


def empty_working_point(target: float, status: str, reason: str) -> WorkingPoint:
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


def _allowed(nb: int, target: float) -> int:
    """The most background events a cut at efficiency ``target`` may pass."""
    return min(math.floor(nb * target + _COUNT_TOL), nb)


def needed_ranks(nb: int, bkg_effs: Sequence[float], min_bkg_pass: int) -> tuple[int, ...]:
    """The ranks ``k`` (``k``-th largest background score) that :func:`working_point` and
    :func:`max_sic` read from a background of ``nb`` events, ascending and distinct.

    Why: a merge of background partitions selects exactly these order statistics
    (``selection.py``) instead of sorting the whole background. A superset: a target whose
    working point turns out ``insufficient_background`` still names its rank.

    Examples
    --------
    >>> from hepfm_core.engine.metrics.working_points import needed_ranks
    >>> needed_ranks(1_000_000, [1e-2, 1e-3], min_bkg_pass=10)  # 10_001, 1_001, and 10 (SIC)
    (10, 1001, 10001)
    """
    ranks = set()
    for target in check_effs(bkg_effs):
        allowed = _allowed(nb, target)
        if allowed < nb:
            ranks.add(allowed + 1)
    need = max(min_bkg_pass, 1)
    if need <= nb:
        ranks.add(need)
    return tuple(sorted(ranks))


def working_point(core: Counts, target: float, min_bkg_pass: int) -> WorkingPoint:
    """Signal efficiency at the loosest cut whose background efficiency is <= ``target``."""
    nb, ns = core.nb, core.ns
    expected = nb * target
    key = format_eff(target)
    if expected < min_bkg_pass:
        reason = (
            f"only {expected:.3g} background events expected to pass at eff_B={key} "
            f"(need >= {min_bkg_pass})"
        )
        return empty_working_point(target, STATUS_INSUFFICIENT_BACKGROUND, reason)
    allowed = _allowed(nb, target)
    # The loosest cut passing <= `allowed` events sits at the (allowed+1)-th largest score:
    # any lower cut passes that event too. Ties there may make it pass fewer.
    if allowed < nb:
        at_cut = core.tail.at_rank(allowed + 1)
        threshold, n_pass = at_cut.value, at_cut.above
    else:
        threshold, n_pass = -math.inf, nb
    n_sig = ns - int(np.searchsorted(core.sig, threshold, side="right"))
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
    shortfall = None
    if n_pass < allowed:
        shortfall = (
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
        reason=shortfall,
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
    core: Counts, min_bkg_pass: int
) -> tuple[float | None, float | None, float | None, str | None]:
    """Max of eff_S / sqrt(eff_B) over every cut passing >= max(min_bkg_pass, 1) bkg events.

    Candidates: the ROC vertices in range, plus the tightest cut passing at least that many
    background events (on a background-only stretch of the curve the best point is its
    left end, which may lie between two vertices).
    """
    nb, ns = core.nb, core.ns
    need = max(min_bkg_pass, 1)
    if need > nb:
        return None, None, None, f"only {nb} background events (need >= {need} passing)"
    counts = core.counts[::-1]
    tp_ge = np.cumsum(counts)
    fp = np.concatenate(((nb - core.bkg_at_or_below)[::-1], (nb - core.bkg_below)[::-1], [nb]))
    tp = np.concatenate((tp_ge - counts, tp_ge, [ns]))
    at_edge = core.tail.at_rank(need)
    edge = at_edge.value
    fp_edge = at_edge.at_or_above
    tp_edge = ns - int(np.searchsorted(core.sig, edge, side="left"))
    fp = np.append(fp, fp_edge)
    tp = np.append(tp, tp_edge)
    ok = fp >= need
    eff_b = fp[ok] / nb
    eff_s = tp[ok] / ns
    sic = eff_s / np.sqrt(eff_b)
    best = int(np.argmax(sic))
    return float(sic[best]), float(eff_s[best]), float(eff_b[best]), None
