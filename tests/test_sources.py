"""Sources: opening data folders (hepfm's layout, the signal normalisation choice,
folder-level errors), model identity without TensorFlow, and the data that goes with a model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from hepfm_core.data.generator import GeneratorConfig, generate_block
from hepfm_core.data.hepfm_format import read_header
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.data.sample_writer import SampleWriter
from hepfm_core.errors import (
    CorruptModelError,
    DataError,
    DataNotFoundError,
    FeatureMismatchError,
    ModelNotFoundError,
    NoSignalsError,
    UpstreamExperimentError,
)
from hepfm_core.sources import dataset_for_model, describe_model, open_data

EXPERIMENT = ("_foundation_experiments", "001_Foundation_VAE_Model")
DATASET = ("_processed_datasets", "dataset_runs_00298967-2-00311481_45222f19")


def test_open_demo_folder(small_data):
    data = open_data(small_data)
    assert data.kind == "hepfm"
    assert data.background.n_events == 5000 and data.background.role == "background"
    assert set(data.signals) == set(GeneratorConfig().signals)
    assert all(s.n_events == 1000 and s.role == "signal" for s in data.signals.values())
    assert data.background.n_features == 180
    assert data.feature_names[:6] == (
        "track00_d0",
        "track00_phi",
        "track00_z0",
        "track00_eta",
        "track00_pt",
        "track00_reducedChiSquared",
    )
    # the ~0.1 % numberDoF = 0 tracks are counted, per feature, at read
    acc = data.background.accounting
    assert acc.events_with_nonfinite > 0
    assert acc.per_feature.reshape(30, 6)[:, :5].sum() == 0  # only reducedChiSquared


def test_signals_use_background_parameters_by_default(small_data):
    bg_norm = open_data(small_data).background.x.normalisation
    data = open_data(small_data)
    qq = data.signals["wprime_qq"]
    raw = qq.x.raw(slice(0, 100))
    np.testing.assert_allclose(np.asarray(qq.x[0:100]), bg_norm.apply(raw))
    own = open_data(small_data, signal_normalisation="own").signals["wprime_qq"]
    assert own.provenance.fingerprint != qq.provenance.fingerprint
    # with its own parameters, the signal's own per-branch mean becomes ~0
    x_own = np.asarray(own.x[0:1000]).astype(np.float64).reshape(-1, 6)
    np.testing.assert_allclose(x_own[:, 4].mean(), 0.0, atol=0.05)  # pt


def test_missing_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found") as e:
        open_data(tmp_path / "missing")
    assert "missing" in str(e.value) and "hepfm demo" in str(e.value)


def test_empty_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="no data"):
        open_data(tmp_path)


def test_no_signals(tmp_path, small_data):
    shutil.copy(small_data / "background.h5", tmp_path / "background.h5")
    with pytest.raises(NoSignalsError, match="no signal"):
        open_data(tmp_path)


def test_bad_signal_normalisation_name(small_data):
    with pytest.raises(DataError, match="unknown signal normalisation"):
        open_data(small_data, signal_normalisation="mine")


def test_signal_with_other_feature_count(tmp_path, small_data):
    shutil.copy(small_data / "background.h5", tmp_path / "background.h5")
    raw = generate_block("wprime_qq", 100, GeneratorConfig(n_tracks=20))
    norm = Normalisation.per_branch(np.zeros(6), np.ones(6), 20)
    with SampleWriter(
        tmp_path / "short.h5",
        name="short",
        role="signal",
        branch_names=("d0", "phi", "z0", "eta", "pt", "reducedChiSquared"),
        units=("",) * 6,
        n_tracks=20,
        normalisation=norm,
    ) as w:
        w.write(raw)
    assert read_header(tmp_path / "short.h5")["n_features"] == 120
    with pytest.raises(FeatureMismatchError, match="120 features but the background has 180"):
        open_data(tmp_path)


# -- models -------------------------------------------------------------------------------
SCRIPT = """
import sys
from hepfm_core.sources import describe_model
info = describe_model(sys.argv[1])
print(info.kind, info.parameterisation, info.latent_dim, info.fingerprint[:9])
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""


def test_upstream_experiment_described_without_tensorflow(upstream_fixture):
    exp = upstream_fixture.joinpath(*EXPERIMENT)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(exp)], capture_output=True, text=True, check=True
    )
    first, second = out.stdout.strip().splitlines()
    assert first.split() == ["upstream", "softplus", "4", "upstream-"]
    assert second.split() == ["False", "False"]
    # the models/foundation_model subfolder names the same experiment
    assert describe_model(exp / "models" / "foundation_model").path == describe_model(exp).path


def test_upstream_fingerprint_follows_the_weights(upstream_fixture, tmp_path):
    exp = upstream_fixture.joinpath(*EXPERIMENT)
    copy = tmp_path / "exp"
    shutil.copytree(exp, copy)
    assert describe_model(copy).fingerprint == describe_model(exp).fingerprint
    data = (
        copy
        / "models"
        / "foundation_model"
        / "decoder"
        / "variables"
        / "variables.data-00000-of-00001"
    )
    blob = bytearray(data.read_bytes())
    blob[-1] ^= 0xFF
    data.write_bytes(bytes(blob))
    assert describe_model(copy).fingerprint != describe_model(exp).fingerprint
    shutil.rmtree(copy / "models" / "foundation_model" / "encoder" / "variables")
    with pytest.raises(UpstreamExperimentError, match="no encoder weights"):
        describe_model(copy)


def test_missing_model(tmp_path):
    with pytest.raises(ModelNotFoundError):
        describe_model(tmp_path / "nothing.keras")


def test_model_file_with_unknown_parameterisation(tmp_path):
    """A model file's metadata is read, not trusted: an unknown variance form is refused."""
    path = tmp_path / "odd.keras"
    config = {"input_dim": 3, "latent_dim": 2, "parameterisation": "sigmoid"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.weights.h5", b"weights")
        zf.writestr("hepfm_metadata.json", json.dumps({"config": config}))
    with pytest.raises(CorruptModelError, match="unknown variance parameterisation 'sigmoid'"):
        describe_model(path)


def test_dataset_for_model(upstream_fixture, small_demo):
    exp = upstream_fixture.joinpath(*EXPERIMENT)
    assert dataset_for_model(exp) == upstream_fixture.joinpath(*DATASET)
    assert dataset_for_model(exp / "models" / "foundation_model") == dataset_for_model(exp)
    assert dataset_for_model(small_demo[1]) is None  # a hepfm model names no dataset


def test_dataset_for_model_needs_a_model(tmp_path):
    with pytest.raises(ModelNotFoundError):
        dataset_for_model(tmp_path / "nothing.keras")
    (tmp_path / "exp").mkdir()
    with pytest.raises(UpstreamExperimentError, match=r"_experiment_config\.yaml"):
        dataset_for_model(tmp_path / "exp")


def test_feature_definition_recorded_and_mismatch_warned(small_demo, upstream_fixture, tmp_path):
    """A model records how its training features were derived; evaluating it on data
    derived otherwise is warned in the provenance, agreeing data is not."""
    from dataclasses import replace

    from hepfm_core.data.hepfm_format import feature_definition_of
    from hepfm_core.engine.evaluate import Evaluator
    from hepfm_core.sources import describe_model, feature_definition_warning, open_data

    data_dir, model = small_demo
    info = describe_model(model)
    data = open_data(data_dir)
    assert info.feature_definition == "physical" == feature_definition_of(data)
    assert feature_definition_warning(info, data) is None
    upstream_trained = replace(info, feature_definition="upstream-compatible")
    warning = feature_definition_warning(upstream_trained, data)
    assert warning is not None
    assert "trained on upstream-compatible features but the data are physical" in warning
    assert "convert the data with --upstream-compatible" in warning
    assert feature_definition_warning(replace(info, feature_definition=None), data) is None
    # upstream's own datasets and experiments are upstream-compatible by definition
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    assert describe_model(exp).feature_definition == "upstream-compatible"
    ev = Evaluator.open(data_dir, model, cache=tmp_path)
    prov = ev.provenance()
    assert prov["feature_definition"] == {"model": "physical", "data": "physical"}
    assert prov["warnings"] == []
    ev.model_info = upstream_trained
    assert ev.provenance()["warnings"] == [warning]
