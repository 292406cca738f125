"""The report's data: every score x clip of a small grid, evaluated and turned into the
JSON-ready rows (histogram steps, thinned curves, table cells) the page's views filter."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from ...common.versions import vega_versions
from ...engine.evaluate import EvaluationResult, EvaluationSettings, Evaluator
from ...engine.metrics import thin_roc
from ...vocabulary import CLIP_PRESETS, SCORES, sample_colours
from ..tables import counts_table, highlighted, histogram_tables, metrics_table
from ..text import format_interval, guard_summary

GRID_SCORES: tuple[str, ...] = SCORES
HIST_BINS = 60
CURVE_POINTS = 300


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


# -- the report's data ----------------------------------------------------------------------
@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, as JSON-ready values (no arrays, no NaN)."""

    settings: EvaluationSettings
    parameterisation: str
    signals: tuple[str, ...]
    shown: tuple[str, ...]
    colours: dict[str, str]
    clips: tuple[ClipChoice, ...]
    histograms: list[dict[str, Any]]
    curves: list[dict[str, Any]]
    counts: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    notes: dict[str, dict[str, str]]
    count_columns: tuple[str, ...]
    metric_columns: tuple[str, ...]
    provenance: dict[str, Any]
    summary: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def current_key(self) -> str:
        return grid_key(self.settings.score, clip_key(self.settings.clip))

    @property
    def samples(self) -> tuple[str, ...]:
        return ("background", *self.signals)


def _sig(x: float, digits: int = 6) -> float:
    """``x`` rounded to ``digits`` significant figures (plain float for JSON)."""
    return float(f"{float(x):.{digits}g}")


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def not_drawn(overflow: pl.DataFrame) -> dict[str, str]:
    """Per sample, in words, the values a log-binned histogram leaves out ('' for none)."""
    notes = {}
    for row in overflow.iter_rows(named=True):
        nonfinite = row["nonfinite"] + row["posinf"] + row["neginf"]
        parts = [
            f"{row['underflow']:,} below range (incl. ≤ 0)" if row["underflow"] else "",
            f"{row['overflow']:,} above range" if row["overflow"] else "",
            f"{nonfinite:,} non-finite" if nonfinite else "",
        ]
        notes[row["sample"]] = ", ".join(p for p in parts if p)
    return notes


def histogram_rows(
    result: EvaluationResult, key: str, index: Mapping[str, int], n_bins: int = HIST_BINS
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Step points of every sample's loss histogram (shared log bins) and, per sample, what
    the bins leave out.

    Each sample keeps its first to last filled bin; the points are the left edges plus the
    last right edge (for ``step-after``), with empty bins raised to a floor of half the
    smallest count so a log axis shows them as gaps at the bottom, never as a bridge.
    """
    hist, over = histogram_tables(result, n_bins=n_bins)
    notes = not_drawn(over)
    per_sample = {}
    positive = []
    for name in result.samples:
        part = hist.filter(hist["sample"] == name).sort("bin")
        values = part["value"].to_numpy()
        edges = np.append(part["lo"].to_numpy(), part["hi"].to_numpy()[-1:])
        filled = np.flatnonzero(values > 0)
        if filled.size:
            per_sample[name] = (values, edges, int(filled[0]), int(filled[-1]))
            positive.append(float(values[filled].min()))
    floor = min(positive) / 2.0 if positive else 0.5
    rows = []
    for name, (values, edges, first, last) in per_sample.items():
        y = np.maximum(np.append(values[first : last + 1], values[last]), floor)
        x = edges[first : last + 2]
        rows.append(
            {
                "g": key,
                "s": name,
                "i": index[name],
                "f": _sig(floor),
                "x": [_sig(v) for v in x],
                "y": [_sig(v) for v in y],
            }
        )
    return rows, notes


def curve_rows(
    result: EvaluationResult, key: str, index: Mapping[str, int], points: int = CURVE_POINTS
) -> list[dict[str, Any]]:
    """Thinned ROC vertices (eff_B, eff_S) of every signal with a defined curve."""
    rows = []
    for name, sep in result.signals.items():
        if not sep.ok or sep.roc_thinned is None:
            continue
        curve = thin_roc(sep.roc_thinned, max_points=points)
        rows.append(
            {
                "g": key,
                "s": name,
                "i": index[name],
                "fpr": [_sig(v) for v in np.asarray(curve.fpr)],
                "tpr": [_sig(v) for v in np.asarray(curve.tpr)],
            }
        )
    return rows


def count_cells(
    result: EvaluationResult, key: str, index: Mapping[str, int]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The counts table as column names and one cell per (sample, column); the cells that
    stand out (``tables.highlighted``) are marked."""
    table = counts_table(result)
    cells = []
    for row in table.iter_rows(named=True):
        name = row["sample"]
        for c, column in enumerate(table.columns):
            value = row[column]
            cell: dict[str, Any] = {"g": key, "s": name, "i": index[name], "c": c}
            if column == "sample":
                cell["t"] = name
            else:
                cell |= {"t": f"{value:,}", "v": int(value)}
                if highlighted(column, value):
                    cell["h"] = 1
            cells.append(cell)
    return table.columns, cells


def _reached(wp) -> str | None:
    """The background side of a working point, for a cell's tooltip."""
    if wp.achieved_bkg_eff is None or wp.n_bkg_pass is None:
        return None
    reached = format_interval(
        wp.achieved_bkg_eff, wp.achieved_bkg_eff_lower, wp.achieved_bkg_eff_upper
    )
    return f"ε_B reached {reached} ({wp.n_bkg_pass:,} background events pass)"


def metric_cells(
    result: EvaluationResult, key: str, index: Mapping[str, int]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The metrics table as column names and one cell per (signal, column), with
    the raw numbers and the reason behind any 'n/a' (the cell's tooltip)."""
    table = metrics_table(result)
    cells = []
    for row in table.iter_rows():
        name = row[0]
        sep = result.signals[name]
        sample = result.samples[name]
        raw: list[dict[str, Any]] = [{}]
        raw.append({"v": _finite(sep.auc), "e": _finite(sep.auc_err), "tip": sep.reason})
        for wp in sep.working_points:
            raw.append(
                {
                    "v": _finite(wp.eff_sig),
                    "e": _finite(wp.eff_sig_err),
                    "lo": _finite(wp.eff_sig_lower),
                    "hi": _finite(wp.eff_sig_upper),
                    "tip": wp.reason or _reached(wp),
                }
            )
        raw.append({"v": _finite(sep.max_sic), "tip": sep.max_sic_reason})
        raw.append({"v": sample.policy.kept, "n": sample.counts.total})
        if len(raw) != len(row):  # the metrics table changed shape: fail loudly
            raise RuntimeError(f"metrics table has {len(row)} columns, expected {len(raw)}")
        for c, text in enumerate(row):
            cell = {"g": key, "s": name, "i": index[name], "c": c, "t": str(text)}
            cell |= {k: v for k, v in raw[c].items() if v is not None}
            cells.append(cell)
    return table.columns, cells


def build_report_data(
    results: Mapping[tuple[str, str], EvaluationResult],
    settings: EvaluationSettings,
    clips: Sequence[ClipChoice],
    signals: Sequence[str],
    *,
    shown: Sequence[str] | None = None,
    summary: str = "",
    versions: Mapping[str, str] | None = None,
) -> ReportData:
    """Pre-binned, thinned, formatted tables of every grid point (pure)."""
    index = {"background": -1} | {name: i for i, name in enumerate(signals)}
    histograms: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    notes: dict[str, dict[str, str]] = {}
    count_columns: list[str] = []
    metric_columns: list[str] = []
    parameterisation = ""
    provenance: dict[str, Any] = {}
    for (score, ck), result in results.items():
        key = grid_key(score, ck)
        rows, notes[key] = histogram_rows(result, key, index)
        histograms += rows
        curves += curve_rows(result, key, index)
        count_columns, cells = count_cells(result, key, index)
        counts += cells
        metric_columns, cells = metric_cells(result, key, index)
        metrics += cells
        parameterisation = result.parameterisation
        if score == settings.score and ck == clip_key(settings.clip):
            provenance = result.provenance
    return ReportData(
        settings=settings,
        parameterisation=parameterisation,
        signals=tuple(signals),
        shown=tuple(signals if shown is None else shown),
        colours=sample_colours(signals),
        clips=tuple(clips),
        histograms=histograms,
        curves=curves,
        counts=counts,
        metrics=metrics,
        notes=notes,
        count_columns=tuple(count_columns),
        metric_columns=tuple(metric_columns),
        provenance=provenance,
        summary=summary,
        versions=dict(versions or {}),
    )


def collect(evaluator: Evaluator, settings: EvaluationSettings) -> ReportData:
    """Evaluate every score x clip of the grid (all signals) and build the report's data."""
    shown = evaluator.check_signals(settings.signals)
    signals = evaluator.signal_names
    clips = clip_choices(settings.clip)
    results = {}
    for score in GRID_SCORES:
        for choice in clips:
            point = replace(settings, score=score, clip=choice.clip, signals=signals)
            results[(score, choice.key)] = evaluator.evaluate(point)
    summary = guard_summary(evaluator.evaluate(replace(settings, signals=shown)), evaluator)
    return build_report_data(
        results,
        settings,
        clips,
        signals,
        shown=shown,
        summary=summary,
        versions=vega_versions(),
    )
