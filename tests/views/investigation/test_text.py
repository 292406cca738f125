"""The investigation view's sentences (views.investigation.text): what a selection holds and
why, beside its summary table."""

from __future__ import annotations

import numpy as np

from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
from hepfm_core.engine.guards.policy import apply_policy
from hepfm_core.engine.investigate.events import (
    Criterion,
    select_events,
)
from hepfm_core.engine.investigate.explain import summarise_selection
from hepfm_core.engine.scoring.passes import ScoringPass
from hepfm_core.views import investigation as iv

from .test_tables import LAYOUT


def test_selection_sentence_and_summary_table():
    rng = np.random.default_rng(1)
    s = rng.normal(0, 1, (60, 1)).astype(np.float32)
    s[:3] = 800.0
    p = ScoringPass(
        np.ones((60, 1), np.float32), s, np.ones(60), np.ones(60), np.full(60, 7, np.uint8)
    )
    g = guard(prepare(p), GuardSettings(score="kl"))
    sel = select_events(g, apply_policy(g, "worst"), Criterion.by_cause("kl_overflow"), "bkg")
    rest = np.zeros((200, 24))
    rest[:, 4::6] = 1.0 + rng.exponential(2.0, (200, 4))
    chosen = rest[:3].copy()
    chosen[:, 4] = [3e5, 2e6, 5e7]
    summary = summarise_selection(chosen, rest[3:], LAYOUT)
    text = iv.selection_sentence(sel, summary)
    assert text.startswith(
        "3 of 60 bkg events with cause kl_overflow (score kl, policy worst): all 3"
    )
    table = iv.summary_table(summary)
    top = table.row(0, named=True)
    assert top["statistic"] == "max pt" and top["D"] == 1.0 and top["selection is"] == "higher"
    assert top["selected median"] == 2e6 and top["most discrepant quantile"] == 0.0
