"""The VAE: architecture, beta schedule, guarded training, the demo model's separation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepfm_core.errors import TrainingDivergedError, UnknownActivationError
from hepfm_core.vae import BetaSchedule, TrainingSettings, VAEConfig


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (0, 0.001),  # warm-up starts at `start`
        (1, 0.001 + (0.01 - 0.001) * 0.5),  # linear: half way after 1 of 2 epochs
        (2, 0.01 + 0.04 * (math.sin(0.0) + 1) / 2),  # first cycle epoch: phase 0
        (3, 0.01 + 0.04 * (math.sin(math.pi) + 1) / 2),  # phase 1/2 of a 2-epoch period
        (4, 0.03),  # the period repeats
    ],
)
def test_beta_schedule_against_formulas(epoch, expected):
    # the upstream fixture's schedule: start 0.001, warmup 2, low 0.01, high 0.05, period 2
    sched = BetaSchedule(start=0.001, warmup=2, cycle_low=0.01, cycle_high=0.05, cycle_period=2)
    assert sched.beta(epoch) == pytest.approx(expected, abs=1e-12)


def test_beta_schedule_quarter_period_reaches_high():
    sched = BetaSchedule(start=0.0, warmup=0, cycle_low=0.1, cycle_high=0.5, cycle_period=4)
    assert sched.beta(1) == pytest.approx(0.5)  # sin(pi/2) = 1
    assert sched.beta(3) == pytest.approx(0.1)  # sin(3 pi/2) = -1


def test_architecture_layer_names_and_shapes():
    from hepfm_core.vae import build_decoder, build_encoder

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


def test_training_lowers_the_loss():
    from hepfm_core.vae import train_vae

    rng = np.random.default_rng(0)
    latent = rng.normal(size=(4000, 2))
    x = np.tanh(latent @ rng.normal(size=(2, 10))).astype(np.float32)
    cfg = VAEConfig(input_dim=10, encoder_layers=(16,), decoder_layers=(16,), latent_dim=2)
    settings = TrainingSettings(epochs=10, batch_size=128, learning_rate=5e-3, patience=20)
    _, _, history = train_vae(x, cfg, settings)
    losses = [e["val_reconstruction"] for e in history.epochs]
    assert min(losses) < 0.6 * losses[0], losses
    assert history.best_epoch >= 1
    assert {"loss", "reconstruction", "kl", "beta", "val_loss"} <= set(history.epochs[0])


def test_non_finite_loss_stops_training_with_epoch_and_batch():
    from hepfm_core.vae import train_vae

    x = np.full((512, 4), 3e38, dtype=np.float32)  # squares overflow float32 at once
    cfg = VAEConfig(input_dim=4, encoder_layers=(4,), decoder_layers=(4,), latent_dim=2)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 1") as e:
        train_vae(x, cfg, TrainingSettings(epochs=2, batch_size=128, max_abs_input=None))
    assert "learning-rate" in str(e.value)


def test_quality_cut_leaves_out_extreme_events():
    from hepfm_core.vae import train_vae

    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    x[:5, 2] = 5e4  # degenerate fits
    cfg = VAEConfig(input_dim=4, encoder_layers=(4,), decoder_layers=(4,), latent_dim=2)
    _, _, history = train_vae(x, cfg, TrainingSettings(epochs=1, batch_size=128))
    assert history.events_left_out == 5 and history.events_used == 595


def test_nan_inputs_refused_before_training():
    from hepfm_core.vae import train_vae

    x = np.zeros((64, 4), dtype=np.float32)
    x[3, 1] = np.nan
    cfg = VAEConfig(input_dim=4, encoder_layers=(4,), decoder_layers=(4,), latent_dim=2)
    with pytest.raises(TrainingDivergedError, match="NaN or inf"):
        train_vae(x, cfg, TrainingSettings(epochs=1))


def test_demo_model_separates_wprime_qq(small_demo):
    from sklearn.metrics import roc_auc_score

    from hepfm_core.datasets import open_data
    from hepfm_core.model_io import load_model

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


def test_monitor_picks_best_fixed_beta_objective_not_cyclic_val_loss():
    from hepfm_core.vae import ValidationMonitor

    # (val_reconstruction, val_kl, beta of the epoch under the cyclic schedule)
    epochs = [
        (10.0, 50.0, 0.0),  # warm-up: val_loss 10.0 (KL free), at beta 0.1: 15.0
        (11.0, 20.0, 0.1),  # val_loss 13.0, at beta 0.1: 13.0
        (10.5, 40.0, 0.05),  # val_loss 12.5, at beta 0.1: 14.5
    ]
    cyclic_pick = 1 + min(range(3), key=lambda i: epochs[i][0] + epochs[i][2] * epochs[i][1])
    assert cyclic_pick == 1  # the biased choice: the beta = 0 epoch
    monitor = ValidationMonitor(monitor_beta=0.1, min_delta=1e-3, patience=5)
    for i, (rec, kl, beta) in enumerate(epochs):
        record = {"epoch": i + 1, "beta": beta, "val_reconstruction": rec, "val_kl": kl}
        monitor.update(record)
        assert record["val_objective"] == pytest.approx(rec + 0.1 * kl, rel=1e-12)
    assert monitor.best_epoch == 2
    assert monitor.best == pytest.approx(13.0)
    assert not monitor.should_stop


def test_monitor_patience_and_min_delta():
    from hepfm_core.vae import ValidationMonitor

    monitor = ValidationMonitor(monitor_beta=1.0, min_delta=0.5, patience=2)
    improved = [
        monitor.update({"epoch": e, "val_reconstruction": r, "val_kl": 0.0})
        for e, r in [(1, 10.0), (2, 9.8), (3, 9.0)]
    ]
    # 9.8 is within min_delta of 10.0: no improvement; 9.0 is
    assert improved == [True, False, True] and monitor.best_epoch == 3
    monitor.update({"epoch": 4, "val_reconstruction": 9.0, "val_kl": 0.0})
    assert not monitor.should_stop
    monitor.update({"epoch": 5, "val_reconstruction": 8.9, "val_kl": 0.0})
    assert monitor.should_stop and monitor.best_epoch == 3


def test_training_records_fixed_beta_validation_objective():
    from hepfm_core.vae import train_vae

    rng = np.random.default_rng(2)
    x = np.tanh(rng.normal(size=(600, 2)) @ rng.normal(size=(2, 6))).astype(np.float32)
    cfg = VAEConfig(input_dim=6, encoder_layers=(8,), decoder_layers=(8,), latent_dim=2)
    sched = BetaSchedule(start=0.0, warmup=1, cycle_low=0.02, cycle_high=0.3, cycle_period=2)
    settings = TrainingSettings(epochs=3, batch_size=128, patience=10, min_delta=0.0, beta=sched)
    _, _, history = train_vae(x, cfg, settings)
    assert history.monitor_beta == 0.3  # default: the schedule's cycle_high
    assert history.epochs[0]["beta"] == 0.0
    for e in history.epochs:
        want = e["val_reconstruction"] + 0.3 * e["val_kl"]
        assert e["val_objective"] == pytest.approx(want, rel=1e-6)
        # val_loss stays the loss at the epoch's own beta
        want_loss = e["val_reconstruction"] + e["beta"] * e["val_kl"]
        assert e["val_loss"] == pytest.approx(want_loss, rel=1e-5)
    objectives = [e["val_objective"] for e in history.epochs]
    assert history.best_epoch == 1 + int(np.argmin(objectives))

    explicit = TrainingSettings(epochs=2, batch_size=128, beta=sched, monitor_beta=0.05)
    _, _, history = train_vae(x, cfg, explicit)
    assert history.monitor_beta == 0.05
    for e in history.epochs:
        assert e["val_objective"] == pytest.approx(
            e["val_reconstruction"] + 0.05 * e["val_kl"], rel=1e-6
        )
