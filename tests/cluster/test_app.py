"""apps/anomaly.py with ``-- --scheduler``: the dashboard's recompute runs on the cluster."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from hepfm_core.common.paths import DATA_ROOT_ENV
from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
from hepfm_core.views.dashboard import shared as dashboard
from hepfm_core.views.tables import counts_table, histogram_tables, metrics_table

APP = Path(__file__).resolve().parents[2] / "apps" / "anomaly.py"


def test_headless_app_recomputes_on_the_cluster(monkeypatch, dask_cluster, small_demo, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(small_demo[0], root / "demo")
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("HEPFM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", [str(APP), "--scheduler", dask_cluster])
    spec = importlib.util.spec_from_file_location("anomaly_app_cluster", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        outputs, defs = module.app.run()
        result = defs["result"]
        assert result.provenance["cluster"]["scheduler"] == dask_cluster
        assert all(s.guarded is None for s in result.samples.values())  # scores stayed there
        ref = Evaluator.open(root / "demo", root / "demo" / "model.keras", cache=tmp_path / "c")
        expected = ref.evaluate(
            EvaluationSettings(clip=(-20.0, 20.0), signals=result.settings.signals)
        )
        assert counts_table(result).equals(counts_table(expected))
        assert metrics_table(result).equals(metrics_table(expected))
        n_bins = defs["bins"].value
        assert histogram_tables(result, n_bins)[0].equals(histogram_tables(expected, n_bins)[0])
        page = "\n".join(getattr(o, "text", "") or "" for o in outputs if o is not None)
        assert f"computed on the Dask cluster {dask_cluster}" in page
    finally:
        for cluster in dashboard._clusters.values():
            cluster.close()
        dashboard._clusters.clear()
        dashboard._evaluators.clear()


def test_headless_app_compares_models_on_the_cluster(
    monkeypatch, dask_cluster, small_demo, second_model, tmp_path
):
    """Two models with ``-- --scheduler``: the comparison section's numbers are paired on the
    workers and equal one process's (``ModelSet`` of in-process evaluators)."""
    from hepfm_core.engine.compare.models import ModelSet

    root = tmp_path / "root"
    shutil.copytree(small_demo[0], root / "demo")
    (root / "models").mkdir()
    second = shutil.copy(second_model, root / "models" / second_model.name)
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("HEPFM_CACHE_DIR", str(tmp_path / "cache"))
    first = root / "demo" / "model.keras"
    argv = ["--scheduler", dask_cluster, "--model", str(first), "--model", str(second)]
    monkeypatch.setattr(sys, "argv", [str(APP), *argv])
    spec = importlib.util.spec_from_file_location("anomaly_app_cluster_compare", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        outputs, defs = module.app.run()
        compared = defs["compared"]
        assert len(compared.labels) == 2 and compared.comparisons
        assert compared.provenance["cluster"]["scheduler"] == dask_cluster
        paths = dict(zip(compared.labels, (first, Path(second)), strict=True))
        here = ModelSet(
            {
                label: [Evaluator.open(root / "demo", path, cache=tmp_path / "c")]
                for label, path in paths.items()
            }
        )
        expected = here.evaluate(compared.settings)
        got = [c.to_json_dict() for c in compared.comparisons]
        assert got == [c.to_json_dict() for c in expected.comparisons]
        assert all(c.test.ok for c in compared.comparisons)
        page = "\n".join(getattr(o, "text", "") or "" for o in outputs if o is not None)
        assert "Comparison of models" in page and "Invalid settings" not in page
    finally:
        for cluster in dashboard._clusters.values():
            cluster.close()
        dashboard._clusters.clear()
        dashboard._evaluators.clear()
