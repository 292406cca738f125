"""The VAE: architecture and layer names, and the demo model's separation."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.errors import UnknownActivationError
from hepfm_core.model.vae import VAEConfig


def test_architecture_layer_names_and_shapes():
    from hepfm_core.model.vae import build_decoder, build_encoder

    cfg = VAEConfig(input_dim=12, encoder_layers=(8, 4), decoder_layers=(4, 8), latent_dim=3)
    enc, dec = build_encoder(cfg), build_decoder(cfg)
    names = [layer.name for layer in enc.layers]
    assert names == [
        "encoder_input",
        "encoder_0_dense",
        "encoder_0_activation",
        "encoder_0_bn",
        "encoder_1_dense",
        "encoder_1_activation",
        "encoder_1_bn",
        "z_mean",
        "z_log_var",
    ]
    assert enc.get_layer("encoder_0_bn").epsilon == pytest.approx(1e-3)
    z_mean, z_log_var = enc(np.zeros((5, 12), np.float32))
    assert z_mean.shape == (5, 3) and z_log_var.shape == (5, 3)
    assert dec(np.zeros((5, 3), np.float32)).shape == (5, 12)
    assert dec.get_layer("decoder_output").get_config()["activation"] == "linear"


def test_unknown_activation():
    with pytest.raises(UnknownActivationError, match="unknown activation 'wiggle'"):
        VAEConfig(input_dim=4, activation="wiggle")


def test_demo_model_separates_wprime_qq(small_demo):
    from sklearn.metrics import roc_auc_score

    from hepfm_core.sources import load_model, open_data

    data_dir, model_path = small_demo
    model = load_model(model_path)
    data = open_data(data_dir)
    bg = np.asarray(data.background.x[0:5000])
    sig = np.asarray(data.signals["wprime_qq"].x[0:2000])
    recon = []
    for x in (bg, sig):
        _, _, x_hat = model.predict(x)
        recon.append(((x.astype(np.float64) - x_hat) ** 2).sum(axis=1))
    y = np.r_[np.zeros(len(recon[0])), np.ones(len(recon[1]))]
    auc = roc_auc_score(y, np.r_[recon[0], recon[1]])
    assert auc > 0.8
