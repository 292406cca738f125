"""The investigation section's view-model: what a click, a brush or a top-N request
selects, paged and summarised, or the sentence saying why nothing is shown."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...engine.evaluate import (
    EvaluationResult,
    SampleResult,
)
from ...engine.investigate.detail import EventDetail
from ...engine.investigate.events import Criterion, Selection
from ...engine.investigate.explain import SelectionSummary
from ...engine.investigate.investigator import Investigator
from ...errors import HepfmError
from ..investigation import BRUSH, empty_selection_sentence
from ..page_state import EventRequest, brush_request

__all__ = [
    "DIAGNOSTICS",
    "LATENT_VIEW",
    "LOOK_HINT",
    "MAX_SHOWN_EVENTS",
    "PAGE_EVENTS",
    "PROFILE_VIEW",
    "SCULPTING_VIEW",
    "TOP_DEFAULT",
    "Looked",
    "chosen_event",
    "look",
    "on_brush",
    "on_count_button",
    "on_event_button",
    "page_count",
    "sample_result",
    "select_events",
]


PAGE_EVENTS = 20
"""Events per page of the investigation."""
MAX_SHOWN_EVENTS = 200
"""Events of a selection the investigation pages through at most (the first ones)."""
TOP_DEFAULT = 20
"""How many of the most anomalous events the investigation offers at first."""
LATENT_VIEW = "latent space"
PROFILE_VIEW = "residual profile"
SCULPTING_VIEW = "sculpting check"
DIAGNOSTICS = (LATENT_VIEW, PROFILE_VIEW, SCULPTING_VIEW)
"""The whole-sample diagnostics the app offers, by name."""
LOOK_HINT = (
    "Click a count of the filtered-event counts table (a cause), brush the loss distributions "
    "(a score range), or ask for the most anomalous events of a sample."
)


def sample_result(
    investigator: Investigator, result: EvaluationResult, sample: str
) -> SampleResult:
    """``sample`` under ``result``'s settings: from ``result`` when it shows the sample, else
    evaluated alone (a signal not ticked)."""
    if sample in result.samples:
        return result.samples[sample]
    return investigator.evaluate_sample(result.settings, sample).samples[sample]


def select_events(
    investigator: Investigator, result: EvaluationResult, sample: str, criterion: Criterion
) -> Selection:
    """The events of ``sample`` that ``criterion`` picks under ``result``'s settings (the
    events ``hepfm events`` lists for the same settings)."""
    investigator.sample(sample)
    found = sample_result(investigator, result, sample)
    held = result.sorted_background if sample == "background" else None
    ranked = None if held is None else held.scores  # a top-N's cut, read, not searched for
    return investigator.select(found, criterion, result.settings, ranked)


def page_count(selection: Selection) -> int:
    """Pages of :data:`PAGE_EVENTS` over the first :data:`MAX_SHOWN_EVENTS` events."""
    return -(-min(selection.size, MAX_SHOWN_EVENTS) // PAGE_EVENTS)


def chosen_event(details: Sequence[EventDetail], picked: int | None) -> EventDetail | None:
    """The event of a page that was picked (its event number, from the events table's
    buttons) when the page lists it, else the page's first; None for an empty page."""
    if not details:
        return None
    return next((d for d in details if d.event == picked), details[0])


def on_event_button(set_picked: Callable[[Any], None], event: int) -> Callable[[object], None]:
    """An event's button in the events table (``on_change``): shows that event's tracks,
    residuals and latent values below."""

    def clicked(_value: object) -> None:
        set_picked(event)

    return clicked


def on_count_button(
    set_request: Callable[[Any], None], sample: str, cause: str
) -> Callable[[object], None]:
    """A count's button in the counts grid (``on_change``): asks for the events of
    ``sample`` whose cause is ``cause`` (the section below follows)."""
    request = EventRequest(sample, Criterion.by_cause(cause))

    def clicked(_value: object) -> None:
        set_request(request)

    return clicked


def on_brush(
    set_request: Callable[[Any], None], selections: Callable[[], Mapping[str, Any]]
) -> Callable[[object], None]:
    """The loss distributions' ``on_change``: a brush asks for the scores in its range, in
    the sample looked at before (else the background); a cleared brush changes nothing."""

    def brushed(_value: object) -> None:
        def update(old: object) -> object:
            previous = old if isinstance(old, EventRequest | str) else None
            return brush_request(previous, selections(), BRUSH, "background") or old

        set_request(update)

    return brushed


@dataclass(frozen=True)
class Looked:
    """What the investigation shows for a request: a selection and its summary, or a
    message (a callout of ``kind``)."""

    request: EventRequest | None = None
    selection: Selection | None = None
    summary: SelectionSummary | None = None
    message: str = ""
    kind: str = "info"


def look(investigator: Investigator | None, result: EvaluationResult, asked: object) -> Looked:
    """The events ``asked`` (an :class:`~hepfm_core.views.page_state.EventRequest`, a
    sentence refusing a click, or None) under ``result``'s settings, with their summary; a
    message instead when there is nothing to show (never an exception for a user's input)."""
    if investigator is None:
        return Looked(
            message="The events of these scores cannot be looked at here: this evaluator "
            "keeps no scoring pass in this process and cannot select on a cluster (use "
            "`hepfm events`).",
            kind="warn",
        )
    if asked is None:
        return Looked(message=LOOK_HINT)
    if not isinstance(asked, EventRequest):
        return Looked(message=str(asked), kind="warn")
    try:
        selection = select_events(investigator, result, asked.sample, asked.criterion)
        if selection.size == 0:
            counts = sample_result(investigator, result, asked.sample).counts.by_cause
            return Looked(
                request=asked,
                message=empty_selection_sentence(selection, counts),
                kind="warn",
            )
        summary = investigator.summary(selection)
    except HepfmError as exc:
        return Looked(
            request=asked, message=f"**Cannot look at these events.** {exc}", kind="danger"
        )
    return Looked(request=asked, selection=selection, summary=summary)
