"""Training on a data folder: the model file carries what evaluation needs."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.datasets import open_data
from hepfm_core.model_io import load_model, read_metadata
from hepfm_core.training import load_background, train_on_folder
from hepfm_core.vae import TrainingSettings, VAEConfig


def test_load_background_caps_events(small_data):
    x, bg = load_background(small_data, max_events=1234)
    assert x.shape == (1234, bg.n_features) and x.dtype == np.float32
    np.testing.assert_array_equal(x, np.asarray(bg.x[0:1234]))


def test_train_on_folder_writes_metadata(small_data, tmp_path):
    cfg = VAEConfig(input_dim=1, encoder_layers=(16,), decoder_layers=(16,), latent_dim=3)
    path = train_on_folder(
        small_data,
        tmp_path / "m.keras",
        config=cfg,
        settings=TrainingSettings(epochs=2, batch_size=256, max_events=3000),
    )
    meta = read_metadata(path)
    bg = open_data(small_data).background
    assert meta["config"]["input_dim"] == 180  # taken from the data
    assert meta["feature_names"] == list(bg.feature_names)
    assert meta["normalisation"] == bg.x.normalisation.to_dict()
    assert meta["data"]["background_fingerprint"] == bg.provenance.fingerprint
    assert meta["data"]["events_used"] == 3000
    assert len(meta["history"]["epochs"]) == 2
    model = load_model(path)
    assert model.config.latent_dim == 3 and model.feature_names == bg.feature_names


def test_training_metadata_names_the_monitor_beta(small_data, tmp_path):
    from hepfm_core.vae import BetaSchedule

    cfg = VAEConfig(input_dim=1, encoder_layers=(8,), decoder_layers=(8,), latent_dim=2)
    sched = BetaSchedule(cycle_low=0.01, cycle_high=0.2)
    path = train_on_folder(
        small_data,
        tmp_path / "m.keras",
        config=cfg,
        settings=TrainingSettings(epochs=2, batch_size=256, max_events=1500, beta=sched),
    )
    meta = read_metadata(path)
    assert meta["training"]["monitor_beta"] == 0.2  # the schedule's cycle_high
    assert meta["history"]["monitor_beta"] == 0.2
    for e in meta["history"]["epochs"]:
        assert e["val_objective"] == pytest.approx(
            e["val_reconstruction"] + 0.2 * e["val_kl"], rel=1e-6
        )
