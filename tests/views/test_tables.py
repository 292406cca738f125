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


def _hand_result(counts_kind: type, separation_kind: type, **extra: object):
    """A one-signal evaluation built by hand, its counts and separation of the kinds given."""
    from hepfm_core.data.imputation import Imputation
    from hepfm_core.engine.distributed.partitions import PolicyCounts
    from hepfm_core.engine.evaluate import EvaluationResult, SampleResult
    from hepfm_core.engine.metrics.working_points import WorkingPoint

    by_cause = {c.label: 0 for c in tables.Cause}
    samples = {}
    for name, role, total in (("background", "background", 1000), ("sig", "signal", 100)):
        counts = counts_kind(total, by_cause | {"ok": total}, 2, 0, 1, **extra.get(name, {}))
        policy = PolicyCounts(total, {"input_nonfinite": 0}, total, "worst")
        imputation = Imputation("median", total, 0, {}, ())
        samples[name] = SampleResult(name, role, counts, policy, imputation)
    wp = WorkingPoint(1e-2, "ok", None, 0.5, 0.05, 0.01, 3.0, 10, 0.45, 0.55, 0.007, 0.014)
    sep = separation_kind(
        "ok", None, 1000, 100, 0.9, 0.01, None, None, (wp,), 5.0, 0.5, 0.01, None,
        **extra.get("separation", {}),
    )  # fmt: skip
    provenance = {"fill": "median", "signal_normalisation_description": "background's"}
    return EvaluationResult(EvaluationSettings(), "exp", samples, {"sig": sep}, provenance)


def test_a_new_metric_needs_its_column_and_its_field_only(monkeypatch):
    """Adding a number to a metrics dataclass is two edits: its column in the vocabulary and
    its field (with the column) in the dataclass. Its JSON, the dashboard's and the report's
    tables, the report's header note and the terminal's summary follow with no other edit."""
    from dataclasses import dataclass, field

    from hepfm_core.common.json_fields import shown
    from hepfm_core.engine.guards.guarded import GuardCounts
    from hepfm_core.engine.metrics.separation import Separation
    from hepfm_core.engine.metrics.working_points import json_float
    from hepfm_core.views.report.cells import counts_cells, metrics_cells
    from hepfm_core.views.text import summary_table
    from hepfm_core.vocabulary import COLUMNS, Column

    # edit 1, in vocabulary.COLUMNS: the two new columns
    above = Column("above_clip", "above clip", "events with z_log_var above the clip's upper bound")
    pr = Column("auc_pr", "AUC-PR", "area under the precision-recall curve", fmt=".3f")
    monkeypatch.setitem(COLUMNS, above.key, above)
    monkeypatch.setitem(COLUMNS, pr.key, pr)

    # edit 2, in the dataclasses: each one field, shown in its column
    @dataclass(frozen=True)
    class Counts(GuardCounts):
        above_clip: int = field(default=0, metadata=shown(COLUMNS["above_clip"]))

    @dataclass(frozen=True, eq=False)
    class WithPr(Separation):
        auc_pr: float | None = field(
            default=None,
            metadata=shown(COLUMNS["auc_pr"], reason="auc_pr_reason", convert=json_float),
        )
        auc_pr_reason: str | None = None

    before = _hand_result(GuardCounts, Separation)
    extra = {"background": {"above_clip": 3}, "sig": {"above_clip": 1}}
    after = _hand_result(Counts, WithPr, **extra, separation={"auc_pr": 0.7512})
    old, new = before.to_json_dict(), after.to_json_dict()

    # the JSON: the count after the guard's others, the metric after the separation's
    assert list(new["samples"]["sig"]) == [*old["samples"]["sig"], "above_clip"]
    assert new["samples"]["background"]["above_clip"] == 3
    assert list(new["signals"]["sig"]) == [*old["signals"]["sig"], "auc_pr", "auc_pr_reason"]
    assert new["signals"]["sig"]["auc_pr"] == 0.7512
    # the counts and metrics tables: a column after the counts shown, one before kept / total
    counts = tables.counts_table(after)
    assert counts.columns == [*tables.counts_table(before).columns, "above clip"]
    assert counts["above clip"].to_list() == [3, 1]
    metrics = tables.metrics_table(after)
    assert metrics.columns[-3:] == ["max SIC", "AUC-PR", "kept / total"]
    assert metrics["AUC-PR"].to_list() == ["0.751"]
    # the report: the header's note from the vocabulary, the cell's title its reason
    header = counts_cells(after).columns[-1]
    assert (header.header, header.title) == ("above clip", above.note)
    cells = metrics_cells(_hand_result(Counts, WithPr, separation={"auc_pr_reason": "no PR"}))
    assert cells.columns[-2].title == pr.note
    assert (cells.rows[0].cells[-2].text, cells.rows[0].cells[-2].title) == ("n/a", "no PR")
    # the terminal: each column with its values, aligned under its header
    text = summary_table(after).splitlines()
    head = next(line for line in text if line.startswith("sample"))
    assert head == summary_table(before).splitlines()[2] + " above clip"
    row = next(line for line in text if line.startswith("sig "))
    assert len(row) == len(head) and row.split()[-1] == "1"
    head = next(line for line in text if line.startswith("signal"))
    assert head.endswith("max SIC AUC-PR") and text[text.index(head) + 1].endswith(" 0.751")
