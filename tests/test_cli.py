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
    assert strict_json(out)["settings"]["policy"] == "worst"


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


# -- repack ---------------------------------------------------------------------------------
def test_repack_rewrites_a_folder_and_keeps_it_usable(small_data, tmp_path, capsys):
    import shutil

    from hepfm_core.data.hepfm_format import read_header
    from hepfm_core.sources import open_data

    folder = tmp_path / "data"
    shutil.copytree(small_data, folder)
    before = {f.name: read_header(f)["fingerprint"] for f in folder.glob("*.h5")}
    code, out, err = run(capsys, "repack", str(folder), "--compression", "gzip")
    assert code == 0, err
    assert "format version 2 -> 1" in out and f"{len(before)} files" in out
    assert {f.name: read_header(f)["format_version"] for f in folder.glob("*.h5")} == dict.fromkeys(
        before, 1
    )
    code, out, err = run(capsys, "repack", str(folder))  # back to the default, Blosc2 LZ4
    assert code == 0, err
    assert "format version 1 -> 2" in out
    assert {f.name: read_header(f)["fingerprint"] for f in folder.glob("*.h5")} == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(before)  # nothing left beside
    code, out, _ = run(capsys, "repack", str(folder))
    assert code == 0 and "left as it is (already lz4)" in out
    assert open_data(folder).background.n_events == 5_000


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "data folder not found"),
        ("empty", "holds no .h5 sample files"),
        ("garbage", "not an HDF5 file"),
        ("file", "is not a folder"),
    ],
)
def test_repack_bad_input_exits_2(tmp_path, capsys, setup, message):
    target = tmp_path / "d"
    if setup in ("empty", "garbage"):
        target.mkdir()
    if setup == "garbage":
        (target / "background.h5").write_text("not hdf5")
    if setup == "file":
        target.write_text("x")
    code, _out, err = run(capsys, "repack", str(target))
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
