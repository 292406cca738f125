"""From a count or a tail to the events behind it: selection and per-event detail.

Pure computation (arrays in, frozen dataclasses out, float64 under ``np.errstate``); the
wiring that reads rows and runs the decoder is ``investigator.py``.

- **Selection** (:func:`select_events`): the events of one sample with a given cause (a
  cell of the counts table), with a score in a range (a brush on the loss histogram), or
  the N most anomalous, all under one setting's guarded scores and non-finite policy, so
  a cause lists exactly the events ``hepfm evaluate --scores-out`` gives that cause.
- **Detail** (``detail.event_details``): each event's tracks, latent values and residuals.
- **Track layout** (:func:`track_layout`): which input is which track and feature, read
  from the feature names (``track07_pt``: track-major, index = track * 6 + feature). A
  track is padding when all its values are exactly 0, upstream's padding and the
  generator's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ...common.json_fields import (
    OMIT,
    JsonFields,
    json_bound,
    json_clip,
    json_meta,
)
from ...data.generator import BRANCHES, UNITS
from ...errors import SettingsError
from ...vocabulary import Cause
from ..guards.guarded import GuardedScores, GuardSettings
from ..guards.policy import PolicyScores

__all__ = [
    "BRANCH_UNITS",
    "CAUSE_LABELS",
    "IMPUTED",
    "STATISTIC_KINDS",
    "Criterion",
    "CriterionKind",
    "PartSelection",
    "PassRows",
    "Selection",
    "TrackLayout",
    "ValuesKind",
    "check_imputed",
    "event_statistics",
    "merge_selections",
    "select_events",
    "select_in_partition",
    "track_layout",
]

CAUSE_LABELS: tuple[str, ...] = tuple(c.label for c in Cause)
IMPUTED = "imputed"
"""The selection of the events whose raw values the reader filled (kept and scored; not a
cause: their cause is whatever their filled inputs gave). ``--cause imputed`` picks them."""
BRANCH_UNITS: dict[str, str] = dict(zip(BRANCHES, UNITS, strict=True))
"""Units of the track branches hepfm and upstream know (physics.md)."""
ValuesKind = Literal["raw", "input"]
"""What an event's shown values are: stored (physical) values, or model inputs."""
STATISTIC_KINDS = ("max", "min", "nonfinite", "tracks")
"""Per-event statistics of the tracks: largest and smallest finite value of a branch over
the real tracks, whether a real track holds a non-finite one, and the track count."""

_TRACK_NAME = re.compile(r"^(?P<prefix>.*?)track(?P<track>\d+)_(?P<branch>.+)$")


# -- tracks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrackLayout:
    """Inputs as ``n_tracks`` tracks of ``branches``, track-major (index = t * B + b)."""

    n_tracks: int
    branches: tuple[str, ...]
    units: tuple[str, ...]

    @property
    def n_branches(self) -> int:
        return len(self.branches)

    @property
    def width(self) -> int:
        return self.n_tracks * self.n_branches

    def branch(self, name: str) -> int | None:
        """Column of branch ``name``, or None."""
        return self.branches.index(name) if name in self.branches else None

    def tracks(self, values: np.ndarray) -> np.ndarray:
        """``(n, D)`` values as ``(n, n_tracks, n_branches)``."""
        v = np.asarray(values)
        return v.reshape(v.shape[0], self.n_tracks, self.n_branches)

    def real(self, values: np.ndarray) -> np.ndarray:
        """``(n, n_tracks)``: whether each track slot holds a track (not all values 0).

        NaN is not 0, so a track with a non-finite value is real.
        """
        return np.any(self.tracks(values) != 0.0, axis=2)


def track_layout(feature_names: Sequence[str]) -> TrackLayout | None:
    """The track layout the feature names spell (``[prefix]trackNN_branch``, track-major
    and complete), or None when they spell none (then events are shown as flat inputs).

    >>> from hepfm_core.engine.investigate.events import track_layout
    >>> names = [f"track{t:02d}_{b}" for t in range(2) for b in ("d0", "pt")]
    >>> track_layout(names)
    TrackLayout(n_tracks=2, branches=('d0', 'pt'), units=('mm', 'GeV'))
    >>> track_layout(["met", "ht"]) is None
    True
    """
    parsed = [_TRACK_NAME.match(name) for name in feature_names]
    if not parsed or any(m is None for m in parsed):
        return None
    matches = [m for m in parsed if m is not None]
    prefixes = {m["prefix"] for m in matches}
    tracks = [int(m["track"]) for m in matches]
    branches_seen = [m["branch"] for m in matches]
    n_tracks = max(tracks) + 1
    if len(prefixes) != 1 or len(matches) % n_tracks:
        return None
    width = len(matches) // n_tracks
    branches = tuple(branches_seen[:width])
    expected = [(t, b) for t in range(n_tracks) for b in branches]
    if list(zip(tracks, branches_seen, strict=True)) != expected:
        return None
    units = tuple(BRANCH_UNITS.get(b, "") for b in branches)
    return TrackLayout(n_tracks=n_tracks, branches=branches, units=units)


def event_statistics(values: np.ndarray, layout: TrackLayout) -> dict[str, np.ndarray]:
    """Per event, statistics of its real tracks (float64, one ``(n,)`` array each).

    Keys: ``"tracks"`` (how many real tracks), and per branch ``b``: ``"max b"`` / ``"min
    b"`` (largest / smallest finite value over real tracks; NaN without one) and
    ``"nonfinite b"`` (1 when a real track's value is NaN or inf, else 0). The leading
    track's pt is ``"max pt"``.

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.events import TrackLayout, event_statistics
    >>> layout = TrackLayout(3, ("d0", "pt"), ("mm", "GeV"))
    >>> v = np.array([[0.1, 5.0, -0.2, np.inf, 0.0, 0.0]])  # two tracks, one padding slot
    >>> s = event_statistics(v, layout)
    >>> s["tracks"], s["max pt"], s["min d0"], s["nonfinite pt"]
    (array([2.]), array([5.]), array([-0.2]), array([1.]))
    """
    t = np.asarray(layout.tracks(values), dtype=np.float64)
    real = layout.real(values)
    out = {"tracks": real.sum(axis=1).astype(np.float64)}
    with np.errstate(all="ignore"):
        for j, b in enumerate(layout.branches):
            col = t[:, :, j]
            finite = np.isfinite(col) & real
            has = finite.any(axis=1)
            hi = np.where(finite, col, -np.inf).max(axis=1, initial=-np.inf)
            lo = np.where(finite, col, np.inf).min(axis=1, initial=np.inf)
            out[f"max {b}"] = np.where(has, hi, np.nan)
            out[f"min {b}"] = np.where(has, lo, np.nan)
            out[f"nonfinite {b}"] = (real & ~np.isfinite(col)).any(axis=1).astype(np.float64)
    return out


# -- selection ----------------------------------------------------------------------------
CriterionKind = Literal["cause", "imputed", "top", "range"]


def _bad(what: str, where: str, todo: str) -> SettingsError:
    return SettingsError(what, where, todo)


_BOUNDED = ("imputed", "range")
"""The kinds whose JSON holds ``lo`` and ``hi`` (null for the imputed events)."""


def _for_kinds(name: str, kinds: tuple[str, ...], convert: Any = None) -> Any:
    """The metadata of a criterion's field that its JSON holds for these kinds only."""

    def entries(c: Criterion) -> dict[str, Any]:
        if c.kind not in kinds:
            return {}
        value = getattr(c, name)
        return {name: value if convert is None else convert(value)}

    return json_meta(entries=entries)


@dataclass(frozen=True)
class Criterion(JsonFields):
    """Which events of a sample to look at: one ``cause`` (a label of ``vocabulary.Cause``),
    the events with filled raw values (``imputed``), the ``n`` most anomalous (``top``), or
    the scores in ``[lo, hi]`` (``range``).

    Build with :meth:`by_cause` (``"imputed"`` too), :meth:`top` or :meth:`score_range`; a
    bad value is a ``SettingsError`` saying what to do.
    """

    kind: CriterionKind = field(
        metadata=json_meta(entries=lambda c: {"kind": c.kind, "description": c.describe()})
    )
    cause: str | None = field(default=None, metadata=_for_kinds("cause", ("cause",)))
    n: int | None = field(default=None, metadata=_for_kinds("n", ("top",)))
    lo: float | None = field(default=None, metadata=_for_kinds("lo", _BOUNDED, json_bound))
    hi: float | None = field(default=None, metadata=_for_kinds("hi", _BOUNDED, json_bound))

    def __post_init__(self) -> None:
        if self.kind == "cause":
            if self.cause not in CAUSE_LABELS:
                raise _bad(
                    f"unknown cause {self.cause!r}",
                    "--cause",
                    f"use one of {', '.join((*CAUSE_LABELS, IMPUTED))}",
                )
        elif self.kind == "imputed":
            pass
        elif self.kind == "top":
            if not isinstance(self.n, int | np.integer) or self.n < 1:
                raise _bad(f"--top needs a whole number >= 1, got {self.n!r}", "--top", "e.g. 50")
            object.__setattr__(self, "n", int(self.n))
        elif self.kind == "range":
            try:
                lo, hi = float(self.lo), float(self.hi)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise _bad(
                    f"a score range needs two numbers, got {self.lo!r} {self.hi!r}",
                    "--range",
                    "give LO HI, e.g. 1e3 inf",
                ) from None
            if math.isnan(lo) or math.isnan(hi):
                raise _bad("a score range bound is NaN", "--range", "give two numbers, LO <= HI")
            if lo > hi:
                raise _bad(
                    f"score range inverted: lo={lo:g} > hi={hi:g}",
                    "--range",
                    "give the lower bound first: --range LO HI with LO <= HI",
                )
            object.__setattr__(self, "lo", lo)
            object.__setattr__(self, "hi", hi)
        else:
            raise _bad(
                f"unknown selection {self.kind!r}", "selection", "use cause, imputed, top or range"
            )

    @classmethod
    def by_cause(cls, cause: str) -> Criterion:
        """The events of one cause, or with ``"imputed"`` those the reader filled."""
        return cls("imputed") if cause == IMPUTED else cls("cause", cause=cause)

    @classmethod
    def top(cls, n: int) -> Criterion:
        return cls("top", n=n)

    @classmethod
    def score_range(cls, lo: float, hi: float) -> Criterion:
        return cls("range", lo=lo, hi=hi)

    def describe(self) -> str:
        """One phrase: ``cause kl_overflow``, ``the 50 highest scores``, ``score in [a, b]``."""
        if self.kind == "cause":
            return f"cause {self.cause}"
        if self.kind == "imputed":
            return "imputed inputs (raw values filled by the reader)"
        if self.kind == "top":
            return f"the {self.n} highest scores"
        return f"score in [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True, eq=False)
class Selection(JsonFields):
    """The events of ``sample`` a criterion picked, in the order they are shown.

    Order: by event index for a cause or the imputed events; by score, highest first (ties
    by event index), for ``top`` and ``range``. ``scores``: the guarded scores (NaN where
    the event has none); ``causes``: their cause codes. ``n_events``: the sample's size.
    ``settings``: the guards' (clip, score) the scores were computed with. ``kept_span``,
    for a score range that picked nothing (what its message says): the smallest and largest
    kept finite score of the sample (``(inf, -inf)`` without one); None otherwise.
    """

    sample: str
    criterion: Criterion
    settings: GuardSettings = field(
        metadata=json_meta(
            entries=lambda s: {"score": s.settings.score, "clip": json_clip(s.settings.clip)}
        )
    )
    policy: str
    events: np.ndarray = field(metadata=json_meta(key="selected", convert=lambda e: int(e.size)))
    scores: np.ndarray = field(metadata=OMIT)
    causes: np.ndarray = field(metadata=OMIT)
    n_events: int = field(metadata=json_meta(key="sample_events"))
    kept_span: tuple[float, float] | None = field(default=None, metadata=OMIT)

    @property
    def size(self) -> int:
        return int(self.events.size)

    def pages(self, limit: int) -> int:
        """How many pages of ``limit`` events the selection fills (0 when empty)."""
        return -(-self.size // max(int(limit), 1))

    def page(self, index: int, limit: int) -> np.ndarray:
        """Positions (into ``events``) of page ``index`` (0-based) of ``limit`` events."""
        start = int(index) * int(limit)
        return np.arange(start, min(start + int(limit), self.size))


def _top(values: np.ndarray, n: int, ranked: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``n`` largest ``values``, largest first, ties by position.
    ``ranked``: the same values sorted ascending, where the caller holds them (the
    evaluator's sorted background): the ``n``-th largest is read from it, not searched for
    (a partition of 2.7 M values took 40 ms)."""
    m = values.size
    if n < m:
        if ranked is not None and ranked.size == m:
            cut = ranked[m - n]
        else:
            part = np.argpartition(-values, n - 1)[:n]
            cut = values[part].min()
        cand = np.flatnonzero(values >= cut)
    else:
        cand = np.arange(m)
    order = np.lexsort((cand, -values[cand]))
    return cand[order][:n]


def check_imputed(imputed: np.ndarray | None, n_events: int) -> np.ndarray:
    """The imputed events given for a sample of ``n_events``, sorted and unique (a
    ``SettingsError`` when none were given or they lie outside the sample)."""
    if imputed is None:
        raise _bad("the imputed events were not given", "selection", "pass imputed=EVENTS")
    events = np.unique(np.asarray(imputed, dtype=np.int64))
    if events.size and not 0 <= events[0] <= events[-1] < n_events:
        raise _bad(
            f"imputed events outside the sample's {n_events} events",
            "selection",
            "pass the sample's own imputed events",
        )
    return events


def select_events(
    guarded: GuardedScores,
    policy: PolicyScores,
    criterion: Criterion,
    sample: str = "",
    imputed: np.ndarray | None = None,
    ranked: np.ndarray | None = None,
) -> Selection:
    """The events of one sample that ``criterion`` picks under one setting.

    A cause picks every event with that cause, whatever the policy (the excluded ones
    are what one wants to see); ``imputed`` picks the given events (the reader's filled
    ones, ``data.imputed_events``), whatever their cause. ``top`` and ``range`` rank what
    the policy kept: under ``worst`` the events without a finite score (but non-finite
    inputs) rank as +inf, so they come first; under ``drop`` they are not there. ``range``
    keeps ``lo <= score <= hi`` (+inf only when ``hi`` is +inf).

    Parameters
    ----------
    guarded : GuardedScores
        The sample's guarded scores and causes (``SampleResult.guarded``).
    policy : PolicyScores
        The policy's view of them (``SampleResult.policy``).
    criterion : Criterion
        Cause, top N or score range.
    sample : str
        The sample's name, carried along.
    imputed : np.ndarray, optional
        The sample's events with filled raw values; needed by an ``imputed`` criterion.
    ranked : np.ndarray, optional
        ``policy.values`` sorted ascending, where the caller holds them (the evaluator's
        sorted background): ``top`` reads its cut from them. The same selection either way.

    Returns
    -------
    Selection
        Possibly empty.

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
    >>> from hepfm_core.engine.scoring.passes import ScoringPass
    >>> from hepfm_core.engine.guards.policy import apply_policy
    >>> s = np.array([[0.0], [20.0], [800.0], [1.0]], dtype=np.float32)
    >>> p = ScoringPass(np.ones((4, 1), np.float32), s, np.ones(4), np.ones(4),
    ...                 np.full(4, 7, np.uint8))
    >>> g = guard(prepare(p), GuardSettings(score="kl"))
    >>> select_events(g, apply_policy(g, "worst"), Criterion.by_cause("kl_overflow")).events
    array([2])
    >>> select_events(g, apply_policy(g, "worst"), Criterion.top(2)).events
    array([2, 1])
    >>> select_events(g, apply_policy(g, "drop"), Criterion.top(2)).events
    array([1, 3])
    """
    # the whole sample is one partition: one selection rule for both paths
    part = select_in_partition(guarded, policy, criterion, start=0, imputed=imputed, ranked=ranked)
    return merge_selections(
        [part],
        criterion,
        sample=sample,
        settings=guarded.settings,
        policy=policy.policy,
        n_events=int(np.asarray(guarded.causes).size),
    )


# -- selection on partitions (the cluster's) ---------------------------------------------
@dataclass(frozen=True, eq=False)
class PartSelection:
    """What one partition of a sample (events ``start:start + n``) contributes to a
    selection: the matching events as indices into the whole sample, their policy values
    (``top`` and ``range``: what they are ranked by; NaN for a cause), guarded scores and
    cause codes. For ``top``: the partition's own ``n`` best (ties by event index), which
    hold the sample's ``n`` best of this partition. ``kept_min`` / ``kept_max``: the
    partition's smallest and largest kept finite policy value (+inf / -inf if none), for the
    message of an empty range; found only for a range that picks nothing here (a scan of
    every value, of no use when the range meets some)."""

    events: np.ndarray
    values: np.ndarray
    scores: np.ndarray
    causes: np.ndarray
    kept_min: float = math.inf
    kept_max: float = -math.inf


def select_in_partition(
    guarded: GuardedScores,
    policy: PolicyScores,
    criterion: Criterion,
    start: int = 0,
    imputed: np.ndarray | None = None,
    ranked: np.ndarray | None = None,
) -> PartSelection:
    """:func:`select_events` on one partition (its guarded scores and policy view, its first
    event ``start`` of the sample); :func:`merge_selections` makes the sample's selection of
    the partitions'. ``imputed``: the sample's imputed events that lie in this partition
    (indices into the sample), for an ``imputed`` criterion; ``ranked``: as for
    :func:`select_events`.

    >>> import numpy as np
    >>> from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
    >>> from hepfm_core.engine.scoring.passes import ScoringPass
    >>> from hepfm_core.engine.guards.policy import apply_policy
    >>> s = np.array([[0.0], [20.0], [800.0], [1.0]], dtype=np.float32)
    >>> p = ScoringPass(np.ones((4, 1), np.float32), s, np.ones(4), np.ones(4),
    ...                 np.full(4, 7, np.uint8))
    >>> g = guard(prepare(p), GuardSettings(score="kl"))
    >>> select_in_partition(g, apply_policy(g, "worst"), Criterion.top(2), start=100).events
    array([102, 101])
    """
    causes = np.asarray(guarded.causes)
    scores = np.asarray(guarded.scores)
    values = np.asarray(policy.values, dtype=np.float64)
    kept_min, kept_max = math.inf, -math.inf
    with np.errstate(all="ignore"):
        if criterion.kind == "cause":
            local = np.flatnonzero(causes == CAUSE_LABELS.index(str(criterion.cause)))
            ranked = np.full(local.size, np.nan)
        elif criterion.kind == "imputed":
            given = None if imputed is None else np.asarray(imputed, dtype=np.int64) - int(start)
            local = check_imputed(given, int(causes.size))
            ranked = np.full(local.size, np.nan)
        else:
            kept = np.flatnonzero(np.asarray(policy.kept_mask))
            if criterion.kind == "top":
                pos = _top(values, int(criterion.n or 0), ranked)
            else:
                lo, hi = float(criterion.lo or 0.0), float(criterion.hi or 0.0)
                pos = np.flatnonzero((values >= lo) & (values <= hi))
                if pos.size == 0:  # for the message of an empty range
                    finite = values[np.isfinite(values)]
                    kept_min = float(finite.min()) if finite.size else math.inf
                    kept_max = float(finite.max()) if finite.size else -math.inf
            local = kept[pos]
            ranked = values[pos]
    local = local.astype(np.int64)
    return PartSelection(
        events=local + int(start),
        values=ranked.astype(np.float64),
        scores=scores[local].astype(np.float64),
        causes=causes[local].astype(np.uint8),
        kept_min=kept_min,
        kept_max=kept_max,
    )


def merge_selections(
    parts: Sequence[PartSelection],
    criterion: Criterion,
    *,
    sample: str,
    settings: GuardSettings,
    policy: str,
    n_events: int,
) -> Selection:
    """The sample's selection from its partitions' (:func:`select_in_partition`, any order):
    the very :class:`Selection` :func:`select_events` gives on the whole sample (by event
    index for a cause; by policy value, highest first, ties by event index, for ``top`` and
    ``range``; the first ``n`` of those for ``top``)."""
    events = np.concatenate(
        [np.asarray(p.events, np.int64) for p in parts] or [np.empty(0, np.int64)]
    )
    values = np.concatenate([np.asarray(p.values, np.float64) for p in parts] or [np.empty(0)])
    scores = np.concatenate([np.asarray(p.scores, np.float64) for p in parts] or [np.empty(0)])
    causes = np.concatenate(
        [np.asarray(p.causes, np.uint8) for p in parts] or [np.empty(0, np.uint8)]
    )
    if criterion.kind in ("cause", "imputed"):
        order = np.argsort(events, kind="stable")
    else:
        order = np.lexsort((events, -values))
        if criterion.kind == "top":
            order = order[: int(criterion.n or 0)]
    return Selection(
        sample=sample,
        criterion=criterion,
        settings=settings,
        policy=policy,
        events=events[order],
        scores=scores[order],
        causes=causes[order],
        n_events=int(n_events),
        kept_span=(
            (
                min((p.kept_min for p in parts), default=math.inf),
                max((p.kept_max for p in parts), default=-math.inf),
            )
            if criterion.kind == "range" and events.size == 0
            else None
        ),
    )


@dataclass(frozen=True, eq=False)
class PassRows:
    """The scoring pass's rows of some events, aligned with them: ``z_mean`` and
    ``z_log_var`` ``(n, k)`` float32, ``recon`` ``(n,)`` float64 (what the details of an
    event need of its pass; on a cluster they are read on the workers from the shards)."""

    z_mean: np.ndarray
    z_log_var: np.ndarray
    recon: np.ndarray
