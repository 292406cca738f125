"""Tests of hepfm_core.views.dashboard.discovery:
the data root, model discovery and a model's data."""

from __future__ import annotations

import pytest

from hepfm_core.common.paths import DATA_ROOT_ENV
from hepfm_core.errors import PathNotAllowedError
from hepfm_core.views import dashboard as db


def test_confine(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert db.data_root() == tmp_path.resolve()
    assert db.confine("demo") == (tmp_path / "demo").resolve()
    assert db.confine(tmp_path / "demo") == (tmp_path / "demo").resolve()
    for bad in ("/etc", "../", "demo/../../etc"):
        with pytest.raises(PathNotAllowedError, match="outside the dashboard's data root"):
            db.confine(bad)


def test_data_for_model(upstream_fixture, small_demo, tmp_path):
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    own = upstream_fixture / "_processed_datasets"
    found = db.data_for_model(exp, tmp_path, upstream_fixture)
    assert found.parent == own.resolve()  # the experiment's own dataset, under the root
    assert db.data_for_model(exp, tmp_path, tmp_path) == tmp_path  # outside the root: fallback
    assert db.data_for_model(small_demo[1], tmp_path, upstream_fixture) == tmp_path  # hepfm
    assert db.data_for_model(tmp_path / "none.keras", tmp_path) == tmp_path  # not found


def test_models_found_and_offered(small_demo, second_model, upstream_fixture, tmp_path):
    import shutil

    root = tmp_path / "root"
    (root / "demo").mkdir(parents=True)
    shutil.copy(small_demo[1], root / "demo" / "model.keras")
    (root / "runs" / "x").mkdir(parents=True)
    shutil.copy(second_model, root / "runs" / "x" / "latent4.keras")
    (root / "runs" / "broken.keras").write_text("not a model")
    (root / ".hidden").mkdir()
    shutil.copy(second_model, root / ".hidden" / "h.keras")
    deep = root / "1" / "2" / "3" / "4" / "5"
    deep.mkdir(parents=True)
    shutil.copy(second_model, deep / "deep.keras")
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    shutil.copytree(exp, root / "exp")
    found = db.find_models(root)
    assert found == sorted(
        [
            (root / "demo" / "model.keras").resolve(),
            (root / "exp").resolve(),
            (root / "runs" / "broken.keras").resolve(),
            (root / "runs" / "x" / "latent4.keras").resolve(),
        ]
    )
    # the shown model and the command line's first and selected; the broken file left out
    choices, selected = db.model_choices(
        root / "demo" / "model.keras", ["runs/x/latent4.keras"], root
    )
    labels = list(choices)
    assert len(labels) == 3 and labels[0].startswith("model@") and labels[2].startswith("exp@")
    assert labels[1].startswith("latent4@") and selected == labels[:2]
    with pytest.raises(PathNotAllowedError):
        db.model_choices(root / "demo" / "model.keras", ["/etc/passwd"], root)
    assert db.model_args(None) == [] and db.model_args("a") == ["a"]
    assert db.model_args(["a", "b"]) == ["a", "b"]
