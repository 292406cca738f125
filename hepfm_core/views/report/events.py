"""The report's "Events behind the counts": at the report's own settings, for each sample and
each cause it has events of (and the most anomalous events of each signal), the first few
events, each with its caption, its track table and its residual heat map, and what sets the
selection apart (its summary sentences).

Static: computed once when the report is written, by the investigation's engine (the model
runs on the events shown only) and drawn by the app's own builders (``views.investigation``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...common.json_fields import OMIT, JsonFields, json_meta
from ...engine.evaluate import BaseEvaluator, EvaluationResult, Evaluator
from ...engine.investigate.events import CAUSE_LABELS, Criterion
from ...engine.investigate.investigator import Investigator
from ...errors import HepfmError
from ...vocabulary import Cause
from ..charts import ChartSize
from ..investigation import (
    event_caption,
    number_text,
    residual_heatmap,
    selection_sentence,
    track_table,
)

__all__ = [
    "HEATMAP",
    "REPORT_EVENTS",
    "REPORT_TOP",
    "EventCard",
    "EventGroup",
    "EventsSection",
    "collect_events",
]

REPORT_EVENTS = 3
"""Events shown per selection."""
REPORT_TOP = 20
"""The most anomalous events of each signal: how many the summary describes."""
HEATMAP = ChartSize(width=300, height=330)
"""The heat maps' size on the page (beside their track table)."""


@dataclass(frozen=True)
class EventCard:
    """One event: its caption, its track table (texts) and its heat map's spec."""

    key: str  # the heat map's id on the page
    event: int
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    heatmap: Any  # altair chart (None without a track layout)


@dataclass(frozen=True)
class EventGroup(JsonFields):
    """One selection: its sample and criterion, the sentence on it, its first events (in
    its JSON, their numbers)."""

    sample: str
    criterion: Criterion
    selected: int
    sentence: str = field(metadata=OMIT)
    cards: tuple[EventCard, ...] = field(
        metadata=json_meta(key="events", convert=lambda cards: [c.event for c in cards])
    )

    @property
    def title(self) -> str:
        return f"{self.sample}: {self.criterion.describe()}"


@dataclass(frozen=True)
class EventsSection:
    """The section: its groups and a note on what they show, or why there are none."""

    groups: tuple[EventGroup, ...] = ()
    note: str = ""


def _criteria(result: EvaluationResult, name: str, top: int) -> list[Criterion]:
    """Each cause ``name`` has events of, then (a signal) its ``top`` most anomalous."""
    sample = result.samples[name]
    out = [
        Criterion.by_cause(cause)
        for cause in CAUSE_LABELS
        if cause != Cause.OK.label and sample.counts.by_cause.get(cause, 0) > 0
    ]
    if sample.role == "signal":
        out.append(Criterion.top(top))
    return out


def _group(
    investigator: Investigator,
    result: EvaluationResult,
    name: str,
    criterion: Criterion,
    n: int,
    prefix: str,
) -> EventGroup | None:
    selection = investigator.select(result.samples[name], criterion)
    if selection.size == 0:
        return None
    summary = investigator.summary(selection)
    layout = investigator.layout
    cards = []
    for i, d in enumerate(investigator.details(selection, limit=n)):
        table = track_table(d, layout)
        cards.append(
            EventCard(
                key=f"{prefix}-{i}",
                event=d.event,
                caption=event_caption(d, layout),
                columns=tuple(table.columns),
                rows=tuple(tuple(number_text(v) for v in row) for row in table.iter_rows()),
                heatmap=None if layout is None else residual_heatmap(d, layout, size=HEATMAP),
            )
        )
    return EventGroup(
        sample=name,
        criterion=criterion,
        selected=selection.size,
        sentence=selection_sentence(selection, summary),
        cards=tuple(cards),
    )


def collect_events(
    evaluator: BaseEvaluator,
    result: EvaluationResult,
    samples: Sequence[str] | None = None,
    *,
    shown: int = REPORT_EVENTS,
    top: int = REPORT_TOP,
) -> EventsSection:
    """The section at ``result``'s settings for ``samples`` (default: every sample of
    ``result``): for each, every cause it has events of, and for a signal its ``top`` most
    anomalous; ``shown`` events of each. No events (a note saying why) when the scores stay
    on a cluster or the model cannot run."""
    if not isinstance(evaluator, Evaluator):
        return EventsSection(note="The scores stayed on the cluster: no events to show here.")
    investigator = Investigator(evaluator)
    s = result.settings
    clip = "none" if s.clip is None else f"[{s.clip[0]:g}, {s.clip[1]:g}]"
    names = list(samples or result.samples)
    asked = [(name, c) for name in names for c in _criteria(result, name, top)]
    try:
        found = (
            _group(investigator, result, name, c, shown, f"g{i}")
            for i, (name, c) in enumerate(asked)
        )
        groups = [g for g in found if g is not None]
        _, values = investigator.values_kind(names[0]) if names else ("", "")
    except HepfmError as exc:
        return EventsSection(note=f"No events to show: {exc}")
    note = (
        f"At the report's own settings (score {s.score}, clip z_log_var {clip}, policy "
        f"'{s.policy}'): the first {shown} events of each selection. Tracks: {values}; padding "
        "left out. Squared residuals (x − x̂)² of the model inputs, in standardised units²."
    )
    return EventsSection(groups=tuple(groups), note=note)
