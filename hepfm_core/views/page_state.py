"""The dashboard's state that a link carries: its settings and the events it looks at, read
from the URL's query parameters when the page opens and written back as they change, so that
a link reproduces what a colleague sees.

Keys (each optional; a missing key means the default)::

    score=reconstruction|kl|total|radius   clip=none|LO:HI   beta=B   policy=worst|drop
    signals=NAME,NAME                       (the signal samples shown; default every one)
    sample=NAME and one of cause=LABEL|imputed | top=N | range=LO:HI   (the events looked at)
    page=K                                  (the page of those events, from 1)

A bad value is replaced by its default and named in :attr:`PageState.problems` (the app shows
them in a callout); keys of others (marimo's own) are left alone. Clip and range bounds are
written as ``report.grid.clip_key`` writes clip bounds: exact, ``inf`` for an open side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ..engine.evaluate import EvaluationSettings
from ..engine.investigate.events import CAUSE_LABELS, IMPUTED, Criterion
from ..errors import HepfmError
from ..vocabulary import (
    CLIP_PRESETS,
    CLIP_RANGE,
    CLIP_STEP,
    DEFAULT_CLIP,
    POLICIES,
    SCORES,
    Policy,
    Score,
)
from .report.grid import clip_key

__all__ = [
    "BETA_RANGE",
    "CLIP_RANGE",
    "CLIP_STEP",
    "CUSTOM_PRESET",
    "DEFAULT_CLIP",
    "KEYS",
    "REQUEST_KEYS",
    "SETTINGS_KEYS",
    "SHOWN_VALUE_CHARS",
    "ClipControl",
    "EventRequest",
    "PageState",
    "QueryParameters",
    "brush_request",
    "initial_clip",
    "initial_page",
    "preset_for",
    "read_page_state",
    "request_query",
    "sample_of",
    "settings_query",
    "top_request",
    "with_sample",
    "write_page",
    "write_page_state",
]

BETA_RANGE = (0.0, 100.0)
CUSTOM_PRESET = "custom"
SETTINGS_KEYS = ("score", "clip", "beta", "policy", "signals")
REQUEST_KEYS = ("sample", "cause", "top", "range")
KEYS = (*SETTINGS_KEYS, *REQUEST_KEYS, "page")
"""Every key the dashboard reads and writes."""
_SEP = ":"
_LIST_SEP = ","


class QueryParameters(Protocol):
    """What the dashboard needs of ``mo.query_params()`` (a plain dict does too)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def __contains__(self, key: object) -> bool: ...

    def __setitem__(self, key: str, value: str) -> None: ...

    def __delitem__(self, key: str) -> None: ...


@dataclass(frozen=True)
class EventRequest:
    """The events the investigation looks at: a sample and a criterion (a cause, the N
    highest scores, a score range)."""

    sample: str
    criterion: Criterion

    def describe(self) -> str:
        return f"{self.sample}: {self.criterion.describe()}"


@dataclass(frozen=True)
class PageState:
    """The settings and the events looked at, as a link gave them (defaults elsewhere)."""

    score: Score = "reconstruction"
    clip: tuple[float, float] | None = DEFAULT_CLIP
    beta: float = 1.0
    policy: Policy = "worst"
    signals: tuple[str, ...] | None = None  # None: every signal
    request: EventRequest | None = None
    page: int = 1
    problems: tuple[str, ...] = ()

    @property
    def preset(self) -> str:
        """The clip preset the clip is, else :data:`CUSTOM_PRESET`."""
        return preset_for(self.clip)


def preset_for(clip: tuple[float, float] | None) -> str:
    """The label of the clip preset (``vocabulary.CLIP_PRESETS``) equal to ``clip``, else
    :data:`CUSTOM_PRESET`.

    >>> from hepfm_core.views.page_state import preset_for
    >>> preset_for(None), preset_for((-50.0, 50.0)), preset_for((-3.0, 7.5))
    ('none (float64 guards)', '±50 (proposed)', 'custom')
    """
    return next((label for label, c in CLIP_PRESETS.items() if c == clip), CUSTOM_PRESET)


@dataclass(frozen=True)
class ClipControl:
    """The one clip setting the preset, the no-clip switch and the slider all show and all
    change: the slider's bounds, and whether no clip is on (the bounds are kept for when it
    goes off again).

    >>> from hepfm_core.views.page_state import ClipControl
    >>> c = ClipControl((-20.0, 20.0))
    >>> c.preset, c.with_bounds([-19.5, 20]).preset  # moving the slider: a custom clip
    ("±20 (upstream's fix)", 'custom')
    >>> c.with_preset("±50 (proposed)").bounds  # a preset moves the slider
    (-50.0, 50.0)
    >>> off = c.with_preset("none (float64 guards)")
    >>> off.clip, off.bounds, off.preset, off.with_off(False).clip
    (None, (-20.0, 20.0), 'none (float64 guards)', (-20.0, 20.0))
    """

    bounds: tuple[float, float]
    off: bool = False

    @property
    def clip(self) -> tuple[float, float] | None:
        """What the evaluation uses: the bounds, or None (no clip)."""
        return None if self.off else self.bounds

    @property
    def preset(self) -> str:
        """The preset that is this clip, else :data:`CUSTOM_PRESET`."""
        return preset_for(self.clip)

    def with_preset(self, label: str) -> ClipControl:
        """A preset chosen: its bounds, or no clip for the none preset (the bounds kept);
        "custom" (or an unknown label) changes nothing."""
        if label not in CLIP_PRESETS:
            return self
        bounds = CLIP_PRESETS[label]
        return replace(self, off=True) if bounds is None else ClipControl(bounds, False)

    def with_bounds(self, bounds: Sequence[float]) -> ClipControl:
        """The slider moved: these bounds, clipping."""
        lo, hi = (float(b) for b in bounds)
        return ClipControl((lo, hi), False)

    def with_off(self, off: bool) -> ClipControl:
        """The no-clip switch flipped."""
        return replace(self, off=bool(off))


def initial_clip(state: PageState) -> ClipControl:
    """The clip controls as a link (or the defaults) set them."""
    return ClipControl(state.clip or DEFAULT_CLIP, off=state.clip is None)


# -- reading ------------------------------------------------------------------------------
def _text(params: QueryParameters, key: str) -> str | None:
    """A key's value as one string (the last one when a link repeats the key)."""
    value = params.get(key)
    if isinstance(value, list):
        value = value[-1] if value else None
    return None if value is None else str(value)


def _number(text: str) -> float:
    value = float(text)
    if math.isnan(value):
        raise ValueError("NaN")
    return value


def _bounds(text: str) -> tuple[float, float]:
    lo, hi = text.split(_SEP)
    return _number(lo), _number(hi)


SHOWN_VALUE_CHARS = 40
"""A bad value from a link is named by at most this many characters (a link is anyone's)."""


def _bad(key: str, text: str, expected: str) -> str:
    """The sentence naming a bad value: plain text, the value shortened (the page shows it
    as text, ``text.literal``: a crafted link cannot put markup on the page)."""
    shown = text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS] + "…"
    return f"{key}={shown!r} ignored: expected {expected}"


def _read_clip(text: str) -> tuple[float, float] | None:
    if text == "none":
        return None
    lo, hi = _bounds(text)
    if not (CLIP_RANGE[0] <= lo < hi <= CLIP_RANGE[1]):
        raise ValueError("out of range")
    return lo, hi


def _read_request(
    params: QueryParameters, samples: Sequence[str], problems: list[str]
) -> EventRequest | None:
    given = {k: t for k in REQUEST_KEYS if (t := _text(params, k)) is not None}
    if not given:
        return None
    sample = given.pop("sample", "")
    if sample not in samples:
        problems.append(_bad("sample", sample, f"one of {', '.join(samples)}"))
        return None
    if len(given) != 1:
        problems.append(
            f"sample={sample!r} ignored: give exactly one of cause=, top= or range= with it"
        )
        return None
    ((key, text),) = given.items()
    try:
        if key == "cause":
            criterion = Criterion.by_cause(text)
        elif key == "top":
            criterion = Criterion.top(int(text))
        else:
            criterion = Criterion.score_range(*_bounds(text))
    except (HepfmError, ValueError):
        expected = {
            "cause": f"one of {', '.join((*CAUSE_LABELS, IMPUTED))}",
            "top": "a whole number >= 1",
            "range": "LO:HI with LO <= HI (inf allowed)",
        }[key]
        problems.append(_bad(key, text, expected))
        return None
    return EventRequest(sample, criterion)


def read_page_state(
    params: QueryParameters, samples: Sequence[str], signals: Sequence[str]
) -> PageState:
    """The state a link gives: each key checked, a bad one replaced by its default and named
    in ``problems``. ``samples``: every sample (the background first); ``signals``: the
    signal samples.

    >>> from hepfm_core.views.page_state import read_page_state
    >>> s = read_page_state({"score": "kl", "clip": "none", "beta": "x", "sample": "bkg",
    ...                      "top": "5"}, ["bkg", "sig"], ["sig"])
    >>> s.score, s.clip, s.beta, s.request.criterion.n, s.problems
    ('kl', None, 1.0, 5, ("beta='x' ignored: expected a number from 0 to 100",))
    """
    problems: list[str] = []
    out: dict[str, Any] = {}
    if (text := _text(params, "score")) is not None:
        if text in SCORES:
            out["score"] = text
        else:
            problems.append(_bad("score", text, f"one of {', '.join(SCORES)}"))
    if (text := _text(params, "clip")) is not None:
        try:
            out["clip"] = _read_clip(text)
        except ValueError:
            lo, hi = (f"{b:g}" for b in CLIP_RANGE)
            problems.append(_bad("clip", text, f"none or LO:HI with {lo} <= LO < HI <= {hi}"))
    if (text := _text(params, "beta")) is not None:
        try:
            beta = _number(text)
            if not BETA_RANGE[0] <= beta <= BETA_RANGE[1]:
                raise ValueError("out of range")
            out["beta"] = beta
        except ValueError:
            lo, hi = (f"{b:g}" for b in BETA_RANGE)
            problems.append(_bad("beta", text, f"a number from {lo} to {hi}"))
    if (text := _text(params, "policy")) is not None:
        if text in POLICIES:
            out["policy"] = text
        else:
            problems.append(_bad("policy", text, f"one of {', '.join(POLICIES)}"))
    if (text := _text(params, "signals")) is not None:
        names = [n for n in text.split(_LIST_SEP) if n]
        unknown = [n for n in names if n not in signals]
        kept = tuple(n for n in names if n in signals)
        if unknown or not kept:
            problems.append(_bad("signals", text, f"names among {', '.join(signals)}"))
        if kept:
            out["signals"] = kept
    out["request"] = _read_request(params, samples, problems)
    if (text := _text(params, "page")) is not None:
        try:
            page = int(text)
            if page < 1:
                raise ValueError("below 1")
            out["page"] = page
        except ValueError:
            problems.append(_bad("page", text, "a whole number >= 1"))
    return PageState(**out, problems=tuple(problems))


# -- writing ------------------------------------------------------------------------------
def settings_query(settings: EvaluationSettings) -> dict[str, str]:
    """The settings as query parameters.

    >>> from hepfm_core.engine.evaluate import EvaluationSettings
    >>> from hepfm_core.views.page_state import settings_query
    >>> settings_query(EvaluationSettings(clip=(-20, 20), score="kl", signals=("a", "b")))
    {'score': 'kl', 'clip': '-20:20', 'beta': '1', 'policy': 'worst', 'signals': 'a,b'}
    """
    out = {
        "score": settings.score,
        "clip": clip_key(settings.clip),
        "beta": f"{settings.beta:g}",
        "policy": settings.policy,
    }
    if settings.signals is not None:
        out["signals"] = _LIST_SEP.join(settings.signals)
    return out


def request_query(request: EventRequest | str | None) -> dict[str, str]:
    """The events looked at as query parameters (none without a request, or for a refused
    click: a sentence)."""
    if not isinstance(request, EventRequest):
        return {}
    c = request.criterion
    out = {"sample": request.sample}
    if c.kind == "cause":
        out["cause"] = str(c.cause)
    elif c.kind == "imputed":
        out["cause"] = IMPUTED
    elif c.kind == "top":
        out["top"] = str(c.n)
    else:
        out["range"] = clip_key((float(c.lo or 0.0), float(c.hi or 0.0)))
    return out


def _sync(params: QueryParameters, wanted: Mapping[str, str], keys: Iterable[str]) -> None:
    """Set the ``keys`` of ``params`` to ``wanted`` (removed where absent), touching only
    those that change (each change is a message to the page)."""
    for key in keys:
        if key in wanted:
            if _text(params, key) != wanted[key]:
                params[key] = wanted[key]
        elif key in params:
            del params[key]


def write_page_state(
    params: QueryParameters, settings: EvaluationSettings, request: EventRequest | str | None
) -> None:
    """Write the settings and the events looked at into the URL (no request, or a refused
    click: the selection's keys and the page's go)."""
    wanted = settings_query(settings) | request_query(request)
    page = () if isinstance(request, EventRequest) else ("page",)
    _sync(params, wanted, (*SETTINGS_KEYS, *REQUEST_KEYS, *page))


def write_page(params: QueryParameters, page: int) -> None:
    """Write the page of events shown (the first: no key)."""
    _sync(params, {"page": str(page)} if page > 1 else {}, ("page",))


def initial_page(state: PageState, request: EventRequest | None) -> int:
    """The page to open a selection at: the link's, for the link's own selection."""
    return state.page if request is not None and request == state.request else 1


# -- what a click or a brush asks for -----------------------------------------------------
def brush_request(
    previous: EventRequest | str | None, selections: Mapping[str, Any], brush: str, sample: str
) -> EventRequest | None:
    """What a brush on the loss distributions asks for: the scores in its range, in the
    sample looked at before (else ``sample``); None when the brush is cleared."""
    fields = selections.get(brush) or {}
    span = next((v for v in fields.values() if isinstance(v, list | tuple) and len(v) == 2), None)
    if span is None:
        return None
    try:
        lo, hi = sorted(float(v) for v in span)
        criterion = Criterion.score_range(lo, hi)
    except (HepfmError, TypeError, ValueError):
        return None
    where = previous.sample if isinstance(previous, EventRequest) else sample
    return EventRequest(where, criterion)


def with_sample(request: EventRequest | str | None, sample: str) -> EventRequest | None:
    """The same criterion in another sample (None stays None)."""
    if not isinstance(request, EventRequest):
        return None
    return EventRequest(sample, request.criterion)


def top_request(sample: str, n: object) -> EventRequest | str:
    """The ``n`` most anomalous events of ``sample``; a sentence for a bad ``n``."""
    try:
        return EventRequest(sample, Criterion.top(int(n)))  # type: ignore[call-overload]
    except (HepfmError, TypeError, ValueError):
        return f"The number of most anomalous events must be a whole number >= 1, not {n!r}."


def sample_of(request: EventRequest | str | None, samples: Sequence[str]) -> str:
    """The sample a request looks at (the first of ``samples`` without one)."""
    if isinstance(request, EventRequest) and request.sample in samples:
        return request.sample
    return samples[0]
