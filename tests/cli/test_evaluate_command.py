"""The hepfm command: evaluate outputs, and exit 2 with a message for every user error."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from hepfm_core.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_writes_json_csv_and_parquet(small_demo, tmp_path, capsys, strict_json):
    data_dir, model = small_demo
    code, out, err = run(
        capsys,
        "evaluate",
        "--data",
        str(data_dir),
        "--model",
        str(model),
        "--clip",
        "-20",
        "20",
        "--score",
        "kl",
        "--policy",
        "drop",
        "--signals",
        "wprime_qq,zprime_tt",
        "--quiet",
        "--json",
        str(tmp_path / "r.json"),
        "--roc-csv",
        str(tmp_path / "roc.csv"),
        "--scores-out",
        str(tmp_path / "scores"),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert code == 0, err
    doc = strict_json((tmp_path / "r.json").read_text())
    assert doc["settings"] == {
        "clip": [-20.0, 20.0],
        "score": "kl",
        "beta": 1.0,
        "policy": "drop",
        "kl_form": "true",
        "parameterisation": "exp",
    }
    assert set(doc["signals"]) == {"wprime_qq", "zprime_tt"}
    assert "wprime_qq" in out and "AUC" in out
    roc = pl.read_csv(tmp_path / "roc.csv")
    assert set(roc["signal"].unique()) == {"wprime_qq", "zprime_tt"}
    # anyone can recompute the metrics from the Parquet scores: AUC from the kept events
    from sklearn.metrics import roc_auc_score

    bkg = pl.read_parquet(tmp_path / "scores" / "background.parquet").filter(pl.col("kept"))
    sig = pl.read_parquet(tmp_path / "scores" / "wprime_qq.parquet").filter(pl.col("kept"))
    y = np.r_[np.zeros(bkg.height), np.ones(sig.height)]
    auc = roc_auc_score(y, np.r_[bkg["score"].to_numpy(), sig["score"].to_numpy()])
    assert doc["signals"]["wprime_qq"]["auc"] == pytest.approx(auc, abs=1e-12)
    assert bkg.height == doc["samples"]["background"]["kept"]


def test_evaluate_json_to_stdout(small_demo, tmp_path, capsys, strict_json):
    data_dir, model = small_demo
    code, out, _ = run(
        capsys,
        "evaluate",
        "--data",
        str(data_dir),
        "--model",
        str(model),
        "--json",
        "-",
        "--quiet",
        "--cache-dir",
        str(tmp_path),
    )
    assert code == 0
    settings = strict_json(out)["settings"]
    assert settings["policy"] == "worst"
    # one default clip: the dashboard starts there too, and the provenance line names it
    from hepfm_core.views.page_state import PageState
    from hepfm_core.vocabulary import DEFAULT_CLIP

    assert settings["clip"] == list(DEFAULT_CLIP) == list(PageState().clip)
    code, out, _ = run(
        capsys, "evaluate", "--data", str(data_dir), "--model", str(model), "--json", "-",
        "--quiet", "--cache-dir", str(tmp_path), "--no-clip",
    )  # fmt: skip
    assert code == 0 and strict_json(out)["settings"]["clip"] is None


def test_evaluate_upstream_fixture(upstream_fixture, tmp_path, capsys, strict_json):
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    common = ["--model", str(exp), "--json", "-", "--quiet", "--cache-dir", str(tmp_path)]
    code, out, err = run(capsys, "evaluate", *common)  # the dataset is found from the experiment
    assert code == 0, err
    doc = strict_json(out)
    assert doc["settings"]["parameterisation"] == "softplus"
    assert doc["samples"]["background"]["total"] == 4000
    # FIXTURE.md: bg-norm reconstruction AUCs 1.0000 (zprime_tt) and 0.9506 (wprime_taunu)
    assert doc["signals"]["wprime_taunu"]["auc"] == pytest.approx(0.9506, abs=0.002)
    assert doc["signals"]["zprime_tt"]["auc"] == pytest.approx(1.0, abs=0.002)
    code, out, _ = run(capsys, "evaluate", *common, "--signal-normalisation", "own")
    assert strict_json(out)["signals"]["wprime_taunu"]["auc"] == pytest.approx(0.3540, abs=0.003)


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["evaluate", "--data", "{tmp}/missing", "--model", "{tmp}/m.keras"], "not found"),
        (
            "garbage",
            ["evaluate", "--data", "{tmp}", "--model", "{tmp}/m.keras"],
            "not an HDF5 file",
        ),
        (None, ["evaluate", "--data", "{data}", "--model", "{tmp}/none.keras"], "model not found"),
        (
            None,
            ["evaluate", "--data", "{data}", "--model", "{model}", "--clip", "5", "-5"],
            "inverted",
        ),
        (
            None,
            ["evaluate", "--data", "{data}", "--model", "{model}", "--signals", "zz"],
            "unknown signal",
        ),
        (None, ["train", "--data", "{tmp}/missing", "--out", "{tmp}/m.keras"], "not found"),
        (
            "dir",
            ["evaluate", "--data", "{data}", "--model", "{tmp}/exp"],
            "_experiment_config.yaml",
        ),
    ],
)
def test_user_errors_exit_2_with_message(small_demo, tmp_path, capsys, setup, args, message):
    data_dir, model = small_demo
    if setup == "garbage":
        (tmp_path / "background.h5").write_text("not hdf5")
    if setup == "dir":
        (tmp_path / "exp").mkdir()
    argv = [a.format(tmp=tmp_path, data=data_dir, model=model) for a in args]
    code, _out, err = (
        run(capsys, *argv, "--cache-dir", str(tmp_path / "c"))
        if argv[0] == "evaluate"
        else run(capsys, *argv)
    )
    assert code == 2
    assert message in err
    assert "Traceback" not in err and err.startswith("hepfm: error:")


def test_no_native_log_lines_in_a_real_run(small_demo, tmp_path):
    """A real process: TensorFlow's and XLA's start-up lines reach neither stream."""
    import subprocess
    import sys

    data_dir, model = small_demo
    args = ["evaluate", "--data", str(data_dir), "--model", str(model), "--quiet"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    out = subprocess.run(
        [sys.executable, "-m", "hepfm_core.cli", *args], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "wprime_qq" in out.stdout
    for noise in ("XLA", "absl", "oneDNN", "cpu_feature_guard", "tensorflow/"):
        assert noise not in out.stderr and noise not in out.stdout, noise


# -- comparison of models -------------------------------------------------------------------
def test_single_model_json_is_unchanged(small_demo, tmp_path, capsys, strict_json):
    """One --model (with or without a label) keeps evaluate's single-model document."""
    data_dir, model = small_demo
    common = ["evaluate", "--data", str(data_dir), "--json", "-", "--quiet"]
    common += ["--cache-dir", str(tmp_path), "--clip", "-20", "20"]
    code, out, err = run(capsys, *common, "--model", str(model))
    assert code == 0, err
    plain = strict_json(out)
    assert list(plain) == ["settings", "provenance", "samples", "signals"]
    assert plain["provenance"]["model"] == str(model.resolve())
    assert set(plain["provenance"]["fingerprints"]) == {"model", *plain["samples"]}
    code, out, err = run(capsys, *common, "--model", f"mine={model}")
    assert code == 0, err
    labelled = strict_json(out)
    for doc in (plain, labelled):
        doc["provenance"].pop("date")
    assert labelled == plain


def test_two_models_json(small_demo, second_model, tmp_path, capsys, strict_json):
    from hepfm_core.engine.compare.paired import holm
    from hepfm_core.sources import describe_model

    data_dir, model = small_demo
    code, out, err = run(
        capsys,
        "evaluate", "--data", str(data_dir), "--model", str(model),
        "--model", f"small={second_model}", "--score", "kl", "--policy", "drop",
        "--quiet", "--cache-dir", str(tmp_path / "cache"), "--json", str(tmp_path / "r.json"),
        "--scores-out", str(tmp_path / "scores"), "--roc-csv", str(tmp_path / "roc.csv"),
    )  # fmt: skip
    assert code == 0, err
    doc = strict_json((tmp_path / "r.json").read_text())
    first = f"model@{describe_model(model).fingerprint[:8]}"
    assert list(doc) == ["settings", "provenance", "warnings", "models", "comparisons"]
    assert doc["settings"]["score"] == "kl" and doc["warnings"] == []
    assert doc["provenance"]["models"] == {
        first: [str(model.resolve())],
        "small": [str(second_model.resolve())],
    }
    assert list(doc["models"]) == [first, "small"]
    assert doc["models"]["small"]["fingerprint"] == describe_model(second_model).fingerprint
    signals = list(doc["models"][first]["signals"])
    assert len(doc["comparisons"]) == len(signals) == 6
    contract = ["signal", "model_a", "model_b", "n_background", "n_signal", "delta_auc",
                "delta_auc_err", "p_value", "p_value_holm"]  # fmt: skip
    for c in doc["comparisons"]:
        assert list(c)[: len(contract)] == contract
        assert (c["model_a"], c["model_b"]) == (first, "small")
        a, b = (doc["models"][m]["samples"] for m in (first, "small"))
        # every event both keep, and no more: at most what each keeps
        for n, name in ((c["n_background"], "background"), (c["n_signal"], c["signal"])):
            pairs = c["pairs"]["background" if name == "background" else "signal"]
            assert n == pairs["kept_by_both"] <= min(a[name]["kept"], b[name]["kept"])
            assert n + pairs["dropped_by_a_only"] == b[name]["kept"]
            assert n + pairs["dropped_by_b_only"] == a[name]["kept"]
        assert c["delta_auc"] == pytest.approx(c["auc_a"] - c["auc_b"], abs=1e-15)
        assert 0.0 <= c["p_value"] <= c["p_value_holm"] <= 1.0
    # Holm over every signal x pair, exactly as holm() corrects the raw p-values
    raw = [c["p_value"] for c in doc["comparisons"]]
    assert [c["p_value_holm"] for c in doc["comparisons"]] == list(holm(raw))
    # per model: <DIR>/<label>/<sample>.parquet, and the ROC rows carry the model
    for label in (first, "small"):
        files = sorted(p.name for p in (tmp_path / "scores" / label).iterdir())
        assert files == sorted(f"{s}.parquet" for s in ["background", *signals])
        bkg = pl.read_parquet(tmp_path / "scores" / label / "background.parquet")
        assert int(bkg["kept"].sum()) == doc["models"][label]["samples"]["background"]["kept"]
    roc = pl.read_csv(tmp_path / "roc.csv")
    assert roc.columns == ["model", "signal", "threshold", "fpr", "tpr"]
    assert set(roc["model"].unique()) == {first, "small"}
    assert "p-value (Holm)" in out and "small" in out


def test_a_model_compared_with_itself(small_demo, tmp_path, capsys, strict_json):
    data_dir, model = small_demo
    code, out, err = run(
        capsys,
        "evaluate", "--data", str(data_dir), "--model", str(model), "--model", str(model),
        "--score", "kl", "--quiet", "--cache-dir", str(tmp_path), "--json", "-",
    )  # fmt: skip
    assert code == 0, err
    doc = strict_json(out)
    a, b = doc["models"]
    assert b == a + "#2"
    assert len(doc["warnings"]) == 1 and "same model" in doc["warnings"][0]
    assert err.count("hepfm: warning:") == 1 and "same model" in err
    assert len(doc["comparisons"]) == 6
    for c in doc["comparisons"]:
        assert c["same_model"] is True
        assert (c["delta_auc"], c["delta_auc_err"], c["p_value"], c["p_value_holm"]) == (
            0.0,
            0.0,
            1.0,
            1.0,
        )
        assert c["auc_a"] == c["auc_b"] == doc["models"][a]["signals"][c["signal"]]["auc"]


def test_a_seed_group(small_demo, second_model, tmp_path, capsys, strict_json):
    data_dir, model = small_demo
    code, out, err = run(
        capsys,
        "evaluate", "--data", str(data_dir), "--model", f"group={model},{second_model}",
        "--model", f"one={model}", "--signals", "wprime_taunu", "--quiet",
        "--cache-dir", str(tmp_path), "--json", "-",
    )  # fmt: skip
    assert code == 0, err
    doc = strict_json(out)
    group = doc["models"]["group"]
    aucs = [s["signals"]["wprime_taunu"]["auc"] for s in group["seeds"]]
    spread = group["seed_spread"]["wprime_taunu"]
    assert spread["aucs"] == aucs and spread["n_seeds"] == 2
    assert spread["mean_auc"] == pytest.approx(np.mean(aucs), abs=1e-15)
    assert spread["sd_auc"] == pytest.approx(np.std(aucs, ddof=1), abs=1e-15)
    (c,) = doc["comparisons"]
    one = doc["models"]["one"]["signals"]["wprime_taunu"]["auc"]
    assert c["seed_spread"]["delta_auc"] == pytest.approx(np.mean(aucs) - one, abs=1e-15)
    assert c["seed_spread"]["verdict"] in {"exceeds_both", "within_sampling_error",
                                           "within_seed_spread", "seed_spread_unknown"}  # fmt: skip
    # the group's first seed is the same model as "one": that pair's test is delta 0
    assert c["delta_auc"] == 0.0 and c["p_value"] == 1.0


def test_a_model_that_does_not_fit_the_data_exits_2(small_demo, upstream_fixture, tmp_path,
                                                     capsys):  # fmt: skip
    data_dir, model = small_demo
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    code, _out, err = run(
        capsys,
        "evaluate", "--data", str(data_dir), "--model", str(model), "--model", f"up={exp}",
        "--quiet", "--cache-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 2
    assert err.startswith("hepfm: error: model up: the model takes 120 inputs")
    assert "180 features" in err and "Traceback" not in err


@pytest.mark.slow  # trains a model on the upstream fixture's dataset (TensorFlow)
def test_upstream_experiment_against_a_retrained_model(upstream_fixture, tmp_path, capsys,
                                                       strict_json):  # fmt: skip
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    (dataset,) = (upstream_fixture / "_processed_datasets").iterdir()
    retrained = tmp_path / "retrained.keras"
    code, _out, err = run(capsys, "train", "--data", str(dataset), "--out", str(retrained),
                          "--epochs", "2", "--latent", "8")  # fmt: skip
    assert code == 0, err
    code, out, err = run(
        capsys,
        "evaluate", "--model", f"upstream={exp}", "--model", f"retrained={retrained}",
        "--quiet", "--cache-dir", str(tmp_path / "cache"), "--json", "-",
    )  # fmt: skip
    assert code == 0, err
    doc = strict_json(out)
    up, mine = doc["models"]["upstream"], doc["models"]["retrained"]
    assert (up["parameterisation"], mine["parameterisation"]) == ("softplus", "exp")
    # FIXTURE.md: bg-norm reconstruction AUC 0.9506 (wprime_taunu), whatever it is compared with
    assert up["signals"]["wprime_taunu"]["auc"] == pytest.approx(0.9506, abs=0.002)
    assert [c["signal"] for c in doc["comparisons"]] == list(up["signals"])
    for c in doc["comparisons"]:
        assert (c["n_background"], c["n_signal"]) == (4000, 800)  # no event dropped
        assert c["auc_a"] == up["signals"][c["signal"]]["auc"]
        assert c["auc_b"] == mine["signals"][c["signal"]]["auc"]
        assert c["p_value"] is not None and c["p_value"] <= c["p_value_holm"] <= 1.0


# -- outputs on a full disk (issue 23, faults 3) --------------------------------------------
@pytest.mark.parametrize(
    ("flag", "target", "what"),
    [
        ("--json", "result.json", "the JSON"),
        ("--roc-csv", "roc.csv", "the ROC CSV"),
        ("--scores-out", "scores", "the scores"),
    ],
)
def test_outputs_on_a_full_disk_exit_2_and_leave_no_truncated_file(
    upstream_fixture, tmp_path, capsys, small_fs, filled, flag, target, what
):
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    common = ["evaluate", "--model", str(exp), "--quiet", "--cache-dir", str(tmp_path / "c")]
    disk = small_fs(1024)
    (disk / "result.json").write_text("the previous result")
    filled(disk, leave=0)
    code, _out, err = run(capsys, *common, flag, str(disk / target))
    assert code == 2, err
    assert f"cannot write {what}" in err and "No space left" in err, err
    assert "free disk space" in err
    assert "Traceback" not in err
    # the previous file whole, nothing new, no temporary left
    assert (disk / "result.json").read_text() == "the previous result"
    left = sorted(p.name for p in disk.rglob("*"))
    assert left in (["filler", "result.json"], ["filler", "result.json", "scores"]), left
