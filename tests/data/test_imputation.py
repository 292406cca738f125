"""Imputation is counted, shown and can withhold metrics: unit rules and an all-NaN signal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from hepfm_core.data.imputation import (
    MAX_IMPUTED_FRACTION,
    STATUS_IMPUTED,
    Imputation,
    branch_of,
    imputation_of,
    imputed_verdict,
)
from hepfm_core.data.samples import InputAccounting, Provenance, Sample

DATASET_ID = "dataset_runs_00298967-2-00311481_45222f19"
EXPERIMENT = "001_Foundation_VAE_Model"


def _sample(per_feature, events_with, n_events=100, fill="median") -> Sample:
    names = tuple(f"track{t:02d}_{b}" for t in range(2) for b in ("d0", "pt"))
    return Sample(
        name="s",
        role="signal",
        x=np.zeros((n_events, len(names)), dtype=np.float32),
        feature_names=names,
        provenance=Provenance("mem", "", "fp"),
        accounting=InputAccounting(np.asarray(per_feature, dtype=np.int64), events_with, fill),
    )


def test_branch_of():
    assert branch_of("track07_reducedChiSquared") == "reducedChiSquared"
    assert branch_of("track00_d0") == "d0"
    assert branch_of("met_3") == "met_3"


def test_imputation_counts_events_and_values_per_branch():
    imp = imputation_of(_sample([0, 3, 0, 2], events_with=4))
    assert imp.events == 4
    assert imp.values_per_feature == {"pt": 5}
    assert imp.empty_columns == ()
    assert imp.fraction == pytest.approx(0.04)


def test_fill_none_imputes_nothing():
    imp = imputation_of(_sample([0, 3, 0, 2], events_with=4, fill="none"))
    assert (imp.events, imp.values_per_feature, imp.empty_columns) == (0, {}, ())
    assert imp.problem() is None


def test_small_fraction_is_counted_but_not_a_problem():
    n = 10_000
    k = int(MAX_IMPUTED_FRACTION * n)  # exactly at the limit: still fine
    imp = imputation_of(_sample([0, k, 0, 0], events_with=k, n_events=n))
    assert imp.events == k
    assert imp.problem() is None


def test_fraction_above_limit_is_a_problem():
    n = 10_000
    k = int(MAX_IMPUTED_FRACTION * n) + 1
    imp = imputation_of(_sample([0, k, 0, 0], events_with=k, n_events=n))
    assert "above the" in imp.problem()


def test_column_without_any_finite_value_is_a_problem_even_for_few_events():
    # one event, every value of one column missing: the column is pure fill
    imp = imputation_of(_sample([1, 0, 0, 0], events_with=1, n_events=1))
    assert imp.empty_columns == ("track00_d0",)
    assert "no finite value" in imp.problem()


def test_verdict_names_the_sample_and_the_way_out():
    ok = Imputation("median", 100, 0, {}, ())
    bad = Imputation("median", 100, 100, {"pt": 100}, ("track00_pt",))
    assert imputed_verdict(ok, ok, "sig") is None
    why = imputed_verdict(ok, bad, "sig")
    assert why.startswith("sig: ") and "--fill none" in why
    assert imputed_verdict(bad, ok, "sig").startswith("background: ")


# -- the hidden case: an upstream signal that is entirely NaN ------------------------------
@pytest.fixture(scope="module")
def nan_signal_folder(upstream_fixture: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The upstream fixture with every raw value of the zprime_tt signal set to NaN."""
    root = tmp_path_factory.mktemp("nan-upstream")
    shutil.copytree(upstream_fixture / "_processed_datasets", root / "_processed_datasets")
    shutil.copytree(upstream_fixture / "_foundation_experiments", root / "_foundation_experiments")
    data = root / "_processed_datasets" / DATASET_ID
    with h5py.File(data / "signal_dataset.h5", "r+") as h5:
        ds = h5["zprime_tt/features/aggregated/aggregator_0"]
        ds[...] = np.full(ds.shape, np.nan)
    return data, root / "_foundation_experiments" / EXPERIMENT


def _evaluate(data: Path, model: Path, tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    from hepfm_core.cli import main

    out = tmp_path / "result.json"
    rc = main(
        [
            "evaluate",
            "--data",
            str(data),
            "--model",
            str(model),
            "--json",
            str(out),
            "--quiet",
            "--cache-dir",
            str(tmp_path / "cache"),
            *extra,
        ]
    )
    return rc, json.loads(out.read_text()), ""


@pytest.mark.slow
def test_all_nan_signal_is_never_a_plain_ok(nan_signal_folder, tmp_path, capsys):
    data, model = nan_signal_folder
    rc, doc, _ = _evaluate(data, model, tmp_path)
    assert rc == 0
    printed = capsys.readouterr().out
    zp = doc["samples"]["zprime_tt"]
    assert zp["total"] == 800
    assert zp["imputed"] == 800  # every event carries fill values ...
    assert zp["kept"] + sum(zp["excluded"].values()) == zp["total"]  # ... and is still kept
    assert len(zp["columns_without_finite_values"]) == 120  # 20 tracks x 6 branches, all NaN
    assert sum(zp["imputed_values_per_feature"].values()) == 800 * 120
    sig = doc["signals"]["zprime_tt"]
    assert sig["status"] == STATUS_IMPUTED
    assert sig["auc"] is None and sig["auc_err"] is None
    assert "no finite value" in sig["reason"]
    assert all(v is None for v in sig["eff_at_bkg_eff"].values())
    # the untouched signal keeps its metric and the fixture's own reference value
    other = doc["signals"]["wprime_taunu"]
    assert other["status"] == "ok"
    assert other["auc"] == pytest.approx(0.9506, abs=0.002)
    assert doc["samples"]["wprime_taunu"]["imputed"] == 0
    assert doc["provenance"]["fill"] == "median"
    # the terminal summary says it too
    assert "imputed" in printed and STATUS_IMPUTED in printed
    assert "zprime_tt 800 of 800" in printed


@pytest.mark.slow
def test_fill_none_excludes_the_nan_events_as_input_nonfinite(nan_signal_folder, tmp_path):
    data, model = nan_signal_folder
    rc, doc, _ = _evaluate(data, model, tmp_path, "--fill", "none")
    assert rc == 0
    zp = doc["samples"]["zprime_tt"]
    assert zp["imputed"] == 0
    assert zp["excluded"]["input_nonfinite"] == 800
    assert zp["kept"] == 0
    assert doc["signals"]["zprime_tt"]["status"] == "no_signal_events"
    assert doc["signals"]["zprime_tt"]["auc"] is None
    assert doc["provenance"]["fill"] == "none"
    assert doc["signals"]["wprime_taunu"]["auc"] == pytest.approx(0.9506, abs=0.002)


@pytest.mark.slow
def test_demo_imputation_is_counted_and_shown(small_demo):
    """The demo's NaN reducedChiSquared tracks (numberDoF = 0) are filled: counted per
    feature, below the limit, so the metrics stay ok; the dashboard's views say so."""
    from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
    from hepfm_core.views.tables import IMPUTED_COLUMN, counts_table
    from hepfm_core.views.text import guard_summary, summary_table

    data, model = small_demo
    ev = Evaluator.open(data, model)
    result = ev.evaluate(EvaluationSettings())
    bg = result.samples["background"]
    raw = ev.data.background.accounting
    assert bg.imputed == raw.events_with_nonfinite > 0
    assert set(bg.imputation.values_per_feature) <= {"reducedChiSquared", "pt", "d0"}
    assert sum(bg.imputation.values_per_feature.values()) == int(raw.per_feature.sum())
    assert all(sep.status == "ok" for sep in result.signals.values())
    counts = counts_table(result)
    assert counts.filter(counts["sample"] == "background")[IMPUTED_COLUMN].item() == bg.imputed
    assert f"background {bg.imputed} of {bg.counts.total}" in guard_summary(result, ev)
    assert "imputed" in summary_table(result)
