"""Evaluator: counts add up, metrics equal sklearn's on the guarded scores, strict JSON."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
from hepfm_core.errors import SettingsError


@pytest.fixture(scope="module")
def evaluator(small_demo, tmp_path_factory):
    data_dir, model = small_demo
    ev = Evaluator.open(data_dir, model, cache=tmp_path_factory.mktemp("cache"))
    ev.score_all()
    return ev


@pytest.mark.parametrize(
    ("score", "clip", "policy"),
    list(
        itertools.product(
            ["reconstruction", "kl", "total", "radius"],
            [None, (-20.0, 20.0), (-1.0, 1.0)],
            ["drop", "worst"],
        )
    ),
)
def test_nothing_lost(evaluator, score, clip, policy, strict_json):
    result = evaluator.evaluate(EvaluationSettings(clip=clip, score=score, policy=policy))
    for name, s in result.samples.items():
        assert s.policy.kept + sum(s.policy.excluded.values()) == s.counts.total, name
        assert sum(s.counts.by_cause.values()) == s.counts.total
        assert s.counts.total == evaluator.data.samples[name].n_events
    strict_json(json.dumps(result.to_json_dict(), allow_nan=False))


def test_auc_equals_sklearn_on_guarded_scores(evaluator):
    from sklearn.metrics import roc_auc_score

    result = evaluator.evaluate(EvaluationSettings(score="kl", clip=(-20, 20), policy="drop"))
    bkg = result.samples["background"].policy.values
    for name in ("wprime_qq", "wprime_taunu"):
        sig = result.samples[name].policy.values
        y = np.r_[np.zeros(bkg.size), np.ones(sig.size)]
        assert result.signals[name].auc == pytest.approx(
            roc_auc_score(y, np.r_[bkg, sig]), abs=1e-12
        )


def test_clip_changes_only_what_it_touches(evaluator):
    a = evaluator.evaluate(EvaluationSettings(score="kl"))
    b = evaluator.evaluate(EvaluationSettings(score="kl", clip=(-1.0, 1.0)))
    for name in a.samples:
        touched = b.samples[name].counts.outside_clip
        changed = np.sum(a.samples[name].guarded.scores != b.samples[name].guarded.scores)
        assert changed <= touched
    # reconstruction does not depend on z_log_var at all
    r1 = evaluator.evaluate(EvaluationSettings(score="reconstruction"))
    r2 = evaluator.evaluate(EvaluationSettings(score="reconstruction", clip=(-1.0, 1.0)))
    assert r1.signals["wprime_qq"].auc == r2.signals["wprime_qq"].auc


def test_signal_selection_and_unknown_signal(evaluator):
    r = evaluator.evaluate(EvaluationSettings(signals=("zprime_tt",)))
    assert list(r.signals) == ["zprime_tt"] and set(r.samples) == {"background", "zprime_tt"}
    with pytest.raises(SettingsError, match="unknown signal sample"):
        evaluator.evaluate(EvaluationSettings(signals=("nope",)))


def test_json_contract(evaluator):
    doc = evaluator.evaluate(
        EvaluationSettings(clip=(-50, 50), score="total", beta=0.5)
    ).to_json_dict()
    assert doc["settings"]["clip"] == [-50.0, 50.0] and doc["settings"]["beta"] == 0.5
    assert {"model", "data", "fingerprints", "versions"} <= set(doc["provenance"])
    bkg = doc["samples"]["background"]
    assert bkg["role"] == "background" and {"total", "kept", "excluded"} <= set(bkg)
    sig = doc["signals"]["wprime_qq"]
    assert sig["status"] == "ok" and 0 <= sig["auc"] <= 1 and sig["auc_err"] > 0
    assert set(sig["eff_at_bkg_eff"]) == {"1e-2", "1e-3", "1e-4", "1e-5"}
    # 20k background events: 1e-5 would leave 0.2 events above the cut -> no number, a reason
    assert sig["eff_at_bkg_eff"]["1e-5"] is None
    wp = next(w for w in sig["working_points"] if w["target_bkg_eff"] == 1e-5)
    assert wp["status"] == "insufficient_background" and "need" in wp["reason"]


def test_bad_policy():
    with pytest.raises(SettingsError, match="unknown non-finite policy"):
        EvaluationSettings(policy="ignore")


def test_an_open_clip_side_is_strict_json():
    """An infinite clip bound (no clip on that side) is written as a string, never as a
    non-standard Infinity token."""
    import json
    import math

    from hepfm_core.engine.evaluate import EvaluationSettings

    doc = EvaluationSettings(clip=(-math.inf, 20.0), score="kl").to_json_dict()
    assert doc["clip"] == ["-inf", 20.0]
    assert json.loads(json.dumps(doc, allow_nan=False))["clip"] == ["-inf", 20.0]


def test_a_new_evaluator_reads_the_prepared_pass_from_the_cache(evaluator, monkeypatch):
    # the clip-independent arrays are prepared once per cache, not once per process
    from hepfm_core.engine.guards import prepared_cache

    settings = EvaluationSettings(score="kl", clip=(-1.0, 1.0))
    first = evaluator.evaluate(settings)

    def refuse(*_a, **_k):
        raise AssertionError("prepared again")

    monkeypatch.setattr(prepared_cache, "prepare", refuse)
    again = Evaluator(evaluator.data, evaluator.model_path, cache=evaluator.cache)
    second = again.evaluate(settings)
    for name, res in first.samples.items():
        assert second.samples[name].to_json_dict() == res.to_json_dict()
    for name, sep in first.signals.items():
        assert second.signals[name].auc == sep.auc


def test_switching_back_sorts_no_background_again(small_demo, tmp_path, monkeypatch):
    # the dashboard toggles a score (or a KL clip), and its guard sentence evaluates the
    # other policy after each change: two scores under both policies are four sorted
    # backgrounds kept, of which two sorts (each policy's is the other's, its +inf tail cut
    # or grown)
    from hepfm_core.engine import evaluate as module

    ev = Evaluator.open(*small_demo, cache=tmp_path / "cache")
    sorts = []
    real = module.prepare_background
    monkeypatch.setattr(module, "prepare_background", lambda v: sorts.append(v.size) or real(v))
    first = {}
    for _ in range(3):
        for score, policy in itertools.product(("reconstruction", "kl"), ("worst", "drop")):
            s = EvaluationSettings(clip=(-20.0, 20.0), score=score, policy=policy)
            got = ev.evaluate(s)
            auc = {n: sep.auc for n, sep in got.signals.items()}
            assert first.setdefault((score, policy), auc) == auc
    assert len(sorts) == 2
    assert len(ev._bkg_refs) == module.BACKGROUND_SORTS_KEPT == 4


@pytest.mark.parametrize("first", ["worst", "drop"])
@pytest.mark.parametrize(("score", "clip"), [("kl", None), ("total", (-20.0, 20.0))])
def test_the_other_policys_background_read_from_this_ones_equals_a_sort(
    small_demo, tmp_path, first, score, clip
):
    """The background under one policy, from the other's sort of the same scores (its +inf
    tail cut or grown), is the very sorted array of a fresh sort, and every metric follows:
    the demo's KL without a clip overflows, so worst ranks events at +inf that drop leaves
    out."""
    from hepfm_core.engine.metrics.roc import prepare_background

    ev = Evaluator.open(*small_demo, cache=tmp_path / "cache")
    fresh = Evaluator.open(*small_demo, cache=tmp_path / "cache")
    second = "drop" if first == "worst" else "worst"
    before = ev.evaluate(EvaluationSettings(clip=clip, score=score, policy=first))
    derived = ev.evaluate(EvaluationSettings(clip=clip, score=score, policy=second))
    alone = fresh.evaluate(EvaluationSettings(clip=clip, score=score, policy=second))
    sorted_now = prepare_background(alone.samples["background"].policy.values).scores
    np.testing.assert_array_equal(derived.sorted_background.scores, sorted_now)
    assert not derived.sorted_background.scores.flags.writeable
    assert derived.to_json_dict() | {"provenance": None} == alone.to_json_dict() | {
        "provenance": None
    }
    if score == "kl":  # the case that matters: some events at +inf under worst
        worst = derived if second == "worst" else before
        assert np.isposinf(worst.sorted_background.scores).any()
