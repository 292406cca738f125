"""The report's data: every score x clip of a small grid, evaluated, and turned into what the
page shows: the charts' rows (one frame per figure, each row tagged with its grid point) and
each grid point's tables and notes, formatted by ``views.tables`` and ``views.text``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import polars as pl

from ...common.versions import vega_versions
from ...engine.compare.models import ModelSet
from ...engine.compare.results import ComparisonResult
from ...engine.evaluate import BaseEvaluator, EvaluationResult, EvaluationSettings
from ...vocabulary import CLIP_PRESETS, SCORE_LABELS, SCORES, Score, sample_colours
from ..charts import GRID, curve_frame, model_curve_frame
from ..tables import background_working_points, histogram_note, histogram_tables
from ..text import guard_summary, models_line, normalisation_note
from .cells import Table, comparison_cells, counts_cells, metrics_cells, model_metrics_cells
from .events import EventsSection, collect_events

GRID_SCORES = cast("tuple[Score, ...]", SCORES)
HIST_BINS = 60  # the dashboard's default


@dataclass(frozen=True)
class ClipChoice:
    """One clip setting of the grid: a key for the page, a label for the reader."""

    key: str
    label: str
    clip: tuple[float, float] | None


def _exact(x: float) -> str:
    """The shortest text that reads back as ``x`` ("20", "-88.7", "20.000001")."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def clip_key(clip: tuple[float, float] | None) -> str:
    """A unique key per clip setting (exact, so nearby bounds never share a key)."""
    return "none" if clip is None else f"{_exact(clip[0])}:{_exact(clip[1])}"


def clip_label(clip: tuple[float, float] | None) -> str:
    return "none" if clip is None else f"[{_exact(clip[0])}, {_exact(clip[1])}]"


def clip_choices(current: tuple[float, float] | None) -> tuple[ClipChoice, ...]:
    """The clip presets (the dashboard's), plus the report's own bounds when they are not one."""
    choices = [ClipChoice(clip_key(c), label, c) for label, c in CLIP_PRESETS.items()]
    if all(c.clip != current for c in choices):
        choices.append(ClipChoice(clip_key(current), f"{clip_label(current)} (report)", current))
    return tuple(choices)


def grid_key(score: str, clip: str) -> str:
    return f"{score}|{clip}"


@dataclass(frozen=True)
class GridPoint:
    """One score x clip of the grid: the charts' rows (tagged with ``key`` in ``GRID``), the
    tables and the notes."""

    key: str
    score: str
    clip: ClipChoice
    hist: pl.DataFrame  # tables.histogram_tables' bins
    overflow: pl.DataFrame  # tables.histogram_tables' values outside the bins
    curves: pl.DataFrame  # charts.curve_frame
    counts: Table
    metrics: Table  # with several models, theirs side by side (cells.model_metrics_cells)
    reached: str  # tables.background_working_points (per model with several)
    comparisons: Table | None = None  # cells.comparison_cells, with several models
    comparison_json: tuple[dict[str, Any], ...] = ()  # ModelComparison.to_json_dict()

    def hist_note(self, samples: Sequence[str] | None = None) -> str:
        """``tables.histogram_note``: what the bins leave out (of ``samples``, default all)."""
        over = self.overflow
        if samples is not None:
            over = over.filter(pl.col("sample").is_in(samples))
        return histogram_note(over)

    def hist_notes(self) -> tuple[str, dict[str, str]]:
        """The note when every value is drawn, and the note of each sample with values the
        bins leave out (the page shows those of the samples ticked)."""
        every = self.hist_note([])
        notes = {name: self.hist_note([name]) for name in self.overflow["sample"]}
        return every, {name: note for name, note in notes.items() if note != every}

    @property
    def label(self) -> str:
        """The grid point in words (a table's caption)."""
        return f"{SCORE_LABELS[self.score]}, clip z_log_var {self.clip.label}"


def grid_point(
    result: EvaluationResult,
    clip: ClipChoice,
    n_bins: int = HIST_BINS,
    compared: ComparisonResult | None = None,
) -> GridPoint:
    """Everything the page shows of one evaluation (pure); with ``compared`` (several
    models at this point, ``result`` the first's), the models' curves overlaid, their
    metrics side by side and their comparisons."""
    key = grid_key(result.settings.score, clip.key)
    hist, overflow = histogram_tables(result, n_bins=n_bins)
    tag = pl.lit(key).alias(GRID)
    point = GridPoint(
        key=key,
        score=result.settings.score,
        clip=clip,
        hist=hist.select(tag, pl.all()),
        overflow=overflow,
        curves=curve_frame(result.signals).select(tag, pl.all()),
        counts=counts_cells(result),
        metrics=metrics_cells(result),
        reached=background_working_points(result),
    )
    if compared is None:
        return point
    results = compared.first_results()
    curves = model_curve_frame({label: r.signals for label, r in results.items()})
    reached = [(label, background_working_points(r)) for label, r in results.items()]
    return replace(
        point,
        curves=curves.select(tag, pl.all()),
        metrics=model_metrics_cells(results),
        reached=" | ".join(f"{label}: {line}" for label, line in reached if line),
        comparisons=comparison_cells(compared),
        comparison_json=tuple(c.to_json_dict() for c in compared.comparisons),
    )


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows: the settings, the grid's points, the words around them."""

    settings: EvaluationSettings
    parameterisation: str
    signals: tuple[str, ...]
    shown: tuple[str, ...]
    colours: dict[str, str]
    clips: tuple[ClipChoice, ...]
    points: tuple[GridPoint, ...]
    provenance: dict[str, Any]
    summary: str
    normalisation: str
    versions: dict[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()  # the labels compared (none: a single model's report)
    models_text: str = ""  # text.models_line
    model_provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    events: EventsSection = field(default_factory=EventsSection)

    @property
    def current_key(self) -> str:
        return grid_key(self.settings.score, clip_key(self.settings.clip))

    @property
    def current(self) -> GridPoint:
        return next(p for p in self.points if p.key == self.current_key)

    @property
    def samples(self) -> tuple[str, ...]:
        return ("background", *self.signals)

    def hist_rows(self, score: str) -> pl.DataFrame:
        """The histogram bins of every grid point of ``score``, in one frame."""
        return pl.concat([p.hist for p in self.points if p.score == score])

    def curve_rows(self) -> pl.DataFrame:
        """The thinned ROC curves of every grid point, in one frame."""
        return pl.concat([p.curves for p in self.points])


def build_report_data(
    results: Mapping[tuple[str, str], EvaluationResult],
    settings: EvaluationSettings,
    clips: Sequence[ClipChoice],
    signals: Sequence[str],
    *,
    shown: Sequence[str] | None = None,
    summary: str = "",
    versions: Mapping[str, str] | None = None,
    compared: Mapping[tuple[str, str], ComparisonResult] | None = None,
    events: EventsSection | None = None,
) -> ReportData:
    """The grid's points from its evaluations, keyed by (score, clip key) (pure); with
    ``compared``, the comparisons of several models at the same points; ``events``: the
    events behind the counts (:func:`events.collect_events`)."""
    by_key = {c.key: c for c in clips}
    compared = compared or {}
    points = tuple(
        grid_point(result, by_key[ck], compared=compared.get((score, ck)))
        for (score, ck), result in results.items()
    )
    current_key = (settings.score, clip_key(settings.clip))
    current = results[current_key]
    at_current = compared.get(current_key)
    models: dict[str, Any] = {}
    if at_current is not None:
        models = {
            "models": at_current.labels,
            "models_text": models_line(at_current),
            "model_provenance": {
                label: r.provenance for label, r in at_current.first_results().items()
            },
            "warnings": at_current.warnings,
        }
    return ReportData(
        settings=settings,
        parameterisation=current.parameterisation,
        signals=tuple(signals),
        shown=tuple(signals if shown is None else shown),
        colours=sample_colours(signals),
        clips=tuple(clips),
        points=points,
        provenance=current.provenance,
        summary=summary,
        normalisation=normalisation_note(current),
        versions=dict(versions or {}),
        events=events or EventsSection(),
        **models,
    )


def collect(evaluator: BaseEvaluator | ModelSet, settings: EvaluationSettings) -> ReportData:
    """Evaluate every score x clip of the grid (all signals) and build the report's data.

    With several models (a ``ModelSet``), each grid point evaluates and compares them all
    (Holm over every signal x pair at that point); the per-model views (counts, loss
    distributions, the guard summary, the events behind the counts) are the first model's.
    """
    models = evaluator if isinstance(evaluator, ModelSet) and evaluator.is_comparison else None
    first = evaluator.primary if isinstance(evaluator, ModelSet) else evaluator
    shown = first.check_signals(settings.signals)
    signals = first.signal_names
    clips = clip_choices(settings.clip)
    results: dict[tuple[str, str], EvaluationResult] = {}
    compared: dict[tuple[str, str], ComparisonResult] = {}
    for score in GRID_SCORES:
        for choice in clips:
            point = replace(settings, score=score, clip=choice.clip, signals=signals)
            if models is None:
                results[(score, choice.key)] = first.evaluate(point, n_bins=HIST_BINS)
                continue
            compared[(score, choice.key)] = models.evaluate(point, n_bins=HIST_BINS)
            results[(score, choice.key)] = compared[(score, choice.key)].primary
    summary = guard_summary(first.evaluate(replace(settings, signals=shown)), first)
    current = results[(settings.score, clip_key(settings.clip))]
    return build_report_data(
        results,
        settings,
        clips,
        signals,
        shown=shown,
        summary=summary,
        versions=vega_versions(),
        compared=compared or None,
        events=collect_events(first, current),
    )
