"""apps/anomaly.py: static check, headless run against hepfm_core, export, bad-input callouts."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hepfm_core.common.paths import DATA_ROOT_ENV
from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
from hepfm_core.views.tables import counts_table, metrics_table
from hepfm_core.views.text import guard_summary

APP = Path(__file__).resolve().parents[2] / "apps" / "anomaly.py"


def load_app():
    spec = importlib.util.spec_from_file_location("anomaly_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


@pytest.fixture(scope="module")
def data_root(small_demo, tmp_path_factory) -> Path:
    """A data root holding the small demo as its demo folder."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(small_demo[0], root / "demo")
    return root


def run_app(monkeypatch, root: Path, cache: Path, *args: str):
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("HEPFM_CACHE_DIR", str(cache))
    monkeypatch.setattr(sys, "argv", [str(APP), *args])
    return load_app().run()


def texts(outputs) -> str:
    """The HTML of every cell output, entities undone."""
    return html.unescape("\n".join(getattr(o, "text", "") or "" for o in outputs if o is not None))


def shown_tables(outputs) -> list[list[dict]]:
    """The rows of every table the page shows (marimo puts them, JSON-encoded, in data-data)."""
    return [json.loads(json.loads(m)) for m in re.findall(r"data-data='([^']*)'", texts(outputs))]


def test_marimo_check_strict():
    out = subprocess.run(
        [sys.executable, "-m", "marimo", "check", "--strict", str(APP.parent)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_headless_run_shows_what_hepfm_core_computes(monkeypatch, data_root, tmp_path):
    outputs, defs = run_app(monkeypatch, data_root, tmp_path)
    result = defs["result"]
    # the app's defaults: upstream's +-20 clip preset, reconstruction, worst, every signal
    assert result.settings == EvaluationSettings(
        clip=(-20.0, 20.0),
        score="reconstruction",
        beta=1.0,
        policy="worst",
        signals=result.settings.signals,
    )
    ref = Evaluator.open(data_root / "demo", data_root / "demo" / "model.keras", cache=tmp_path)
    expected = ref.evaluate(EvaluationSettings(clip=(-20.0, 20.0), signals=ref.signal_names))
    assert set(result.signals) == set(expected.signals)
    assert counts_table(result).equals(counts_table(expected))
    assert metrics_table(result).equals(metrics_table(expected))
    # what the page shows: the two tables, row for row, and the guard sentence
    tables = shown_tables(outputs)
    assert counts_table(expected).to_dicts() in tables
    assert metrics_table(expected).to_dicts() in tables
    assert guard_summary(expected, ref).split(".")[0] in texts(outputs)


def test_bad_data_folder_gives_a_callout(monkeypatch, data_root, tmp_path):
    bad = data_root / "broken"
    bad.mkdir()
    (bad / "background.h5").write_text("not an HDF5 file")
    outputs, defs = run_app(
        monkeypatch,
        data_root,
        tmp_path,
        "--data",
        str(bad),
        "--model",
        str(data_root / "demo" / "model.keras"),
    )
    shown = texts(outputs)
    assert "Cannot evaluate" in shown and "not an HDF5 file" in shown
    assert defs.get("result") is None


def test_path_outside_root_is_refused(monkeypatch, data_root, tmp_path):
    outputs, _ = run_app(monkeypatch, data_root, tmp_path, "--data", "/etc")
    shown = texts(outputs)
    assert "Path refused" in shown and "outside the dashboard's data root" in shown


def test_model_that_does_not_fit_the_data(monkeypatch, data_root, tmp_path, upstream_fixture):
    exp = data_root / "exp"
    if not exp.exists():
        shutil.copytree(
            upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model", exp
        )
    outputs, _ = run_app(monkeypatch, data_root, tmp_path, "--model", str(exp))
    shown = texts(outputs)
    assert "Cannot evaluate" in shown and "takes 120 inputs" in shown and "180 features" in shown


def test_dataset_without_signals(monkeypatch, data_root, tmp_path):
    lonely = data_root / "lonely"
    lonely.mkdir(exist_ok=True)
    shutil.copy(data_root / "demo" / "background.h5", lonely / "background.h5")
    outputs, _ = run_app(
        monkeypatch,
        data_root,
        tmp_path,
        "--data",
        str(lonely),
        "--model",
        str(data_root / "demo" / "model.keras"),
    )
    assert "no signal sample" in texts(outputs)


def test_export_html_carries_the_charts(data_root, tmp_path, marimo_env):
    out = tmp_path / "dashboard.html"
    env = dict(
        os.environ,
        HEPFM_DATA_ROOT=str(data_root),
        HEPFM_CACHE_DIR=str(tmp_path / "c"),
        **marimo_env,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", str(APP), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = out.read_text()
    assert "vega-lite" in html and "Loss distributions" in html and "Background rejection" in html
    # the export's session snapshot went to the temporary folder, not next to the notebook
    prefix = Path(marimo_env["PYTHONPYCACHEPREFIX"])
    assert list(prefix.rglob(f"__marimo__/session/{APP.name}.json"))


@pytest.mark.slow  # scores the upstream fixture with TensorFlow
def test_upstream_experiment_brings_its_dataset(monkeypatch, upstream_fixture, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(upstream_fixture, root)
    exp = root / "_foundation_experiments" / "001_Foundation_VAE_Model"
    outputs, defs = run_app(monkeypatch, root, tmp_path / "cache", "--model", str(exp))
    result = defs["result"]
    assert defs["data_kind"] == "upstream"
    assert set(result.signals) == {"wprime_taunu", "zprime_tt"}
    # FIXTURE.md: reconstruction AUC with the background's parameters (the default)
    assert result.signals["wprime_taunu"].auc == pytest.approx(0.9506, abs=0.002)
    assert "signals standardised with the background's parameters" in texts(outputs)
