"""The terminal summary of an evaluation."""

from __future__ import annotations

import pytest

from hepfm_core.evaluate import EvaluationSettings, Evaluator
from hepfm_core.report_text import summary_table


@pytest.fixture(scope="module")
def evaluator(small_demo):
    ev = Evaluator.open(*small_demo)
    ev.score_all()
    return ev


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
