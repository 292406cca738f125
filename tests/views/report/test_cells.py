"""The report's tables as cells (views.report.cells): the counts of each sample with their
highlights, the metrics with the reason behind every "n/a" or the background efficiency a
cut reached, several models side by side, column headers and notes."""

from __future__ import annotations

import polars as pl
import pytest

from hepfm_core.views.report import cells
from hepfm_core.vocabulary import Cause


@pytest.fixture(scope="module")
def result(evaluator, report_settings):
    return evaluator.evaluate(report_settings)


def test_columns_read_as_words_with_their_notes():
    col = cells._column("kl_overflow")
    assert (col.header, col.title) == ("kl overflow", Cause.KL_OVERFLOW.description)
    assert cells._column("ε_S at ε_B=1e-3").header == "ε_S at ε_B = 1e-3"
    assert cells._column("outside clip").title.startswith("events with z_log_var outside")
    assert cells._column("sample").title == ""


def test_counts_cells_are_the_samples_counts(result):
    table = cells.counts_cells(result)
    names = [c.name for c in table.columns]
    assert names[0] == "sample" and [r.sample for r in table.rows] == list(result.samples)
    for row in table.rows:
        s = result.samples[row.sample]
        by_column = dict(zip(names[1:], row.cells, strict=True))
        assert by_column["total"] == cells.Cell(f"{s.counts.total:,}")
        assert by_column["kept"].text == f"{s.policy.kept:,}" and not by_column["kept"].highlight
        for cause, n in s.counts.by_cause.items():
            if cause in by_column:
                assert by_column[cause].text == f"{n:,}" and by_column[cause].highlight == (n > 0)
    assert any(c.highlight for r in table.rows for c in r.cells)  # the demo's overflows


def test_metrics_cells_say_why(result):
    table = cells.metrics_cells(result)
    assert [r.sample for r in table.rows] == list(result.signals)
    for row in table.rows:
        sep = result.signals[row.sample]
        points = row.cells[1 : 1 + len(sep.working_points)]
        for cell, wp in zip(points, sep.working_points, strict=True):
            if wp.status == "ok" and wp.reason is None:
                assert cell.title.startswith("ε_B reached ")
                assert cell.title.endswith(f" ({wp.n_bkg_pass:,} background events pass)")
            else:
                assert cell.title == wp.reason and cell.text.startswith("n/a")
    assert any(c.text.startswith("n/a") for r in table.rows for c in r.cells)


def test_a_metrics_table_of_another_shape_fails_loudly(result, monkeypatch):
    original = cells.metrics_table
    wider = lambda r: original(r).with_columns(pl.lit("x").alias("new metric"))  # noqa: E731
    monkeypatch.setattr(cells, "metrics_table", wider)
    with pytest.raises(RuntimeError, match="metrics table has"):
        cells.metrics_cells(result)


def test_models_side_by_side(result):
    one = cells.metrics_cells(result)
    both = cells.model_metrics_cells({"A": result, "B": result})
    assert [c.name for c in both.columns[:3]] == ["signal", "AUC · A", "AUC · B"]
    assert len(both.columns) == 1 + 2 * (len(one.columns) - 1)
    for r1, r2 in zip(one.rows, both.rows, strict=True):
        assert r2.cells[0::2] == r1.cells and r2.cells[1::2] == r1.cells
