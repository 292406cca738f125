"""What a comparison gives (engine.compare.results): the pair counts, one comparison's strict
JSON (the contract's keys first, its numbers those of the paired test and the efficiency
differences on the events both models keep, against scikit-learn), the seed-spread keys only
for seed groups, and the whole result's labels, members and per-model JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hepfm_core.engine.compare.efficiency import efficiency_differences
from hepfm_core.engine.compare.paired import delong_test, pair_events
from hepfm_core.engine.compare.results import ComparisonResult, ModelComparison, PairCounts
from hepfm_core.engine.compare.seeds import compare_groups, seed_group
from hepfm_core.engine.evaluate import EvaluationResult, EvaluationSettings
from hepfm_core.engine.metrics.separation import prepare_background, separation

CONTRACT = [
    "signal", "model_a", "model_b", "n_background", "n_signal", "delta_auc", "delta_auc_err",
    "p_value", "p_value_holm", "status", "reason", "auc_a", "auc_b", "auc_a_err", "auc_b_err",
    "z", "same_model", "pairs", "eff_sig_differences",
]  # fmt: skip


def _comparison(**extra) -> tuple[ModelComparison, dict[str, np.ndarray]]:
    """Two models on 12 background and 6 signal events; each drops some events of its own."""
    rng = np.random.default_rng(4)
    bkg_a, bkg_b = rng.normal(0, 1, 12), rng.normal(0, 1, 12)
    sig_a, sig_b = rng.normal(1.5, 1, 6), rng.normal(0.5, 1, 6)
    bkg_a[[0, 1]] = np.nan  # dropped by A
    bkg_b[[1, 2, 3]] = np.nan  # by B (event 1 by both)
    sig_b[5] = np.nan
    pb, ps = pair_events(bkg_a, bkg_b), pair_events(sig_a, sig_b)
    test = delong_test(pb.a, pb.b, ps.a, ps.b)
    effs = efficiency_differences(pb.a, pb.b, ps.a, ps.b, bkg_effs=[0.5, 0.2], min_bkg_pass=1)
    c = ModelComparison(
        signal="wprime_qq",
        model_a="A",
        model_b="B",
        test=test,
        background=PairCounts.of(pb),
        signal_pairs=PairCounts.of(ps),
        efficiencies=effs,
        **extra,
    )
    return c, {"bkg_a": pb.a, "bkg_b": pb.b, "sig_a": ps.a, "sig_b": ps.b}


def _auc(bkg: np.ndarray, sig: np.ndarray) -> float:
    return float(roc_auc_score(np.r_[np.zeros(bkg.size), np.ones(sig.size)], np.r_[bkg, sig]))


def test_pair_counts_add_up_to_the_sample():
    p = pair_events(
        np.array([1.0, np.nan, 3.0, np.nan, 5.0]), np.array([1.0, 2.0, np.nan, np.nan, 4.0])
    )
    counts = PairCounts.of(p)
    assert counts == PairCounts(both=2, dropped_a_only=1, dropped_b_only=1, dropped_both=1)
    assert counts.to_json_dict() == {
        "kept_by_both": 2, "dropped_by_a_only": 1, "dropped_by_b_only": 1, "dropped_by_both": 1,
    }  # fmt: skip


def test_a_comparisons_json_is_the_paired_test_on_the_events_both_keep():
    c, kept = _comparison(p_value_holm=0.3)
    d = c.to_json_dict()
    assert list(d) == CONTRACT
    json.dumps(d, allow_nan=False)
    assert (d["signal"], d["model_a"], d["model_b"], d["p_value_holm"]) == (
        "wprime_qq",
        "A",
        "B",
        0.3,
    )
    assert (d["n_background"], d["n_signal"]) == (8, 5)
    assert d["pairs"] == {
        # A drops events 0 and 1, B drops 1, 2 and 3 of the background; B one signal event
        "background": {"kept_by_both": 8, "dropped_by_a_only": 1, "dropped_by_b_only": 2,
                       "dropped_by_both": 1},
        "signal": {"kept_by_both": 5, "dropped_by_a_only": 0, "dropped_by_b_only": 1,
                   "dropped_by_both": 0},
    }  # fmt: skip
    auc_a, auc_b = _auc(kept["bkg_a"], kept["sig_a"]), _auc(kept["bkg_b"], kept["sig_b"])
    assert d["auc_a"] == pytest.approx(auc_a, abs=1e-12)
    assert d["auc_b"] == pytest.approx(auc_b, abs=1e-12)
    assert d["delta_auc"] == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert d["status"] == "ok" and d["same_model"] is False
    assert list(d["eff_sig_differences"]) == ["5e-1", "2e-1"]
    for key, target in (("5e-1", 0.5), ("2e-1", 0.2)):
        e = d["eff_sig_differences"][key]
        cut_a = np.sort(kept["bkg_a"])[::-1][int(8 * target)]  # loosest cut passing 8 * target
        cut_b = np.sort(kept["bkg_b"])[::-1][int(8 * target)]
        eff_a, eff_b = np.mean(kept["sig_a"] > cut_a), np.mean(kept["sig_b"] > cut_b)
        assert (e["eff_sig_a"], e["eff_sig_b"]) == pytest.approx((eff_a, eff_b), abs=1e-15)
        assert e["delta_eff_sig"] == pytest.approx(eff_a - eff_b, abs=1e-15)
    assert "seed_spread" not in d and not c.grouped


def test_seed_spread_keys_only_for_groups():
    group = compare_groups([0.8, 0.82, 0.79], [0.7, 0.71], [0.01])
    c, _ = _comparison(group=group)
    d = c.to_json_dict()
    assert c.grouped and list(d) == [*CONTRACT, "seed_spread", "seed_spread_reason"]
    assert d["seed_spread"]["delta_auc"] == pytest.approx(np.mean([0.8, 0.82, 0.79]) - 0.705)
    assert d["seed_spread_reason"] is None
    c, _ = _comparison(group_reason="seed 2 has no AUC")
    d = c.to_json_dict()
    assert c.grouped and d["seed_spread"] is None and d["seed_spread_reason"] == "seed 2 has no AUC"


def _result(model: str, auc_shift: float) -> EvaluationResult:
    rng = np.random.default_rng(1)
    ref = prepare_background(rng.normal(0, 1, 200))
    sep = separation(ref, rng.normal(auc_shift, 1, 50))
    provenance = {"model": model, "model_kind": "hepfm", "model_description": f"VAE {model}",
                  "fingerprints": {"model": f"fp-{model}"}}  # fmt: skip
    return EvaluationResult(EvaluationSettings(), "exp", {}, {"zprime_ee": sep}, provenance)


def test_the_whole_result_by_label_member_and_model():
    single, s1, s2 = _result("m.keras", 1.0), _result("s1.keras", 2.0), _result("s2.keras", 3.0)
    spread = {"zprime_ee": seed_group([0.9, 0.95])}
    c, _ = _comparison()
    whole = ComparisonResult(
        settings=EvaluationSettings(),
        results={"group": (s1, s2), "single": (single,)},
        comparisons=(c,),
        warnings=("the same model twice",),
        seed_spread={"group": spread},
        provenance={"data": "demo"},
    )
    assert whole.labels == ("group", "single")
    assert whole.primary is s1 and whole.result("single") is single
    assert whole.first_results() == {"group": s1, "single": single}
    assert whole.members() == [("group/seed-1", s1), ("group/seed-2", s2), ("single", single)]
    d = whole.to_json_dict()
    json.dumps(d, allow_nan=False)
    assert list(d) == ["settings", "provenance", "warnings", "models", "comparisons"]
    assert d["warnings"] == ["the same model twice"] and d["provenance"] == {"data": "demo"}
    assert d["comparisons"] == [c.to_json_dict()]
    one = d["models"]["single"]
    assert (one["model"], one["fingerprint"], one["parameterisation"]) == (
        "m.keras",
        "fp-m.keras",
        "exp",
    )
    assert one["signals"]["zprime_ee"] == single.signals["zprime_ee"].to_json_dict()
    assert "seeds" not in one and "seed_spread" not in one
    group = d["models"]["group"]
    assert group["model"] == "s1.keras"  # the first seed speaks for the group
    assert [s["fingerprint"] for s in group["seeds"]] == ["fp-s1.keras", "fp-s2.keras"]
    assert group["seeds"][1]["signals"] == {"zprime_ee": s2.signals["zprime_ee"].to_json_dict()}
    assert group["seed_spread"] == {"zprime_ee": spread["zprime_ee"].to_json_dict()}
