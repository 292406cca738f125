"""hepfm model files: save/load round trip, metadata, safe mode, typed errors."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from hepfm_core.errors import (
    CorruptModelError,
    ModelInputMismatchError,
    ModelNotFoundError,
    UnsafeModelError,
)
from hepfm_core.model_info import describe_model
from hepfm_core.model_io import load_model, read_metadata, save_model
from hepfm_core.normalisation import Normalisation
from hepfm_core.vae import VAEConfig, build_decoder, build_encoder

CFG = VAEConfig(input_dim=6, encoder_layers=(5,), decoder_layers=(5,), latent_dim=2)


@pytest.fixture()
def saved(tmp_path):
    enc, dec = build_encoder(CFG), build_decoder(CFG)
    # move BatchNorm statistics away from their defaults so the round trip checks them
    bn = enc.get_layer("encoder_0_bn")
    bn.moving_mean.assign(np.linspace(0.1, 0.5, 5))
    bn.moving_variance.assign(np.linspace(1.5, 2.5, 5))
    names = tuple(f"f{i}" for i in range(6))
    norm = Normalisation(np.zeros(6), np.ones(6), np.zeros(6), clip=None)
    path = save_model(tmp_path / "m.keras", enc, dec, CFG, feature_names=names, normalisation=norm)
    return path, enc, dec


def test_save_load_identical_outputs(saved):
    path, enc, dec = saved
    model = load_model(path)
    x = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    zm, zl = (np.asarray(t) for t in enc(x, training=False))
    xh = np.asarray(dec(zm, training=False))
    zm2, zl2, xh2 = model.predict(x)
    np.testing.assert_array_equal(zm, zm2)
    np.testing.assert_array_equal(zl, zl2)
    np.testing.assert_array_equal(xh, xh2)
    assert model.config == CFG and model.kind == "hepfm"
    assert model.feature_names == tuple(f"f{i}" for i in range(6))


def test_metadata_and_fingerprint_without_tensorflow(saved):
    path, _, _ = saved
    meta = read_metadata(path)
    assert meta["format"] == "hepfm-model" and meta["config"]["parameterisation"] == "exp"
    assert {"hepfm", "keras", "tensorflow", "numpy"} <= set(meta["versions"])
    info = describe_model(path)
    assert info.fingerprint == load_model(path).fingerprint == meta["fingerprint"]


def test_lambda_layer_refused(tmp_path):
    import keras

    x = keras.Input(shape=(6,))
    y = keras.layers.Lambda(lambda t: t * 2.0)(x)
    evil = keras.Model(x, y)
    path = tmp_path / "evil.keras"
    evil.save(path)
    with zipfile.ZipFile(path, "a") as zf:  # dress it up as a hepfm model file
        zf.writestr("hepfm_metadata.json", '{"format": "hepfm-model", "config": {"input_dim": 6}}')
    with pytest.raises(UnsafeModelError, match="refuses to load") as e:
        load_model(path)
    assert "evil.keras" in str(e.value)


def test_missing_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        load_model(tmp_path / "none.keras")


def test_corrupt_model(tmp_path):
    p = tmp_path / "bad.keras"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptModelError, match=r"bad\.keras"):
        load_model(p)


def test_input_size_mismatch_names_both(small_demo):
    _, model_path = small_demo
    model = load_model(model_path)
    with pytest.raises(ModelInputMismatchError) as e:
        model.check_input(120, tuple(f"x{i}" for i in range(120)), "somewhere")
    msg = str(e.value)
    assert "takes 180 inputs" in msg and "has 120 features" in msg
    assert "track00_d0" in msg and "x0" in msg
