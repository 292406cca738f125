"""The report's tables (event counts, metrics) as cells for the page's template.

The text of every cell is what ``tables.counts_table`` and ``tables.metrics_table`` hold (the
dashboard's tables, so their formatting lives in one place); a counts cell stands out by
``tables.highlighted``; a metrics cell carries, as its title, the reason behind an "n/a" or
the background efficiency its cut actually reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...common.json_fields import shown_fields
from ...engine.compare.results import ComparisonResult
from ...engine.evaluate import EvaluationResult
from ...engine.metrics.working_points import WorkingPoint
from ...vocabulary import COLUMNS, Cause, column_note
from ..tables import (
    comparison_table,
    counts_table,
    highlighted,
    metrics_table,
    model_column,
)
from ..text import eff_difference_column, format_interval

CAUSES = {c.label for c in Cause if c != Cause.OK}
"""The counts table's columns of a cause: their snake_case labels read as words in a header."""


@dataclass(frozen=True)
class Cell:
    """One cell: its text, an optional title (shown on hover), whether it stands out."""

    text: str
    title: str = ""
    highlight: bool = False


@dataclass(frozen=True)
class Column:
    """A column: its name in the table's data, its header and what it means."""

    name: str
    header: str
    title: str = ""


@dataclass(frozen=True)
class Row:
    """A row: the sample it is about (its header cell) and its other cells."""

    sample: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Table:
    """A table of one grid point, as the template draws it."""

    columns: tuple[Column, ...]
    rows: tuple[Row, ...]


def _column(name: str) -> Column:
    """A column of either table; a cause's snake_case label reads as words in its header."""
    header = name.replace("_", " ") if name in CAUSES else name.replace("=", " = ")
    return Column(name, header, column_note(name))


def counts_cells(result: EvaluationResult) -> Table:
    """``tables.counts_table``: counts with thousands separators, highlighted by the one rule."""
    table = counts_table(result)
    rows = []
    for row in table.iter_rows(named=True):
        cells = tuple(
            Cell(f"{row[c]:,}", highlight=highlighted(c, row[c])) for c in table.columns[1:]
        )
        rows.append(Row(row["sample"], cells))
    return Table(tuple(_column(c) for c in table.columns), tuple(rows))


def _reached(wp: WorkingPoint) -> str:
    """The background side of a working point: what the cut actually let through."""
    if wp.achieved_bkg_eff is None or wp.n_bkg_pass is None:
        return ""
    reached = format_interval(
        wp.achieved_bkg_eff, wp.achieved_bkg_eff_lower, wp.achieved_bkg_eff_upper
    )
    return f"ε_B reached {reached} ({wp.n_bkg_pass:,} background events pass)"


def metrics_cells(result: EvaluationResult) -> Table:
    """``tables.metrics_table``, each cell titled with the reason behind its "n/a" (or, for
    an efficiency, the background efficiency its cut reached)."""
    table = metrics_table(result)
    rows = []
    for row in table.iter_rows():
        name = row[0]
        sep = result.signals[name]
        titles = [sep.reason or ""]
        titles += [wp.reason or _reached(wp) for wp in sep.working_points]
        titles += [shown.reason or "" for shown in shown_fields(sep)]  # max SIC's
        titles += [""]  # kept / total
        if len(titles) != len(row) - 1:  # the metrics table changed shape: fail loudly
            raise RuntimeError(f"metrics table has {len(row)} columns, expected {len(titles) + 1}")
        cells = tuple(Cell(str(text), title) for text, title in zip(row[1:], titles, strict=True))
        rows.append(Row(name, cells))
    return Table(tuple(_column(c) for c in table.columns), tuple(rows))


def model_metrics_cells(results: Mapping[str, EvaluationResult]) -> Table:
    """:func:`metrics_cells` of every model side by side, as ``tables.model_metrics_table``
    arranges them (each metric's column once per model, ``<metric> · <label>``)."""
    per_model = {label: metrics_cells(r) for label, r in results.items()}
    first = next(iter(per_model.values()))
    columns = [first.columns[0]]
    for column in first.columns[1:]:
        for label in per_model:
            name = model_column(column.name, label)
            columns.append(Column(name, model_column(column.header, label), column.title))
    rows = []
    for i, row in enumerate(first.rows):
        cells = tuple(
            per_model[label].rows[i].cells[j]
            for j in range(len(first.columns) - 1)
            for label in per_model
        )
        rows.append(Row(row.sample, cells))
    return Table(tuple(columns), tuple(rows))


def comparison_cells(compared: ComparisonResult) -> Table:
    """``tables.comparison_table``: one row per signal and pair of models; a cell whose
    number is missing carries the reason as its title."""
    table = comparison_table(compared)
    rows = []
    for row, c in zip(table.iter_rows(named=True), compared.comparisons, strict=True):
        titles = {name: "" for name in table.columns}
        titles[COLUMNS["delta_auc"].title] = c.test.reason or ""
        for d in c.efficiencies:
            titles[eff_difference_column(d.target_bkg_eff)] = d.reason or ""
        cells = tuple(Cell(str(row[k]), titles[k]) for k in table.columns[1:])
        rows.append(Row(row[table.columns[0]], cells))
    return Table(tuple(_column(c) for c in table.columns), tuple(rows))
