"""Several models on one data folder: labels, pairs on the events both keep, the paired test
per signal and pair, Holm over all of them, seed groups, and the errors a user can cause.
What the user names (``--model`` specs, automatic labels) is tested in test_specs.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hepfm_core.engine.compare.efficiency import efficiency_differences
from hepfm_core.engine.compare.models import ModelSet
from hepfm_core.engine.compare.paired import delong_test, holm
from hepfm_core.engine.compare.specs import parse_model_specs
from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
from hepfm_core.errors import SettingsError
from hepfm_core.sources import describe_model, open_data


# -- the comparison on the demo -------------------------------------------------------------
@pytest.fixture(scope="module")
def pair(small_demo, second_model, tmp_path_factory) -> ModelSet:
    data_dir, model = small_demo
    cache = tmp_path_factory.mktemp("cache")
    specs = parse_model_specs([str(model), f"small={second_model}"])
    models = ModelSet.open(data_dir, specs, cache=cache)
    models.score_all()
    return models


def test_labels_and_shared_data(pair, small_demo):
    fp = describe_model(small_demo[1]).fingerprint
    assert pair.labels == (f"model@{fp[:8]}", "small")
    evaluators = [ev for _, ev in pair.evaluators()]
    assert all(ev.data is evaluators[0].data for ev in evaluators)  # one data set, shared
    assert pair.warnings == ()


# KL without clip under 'drop': each model drops its own overflowing events
DROPPING = EvaluationSettings(score="kl", policy="drop")


def test_pairs_are_the_events_both_keep(pair):
    compared = pair.evaluate(DROPPING)
    a, b = (compared.result(label) for label in pair.labels)
    dropped = {lbl: r.samples["background"].counts.total - r.samples["background"].policy.kept
               for lbl, r in zip(pair.labels, (a, b), strict=True)}  # fmt: skip
    assert any(dropped.values())  # the setting does drop events, so the pairing matters
    for c in compared.comparisons:
        for name, counts in (("background", c.background), (c.signal, c.signal_pairs)):
            ma = a.samples[name].policy.kept_mask
            mb = b.samples[name].policy.kept_mask
            assert counts.both == int(np.count_nonzero(ma & mb))
            assert counts.dropped_a_only == int(np.count_nonzero(~ma & mb))
            assert counts.dropped_b_only == int(np.count_nonzero(ma & ~mb))
            assert counts.dropped_both == int(np.count_nonzero(~ma & ~mb))
        assert c.test.n_background == c.background.both
        assert c.test.n_signal == c.signal_pairs.both
        # the test from the per-event guarded scores, paired by hand
        both_b = a.samples["background"].policy.kept_mask & b.samples["background"].policy.kept_mask
        both_s = a.samples[c.signal].policy.kept_mask & b.samples[c.signal].policy.kept_mask
        xa = a.samples["background"].guarded.scores[both_b]
        xb = b.samples["background"].guarded.scores[both_b]
        ya = a.samples[c.signal].guarded.scores[both_s]
        yb = b.samples[c.signal].guarded.scores[both_s]
        ref = delong_test(xa, xb, ya, yb)
        assert (c.test.delta_auc, c.test.delta_auc_err, c.test.p_value) == (
            ref.delta_auc,
            ref.delta_auc_err,
            ref.p_value,
        )
        y = np.r_[np.zeros(xa.size), np.ones(ya.size)]
        assert c.test.auc_a == pytest.approx(roc_auc_score(y, np.r_[xa, ya]), abs=1e-12)
        assert c.test.auc_b == pytest.approx(roc_auc_score(y, np.r_[xb, yb]), abs=1e-12)
        effs = efficiency_differences(xa, xb, ya, yb)
        assert [d.delta_eff_sig for d in c.efficiencies] == [d.delta_eff_sig for d in effs]


def test_a_signal_test_is_reused_while_its_kept_scores_stay(pair):
    """Fewer signals, other bins: the same tests (Holm corrected over the signals asked); a
    clip change under KL: tests computed again, equal to a fresh model set's."""
    kl = EvaluationSettings(score="kl", clip=(-20.0, 20.0))
    first = {c.signal: c for c in pair.evaluate(kl).comparisons}
    fewer = EvaluationSettings(score="kl", clip=(-20.0, 20.0), signals=pair.signal_names[:2])
    again = pair.evaluate(fewer, n_bins=17)
    assert [c.signal for c in again.comparisons] == list(pair.signal_names[:2])
    for c in again.comparisons:
        assert c.test is first[c.signal].test
    assert [c.p_value_holm for c in again.comparisons] == list(
        holm([c.test.p_value for c in again.comparisons])
    )
    moved = EvaluationSettings(score="kl", clip=(-3.0, 3.0))
    fresh = ModelSet({label: [ev] for label, ev in pair.evaluators()}).evaluate(moved)
    for c, ref in zip(pair.evaluate(moved).comparisons, fresh.comparisons, strict=True):
        assert c.test is not first[c.signal].test
        assert c.test.to_json_dict() == ref.test.to_json_dict()


def test_holm_over_all_signals_and_pairs(pair):
    compared = pair.evaluate(EvaluationSettings(clip=(-20.0, 20.0)))
    assert len(compared.comparisons) == len(pair.signal_names)  # one pair x every signal
    raw = [c.test.p_value for c in compared.comparisons]
    assert [c.p_value_holm for c in compared.comparisons] == list(holm(raw))
    assert any(p is not None and p < 0.05 for p in raw)  # the variants do differ somewhere
    doc = json.loads(json.dumps(compared.to_json_dict(), allow_nan=False))
    assert [c["p_value_holm"] for c in doc["comparisons"]] == list(holm(raw))


def test_a_model_against_itself(small_demo, tmp_path):
    data_dir, model = small_demo
    specs = parse_model_specs([str(model), str(model)])
    models = ModelSet.open(data_dir, specs, cache=tmp_path)
    assert models.labels[1] == models.labels[0] + "#2"
    assert len(models.warnings) == 1 and "same model" in models.warnings[0]
    compared = models.evaluate(EvaluationSettings(score="kl", policy="drop"))
    for c in compared.comparisons:
        assert c.same_model
        assert (c.test.delta_auc, c.test.delta_auc_err, c.test.p_value) == (0.0, 0.0, 1.0)
        assert c.p_value_holm == 1.0
        assert all(d.delta_eff_sig in (0.0, None) for d in c.efficiencies)
        assert c.background.dropped_a_only == c.background.dropped_b_only == 0


def test_seed_group_reports_mean_spread_and_verdict(pair, small_demo, second_model):
    data = pair.data
    first, second = (Evaluator(data, p, cache=pair.primary.cache) for p in (small_demo[1],
                     second_model))  # fmt: skip
    models = ModelSet({"group": [first, second], "single": [first]})
    compared = models.evaluate(EvaluationSettings(clip=(-20.0, 20.0)))
    for name, g in compared.seed_spread["group"].items():
        aucs = [r.signals[name].auc for r in compared.results["group"]]
        assert g is not None and g.aucs == tuple(aucs)
        assert g.mean_auc == pytest.approx(np.mean(aucs), abs=1e-15)
        assert g.sd_auc == pytest.approx(np.std(aucs, ddof=1), abs=1e-15)
    for c in compared.comparisons:
        assert c.grouped and c.group is not None
        assert c.group.delta_auc == pytest.approx(
            compared.seed_spread["group"][c.signal].mean_auc
            - compared.result("single").signals[c.signal].auc,
            abs=1e-15,
        )
        assert c.group.delta_auc_err == c.test.delta_auc_err  # one seed pair: its DeLong error
        assert c.group.delta_auc_seed_err is None  # a single seed on one side
    doc = compared.to_json_dict()
    assert [s["model"] for s in doc["models"]["group"]["seeds"]] == [
        str(Path(p).resolve()) for p in (small_demo[1], second_model)
    ]
    assert set(doc["models"]["group"]["seed_spread"]) == set(pair.signal_names)
    assert "seed_spread" not in doc["models"]["single"]
    assert [name for name, _ in compared.members()] == ["group/seed-1", "group/seed-2", "single"]


def test_models_on_other_data_are_refused(pair, small_data, small_demo):
    other = Evaluator(open_data(small_data), small_demo[1])
    with pytest.raises(SettingsError, match="other data"):
        ModelSet({"a": [pair.primary], "b": [other]})


def test_a_label_given_twice_is_refused(small_demo):
    data_dir, model = small_demo
    with pytest.raises(SettingsError, match="given to two --model"):
        ModelSet.open(data_dir, parse_model_specs([f"x={model}", f"x={model}"]))
