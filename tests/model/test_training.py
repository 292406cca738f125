"""Training: the beta schedule, guarded training, early stopping on a fixed-beta objective,
and training on a data set's background: the model file carries what evaluation needs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepfm_core.errors import TrainingDivergedError
from hepfm_core.model.files import read_metadata
from hepfm_core.model.training import (
    BetaSchedule,
    TrainingSettings,
    ValidationMonitor,
    background_inputs,
    batch_losses,
    train_on_data,
    train_vae,
    weighted_kl,
)
from hepfm_core.model.vae import VAEConfig
from hepfm_core.sources import load_model, open_data


def test_background_inputs_caps_events(small_data):
    x, bg = background_inputs(open_data(small_data), max_events=1234)
    assert x.shape == (1234, bg.n_features) and x.dtype == np.float32
    np.testing.assert_array_equal(x, np.asarray(bg.x[0:1234]))


def test_train_on_data_writes_metadata(small_data, tmp_path):
    cfg = VAEConfig(input_dim=1, encoder_layers=(16,), decoder_layers=(16,), latent_dim=3)
    path = train_on_data(
        open_data(small_data),
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
    cfg = VAEConfig(input_dim=1, encoder_layers=(8,), decoder_layers=(8,), latent_dim=2)
    sched = BetaSchedule(cycle_low=0.01, cycle_high=0.2)
    path = train_on_data(
        open_data(small_data),
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


@pytest.mark.slow  # trains a model
def test_training_lowers_the_loss():
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


@pytest.mark.slow  # trains a model
def test_non_finite_loss_stops_training_with_epoch_and_batch():
    x = np.full((512, 4), 3e38, dtype=np.float32)  # squares overflow float32 at once
    cfg = VAEConfig(input_dim=4, encoder_layers=(4,), decoder_layers=(4,), latent_dim=2)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 1") as e:
        train_vae(x, cfg, TrainingSettings(epochs=2, batch_size=128, max_abs_input=None))
    assert "learning-rate" in str(e.value)


@pytest.mark.slow  # trains a model
def test_quality_cut_leaves_out_extreme_events():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    x[:5, 2] = 5e4  # degenerate fits
    cfg = VAEConfig(input_dim=4, encoder_layers=(4,), decoder_layers=(4,), latent_dim=2)
    _, _, history = train_vae(x, cfg, TrainingSettings(epochs=1, batch_size=128))
    assert history.events_left_out == 5 and history.events_used == 595


def _encoder_with_log_variance(cfg, s):
    """The encoder of ``cfg`` whose z_log_var is ``s`` for every event."""
    from hepfm_core.model.vae import build_encoder

    encoder = build_encoder(cfg)
    layer = encoder.get_layer("z_log_var")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.full_like(bias, s)])
    return encoder


@pytest.mark.parametrize("parameterisation", ["exp", "softplus"])
def test_the_kl_of_a_batch_is_float64_beyond_float32s_exp(parameterisation):
    # s = 100: exp(s) = 2.7e43 overflows float32 (the KL was inf, the validation loss
    # 0 * inf = NaN at a warm-up's beta 0); in float64 it is the KL numpy gives
    import tensorflow as tf

    from hepfm_core.model.vae import build_decoder

    cfg = VAEConfig(
        input_dim=6, encoder_layers=(8,), decoder_layers=(8,), latent_dim=3,
        parameterisation=parameterisation,
    )  # fmt: skip
    encoder, decoder = _encoder_with_log_variance(cfg, 100.0), build_decoder(cfg)
    x = np.random.default_rng(3).normal(size=(50, 6)).astype(np.float32)
    recon, kl = batch_losses(encoder, decoder, tf.constant(x), parameterisation,
                             training=False, sample=False)  # fmt: skip
    assert recon.dtype == kl.dtype == tf.float64
    mu, s = (np.asarray(a, dtype=np.float64) for a in encoder(x, training=False))
    v = np.exp(s) if parameterisation == "exp" else np.logaddexp(0.0, s) + 1e-6
    want = np.mean(-0.5 * np.sum(1.0 + np.log(v) - mu**2 - v, axis=1))
    assert np.isfinite(float(kl))
    if parameterisation == "exp":
        assert float(kl) > 3.5e38  # beyond float32's largest number
    assert float(kl) == pytest.approx(want, rel=1e-12)
    x_hat = np.asarray(decoder(mu.astype(np.float32), training=False), dtype=np.float64)
    assert float(recon) == pytest.approx(np.mean(np.sum((x - x_hat) ** 2, axis=1)), rel=1e-6)


def test_beta_zero_leaves_even_an_infinite_kl_out_of_the_loss_and_its_gradients():
    # s = 800: exp(s) overflows float64 too; at beta 0 the loss is the reconstruction
    import tensorflow as tf

    from hepfm_core.model.vae import build_decoder

    cfg = VAEConfig(input_dim=6, encoder_layers=(8,), decoder_layers=(8,), latent_dim=3)
    encoder, decoder = _encoder_with_log_variance(cfg, 800.0), build_decoder(cfg)
    x = tf.constant(np.random.default_rng(4).normal(size=(50, 6)).astype(np.float32))
    weights = encoder.trainable_variables + decoder.trainable_variables
    with tf.GradientTape() as tape:
        recon, kl = batch_losses(encoder, decoder, x, "exp", training=True, sample=False)
        loss = recon + weighted_kl(tf.constant(0.0), kl)
    assert math.isinf(float(kl)) and float(loss) == float(recon)
    grads = tape.gradient(loss, weights)
    assert all(g is None or np.isfinite(np.asarray(g)).all() for g in grads)
    assert any(g is not None and np.abs(np.asarray(g)).sum() > 0 for g in grads)
    assert float(weighted_kl(0.1, tf.constant(5.0, tf.float64))) == pytest.approx(0.5)
    assert math.isinf(float(weighted_kl(0.1, kl)))  # a weighted infinite KL stays infinite


def test_nan_inputs_refused_before_training():
    x = np.zeros((64, 4), dtype=np.float32)
    x[3, 1] = np.nan
    cfg = VAEConfig(input_dim=4, encoder_layers=(4,), decoder_layers=(4,), latent_dim=2)
    with pytest.raises(TrainingDivergedError, match="NaN or inf"):
        train_vae(x, cfg, TrainingSettings(epochs=1))


def test_monitor_picks_best_fixed_beta_objective_not_cyclic_val_loss():
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


@pytest.mark.slow  # trains a model
def test_training_records_fixed_beta_validation_objective():
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
