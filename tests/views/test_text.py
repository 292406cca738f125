"""An evaluation in words: the terminal summary and the guards' sentences."""

from __future__ import annotations

from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.views.text import guard_summary, summary_table


def test_summary_table_lists_counts_and_metrics(evaluator):
    r = evaluator.evaluate(EvaluationSettings(clip=(-20, 20), score="kl", signals=("zprime_tt",)))
    text = summary_table(r)
    assert text.splitlines()[0].startswith("score kl (exp variance), clip [-20, 20], policy worst")
    bkg = r.samples["background"]
    assert f"background {bkg.counts.total:>9d} {bkg.policy.kept:>9d}".replace(
        " ", ""
    ) in text.replace(" ", "")
    sep = r.signals["zprime_tt"]
    assert f"{sep.auc:.3f}+-{sep.auc_err:.3f}" in text
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
