"""An evaluation in words: the terminal summary and the guards' sentences."""

from __future__ import annotations

from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.views.text import (
    SEED_COLUMN,
    comparison_summary,
    guard_summary,
    short_number,
    summary_table,
)


def test_summary_table_lists_counts_and_metrics(evaluator):
    r = evaluator.evaluate(EvaluationSettings(clip=(-20, 20), score="kl", signals=("zprime_tt",)))
    text = summary_table(r)
    assert text.splitlines()[0].startswith("score kl (exp variance), clip [-20, 20], policy worst")
    bkg = r.samples["background"]
    assert f"background {bkg.counts.total:>9d} {bkg.policy.kept:>9d}".replace(
        " ", ""
    ) in text.replace(" ", "")
    sep = r.signals["zprime_tt"]
    assert f"{sep.auc:.3f}+-{short_number(sep.auc_err)}" in text
    assert "eff@1e-5" in text


def test_guard_summary_names_counts_and_both_policies(evaluator):
    r = evaluator.evaluate(EvaluationSettings(score="kl", clip=(-20, 20)))
    text = guard_summary(r, evaluator)
    f16 = {n: s.counts.unguarded_nonfinite_f16 for n, s in r.samples.items()}
    assert any(v for v in f16.values())
    name, count = max(((n, v) for n, v in f16.items() if v), key=lambda x: x[1])
    assert f"{name} {count} (" in text
    assert "under 'worst'" in text and "under 'drop'" in text
    assert "clipped to [-20, 20]" in text


def test_comparison_summary_lists_models_comparisons_spread_and_warnings(evaluator):
    from hepfm_core.engine.compare.models import ModelSet

    models = ModelSet({"g": [evaluator, evaluator], "one": [evaluator]})
    compared = models.evaluate(EvaluationSettings(signals=("zprime_tt",)))
    text = comparison_summary(compared)
    assert "== g/seed-1:" in text and "== g/seed-2:" in text and "== one:" in text
    auc = compared.result("one").signals["zprime_tt"].auc
    assert f"zprime_tt: mean AUC {auc:.3f}, seed-to-seed sd 0.000 (2 seeds)" in text
    assert len(compared.comparisons) == 1
    row = [line for line in text.splitlines() if "20,000 / 2,000" in line]
    assert len(row) == 1 and "+0.000 ± 0.000" in row[0] and "1.000" in row[0]
    assert f"{SEED_COLUMN}: within the sampling error" in text
    assert "warning: the seed group g names one model more than once" in text


def test_small_efficiencies_keep_two_digits_and_zero_reads_zero(evaluator):
    # 1e-4 printed with 3 decimals read 0.000: as if no signal passed the cut
    import dataclasses

    r = evaluator.evaluate(EvaluationSettings(score="kl", clip=(-20, 20), signals=("zprime_tt",)))
    sep = r.signals["zprime_tt"]
    points = list(sep.working_points)
    points[0] = dataclasses.replace(points[0], eff_sig=1.0e-4)
    points[1] = dataclasses.replace(points[1], eff_sig=0.0)
    small = dataclasses.replace(sep, working_points=tuple(points), auc_err=2.0e-4)
    text = summary_table(dataclasses.replace(r, signals={"zprime_tt": small}))
    row = next(x for x in text.splitlines() if x.startswith("zprime_tt") and "+-" in x)
    assert f"{sep.auc:.3f}+-2.0e-04" in row
    cells = row.split()
    assert cells[2] == "1.0e-04" and cells[3] == "0"
    assert "0.000" not in row


def test_the_provenance_line_names_the_clip(evaluator):
    from hepfm_core.views.text import provenance_line

    default = evaluator.evaluate(EvaluationSettings(clip=(-20.0, 20.0), score="kl"))
    assert provenance_line(default).endswith(
        "clip z_log_var [-20, 20] (the default: upstream's fix)"
    )
    assert provenance_line(evaluator.evaluate(EvaluationSettings(score="kl"))).endswith("no clip")
