"""The sculpting check: does a cut on the anomaly score sculpt the background's track
multiplicity or leading-track pt? The distributions before and after the cut, on
data-driven edges, for the background and each signal."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from ...common.json_fields import JsonFields, json_meta
from ..metrics.intervals import clopper_pearson
from ..metrics.roc import BackgroundRef, Counts
from ..metrics.separation import WorkingPoint, prepare_background
from ..metrics.working_points import json_float, working_point

__all__ = [
    "SculptingCheck",
    "SculptingCurve",
    "log_edges",
    "multiplicity_edges",
    "sculpting_check",
    "sculpting_curve",
    "working_threshold",
]


def multiplicity_edges(n_tracks: int) -> np.ndarray:
    """One bin per track count 0 ... ``n_tracks`` (edges at half-integers)."""
    return np.arange(n_tracks + 2, dtype=np.float64) - 0.5


def log_edges(values: Sequence[np.ndarray], per_decade: int = 2) -> np.ndarray:
    """Log-spaced edges on whole fractions of a decade covering every positive finite value.

    >>> from hepfm_core.engine.investigate.sculpting import log_edges
    >>> import numpy as np
    >>> log_edges([np.array([0.7, 40.0])]).tolist()
    [0.31622776601683794, 1.0, 3.1622776601683795, 10.0, 31.622776601683793, 100.0]
    """
    with np.errstate(all="ignore"):
        pos = [v[np.isfinite(v) & (v > 0)] for v in map(np.asarray, values)]
        pos = [p for p in pos if p.size]
        if not pos:
            return np.array([0.1, 1.0])
        lo = min(float(p.min()) for p in pos)
        hi = max(float(p.max()) for p in pos)
    a = math.floor(math.log10(lo) * per_decade)
    b = max(math.ceil(math.log10(hi) * per_decade), a + 1)
    if 10.0 ** (b / per_decade) <= hi:
        b += 1
    return 10.0 ** (np.arange(a, b + 1) / per_decade)


def working_threshold(
    background: np.ndarray | BackgroundRef, target: float, min_bkg_pass: int = 10
) -> WorkingPoint:
    """The cut ``score > threshold`` of the working point at background efficiency
    ``target``: the very rule of ``evaluate``'s metrics (``working_points.working_point``)
    on the background's kept scores (the cut depends on the background alone; its "signal"
    efficiency is the background's own). Given sorted (``EvaluationResult.sorted_background``),
    it costs a few binary searches."""
    if isinstance(background, BackgroundRef):
        ref = background
    else:
        ref = prepare_background(np.asarray(background, dtype=np.float64))
    return working_point(Counts.for_cuts(ref, ref.scores), float(target), int(min_bkg_pass))


@dataclass(frozen=True, eq=False)
class SculptingCurve:
    """One sample's score and cut efficiency in bins of one variable.

    Per bin ``[edges[i], edges[i+1])``: ``n`` events the policy kept, ``n_pass`` of them
    above the threshold, ``efficiency`` with its exact interval (None without a threshold
    or an event), and the score's median and 16 / 84 % quantiles (+inf under ``worst``
    for events without a finite score). Events outside the edges or without a value (no
    track: no leading pt) are counted in ``outside``.
    """

    sample: str
    variable: str
    edges: np.ndarray
    n: np.ndarray
    n_pass: np.ndarray | None
    efficiency: np.ndarray | None
    eff_lower: np.ndarray | None
    eff_upper: np.ndarray | None
    score_median: np.ndarray
    score_q16: np.ndarray
    score_q84: np.ndarray
    outside: int

    def frame(self) -> pl.DataFrame:
        nb = self.n.size
        none: list[float | None] = [None] * nb

        def col(a: np.ndarray | None) -> list[float | None]:
            return none if a is None else [json_float(float(v)) for v in a]

        return pl.DataFrame(
            {
                "sample": [self.sample] * nb,
                "variable": [self.variable] * nb,
                "lo": self.edges[:-1],
                "hi": self.edges[1:],
                "n": self.n,
                "n_pass": none if self.n_pass is None else self.n_pass.tolist(),
                "efficiency": col(self.efficiency),
                "eff_lower": col(self.eff_lower),
                "eff_upper": col(self.eff_upper),
                "score_median": col(self.score_median),
                "score_q16": col(self.score_q16),
                "score_q84": col(self.score_q84),
            },
            schema_overrides={
                c: pl.Float64
                for c in (
                    "efficiency",
                    "eff_lower",
                    "eff_upper",
                    "score_median",
                    "score_q16",
                    "score_q84",
                )
            }
            | {"n_pass": pl.Int64},
        )


def sculpting_curve(
    sample: str,
    variable: str,
    x: np.ndarray,
    scores: np.ndarray,
    edges: np.ndarray,
    threshold: float | None,
) -> SculptingCurve:
    """Bin events by ``x`` on ``edges``; ``scores`` is the policy's view per event (NaN: not
    kept, so not counted). Efficiency: the fraction of kept events with ``score >
    threshold``.

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.sculpting import sculpting_curve
    >>> c = sculpting_curve("bkg", "tracks", np.array([1, 1, 2, 2]), np.array([0.1, 5, 6, np.nan]),
    ...                     np.array([0.5, 1.5, 2.5]), threshold=1.0)
    >>> c.n.tolist(), c.n_pass.tolist(), c.efficiency.tolist()
    ([2, 1], [1, 1], [0.5, 1.0])
    """
    x = np.asarray(x, dtype=np.float64)
    v = np.asarray(scores, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    nb = e.size - 1
    with np.errstate(all="ignore"):
        kept = ~np.isnan(v)
        inside = kept & np.isfinite(x) & (x >= e[0]) & (x < e[-1])
        idx = np.searchsorted(e, x[inside], side="right") - 1
        vals = v[inside]
        n = np.bincount(idx, minlength=nb).astype(np.int64)
        med = np.full(nb, np.nan)
        q16 = np.full(nb, np.nan)
        q84 = np.full(nb, np.nan)
        order = np.argsort(idx, kind="stable")
        splits = np.split(vals[order], np.cumsum(n)[:-1])
        for i, part in enumerate(splits):
            if part.size:
                q16[i], med[i], q84[i] = np.quantile(part, [0.16, 0.5, 0.84], method="inverted_cdf")
        n_pass = eff = lo = hi = None
        if threshold is not None:
            n_pass = np.bincount(idx[vals > threshold], minlength=nb).astype(np.int64)
            eff = np.where(n > 0, n_pass / np.maximum(n, 1), np.nan)
            lo = np.full(nb, np.nan)
            hi = np.full(nb, np.nan)
            some = n > 0
            if some.any():
                lo[some], hi[some] = clopper_pearson(n_pass[some], n[some])
    return SculptingCurve(
        sample=sample,
        variable=variable,
        edges=e,
        n=n,
        n_pass=n_pass,
        efficiency=eff,
        eff_lower=lo,
        eff_upper=hi,
        score_median=med,
        score_q16=q16,
        score_q84=q84,
        outside=int(kept.sum() - inside.sum()),
    )


@dataclass(frozen=True, eq=False)
class SculptingCheck(JsonFields):
    """Every sample's :class:`SculptingCurve` for each variable, at one working point.

    ``working_point``: the background cut (its status says when there is none:
    too few background events for the target); ``note``: which events were binned. Its
    JSON gives the curves as :meth:`frame`'s rows, under ``bins``.
    """

    target_bkg_eff: float
    working_point: WorkingPoint
    curves: tuple[SculptingCurve, ...] = field(
        metadata=json_meta(entries=lambda c: {"bins": c.frame().to_dicts()}, after="note")
    )
    note: str

    @property
    def threshold(self) -> float | None:
        wp = self.working_point
        return wp.threshold if wp.status in ("ok", "tied_background") else None

    def frame(self) -> pl.DataFrame:
        """Long format: one row per (sample, variable, bin)."""
        return pl.concat([c.frame() for c in self.curves], how="vertical")


def sculpting_check(
    per_sample: dict[str, dict[str, np.ndarray]],
    background_scores: np.ndarray | BackgroundRef,
    *,
    target_bkg_eff: float = 1e-2,
    edges: dict[str, np.ndarray],
    min_bkg_pass: int = 10,
    note: str = "",
) -> SculptingCheck:
    """The sculpting check of several samples.

    ``per_sample[name]``: ``"scores"`` (policy view per binned event, NaN: not kept) and
    one array per variable of ``edges`` (``"tracks"``, ``"leading_pt"``). The threshold
    comes from the background's kept scores, all of them (``background_scores``), not only
    the binned ones.
    """
    wp = working_threshold(background_scores, target_bkg_eff, min_bkg_pass)
    threshold = wp.threshold if wp.status in ("ok", "tied_background") else None
    curves = []
    for name, arrays in per_sample.items():
        for variable, e in edges.items():
            curves.append(
                sculpting_curve(name, variable, arrays[variable], arrays["scores"], e, threshold)
            )
    return SculptingCheck(float(target_bkg_eff), wp, tuple(curves), note)
