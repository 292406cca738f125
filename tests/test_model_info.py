"""Model identity without TensorFlow: fingerprints and parameterisation."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from hepfm_core.errors import ModelNotFoundError, UpstreamExperimentError
from hepfm_core.model_info import describe_model

SCRIPT = """
import sys
from hepfm_core.model_info import describe_model
info = describe_model(sys.argv[1])
print(info.kind, info.parameterisation, info.latent_dim, info.fingerprint[:9])
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""


def test_upstream_experiment_described_without_tensorflow(upstream_fixture):
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(exp)], capture_output=True, text=True, check=True
    )
    first, second = out.stdout.strip().splitlines()
    assert first.split() == ["upstream", "softplus", "4", "upstream-"]
    assert second.split() == ["False", "False"]
    # the models/foundation_model subfolder names the same experiment
    assert describe_model(exp / "models" / "foundation_model").path == describe_model(exp).path


def test_upstream_fingerprint_follows_the_weights(upstream_fixture, tmp_path):
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
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
