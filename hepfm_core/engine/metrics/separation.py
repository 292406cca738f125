"""Separation of one signal from the background: exact ROC, AUC with its error, working points.

Inputs are the KEPT scores of a sample (the guards have already applied the non-finite
policy), so every value is finite or ``+inf``: ``+inf`` is an overflowed score that the
"worst" policy ranks above every finite score, and ``+inf`` values tie with each other.
Every count is an exact integer (``roc.py``), so the AUC, the ROC and the working points
(``working_points.py``, with ``intervals.py``) are invariant under any strictly increasing
transform of the score.

A degenerate case (no background or no signal events) returns an explicit status with its
reason and ``auc=None``, never a made-up 0.5. This module is the metrics' public face: what
the rest of hepfm uses is importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...common.json_fields import FINITE, OMIT, JsonFields, json_float, json_meta, shown
from ...vocabulary import COLUMNS, DEFAULT_BKG_EFFS
from .intervals import EFF_CL, EFF_INTERVAL, clopper_pearson, hanley_mcneil_se
from .roc import (
    BackgroundRef,
    Counts,
    RocCurve,
    prepare_background,
    roc_curve,
    sorted_signal,
    thin_roc,
)
from .working_points import (
    STATUS_INSUFFICIENT_BACKGROUND,
    STATUS_NO_BACKGROUND,
    STATUS_NO_SIGNAL,
    STATUS_OK,
    STATUS_TIED_BACKGROUND,
    WorkingPoint,
    check_effs,
    empty_working_point,
    format_eff,
    max_sic,
    working_point,
)

__all__ = [
    "DEFAULT_BKG_EFFS",
    "EFF_CL",
    "EFF_INTERVAL",
    "STATUS_INSUFFICIENT_BACKGROUND",
    "STATUS_NO_BACKGROUND",
    "STATUS_NO_SIGNAL",
    "STATUS_OK",
    "STATUS_TIED_BACKGROUND",
    "BackgroundRef",
    "RocCurve",
    "Separation",
    "WorkingPoint",
    "clopper_pearson",
    "format_eff",
    "hanley_mcneil_se",
    "prepare_background",
    "roc_curve",
    "separation",
    "separation_from_counts",
    "thin_roc",
    "withheld_separation",
]


def _by_target(wps: tuple[WorkingPoint, ...], attribute: str) -> dict[str, float | None]:
    """One number of every working point, by its target's short key."""
    return {format_eff(wp.target_bkg_eff): json_float(getattr(wp, attribute)) for wp in wps}


def _working_points_entries(sep: Separation) -> dict[str, Any]:
    """The signal efficiency (error, interval) at each target, then every working point."""
    wps = sep.working_points
    return {
        "eff_at_bkg_eff": _by_target(wps, "eff_sig"),
        "eff_at_bkg_eff_err": _by_target(wps, "eff_sig_err"),
        "eff_at_bkg_eff_lower": _by_target(wps, "eff_sig_lower"),
        "eff_at_bkg_eff_upper": _by_target(wps, "eff_sig_upper"),
        "working_points": [wp.to_json_dict() for wp in wps],
    }


@dataclass(frozen=True, eq=False)
class Separation(JsonFields):
    """Everything the metrics table and the ROC charts show for one signal sample.

    ``status`` is ``"ok"``, ``"no_background_events"`` or ``"no_signal_events"``; unless it is
    ``"ok"``, ``reason`` says why and every number is None (working points carry the same
    status). ``roc`` is the full exact curve, ``roc_thinned`` at most ``max_points`` of its
    vertices for plotting. ``max_sic`` is None with ``max_sic_reason`` when the background is
    too small for any cut to pass ``min_bkg_pass`` events.

    Its JSON is a strict summary (no NaN or infinity anywhere; null plus a reason instead),
    without the curves. A field shown in a column (``shown``) is a column of the metrics
    table, of the terminal's summary and of the report, after the working points.
    """

    status: str
    reason: str | None
    n_background: int
    n_signal: int
    auc: float | None = field(metadata=FINITE)
    auc_err: float | None = field(metadata=FINITE)
    roc: RocCurve | None = field(metadata=OMIT)
    roc_thinned: RocCurve | None = field(metadata=OMIT)
    working_points: tuple[WorkingPoint, ...] = field(
        metadata=json_meta(entries=_working_points_entries)
    )
    max_sic: float | None = field(
        metadata=shown(COLUMNS["max_sic"], reason="max_sic_reason", convert=json_float)
    )
    max_sic_eff_sig: float | None = field(metadata=FINITE)
    max_sic_eff_bkg: float | None = field(metadata=FINITE)
    max_sic_reason: str | None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def separation(
    background: BackgroundRef,
    signal: np.ndarray,
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
    max_points: int = 1000,
) -> Separation:
    """AUC +- Hanley-McNeil error, exact ROC, eff_S at each eff_B target and max SIC.

    The AUC is Mann-Whitney's statistic with ties counted half,
    ``AUC = (#(s > b) + #(s == b) / 2) / (n_s n_b)`` over all signal-background pairs, from
    exact integer counts (so it is invariant under any strictly increasing transform of the
    score, and ``+inf`` scores tie with each other); its error is
    :func:`hanley_mcneil_se`. A working point is the loosest cut ``score > t`` whose
    background efficiency is at most the target, with exact :data:`EFF_INTERVAL` intervals;
    the max SIC is the largest ``eff_S / sqrt(eff_B)``.

    Parameters
    ----------
    background : BackgroundRef
        The background's kept scores, sorted once (:func:`prepare_background`).
    signal : np.ndarray
        The signal's kept scores, 1-D, finite or ``+inf`` (NaN or ``-inf`` raise
        ``ValueError``: the non-finite policy must have removed or mapped them).
    bkg_effs : sequence of float
        Background efficiency targets of the working points, each in (0, 1].
    min_bkg_pass : int
        The fewest background events that must pass a cut for its efficiency to mean
        something; it gates the working points and the range of the max SIC.
    max_points : int
        Size limit of the thinned ROC for plotting.

    Returns
    -------
    Separation
        Status ``"ok"`` and every number; or, without background or signal events, the
        status, its reason and no number (never a made-up AUC of 0.5).

    Examples
    --------
    The signal event at 3 ties with a background event (half a win), the others beat every
    background event: AUC = (2 + 1/2 + 4 + 4) / 12.

    >>> import numpy as np
    >>> from hepfm_core.engine.metrics.separation import prepare_background, separation
    >>> background = prepare_background(np.array([1.0, 2.0, 3.0, 4.0]))
    >>> sep = separation(background, np.array([3.0, 5.0, np.inf]), bkg_effs=[0.5], min_bkg_pass=1)
    >>> print(sep.status, sep.auc, f"{sep.auc_err:.3f}")
    ok 0.875 0.155
    >>> wp = sep.working_points[0]  # the cut score > 2 passes half the background
    >>> print(wp.threshold, wp.eff_sig, f"[{wp.eff_sig_lower:.3f}, {wp.eff_sig_upper:.3f}]")
    2.0 1.0 [0.541, 1.000]
    >>> separation(background, np.array([])).status
    'no_signal_events'
    """
    effs = _checked(bkg_effs, min_bkg_pass)
    s = sorted_signal(signal)
    with np.errstate(all="raise", under="ignore"):
        core = Counts.build(background, s)
    return separation_from_counts(
        core, bkg_effs=effs, min_bkg_pass=min_bkg_pass, max_points=max_points
    )


def separation_from_counts(
    core: Counts,
    *,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
    min_bkg_pass: int = 10,
    max_points: int = 1000,
) -> Separation:
    """:func:`separation` from the integer counts of one (background, signal) pair.

    Why: the counts can come from one sorted background (``Counts.build``, what
    :func:`separation` does) or be summed over partitions of the background
    (``partitions.merge_separation``); both then run this same code, so a merged result
    equals the single-process one. Parameters and result as :func:`separation`.
    """
    effs = _checked(bkg_effs, min_bkg_pass)
    nb, ns = core.nb, core.ns
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
        auc = core.auc()
        roc = core.roc()
        wps = tuple(working_point(core, e, min_bkg_pass) for e in effs)
        sic, sic_s, sic_b, sic_reason = max_sic(core, min_bkg_pass)
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


def _checked(bkg_effs: Sequence[float], min_bkg_pass: int) -> tuple[float, ...]:
    effs = check_effs(bkg_effs)
    if min_bkg_pass < 0:
        raise ValueError(f"min_bkg_pass must be >= 0, got {min_bkg_pass}")
    return effs


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
        working_points=tuple(empty_working_point(e, status, reason) for e in effs),
        max_sic=None,
        max_sic_eff_sig=None,
        max_sic_eff_bkg=None,
        max_sic_reason=reason,
    )


def withheld_separation(
    status: str,
    reason: str,
    n_background: int,
    n_signal: int,
    bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
) -> Separation:
    """A separation whose numbers are withheld for a reason found upstream of the metrics
    (e.g. inputs that are mostly fill values): the status and reason, every number None."""
    return _degenerate(status, reason, n_background, n_signal, check_effs(bkg_effs))
