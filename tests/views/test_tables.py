"""The tables of an evaluation: counts that add up, formatted metrics, what was not drawn, and
the one highlight rule of the counts table."""

from __future__ import annotations

import polars as pl
import pytest

from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.views import tables
from hepfm_core.views.tables import histogram_tables
from hepfm_core.views.text import short_number


def test_counts_table_adds_up(evaluator):
    r = evaluator.evaluate(EvaluationSettings(score="kl", policy="drop"))
    table = tables.counts_table(r)
    assert table["sample"].to_list() == ["background", *evaluator.signal_names]
    for row in table.iter_rows(named=True):
        causes = sum(row[c] for c in tables.EXCLUSION_CAUSES)
        assert row["kept"] + row["excluded"] == row["total"]
        assert row["excluded"] == causes  # under 'drop' every non-OK event is excluded


def test_metrics_table_formats(evaluator):
    r = evaluator.evaluate(EvaluationSettings(signals=("wprime_qq",)))
    row = tables.metrics_table(r).row(0, named=True)
    sep = r.signals["wprime_qq"]
    assert row["AUC"] == f"{sep.auc:.3f} ± {short_number(sep.auc_err)}"
    assert row["ε_S at ε_B=1e-5"] == "n/a: insufficient background"  # 20k background events
    assert row["kept / total"] == f"{r.samples['wprime_qq'].policy.kept} / 2000"


def test_histogram_note(evaluator):
    r = evaluator.evaluate(EvaluationSettings(score="kl", policy="worst"))
    _, over = tables.histogram_tables(r, n_bins=20)
    note = tables.histogram_note(over)
    bad = r.samples["background"].counts.total - r.samples["background"].counts.ok
    if bad:
        assert f"background: 0 below, 0 above, {bad} non-finite" in note
    else:
        assert note == "every event is inside the drawn range"


def test_highlight_rule_of_the_counts_table(evaluator):
    r = evaluator.evaluate(EvaluationSettings(score="kl", policy="drop"))
    for row in tables.counts_table(r).iter_rows(named=True):
        for column, value in row.items():
            lit = tables.highlighted(column, value)
            plain = column in tables.PLAIN_COUNT_COLUMNS
            assert lit == (not plain and value > 0)


def test_model_metrics_table_puts_each_models_cells_side_by_side(evaluator):
    a = evaluator.evaluate(EvaluationSettings(score="kl", signals=("wprime_qq", "zprime_tt")))
    b = evaluator.evaluate(EvaluationSettings(score="kl", policy="drop",
                                              signals=("wprime_qq", "zprime_tt")))  # fmt: skip
    table = tables.model_metrics_table({"A": a, "B": b})
    single = {"A": tables.metrics_table(a), "B": tables.metrics_table(b)}
    metrics = single["A"].columns[1:]
    assert table.columns == ["signal", *[f"{m} · {x}" for m in metrics for x in ("A", "B")]]
    for label, own in single.items():
        for m in metrics:
            assert table[tables.model_column(m, label)].to_list() == own[m].to_list()


@pytest.mark.parametrize(
    "settings",
    [
        EvaluationSettings(score="kl", policy="worst"),
        EvaluationSettings(score="kl", policy="drop"),
        EvaluationSettings(score="reconstruction", clip=(-20.0, 20.0)),
    ],
)
def test_histograms_from_the_sorted_background_equal_a_pass_over_the_scores(evaluator, settings):
    from dataclasses import replace

    result = evaluator.evaluate(settings)
    assert result.sorted_background is not None
    for density in (False, True):
        fast = histogram_tables(result, n_bins=37, density=density)
        slow = histogram_tables(replace(result, sorted_background=None), n_bins=37, density=density)
        assert fast[0].equals(slow[0]) and fast[1].equals(slow[1])
    bkg = fast[1].filter(pl.col("sample") == "background").row(0, named=True)
    assert bkg["total"] == result.samples["background"].counts.total


def test_the_counts_grid_is_the_table_turned_and_its_buttons_its_causes(evaluator):
    from hepfm_core.engine.evaluate import EvaluationSettings
    from hepfm_core.views.tables import (
        COUNT_NAME_COLUMN,
        EXCLUSION_CAUSES,
        IMPUTED_COLUMN,
        clickable_counts,
        counts_grid,
        counts_table,
    )

    result = evaluator.evaluate(EvaluationSettings(clip=None, score="kl"))
    table, grid = counts_table(result), counts_grid(result)
    assert grid.columns == [COUNT_NAME_COLUMN, *table["sample"]]
    assert grid[COUNT_NAME_COLUMN].to_list() == table.columns[1:]
    for row in table.iter_rows(named=True):
        assert grid[row["sample"]].to_list() == [row[c] for c in table.columns[1:]]
    spots = clickable_counts(grid)
    # every count above zero of a cause or of imputed events, nothing else
    expected = {
        (s, c, int(n))
        for s, *_ in table.iter_rows()
        for c, n in table.filter(table["sample"] == s)
        .select(EXCLUSION_CAUSES)
        .row(0, named=True)
        .items()
        if n
    }
    imputed = {
        (s, "imputed", int(n)) for s, n in table.select("sample", IMPUTED_COLUMN).iter_rows() if n
    }
    assert imputed  # the demo's NaN reducedChiSquared
    assert {(s, c, n) for _, s, c, n in spots} == expected | imputed and expected
    named = {c: c for c in EXCLUSION_CAUSES} | {"imputed": IMPUTED_COLUMN}
    assert all(grid[COUNT_NAME_COLUMN][r] == named[c] for r, _, c, _ in spots)
