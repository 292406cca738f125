"""Pairing two in-process models' kept scores: the events both keep, the paired test on them
against sklearn's AUCs, and a model whose scores are elsewhere refused with the reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hepfm_core.engine.compare.pairing import COMPARISON_SCOPE_WHERE, LocalPairing
from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
from hepfm_core.errors import SettingsError

# KL without clip under 'drop': each model drops its own overflowing events
DROPPING = EvaluationSettings(score="kl", policy="drop")


@pytest.fixture(scope="module")
def results(small_demo, second_model, tmp_path_factory):
    data_dir, model = small_demo
    cache = tmp_path_factory.mktemp("cache")
    out = []
    for path in (model, second_model):
        ev = Evaluator.open(data_dir, path, cache=cache)
        out.append(ev.evaluate(DROPPING))
    return tuple(out)


def test_counts_are_the_events_each_keeps(results):
    ra, rb = results
    pairing = LocalPairing(ra, rb, "a", "b")
    for name in ra.samples:
        ma, mb = ra.samples[name].policy.kept_mask, rb.samples[name].policy.kept_mask
        counts = pairing.counts(name)
        assert (counts.both, counts.dropped_a_only, counts.dropped_b_only, counts.dropped_both) == (
            int(np.count_nonzero(ma & mb)),
            int(np.count_nonzero(~ma & mb)),
            int(np.count_nonzero(ma & ~mb)),
            int(np.count_nonzero(~ma & ~mb)),
        )
        assert pairing.pairs(name) is pairing.pairs(name)  # paired once
    # the setting drops events, so which ones both keep matters
    assert pairing.counts("background").both < ra.samples["background"].counts.total


def test_the_paired_test_of_each_signal_takes_the_events_both_keep(results):
    ra, rb = results
    pairing = LocalPairing(ra, rb, "a", "b")
    signals = list(ra.signals)
    tests = pairing.tests(signals, bkg_effs=(1e-2,))
    assert sorted(tests) == sorted(signals)

    def both_kept(r_self, r_other, name):
        # ``values`` holds the kept events only, in event order
        p, q = r_self.samples[name].policy, r_other.samples[name].policy
        return np.asarray(p.values)[q.kept_mask[p.kept_mask]]

    for name, (test, effs) in tests.items():
        for r_self, r_other, auc in ((ra, rb, test.auc_a), (rb, ra, test.auc_b)):
            bkg = both_kept(r_self, r_other, "background")
            sig = both_kept(r_self, r_other, name)
            y = np.r_[np.zeros(bkg.size), np.ones(sig.size)]
            expected = roc_auc_score(y, np.r_[bkg, sig])
            assert auc == pytest.approx(expected, abs=1e-12), name
        assert test.n_background == pairing.counts("background").both
        assert [e.target_bkg_eff for e in effs] == [1e-2]


def test_a_model_whose_scores_stayed_elsewhere_is_refused(results):
    ra, rb = results
    moved = dataclasses.replace(
        rb, samples={**rb.samples, "background": dataclasses.replace(
            rb.samples["background"], policy=object())}
    )  # fmt: skip
    with pytest.raises(SettingsError, match="stayed on a cluster") as info:
        LocalPairing(ra, moved, "a", "b").counts("background")
    assert COMPARISON_SCOPE_WHERE in str(info.value) and "model b" in str(info.value)
