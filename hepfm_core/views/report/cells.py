"""The report's tables (event counts, metrics) as cells for the page's template.

The text of every cell is what ``tables.counts_table`` and ``tables.metrics_table`` hold (the
dashboard's tables, so their formatting lives in one place); a counts cell stands out by
``tables.highlighted``; a metrics cell carries, as its title, the reason behind an "n/a" or
the background efficiency its cut actually reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...engine.compare.results import ComparisonResult
from ...engine.evaluate import EvaluationResult
from ...engine.metrics.working_points import WorkingPoint
from ...vocabulary import Cause
from ..tables import (
    IMPUTED_COLUMN,
    comparison_table,
    counts_table,
    highlighted,
    metrics_table,
    model_column,
)
from ..text import SEED_COLUMN, eff_difference_column, format_interval

CAUSES = {c.label: c.description for c in Cause if c != Cause.OK}
COLUMN_NOTES: dict[str, str] = {
    **CAUSES,
    "excluded": "events without a usable score under this policy (kept + excluded = total)",
    IMPUTED_COLUMN: "events with a non-finite raw input filled in by the reader: kept, scored",
    "outside clip": "events with z_log_var outside the clip bounds in any dimension",
    "max SIC": "max over cuts of ε_S / √ε_B",
    "events paired (background / signal)": "the events both models keep: the pairs compared",
    "ΔAUC (A − B)": "AUC of model A minus AUC of model B, ± the paired DeLong error",
    "p-value": "two-sided p-value of the paired DeLong test (no difference in AUC)",
    "p-value (Holm)": "Holm-corrected over every signal × pair of models of the report",
    SEED_COLUMN: "whether the difference of the groups' mean AUCs exceeds the sampling error "
    "and the seed-to-seed spread",
}
"""What a column means, for its header's title."""


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
    return Column(name, header, COLUMN_NOTES.get(name, ""))


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
        titles += [sep.max_sic_reason or "", ""]
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
        titles["ΔAUC (A − B)"] = c.test.reason or ""
        for d in c.efficiencies:
            titles[eff_difference_column(d.target_bkg_eff)] = d.reason or ""
        cells = tuple(Cell(str(row[k]), titles[k]) for k in table.columns[1:])
        rows.append(Row(row[table.columns[0]], cells))
    return Table(tuple(_column(c) for c in table.columns), tuple(rows))
