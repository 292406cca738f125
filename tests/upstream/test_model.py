"""Loading upstream experiment folders: the rebuilt float32 VAE equals an independent numpy
forward pass of the checkpoint tensors and reproduces FIXTURE.md's reference scores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from hepfm_core.errors import UnknownActivationError, UpstreamExperimentError
from hepfm_core.upstream.data import open_upstream_dataset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXPERIMENT = "001_Foundation_VAE_Model"
DATASET_ID = "dataset_runs_00298967-2-00311481_45222f19"
KEY = "layer_with_weights-{i}/{attr}/.ATTRIBUTES/VARIABLE_VALUE"

# FIXTURE.md, "Reference numbers from an independent float64 forward pass":
# (mean SSE, mean KL raw, first-event SSE, first-event KL) per normalisation and sample.
REFERENCE = {
    "own": {
        "background": (91.6342, 0.8014, 88.0520, 3.6897),
        "wprime_taunu": (76.0789, 0.2555, 59.3666, 0.0168),
        "zprime_tt": (117.4810, 1.4923, 177.8305, 8.6395),
    },
    "background": {
        "background": (91.6342, 0.8014, 88.0520, 3.6897),
        "wprime_taunu": (241.2529, 2.5449, 185.4930, 3.3791),
        "zprime_tt": (1105.0289, 30.3475, 1020.4307, 30.6749),
    },
}
# (reconstruction AUC, KL-clipped-at-0 AUC)
AUCS = {
    "own": {"zprime_tt": (0.7141, 0.5948), "wprime_taunu": (0.3540, 0.4116)},
    "background": {"zprime_tt": (1.0000, 0.9842), "wprime_taunu": (0.9506, 0.6425)},
}


@pytest.fixture(scope="module")
def exp_dir(upstream_fixture: Path) -> Path:
    return upstream_fixture / "_foundation_experiments" / EXPERIMENT


@pytest.fixture(scope="module")
def model(exp_dir: Path):
    from hepfm_core.upstream.model import load_upstream_experiment

    return load_upstream_experiment(exp_dir)


@pytest.fixture(scope="module")
def inputs(upstream_fixture: Path) -> dict[str, dict[str, np.ndarray]]:
    folder = upstream_fixture / "_processed_datasets" / DATASET_ID
    out = {}
    for mode in ("own", "background"):
        ds = open_upstream_dataset(folder, signal_normalisation=mode)
        out[mode] = {name: np.asarray(s.x) for name, s in ds.samples.items()}
    return out


@pytest.fixture(scope="module")
def tensors(exp_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    import tensorflow as tf

    out = {}
    for part in ("encoder", "decoder"):
        prefix = exp_dir / "models" / "foundation_model" / part / "variables" / "variables"
        reader = tf.train.load_checkpoint(str(prefix))
        out[part] = {
            k: reader.get_tensor(k).astype(np.float64)
            for k in reader.get_variable_to_shape_map()
            if k.startswith("layer_with_weights")
        }
    return out


# -- independent float64 forward pass (FIXTURE.md's layer order) --------------------------
def _dense(t, i, h):
    return h @ t[KEY.format(i=i, attr="kernel")] + t[KEY.format(i=i, attr="bias")]


def _relu_bn(t, i, h):
    h = np.maximum(h, 0.0)
    g = {a: t[KEY.format(i=i, attr=a)] for a in ("gamma", "beta", "moving_mean", "moving_variance")}
    return (h - g["moving_mean"]) / np.sqrt(g["moving_variance"] + 1e-3) * g["gamma"] + g["beta"]


def numpy_forward(tensors, x):
    enc, dec = tensors["encoder"], tensors["decoder"]
    h = np.asarray(x, dtype=np.float64)
    h = _relu_bn(enc, 1, _dense(enc, 0, h))
    h = _relu_bn(enc, 3, _dense(enc, 2, h))
    mu, s = _dense(enc, 4, h), _dense(enc, 5, h)
    h = _relu_bn(dec, 1, _dense(dec, 0, mu))
    h = _relu_bn(dec, 3, _dense(dec, 2, h))
    return mu, s, _dense(dec, 4, h)


def upstream_kl(mu, s):
    """Upstream's formula: -1/2 sum(1 + s - mu^2 - (softplus(s) + 1e-6))."""
    return -0.5 * np.sum(1.0 + s - mu**2 - (np.logaddexp(0.0, s) + 1e-6), axis=1)


@pytest.fixture(scope="module")
def scores(model, inputs):
    """Per normalisation and sample: (x, z_mean, z_log_var, x_hat) from the loaded model."""
    out = {}
    for mode, samples in inputs.items():
        out[mode] = {name: (x, *model.predict(x)) for name, x in samples.items()}
    return out


def test_config_and_metadata(model, exp_dir: Path, upstream_fixture: Path):
    cfg = model.config
    assert model.kind == "upstream"
    assert cfg.input_dim == 120 and cfg.latent_dim == 4
    assert cfg.encoder_layers == (32, 16) and cfg.decoder_layers == (16, 32)
    assert cfg.activation == "relu" and cfg.parameterisation == "softplus"
    assert cfg.bn_epsilon == pytest.approx(1e-3)
    assert model.source == str(exp_dir.resolve())
    assert model.normalisation is None
    assert model.feature_names is not None and len(model.feature_names) == 120
    assert model.feature_names[4] == "track00_pt"
    md = model.metadata
    assert md["precision_trained"] == "mixed_float16"
    assert md["beta_schedule"] == {
        "start": 0.001,
        "warmup": 2,
        "cycle_low": 0.01,
        "cycle_high": 0.05,
        "cycle_period": 2,
    }
    assert (
        Path(md["dataset_dir"]).resolve()
        == (upstream_fixture / "_processed_datasets" / DATASET_ID).resolve()
    )
    assert md["model_info"]["test_loss"] == pytest.approx(1.576171875)
    n_params = sum(int(np.prod(w.shape)) for w in model.encoder.weights + model.decoder.weights)
    dense = [(120, 32), (32, 16), (16, 4), (16, 4), (4, 16), (16, 32), (32, 120)]
    expected = sum(i * o + o for i, o in dense) + 4 * (32 + 16 + 16 + 32)
    # 9504; FIXTURE.md's 9506 is upstream's count, which also includes its full-model wrapper
    assert n_params == expected == 9504
    for w in model.encoder.weights + model.decoder.weights:
        assert str(w.dtype) == "float32"
    assert model.fingerprint.startswith("upstream-") and len(model.fingerprint) == 9 + 32


def test_subfolder_and_load_model_dispatch(model, exp_dir: Path):
    from hepfm_core.sources import load_model
    from hepfm_core.upstream.model import load_upstream_experiment

    again = load_upstream_experiment(exp_dir / "models" / "foundation_model")
    assert again.fingerprint == model.fingerprint
    via = load_model(exp_dir)
    assert via.kind == "upstream" and via.fingerprint == model.fingerprint


def test_matches_numpy_forward_pass(scores, tensors):
    for mode, samples in scores.items():
        for name, (x, mu, s, x_hat) in samples.items():
            ref_mu, ref_s, ref_x_hat = numpy_forward(tensors, x)
            assert mu.dtype == np.float32
            np.testing.assert_allclose(mu, ref_mu, rtol=1e-4, atol=2e-4, err_msg=f"{mode} {name}")
            np.testing.assert_allclose(s, ref_s, rtol=1e-4, atol=2e-4, err_msg=f"{mode} {name}")
            np.testing.assert_allclose(
                x_hat, ref_x_hat, rtol=1e-4, atol=5e-4, err_msg=f"{mode} {name}"
            )


def test_reference_scores(scores):
    for mode, samples in scores.items():
        for name, (x, mu, s, x_hat) in samples.items():
            sse = np.sum((x.astype(np.float64) - x_hat) ** 2, axis=1)
            kl = upstream_kl(mu.astype(np.float64), s.astype(np.float64))
            mean_sse, mean_kl, sse0, kl0 = REFERENCE[mode][name]
            where = f"{mode} {name}"
            assert sse.mean() == pytest.approx(mean_sse, rel=2e-5, abs=2e-4), where
            assert kl.mean() == pytest.approx(mean_kl, abs=3e-4), where
            assert sse[0] == pytest.approx(sse0, rel=2e-5, abs=2e-4), where
            assert kl[0] == pytest.approx(kl0, abs=3e-4), where


def test_reference_aucs(scores):
    from sklearn.metrics import roc_auc_score

    for mode, samples in scores.items():
        bg_x, bg_mu, bg_s, bg_x_hat = samples["background"]
        bg_sse = np.sum((bg_x.astype(np.float64) - bg_x_hat) ** 2, axis=1)
        bg_kl = np.clip(upstream_kl(bg_mu.astype(np.float64), bg_s.astype(np.float64)), 0, None)
        for name, (auc_recon, auc_kl) in AUCS[mode].items():
            x, mu, s, x_hat = samples[name]
            sse = np.sum((x.astype(np.float64) - x_hat) ** 2, axis=1)
            kl = np.clip(upstream_kl(mu.astype(np.float64), s.astype(np.float64)), 0, None)
            y = np.r_[np.zeros(bg_sse.size), np.ones(sse.size)]
            got_recon = roc_auc_score(y, np.r_[bg_sse, sse])
            got_kl = roc_auc_score(y, np.r_[bg_kl, kl])
            assert got_recon == pytest.approx(auc_recon, abs=2e-3), (mode, name)
            assert got_kl == pytest.approx(auc_kl, abs=2e-3), (mode, name)


def test_agrees_with_upstream_savedmodel(scores, exp_dir: Path):
    """Upstream's own SavedModel (float16 compute) gives the same z_mean within rounding."""
    import keras

    x = scores["own"]["zprime_tt"][0][:256]
    layer = keras.layers.TFSMLayer(
        str(exp_dir / "models" / "foundation_model" / "encoder"), call_endpoint="serving_default"
    )
    out = layer(x)
    ours_mu = scores["own"]["zprime_tt"][1][:256]
    ours_s = scores["own"]["zprime_tt"][2][:256]
    np.testing.assert_allclose(np.asarray(out["z_mean"], dtype=np.float32), ours_mu, atol=2e-2)
    np.testing.assert_allclose(np.asarray(out["z_log_var"], dtype=np.float32), ours_s, atol=2e-2)


# -- broken experiment folders --------------------------------------------------------------
def _copy_experiment(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.png", "testing", "sample_data"))
    return dst


def test_folder_without_config(tmp_path: Path):
    from hepfm_core.upstream.model import load_upstream_experiment

    (tmp_path / "models").mkdir()
    with pytest.raises(UpstreamExperimentError) as err:
        load_upstream_experiment(tmp_path)
    assert "_experiment_config.yaml" in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_missing_encoder_weights(tmp_path: Path, exp_dir: Path):
    from hepfm_core.upstream.model import load_upstream_experiment

    exp = _copy_experiment(exp_dir, tmp_path / EXPERIMENT)
    shutil.rmtree(exp / "models" / "foundation_model" / "encoder" / "variables")
    with pytest.raises(UpstreamExperimentError) as err:
        load_upstream_experiment(exp)
    text = str(err.value)
    assert "encoder" in text and "variables" in text and str(exp) in text


def test_unknown_activation(tmp_path: Path, exp_dir: Path):
    from hepfm_core.upstream.model import load_upstream_experiment

    exp = _copy_experiment(exp_dir, tmp_path / EXPERIMENT)
    cfg = exp / "_experiment_config.yaml"
    text = cfg.read_text()
    assert text.count('activation: "relu"') >= 1
    cfg.write_text(text.replace('activation: "relu"', 'activation: "wobbly"', 1))
    with pytest.raises(UnknownActivationError) as err:
        load_upstream_experiment(exp)
    assert "wobbly" in str(err.value) and str(cfg) in str(err.value)


def test_architecture_not_matching_weights(tmp_path: Path, exp_dir: Path):
    from hepfm_core.upstream.model import load_upstream_experiment

    exp = _copy_experiment(exp_dir, tmp_path / EXPERIMENT)
    cfg = exp / "_experiment_config.yaml"
    text = cfg.read_text()
    assert "encoder_layers: [32, 16]" in text
    cfg.write_text(text.replace("encoder_layers: [32, 16]", "encoder_layers: [64, 16]"))
    with pytest.raises(UpstreamExperimentError) as err:
        load_upstream_experiment(exp)
    assert "encoder" in str(err.value)


def test_a_huge_crafted_architecture_is_refused_before_it_is_built(
    tmp_path: Path, exp_dir: Path, monkeypatch
):
    """``encoder_layers: [12000, 12000]`` against a checkpoint of 32 and 16 units: refused by
    the shapes, without building a network of that size (+2.3 GB per selection before)."""
    from hepfm_core.upstream import model as module

    exp = _copy_experiment(exp_dir, tmp_path / EXPERIMENT)
    cfg = exp / "_experiment_config.yaml"
    text = cfg.read_text()
    cfg.write_text(text.replace("encoder_layers: [32, 16]", "encoder_layers: [12000, 12000]"))
    monkeypatch.setattr(module, "build_encoder", lambda *a: pytest.fail("built"))
    monkeypatch.setattr(module, "build_decoder", lambda *a: pytest.fail("built"))
    with pytest.raises(UpstreamExperimentError, match=r"needs .* of shape \[.*12000\]"):
        module.load_upstream_experiment(exp)


def test_float32_even_under_a_mixed_policy(exp_dir: Path, model):
    import keras

    from hepfm_core.upstream.model import load_upstream_experiment

    keras.config.set_dtype_policy("mixed_float16")
    try:
        again = load_upstream_experiment(exp_dir)
        assert keras.config.dtype_policy().name == "mixed_float16"  # restored
    finally:
        keras.config.set_dtype_policy("float32")
    assert again.fingerprint == model.fingerprint
    for a, b in zip(
        again.encoder.get_weights() + again.decoder.get_weights(),
        model.encoder.get_weights() + model.decoder.get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    mu, s, x_hat = again.predict(np.zeros((3, 120), dtype=np.float32))
    assert {mu.dtype, s.dtype, x_hat.dtype} == {np.dtype(np.float32)}
    assert {str(layer.dtype_policy.name) for layer in again.encoder.layers} == {"float32"}


def test_sampling_parameterisation_read_from_the_graph(tmp_path: Path, exp_dir: Path):
    """An encoder graph with an Exp op and no Softplus (older upstream) loads as 'exp'."""
    from hepfm_core.upstream.model import load_upstream_experiment

    exp = _copy_experiment(exp_dir, tmp_path / EXPERIMENT)
    graph = exp / "models" / "foundation_model" / "encoder" / "saved_model.pb"
    data = graph.read_bytes()
    assert b"\x12\x08Softplus" in data
    graph.write_bytes(data.replace(b"\x12\x08Softplus", b"\x12\x08Softsign") + b"\x12\x03Exp")
    loaded = load_upstream_experiment(exp)
    assert loaded.config.parameterisation == "exp"
    assert "Exp" in loaded.metadata["parameterisation_source"]


# -- one identity per model -----------------------------------------------------------------
def _rewrite_checkpoint(prefix: Path, change) -> None:
    """Write the checkpoint at ``prefix`` again with ``change(tensors)`` applied (TF's SaveV2)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    tensors = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
    change(tensors)
    for f in prefix.parent.iterdir():
        f.unlink()
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[k]) for k in names],
    )


def test_loaded_and_described_upstream_model_share_one_fingerprint(
    model, exp_dir: Path, tmp_path: Path
):
    from hepfm_core.sources import describe_model, model_fingerprint
    from hepfm_core.upstream.model import load_upstream_experiment

    info = describe_model(exp_dir)
    assert model.fingerprint == info.fingerprint == model_fingerprint(exp_dir)
    assert model_fingerprint(exp_dir / "models" / "foundation_model") == info.fingerprint

    exp = _copy_experiment(exp_dir, tmp_path / EXPERIMENT)
    assert model_fingerprint(exp) == info.fingerprint  # a copy is the same model
    var_dir = exp / "models" / "foundation_model" / "decoder" / "variables"
    var_dir.chmod(0o755)
    kernel = KEY.format(i=0, attr="kernel")

    def nudge(tensors):
        tensors[kernel] = tensors[kernel] + np.float32(0.25)

    _rewrite_checkpoint(var_dir / "variables", nudge)
    changed = load_upstream_experiment(exp)
    w_old = model.decoder.get_layer("decoder_0_dense").get_weights()[0]
    w_new = changed.decoder.get_layer("decoder_0_dense").get_weights()[0]
    np.testing.assert_allclose(w_new, w_old + 0.25, rtol=1e-6)
    assert changed.fingerprint == describe_model(exp).fingerprint == model_fingerprint(exp)
    assert changed.fingerprint != info.fingerprint
