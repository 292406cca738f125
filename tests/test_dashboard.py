"""The dashboard's view-model: path confinement, tables, the plain-language summary."""

from __future__ import annotations

import pytest

from hepfm_core import dashboard as db
from hepfm_core.errors import PathNotAllowedError
from hepfm_core.evaluate import EvaluationSettings, Evaluator


@pytest.fixture(scope="module")
def evaluator(small_demo, tmp_path_factory):
    ev = Evaluator.open(*small_demo, cache=tmp_path_factory.mktemp("cache"))
    ev.score_all()
    return ev


def test_confine(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    monkeypatch.setenv(db.DATA_ROOT_ENV, str(tmp_path))
    assert db.data_root() == tmp_path.resolve()
    assert db.confine("demo") == (tmp_path / "demo").resolve()
    assert db.confine(tmp_path / "demo") == (tmp_path / "demo").resolve()
    for bad in ("/etc", "../", "demo/../../etc"):
        with pytest.raises(PathNotAllowedError, match="outside the dashboard's data root"):
            db.confine(bad)


def test_counts_table_adds_up(evaluator):
    r = evaluator.evaluate(EvaluationSettings(score="kl", policy="drop"))
    table = db.counts_table(r)
    assert table["sample"].to_list() == ["background", *evaluator.signal_names]
    for row in table.iter_rows(named=True):
        causes = sum(row[c] for c in db.EXCLUSION_CAUSES)
        assert row["kept"] + row["excluded"] == row["total"]
        assert row["excluded"] == causes  # under 'drop' every non-OK event is excluded


def test_metrics_table_formats(evaluator):
    r = evaluator.evaluate(EvaluationSettings(signals=("wprime_qq",)))
    row = db.metrics_table(r).row(0, named=True)
    sep = r.signals["wprime_qq"]
    assert row["AUC"] == f"{sep.auc:.3f} ± {sep.auc_err:.3f}"
    assert row["ε_S at ε_B=1e-5"] == "n/a: insufficient background"  # 20k background events
    assert row["kept / total"] == f"{r.samples['wprime_qq'].policy.kept} / 2000"


def test_guard_summary_names_counts_and_both_policies(evaluator):
    r = evaluator.evaluate(EvaluationSettings(score="kl", clip=(-20, 20)))
    text = db.guard_summary(r, evaluator)
    f16 = {n: s.counts.unguarded_nonfinite_f16 for n, s in r.samples.items()}
    assert any(v for v in f16.values())
    name, count = max(((n, v) for n, v in f16.items() if v), key=lambda x: x[1])
    assert f"{name} {count} (" in text
    assert "under 'worst'" in text and "under 'drop'" in text
    assert "clipped to [-20, 20]" in text


def test_histogram_note(evaluator):
    r = evaluator.evaluate(EvaluationSettings(score="kl", policy="worst"))
    _, over = db.histogram_tables(r, n_bins=20)
    note = db.histogram_note(over)
    bad = r.samples["background"].counts.total - r.samples["background"].counts.ok
    if bad:
        assert f"background: 0 below, 0 above, {bad} non-finite" in note
    else:
        assert note == "every event is inside the drawn range"


def test_meeting_report_button_writes_a_file(evaluator, tmp_path):
    path = db.write_meeting_report(evaluator, EvaluationSettings(signals=("zprime_tt",)), tmp_path)
    assert path.parent == tmp_path / "reports" and path.suffix == ".html"
    assert path.stat().st_size > 100_000 and "zprime_tt" in path.read_text()
