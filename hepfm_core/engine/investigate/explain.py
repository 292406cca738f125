"""Why these events: the selection's track statistics against the rest of the sample.

Per statistic of the tracks (``investigate.event_statistics``: the track count, and per
branch the largest and smallest value over an event's real tracks and whether one is not
finite), the selection's distribution is compared with the rest's:

- the quantiles of both, and where each of the selection's quantiles falls in the rest
  (its mid-rank position, 0 to 1); the *most discrepant quantile* is the level whose
  position lies farthest from the level itself (0.5 for a median matching the rest's);
- the largest difference between the two empirical distributions (the Kolmogorov-Smirnov
  distance ``D``, 0 to 1), with the one-sided cut where it is reached, rounded to few
  significant digits without changing who passes.

The statistics with the largest ``D`` become sentences when ``D`` is at least
:data:`MIN_DISTANCE` and beyond chance: above the two-sample Kolmogorov-Smirnov critical
value at the 1 % level, ``1.63 sqrt((n + m) / (n m))`` (0.94 for 3 selected events), or,
for the few events a count cell holds, when ``k`` of ``n`` selected events passing a cut
that a fraction ``p`` of the rest passes has a binomial chance below :data:`CHANCE_LIMIT`
(``p`` at least half an event of the rest: the rest is a sample), such as
"all 3 selected events have a track with pt ≥ 1e5 GeV (of the rest: 0 %; median of the
rest's largest pt: 4.2 GeV)". Pure computation; the rest is usually a seeded sample of the
sample's events (``investigator.py`` says how many and which seed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

import numpy as np

from ...common.json_fields import (
    FINITE,
    OPTIONAL_FLOATS,
    JsonFields,
    json_float,
    json_meta,
    optional_floats,
)
from .events import TrackLayout, event_statistics

__all__ = [
    "CHANCE_LIMIT",
    "KS_CRITICAL",
    "LEVELS",
    "MAX_SENTENCES",
    "MIN_DISTANCE",
    "Direction",
    "FeatureComparison",
    "SelectionSummary",
    "SortedStatistic",
    "compare_statistic",
    "round_cut",
    "summarise_selection",
    "summarise_statistics",
]

LEVELS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
"""Quantile levels compared (0 and 1: the smallest and largest value)."""
MIN_DISTANCE = 0.5
"""A statistic is named in a sentence from this distance between the distributions up."""
MAX_SENTENCES = 3
CHANCE_LIMIT = 1e-4
"""Binomial chance below which ``k`` of ``n`` selected events passing a cut is named (small
enough to stand the many cuts and statistics looked at)."""
KS_CRITICAL = 1.63
"""``c(alpha)`` of the two-sample Kolmogorov-Smirnov test at alpha = 1 %: ``D`` above
``c sqrt((n + m) / (n m))`` is unlikely to be chance."""

Direction = Literal["higher", "lower"]


def _round_sig(x: float, digits: int, rounding: str) -> float:
    """``x`` rounded to ``digits`` significant decimal digits, down (``ROUND_FLOOR``) or up
    (``ROUND_CEILING``), in decimal: never past ``x`` by a binary rounding error."""
    if x == 0 or not math.isfinite(x):
        return x
    d = Decimal(repr(x))
    step = Decimal(1).scaleb(d.adjusted() - digits + 1)
    return float(d.quantize(step, rounding=rounding))


def round_cut(cut: float, beyond: float, direction: Direction) -> float:
    """A rounder cut that passes the same values as ``cut``.

    ``higher``: the cut is ``value >= cut`` and nothing lies in ``(beyond, cut)``; the
    result is the power of ten below a positive ``cut`` if it stays above ``beyond``, else
    ``cut`` rounded down to the fewest significant digits that do. ``lower``: ``value <=
    cut``, rounded up, staying below ``beyond``.

    >>> from hepfm_core.engine.investigate.explain import round_cut
    >>> round_cut(648129.2, 10141.2, "higher"), round_cut(0.0123, 0.05, "lower")
    (100000.0, 0.02)
    >>> round_cut(648129.2, 200000.0, "higher")
    600000.0
    """
    if cut > 0 and math.isfinite(cut):
        up = direction != "higher"
        power = 10.0 ** (math.ceil(math.log10(cut)) if up else math.floor(math.log10(cut)))
        if (power < beyond and power >= cut) if up else (beyond < power <= cut):
            return power
    for digits in range(1, 7):
        if direction == "higher":
            r = _round_sig(cut, digits, ROUND_FLOOR)
            if r > beyond:
                return float(r)
        else:
            r = _round_sig(cut, digits, ROUND_CEILING)
            if r < beyond:
                return float(r)
    return float(cut)


@dataclass(frozen=True, eq=False)
class FeatureComparison(JsonFields):
    """One statistic of the tracks: the selection against the rest.

    ``kind``: ``max``, ``min``, ``nonfinite`` or ``tracks`` (see
    ``investigate.STATISTIC_KINDS``). ``selected_quantiles`` / ``rest_quantiles`` at
    :data:`LEVELS` (None when a side has no value); ``positions``: where each selected
    quantile falls among the rest (mid-rank, 0 to 1); ``most_discrepant_level``: the level
    whose position differs most from it. ``distance``: the largest difference of the
    two empirical distributions; ``direction``: the selection's side; ``cut`` with
    ``selected_passing`` (of ``n_selected``) and ``rest_passing`` (a fraction): the
    one-sided cut reaching it (``>=`` for higher, ``<=`` for lower; for ``nonfinite``,
    having a non-finite value). ``rest_median``: the rest's median.
    """

    name: str = field(metadata=json_meta(key="statistic"))
    branch: str | None
    kind: str
    unit: str
    n_selected: int
    n_rest: int
    selected_quantiles: np.ndarray | None = field(
        metadata=json_meta(
            entries=lambda c: {
                "levels": list(LEVELS),
                "selected_quantiles": optional_floats(c.selected_quantiles),
            }
        )
    )
    rest_quantiles: np.ndarray | None = field(metadata=OPTIONAL_FLOATS)
    positions: np.ndarray | None = field(
        metadata=json_meta(key="positions_in_rest", convert=optional_floats)
    )
    most_discrepant_level: float | None
    distance: float = field(
        metadata=json_meta(entries=lambda c: {"distance": c.distance, "chance": c.chance})
    )
    direction: Direction
    cut: float | None = field(metadata=FINITE)
    selected_passing: int
    rest_passing: float
    rest_median: float | None = field(
        metadata=json_meta(
            entries=lambda c: {
                "rest_median": json_float(c.rest_median),
                "sentence": c.sentence(),
            }
        )
    )

    @property
    def chance(self) -> float:
        """The binomial chance that at least ``selected_passing`` of ``n_selected`` events
        pass the cut if each passed as often as the rest's events (at least half an event
        of the rest, which is a sample)."""
        from scipy.special import betainc  # lazy, as intervals.py: an import of its own

        k, n = self.selected_passing, self.n_selected
        if k == 0 or n == 0:
            return 1.0
        rate = min(max(self.rest_passing, 0.5 / max(self.n_rest, 1)), 1.0)
        return float(betainc(k, n - k + 1, rate))

    def sentence(self) -> str:
        """The comparison in words."""
        n, k = self.n_selected, self.selected_passing
        if n == 1:
            who = "the selected event has" if k == 1 else "the selected event does not have"
        else:
            who = f"{'all ' + str(n) if k == n else f'{k} of {n}'} selected events have"
        rest = f"of the rest: {_pct(self.rest_passing)}"
        if self.kind == "nonfinite":
            return f"{who} a track with a non-finite {self.branch} ({rest})"
        unit = f" {self.unit}" if self.unit else ""
        cut = f"{_fmt(self.cut)}{unit}"
        op = "≥" if self.direction == "higher" else "≤"
        if self.kind == "tracks":
            what = f"{op} {_fmt(self.cut)} tracks"
            median = f"median of the rest: {_fmt(self.rest_median)} tracks"
        else:
            b = self.branch
            if (self.kind, self.direction) in (("max", "higher"), ("min", "lower")):
                what = f"a track with {b} {op} {cut}"
            else:
                what = f"only tracks with {b} {op} {cut}"
            largest = "largest" if self.kind == "max" else "smallest"
            med = f"{_fmt(self.rest_median)}{unit}"
            median = f"median of the rest's {largest} {b}: {med}"
        return f"{who} {what} ({rest}; {median})"


def _fmt(x: float | None) -> str:
    """A number in 3 significant digits, exponents short: 1e5, 2.5e-3, 12.3."""
    if x is None:
        return "-"
    text = f"{x:.3g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m[1] == "-" else "") + m[2], text)


def _pct(f: float) -> str:
    if f == 0:
        return "0 %"
    p = 100.0 * f
    return f"{p:.0f} %" if p >= 10 else f"{p:.2g} %"


def _sorted_quantiles(v: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """``np.quantile(v, levels, method="inverted_cdf")`` of a sorted ``v`` (no NaN), read
    off by index: the smallest value whose share of ``v`` at or below it reaches the level."""
    at = np.ceil(np.asarray(levels, dtype=np.float64) * v.size).astype(np.int64) - 1
    return v[np.clip(at, 0, v.size - 1)]


@dataclass(frozen=True, eq=False)
class SortedStatistic:
    """One per-event statistic of a reference sample, sorted once (its NaN left out):
    ``values`` ascending and ``order``, their rows. The rest of any selection is then read
    off by a mask in that order, not sorted again per look (19 sorts of 20,000 values were
    half of a selection's summary)."""

    order: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> SortedStatistic:
        v = np.asarray(values, dtype=np.float64)
        order = np.argsort(v, kind="stable")
        order = order[~np.isnan(v[order])]
        return cls(order, v[order])

    def kept(self, rows: np.ndarray) -> np.ndarray:
        """The sorted values of the rows ``rows`` (a boolean mask over the reference) keeps."""
        return self.values[np.asarray(rows, dtype=bool)[self.order]]


def compare_statistic(
    name: str,
    selected: np.ndarray,
    rest: np.ndarray,
    *,
    kind: str,
    branch: str | None = None,
    unit: str = "",
    rest_sorted: bool = False,
) -> FeatureComparison:
    """Compare one per-event statistic between the selection and the rest (NaN: no value).

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.explain import compare_statistic
    >>> c = compare_statistic("max pt", np.array([2e5, 3e6]), np.array([1.0, 2.0, 3.0, 40.0]),
    ...                       kind="max", branch="pt", unit="GeV")
    >>> c.distance, c.direction, c.cut, c.selected_passing, c.rest_passing
    (1.0, 'higher', 100000.0, 2, 0.0)
    >>> print(c.sentence())  # doctest: +NORMALIZE_WHITESPACE
    all 2 selected events have a track with pt ≥ 1e5 GeV (of the rest: 0 %;
    median of the rest's largest pt: 2 GeV)

    ``rest_sorted``: ``rest`` is sorted and holds no NaN already (:class:`SortedStatistic`).
    """
    with np.errstate(all="ignore"):
        s = np.sort(np.asarray(selected, dtype=np.float64))
        s = s[~np.isnan(s)]
        r = np.asarray(rest, dtype=np.float64)
        if not rest_sorted:
            r = np.sort(r)
            r = r[~np.isnan(r)]
        ns, nr = s.size, r.size
        if ns == 0 or nr == 0:
            return FeatureComparison(
                name, branch, kind, unit, int(ns), int(nr), None, None, None, None,
                0.0, "higher", None, 0, 0.0,
                float(np.median(r)) if nr else None,
            )  # fmt: skip
        qs, qr = _sorted_quantiles(s, LEVELS), _sorted_quantiles(r, LEVELS)
        below = np.searchsorted(r, qs, side="left")
        at_or_below = np.searchsorted(r, qs, side="right")
        positions = (below + at_or_below) / (2.0 * nr)
        worst = int(np.argmax(np.abs(positions - np.asarray(LEVELS))))
        # The cuts tried: the selection's distinct values. Both differences of the two
        # distributions (selected minus rest passing "value >= c", and "value <= c") take
        # their maximum at one of them, first as on the union of both samples' values: past
        # a value of the rest alone, "value >= c" passes fewer of the rest and as many
        # selected, and "value <= c" more of the rest. So the rest (thousands of values) is
        # only searched, never merged: 19 statistics in 1 ms, not 22.
        u = s[np.concatenate(([True], s[1:] != s[:-1]))]
        s_left, s_right = np.searchsorted(s, u, side="left"), np.searchsorted(s, u, side="right")
        r_left, r_right = np.searchsorted(r, u, side="left"), np.searchsorted(r, u, side="right")
        up = (ns - s_left) / ns - (nr - r_left) / nr
        down = s_right / ns - r_right / nr
        i_up, i_down = int(np.argmax(up)), int(np.argmax(down))
        if kind == "nonfinite":  # a 0/1 flag: only "has a non-finite value" is interesting
            top = 1.0 if max(s[-1], r[-1]) == 1.0 else float(max(s[-1], r[-1]))
            gain = (ns - np.searchsorted(s, top)) / ns - (nr - np.searchsorted(r, top)) / nr
            direction: Direction = "higher"
            distance = float(max(gain, 0.0))
            cut, passing, rest_pass = 1.0, int(np.sum(s == 1.0)), float(np.mean(r == 1.0))
        elif up[i_up] >= down[i_down]:
            direction, distance = "higher", float(up[i_up])
            # the largest value of either sample below the cut
            below_cut = [float(v[i - 1]) for v, i in ((s, s_left[i_up]), (r, r_left[i_up])) if i]
            cut = round_cut(float(u[i_up]), max(below_cut, default=-math.inf), "higher")
            passing, rest_pass = int(np.sum(s >= cut)), float(np.mean(r >= cut))
        else:
            direction, distance = "lower", float(down[i_down])
            # the smallest value of either sample above the cut
            above = [
                float(v[i]) for v, i in ((s, s_right[i_down]), (r, r_right[i_down])) if i < v.size
            ]
            cut = round_cut(float(u[i_down]), min(above, default=math.inf), "lower")
            passing, rest_pass = int(np.sum(s <= cut)), float(np.mean(r <= cut))
        return FeatureComparison(
            name=name,
            branch=branch,
            kind=kind,
            unit=unit,
            n_selected=int(ns),
            n_rest=int(nr),
            selected_quantiles=qs,
            rest_quantiles=qr,
            positions=positions,
            most_discrepant_level=float(LEVELS[worst]),
            distance=distance,
            direction=direction,
            cut=cut,
            selected_passing=passing,
            rest_passing=rest_pass,
            rest_median=float(_sorted_quantiles(r, (0.5,))[0]),
        )


@dataclass(frozen=True, eq=False)
class SelectionSummary(JsonFields):
    """The selection's statistics against the rest's, most different first, and the
    sentences that name the few that tell them apart.

    ``n_rest``: events of the rest compared (a sample of the sample's events when
    ``rest_note`` says so). ``values_kind``: whether the tracks were compared in stored
    (physical) values or in model inputs. Its JSON: the counts, what the rest is, the values
    compared, the text and its sentences, then every statistic's comparison.
    """

    n_selected: int
    n_rest: int
    comparisons: tuple[FeatureComparison, ...] = field(
        metadata=json_meta(key="features", after="sentences")
    )
    sentences: tuple[str, ...] = field(
        metadata=json_meta(
            entries=lambda s: {"text": s.text, "sentences": list(s.sentences)}, after="values"
        )
    )
    values_kind: str = field(metadata=json_meta(key="values", after="rest"))
    rest_note: str = field(metadata=json_meta(key="rest"))

    @property
    def text(self) -> str:
        return "; ".join(self.sentences)


def summarise_selection(
    selected: np.ndarray,
    rest: np.ndarray,
    layout: TrackLayout | None,
    *,
    values_kind: str = "raw",
    rest_note: str = "",
    min_distance: float = MIN_DISTANCE,
    max_sentences: int = MAX_SENTENCES,
) -> SelectionSummary:
    """Compare the ``(n, D)`` values of the selected events with the ``(m, D)`` of the rest.

    Without a track layout there is nothing to say per track: the summary says so.
    """
    n_sel, n_rest = int(np.shape(selected)[0]), int(np.shape(rest)[0])
    if layout is None:
        return SelectionSummary(
            n_sel, n_rest, (), ("the features are not tracks: no per-track summary",),
            values_kind, rest_note,
        )  # fmt: skip
    return summarise_statistics(
        event_statistics(selected, layout),
        event_statistics(rest, layout),
        layout,
        values_kind=values_kind,
        rest_note=rest_note,
        min_distance=min_distance,
        max_sentences=max_sentences,
    )


def _named(c: FeatureComparison, min_distance: float) -> bool:
    """Whether a comparison is worth a sentence: distance at least ``min_distance`` and
    beyond chance (the KS critical value of its sizes, or a binomial chance below
    :data:`CHANCE_LIMIT`)."""
    if c.distance < min_distance:
        return False
    n, m = max(c.n_selected, 1), max(c.n_rest, 1)
    return c.distance >= KS_CRITICAL * math.sqrt((n + m) / (n * m)) or c.chance < CHANCE_LIMIT


def summarise_statistics(
    s_stats: dict[str, np.ndarray],
    r_stats: dict[str, np.ndarray],
    layout: TrackLayout,
    *,
    values_kind: str = "raw",
    rest_note: str = "",
    min_distance: float = MIN_DISTANCE,
    max_sentences: int = MAX_SENTENCES,
    rest_sorted: bool = False,
) -> SelectionSummary:
    """:func:`summarise_selection` from per-event statistics already computed
    (``investigate.event_statistics`` of the selection and of the rest; ``rest_sorted``:
    the rest's sorted, without NaN, as :meth:`SortedStatistic.kept` gives them)."""
    n_sel = int(s_stats["tracks"].size)
    n_rest = int(r_stats["tracks"].size)
    if n_sel == 0 or n_rest == 0:
        why = "no event selected" if n_sel == 0 else "no other event to compare with"
        return SelectionSummary(n_sel, n_rest, (), (why,), values_kind, rest_note)
    comps = []
    for name, s in s_stats.items():
        kind, _, branch = name.partition(" ")
        j = layout.branch(branch) if branch else None
        unit = layout.units[j] if j is not None else ""
        rest = r_stats[name]
        comps.append(
            compare_statistic(
                name, s, rest, kind=kind, branch=branch or None, unit=unit, rest_sorted=rest_sorted
            )
        )
    comps.sort(key=lambda c: -c.distance)
    strong = [c for c in comps if _named(c, min_distance)][:max_sentences]
    if strong:
        sentences = tuple(c.sentence() for c in strong)
    else:
        best = comps[0]
        sentences = (
            f"no track statistic tells the selected events apart from the rest (the largest "
            f"difference: {best.name}, D = {best.distance:.2f})",
        )
    return SelectionSummary(n_sel, n_rest, tuple(comps), sentences, values_kind, rest_note)
