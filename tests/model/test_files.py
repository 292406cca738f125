"""hepfm model files: save/load round trip, metadata, safe mode, typed errors."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from hepfm_core.data.normalisation import Normalisation
from hepfm_core.errors import (
    CorruptModelError,
    ModelInputMismatchError,
    ModelNotFoundError,
    UnsafeModelError,
)
from hepfm_core.model.files import read_metadata, save_model
from hepfm_core.model.vae import VAEConfig, build_decoder, build_encoder
from hepfm_core.sources import describe_model, load_model

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


def _rewrite_weights(src, dst, change) -> None:
    """Copy the .keras zip ``src`` to ``dst`` with ``change(h5_file)`` applied to its weights."""
    import h5py

    tmp_h5 = dst.with_suffix(".h5")
    with zipfile.ZipFile(src) as zin:
        members = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    tmp_h5.write_bytes(members["model.weights.h5"])
    with h5py.File(tmp_h5, "r+") as h5:
        change(h5)
    members["model.weights.h5"] = tmp_h5.read_bytes()
    with zipfile.ZipFile(dst, "w") as zout:
        for name, blob in members.items():
            zout.writestr(name, blob)


def test_one_fingerprint_for_a_hepfm_file(saved, tmp_path):
    import h5py

    from hepfm_core.sources import model_fingerprint

    path, enc, dec = saved
    loaded = load_model(path)
    assert loaded.fingerprint == describe_model(path).fingerprint == model_fingerprint(path)
    again = save_model(
        tmp_path / "again.keras", enc, dec, CFG, feature_names=None, normalisation=None
    )
    assert model_fingerprint(again) == model_fingerprint(path)  # same weights, same model

    def nudge_first_array(h5):
        arrays = []
        h5.visititems(lambda n, o: arrays.append(o) if isinstance(o, h5py.Dataset) else None)
        target = next(a for a in arrays if a.size and a.dtype.kind == "f")
        target[...] = target[...] + 0.5

    changed = tmp_path / "changed.keras"
    _rewrite_weights(path, changed, nudge_first_array)
    other = load_model(changed)
    old_w = [*loaded.encoder.get_weights(), *loaded.decoder.get_weights()]
    new_w = [*other.encoder.get_weights(), *other.decoder.get_weights()]
    assert sum(not np.array_equal(a, b) for a, b in zip(old_w, new_w, strict=True)) == 1
    assert other.fingerprint == describe_model(changed).fingerprint == model_fingerprint(changed)
    assert other.fingerprint != loaded.fingerprint


def test_demo_model_one_fingerprint(small_demo):
    from hepfm_core.sources import model_fingerprint

    _, model_path = small_demo
    assert load_model(model_path).fingerprint == describe_model(model_path).fingerprint
    assert describe_model(model_path).fingerprint == model_fingerprint(model_path)


def test_the_fingerprint_covers_kerass_architecture(saved, tmp_path):
    """A file whose weights are unchanged but whose Keras architecture (config.json) is not
    is another model (or one Keras refuses): its scores must not be the cached ones."""
    import json

    from hepfm_core.sources import model_fingerprint

    path, _, _ = saved
    with zipfile.ZipFile(path) as zin:
        members = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    config = json.loads(members["config.json"])
    text = json.dumps(config).replace('"relu"', '"tanh"')
    assert text != json.dumps(config)  # the demo's hidden layers are relu
    changed = tmp_path / "changed.keras"
    with zipfile.ZipFile(changed, "w") as zout:
        for name, blob in members.items():
            zout.writestr(name, text if name == "config.json" else blob)
    assert model_fingerprint(changed) != model_fingerprint(path)
    # only the per-process object ids: the same model
    renumbered = tmp_path / "renumbered.keras"
    ids = json.dumps(config).replace('"shared_object_id": ', '"shared_object_id": 9')
    assert ids != json.dumps(config)
    with zipfile.ZipFile(renumbered, "w") as zout:
        for name, blob in members.items():
            zout.writestr(name, ids if name == "config.json" else blob)
    assert model_fingerprint(renumbered) == model_fingerprint(path)
