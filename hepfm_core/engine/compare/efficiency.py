"""Two models' signal efficiencies at the same background efficiencies, paired on the same
events: their difference and its uncertainty at each working point."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...common.json_fields import FINITE, JsonFields, json_float, json_meta
from ...vocabulary import DEFAULT_BKG_EFFS
from ..metrics.roc import Counts, sorted_signal
from ..metrics.working_points import (
    STATUS_OK,
    TARGET,
    WorkingPoint,
    check_effs,
    empty_working_point,
    working_point,
)
from .paired import PairedBackground, _no_events, _paired, paired_background

__all__ = [
    "EfficiencyDifference",
    "efficiency_differences",
    "efficiency_differences_against",
    "efficiency_differences_of",
]


def _eff_sig(point: WorkingPoint) -> float | None:
    return json_float(point.eff_sig)


@dataclass(frozen=True, eq=False)
class EfficiencyDifference(JsonFields):
    """Signal efficiency of models A and B at one background-efficiency target, and A - B.

    Each model's cut is its own working point (``working_points.working_point``, on its own
    background). ``delta_eff_sig = eff_sig_a - eff_sig_b``; ``delta_eff_sig_err`` the paired
    binomial (Wald) error over the signal events with the two cuts held fixed, like
    ``WorkingPoint.eff_sig_err``: ``sqrt(Var(pass_A - pass_B) / m)``, 0 when both models
    pass the same events. ``status`` is ``"ok"`` when both points are, else the first
    non-ok point's status; ``reason`` gathers the points' reasons by model. Its JSON gives
    of each point its signal efficiency only.
    """

    target_bkg_eff: float = field(metadata=TARGET)
    status: str
    reason: str | None
    point_a: WorkingPoint = field(metadata=json_meta(key="eff_sig_a", convert=_eff_sig))
    point_b: WorkingPoint = field(metadata=json_meta(key="eff_sig_b", convert=_eff_sig))
    delta_eff_sig: float | None = field(metadata=FINITE)
    delta_eff_sig_err: float | None = field(metadata=FINITE)


def efficiency_differences(
    background_a: np.ndarray,
    background_b: np.ndarray,
    signal_a: np.ndarray,
    signal_b: np.ndarray,
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
) -> tuple[EfficiencyDifference, ...]:
    """Signal efficiency of each model at each background-efficiency target, and A - B.

    Arguments as :func:`delong_test` (paired, finite or ``+inf``); ``bkg_effs`` and
    ``min_bkg_pass`` as ``metrics.separation``.

    Examples
    --------
    At eff_B = 0.1 both cuts are ``score > 8``: each model passes two of three signal events,
    but not the same two, so the equal efficiencies still carry a paired error.

    >>> import numpy as np
    >>> from hepfm_core.engine.compare.efficiency import efficiency_differences
    >>> bkg = np.arange(10.0)
    >>> sig_a, sig_b = np.array([9.5, 8.5, 7.5]), np.array([9.5, 7.5, 8.5])
    >>> (d,) = efficiency_differences(bkg, bkg, sig_a, sig_b, bkg_effs=[0.1], min_bkg_pass=1)
    >>> print(d.point_a.threshold, d.point_a.eff_sig, d.point_b.eff_sig)
    8.0 0.6666666666666666 0.6666666666666666
    >>> print(d.delta_eff_sig, f"{d.delta_eff_sig_err:.3f}")
    0.0 0.471
    """
    return efficiency_differences_against(
        paired_background(background_a, background_b),
        signal_a,
        signal_b,
        bkg_effs=bkg_effs,
        min_bkg_pass=min_bkg_pass,
    )


def efficiency_differences_against(
    background: PairedBackground,
    signal_a: np.ndarray,
    signal_b: np.ndarray,
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
) -> tuple[EfficiencyDifference, ...]:
    """:func:`efficiency_differences` against a background checked and sorted once."""
    ya, yb = _paired(signal_a, signal_b, "signal")
    with np.errstate(all="raise", under="ignore"):
        core_a = Counts.build(background.ref_a, sorted_signal(ya))
        core_b = Counts.build(background.ref_b, sorted_signal(yb))
    return efficiency_differences_of(
        core_a, core_b, ya, yb, bkg_effs=bkg_effs, min_bkg_pass=min_bkg_pass
    )


def efficiency_differences_of(
    core_a: Counts,
    core_b: Counts,
    signal_a: np.ndarray,
    signal_b: np.ndarray,
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
) -> tuple[EfficiencyDifference, ...]:
    """:func:`efficiency_differences` from each model's counts against the paired background
    (``roc.Counts``: its size and top ranks, and the sorted signal), wherever they were
    counted: one sorted background here, or its partitions merged. ``signal_a`` /
    ``signal_b``: the paired signal scores in event order."""
    effs = check_effs(bkg_effs)
    if min_bkg_pass < 0:
        raise ValueError(f"min_bkg_pass must be >= 0, got {min_bkg_pass}")
    ya, yb = _paired(signal_a, signal_b, "signal")
    n, m = core_a.nb, int(ya.size)
    if n == 0 or m == 0:
        status, reason = _no_events(n)
        out = []
        for e in effs:
            wp = empty_working_point(e, status, reason)
            out.append(EfficiencyDifference(e, status, reason, wp, wp, None, None))
        return tuple(out)
    with np.errstate(all="raise", under="ignore"):
        return tuple(
            _efficiency_difference(
                working_point(core_a, e, min_bkg_pass),
                working_point(core_b, e, min_bkg_pass),
                ya,
                yb,
            )
            for e in effs
        )


def _efficiency_difference(
    wa: WorkingPoint, wb: WorkingPoint, ya: np.ndarray, yb: np.ndarray
) -> EfficiencyDifference:
    notes = [f"model {k}: {w.reason}" for k, w in (("A", wa), ("B", wb)) if w.reason]
    reason = "; ".join(notes) or None
    if wa.status != STATUS_OK or wb.status != STATUS_OK:
        status = wa.status if wa.status != STATUS_OK else wb.status
        return EfficiencyDifference(wa.target_bkg_eff, status, reason, wa, wb, None, None)
    if wa.threshold is None or wb.threshold is None:  # never with status "ok"
        raise RuntimeError("a working point with status 'ok' carries its threshold")
    pass_a = ya > wa.threshold
    pass_b = yb > wb.threshold
    m = int(ya.size)
    only_a = int(np.count_nonzero(pass_a & ~pass_b))
    only_b = int(np.count_nonzero(pass_b & ~pass_a))
    d = only_a - only_b
    # Var(pass_A - pass_B) = (only_a + only_b)/m - (d/m)^2, in exact integers
    err = math.sqrt((only_a + only_b) * m - d * d) / (m * math.sqrt(m))
    return EfficiencyDifference(wa.target_bkg_eff, STATUS_OK, reason, wa, wb, d / m, err)
