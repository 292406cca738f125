"""Training: the beta schedule, early stopping on a fixed-beta objective, the guarded training
loop on an array of inputs, and training on a DataSet's background saved as a model file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import DataSet
from ..data.hepfm_format import feature_definition_of
from ..data.samples import Sample
from ..errors import TrainingDivergedError
from .files import save_model
from .vae import VAEConfig, build_decoder, build_encoder, kl_per_event, variance

__all__ = [
    "BetaSchedule",
    "EpochCallback",
    "TrainingHistory",
    "TrainingSettings",
    "ValidationMonitor",
    "background_inputs",
    "batch_losses",
    "train_on_data",
    "train_vae",
    "weighted_kl",
]


@dataclass(frozen=True)
class BetaSchedule:
    """Upstream's beta schedule, per epoch (0-based).

    During ``warmup`` epochs beta moves linearly from ``start`` to ``cycle_low``; afterwards
    it oscillates between ``cycle_low`` and ``cycle_high`` with period ``cycle_period``
    epochs as ``low + (high - low) * (sin(2 pi p) + 1) / 2``, p the phase in the period.

    Examples
    --------
    >>> from hepfm_core.model.training import BetaSchedule
    >>> [round(BetaSchedule().beta(epoch), 4) for epoch in range(7)]
    [0.0, 0.005, 0.055, 0.1, 0.055, 0.01, 0.055]
    """

    start: float = 0.0
    warmup: int = 2
    cycle_low: float = 0.01
    cycle_high: float = 0.1
    cycle_period: int = 4

    def beta(self, epoch: int) -> float:
        if epoch < self.warmup:
            return self.start + (self.cycle_low - self.start) * (epoch / self.warmup)
        phase = ((epoch - self.warmup) % self.cycle_period) / self.cycle_period
        return (
            self.cycle_low
            + (self.cycle_high - self.cycle_low) * (math.sin(2.0 * math.pi * phase) + 1.0) / 2.0
        )


@dataclass(frozen=True)
class TrainingSettings:
    """Optimiser and stopping settings.

    ``monitor_beta`` is the fixed beta of the validation objective that early stopping and
    best-weight restore use (``val_reconstruction + monitor_beta * val_kl``); ``None`` means
    the schedule's ``cycle_high``, the heaviest KL weight training works towards. It is fixed
    so that epochs trained at different cyclic betas are compared on one scale.
    """

    epochs: int = 20
    batch_size: int = 1024
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    validation_fraction: float = 0.1
    patience: int = 3
    min_delta: float = 1e-3
    seed: int = 42
    max_events: int | None = None
    max_abs_input: float | None = 1e3
    beta: BetaSchedule = field(default_factory=BetaSchedule)
    monitor_beta: float | None = None

    def resolved_monitor_beta(self) -> float:
        """The beta early stopping monitors at: ``monitor_beta``, else ``beta.cycle_high``."""
        return float(self.beta.cycle_high if self.monitor_beta is None else self.monitor_beta)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-able values, ``monitor_beta`` resolved to the beta used."""
        d = asdict(self)
        d["monitor_beta"] = self.resolved_monitor_beta()
        return d


@dataclass
class TrainingHistory:
    """Per-epoch means: loss, reconstruction, KL, beta (train), val_loss and val_objective.

    ``val_loss`` is the validation loss at the epoch's own (cyclic) beta; ``val_objective``
    is ``val_reconstruction + monitor_beta * val_kl``, the one early stopping compares.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    monitor_beta: float = math.nan
    events_used: int = 0
    events_left_out: int = 0
    best_epoch: int = -1
    stopped_early: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ValidationMonitor:
    """Early stopping on the validation objective at one fixed beta.

    The loss at the epoch's cyclic beta is not comparable across epochs (at beta = 0 the KL
    is free), so each epoch is judged by ``val_reconstruction + monitor_beta * val_kl``. An
    epoch improves when its objective is below the best by more than ``min_delta``; after
    ``patience`` epochs without improvement ``should_stop`` turns true.
    """

    monitor_beta: float
    min_delta: float = 1e-3
    patience: int = 3
    best: float = math.inf
    best_epoch: int = -1
    waited: int = 0
    should_stop: bool = False

    def objective(self, val_reconstruction: float, val_kl: float) -> float:
        return float(val_reconstruction) + self.monitor_beta * float(val_kl)

    def update(self, record: dict[str, float]) -> bool:
        """Add ``val_objective`` to the epoch's ``record``; True when it is the new best."""
        value = self.objective(record["val_reconstruction"], record["val_kl"])
        record["val_objective"] = value
        if value < self.best - self.min_delta:
            self.best = value
            self.best_epoch = int(record["epoch"])
            self.waited = 0
            return True
        self.waited += 1
        if self.waited >= self.patience:
            self.should_stop = True
        return False


EpochCallback = Callable[[dict[str, float]], None]


def batch_losses(encoder, decoder, batch, parameterisation, *, training: bool, sample: bool):
    """The mean reconstruction error and the mean KL of ``batch`` (TensorFlow float64
    scalars; ``sample``: z drawn from the latent Gaussian, else z = z_mean).

    The KL in float64 (:func:`~.vae.kl_per_event`): while beta is 0 (the warm-up) nothing
    holds the variances back, and exp(z_log_var) overflowed float32 on a few validation
    events: their KL inf, the validation loss 0 * inf = NaN, the training stopped (the 200k
    demo, latent dimension 4, at epoch 1)."""
    import tensorflow as tf

    z_mean, z_log_var = encoder(batch, training=training)
    if sample:
        eps = tf.random.normal(tf.shape(z_mean))
        z = z_mean + tf.sqrt(variance(z_log_var, parameterisation)) * eps
    else:
        z = z_mean
    x_hat = decoder(z, training=training)
    recon = tf.reduce_sum(tf.square(batch - x_hat), axis=1)
    kl = kl_per_event(z_mean, z_log_var, parameterisation)  # float64
    return tf.cast(tf.reduce_mean(recon), tf.float64), tf.reduce_mean(kl)


def weighted_kl(beta, kl):
    """``beta * kl`` (float64) for a loss; at beta 0 the KL is left out, not multiplied by 0
    (an infinite KL would make the loss and its gradients NaN)."""
    import tensorflow as tf

    beta = tf.cast(beta, tf.float64)
    return tf.cond(beta > 0.0, lambda: beta * kl, lambda: tf.zeros_like(kl))


def train_vae(
    x: np.ndarray,
    cfg: VAEConfig,
    settings: TrainingSettings,
    on_epoch: EpochCallback | None = None,
) -> tuple[Any, Any, TrainingHistory]:
    """Train encoder and decoder on background inputs ``x`` ``(n, D)`` float32.

    Adam with clipnorm, the beta schedule per epoch, early stopping on the validation
    objective at the fixed ``settings.resolved_monitor_beta()`` (see ``ValidationMonitor``)
    restoring the best weights. A non-finite loss stops at once with a
    ``TrainingDivergedError`` naming the epoch and batch. The loss per event is
    ``sum_i (x_i - x_hat_i)^2 + beta * KL``, with z sampled as ``z_mean + sqrt(v) * eps``.

    Parameters
    ----------
    x : np.ndarray
        Model inputs ``(n, D)``, all finite; events with any ``|input|`` above
        ``settings.max_abs_input`` are left out (counted in the history).
    cfg : VAEConfig
        The architecture; ``cfg.input_dim`` must be ``D``.
    settings : TrainingSettings
        Epochs, batch size, learning rate, validation fraction, stopping, seed.
    on_epoch : callable, optional
        Called with each epoch's record (loss, reconstruction, KL, beta, validation).

    Returns
    -------
    (encoder, decoder, TrainingHistory)
        The Keras models with the best epoch's weights, and the per-epoch history.

    Examples
    --------
    Two epochs on 2,000 standardised events (TensorFlow, some seconds):

    >>> import numpy as np
    >>> from hepfm_core.model.vae import VAEConfig
    >>> x = np.random.default_rng(0).normal(size=(2_000, 12)).astype(np.float32)
    >>> cfg = VAEConfig(input_dim=12, encoder_layers=(16,), decoder_layers=(16,), latent_dim=2)
    >>> encoder, decoder, history = train_vae(x, cfg, TrainingSettings(epochs=2, batch_size=256))
    >>> len(history.epochs), history.best_epoch in [r["epoch"] for r in history.epochs]
    (2, True)
    >>> r = history.epochs[-1]
    >>> bool(np.isclose(r["val_objective"],
    ...                 r["val_reconstruction"] + history.monitor_beta * r["val_kl"]))
    True
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(settings.seed)
    x = np.asarray(x, dtype=np.float32)
    if settings.max_events is not None:
        x = x[: settings.max_events]
    if not np.isfinite(x).all():
        raise TrainingDivergedError(
            "training inputs contain NaN or inf",
            "training data",
            "read the data with fill='median' (the default) so non-finite raw values are filled",
        )
    # Quality cut: events with any standardised input beyond max_abs_input (degenerate track
    # fits) would dominate every batch they fall in; they are left out of training, counted.
    left_out = 0
    if settings.max_abs_input is not None:
        keep = np.abs(x).max(axis=1) <= settings.max_abs_input
        left_out = int((~keep).sum())
        if left_out:
            x = x[keep]
    if x.shape[0] < 2:
        raise TrainingDivergedError(
            f"only {x.shape[0]} training events remain after the quality cut "
            f"(|input| <= {settings.max_abs_input})",
            "training data",
            "check the input normalisation, or raise max_abs_input",
        )
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(x.shape[0])
    n_val = max(1, round(settings.validation_fraction * x.shape[0]))
    x_val, x_train = x[order[:n_val]], x[order[n_val:]]

    encoder = build_encoder(cfg)
    decoder = build_decoder(cfg)
    weights = encoder.trainable_variables + decoder.trainable_variables
    optimizer = keras.optimizers.Adam(
        learning_rate=settings.learning_rate, clipnorm=settings.clipnorm
    )
    beta_var = tf.Variable(0.0, dtype=tf.float32, trainable=False)
    param = cfg.parameterisation

    def losses(batch, training: bool, sample: bool):
        return batch_losses(encoder, decoder, batch, param, training=training, sample=sample)

    @tf.function(reduce_retracing=True)
    def train_step(batch):
        with tf.GradientTape() as tape:
            recon, kl = losses(batch, True, True)
            loss = recon + weighted_kl(beta_var, kl)
        grads = tape.gradient(loss, weights)
        optimizer.apply_gradients(zip(grads, weights, strict=True))
        return loss, recon, kl

    @tf.function(reduce_retracing=True)
    def val_step(batch):
        recon, kl = losses(batch, False, False)
        return recon + weighted_kl(beta_var, kl), recon, kl

    monitor = ValidationMonitor(
        settings.resolved_monitor_beta(), settings.min_delta, settings.patience
    )
    history = TrainingHistory(
        monitor_beta=monitor.monitor_beta, events_used=int(x.shape[0]), events_left_out=left_out
    )
    best_weights = None
    t0 = time.perf_counter()
    bs = settings.batch_size
    for epoch in range(settings.epochs):
        beta = settings.beta.beta(epoch)
        beta_var.assign(beta)
        perm = rng.permutation(x_train.shape[0])
        sums = np.zeros(3)
        n_batches = 0
        for b, start in enumerate(range(0, x_train.shape[0], bs)):
            batch = x_train[perm[start : start + bs]]
            if batch.shape[0] < 2:  # BatchNormalization needs two events
                continue
            out = [float(v) for v in train_step(tf.constant(batch))]
            if not all(math.isfinite(v) for v in out):
                raise TrainingDivergedError(
                    f"training diverged: loss={out[0]}, reconstruction={out[1]}, KL={out[2]} "
                    f"at epoch {epoch + 1}, batch {b + 1} (beta={beta:.4g})",
                    "hepfm train",
                    "lower --learning-rate, keep clipnorm, lower the beta schedule, or check the "
                    "input normalisation for extreme values",
                )
            sums += out
            n_batches += 1
        val = np.zeros(3)
        n_val_b = 0
        for start in range(0, x_val.shape[0], 8192):
            vb = x_val[start : start + 8192]
            val += [float(v) for v in val_step(tf.constant(vb))]
            n_val_b += 1
        val /= max(n_val_b, 1)
        record = {
            "epoch": epoch + 1,
            "beta": beta,
            "loss": sums[0] / max(n_batches, 1),
            "reconstruction": sums[1] / max(n_batches, 1),
            "kl": sums[2] / max(n_batches, 1),
            "val_loss": float(val[0]),
            "val_reconstruction": float(val[1]),
            "val_kl": float(val[2]),
            "seconds": time.perf_counter() - t0,
        }
        improved = monitor.update(record)
        for name in ("val_loss", "val_objective"):
            if not math.isfinite(record[name]):
                raise TrainingDivergedError(
                    f"validation {name.removeprefix('val_')} is {record[name]} at epoch "
                    f"{epoch + 1}",
                    "hepfm train",
                    "lower --learning-rate or check the input normalisation",
                )
        history.epochs.append(record)
        if on_epoch:
            on_epoch(record)
        if improved:
            best_weights = (encoder.get_weights(), decoder.get_weights())
            history.best_epoch = monitor.best_epoch
        elif monitor.should_stop:
            history.stopped_early = True
            break
    if best_weights is not None:
        encoder.set_weights(best_weights[0])
        decoder.set_weights(best_weights[1])
    history.seconds = time.perf_counter() - t0
    return encoder, decoder, history


def background_inputs(data: DataSet, max_events: int | None = None) -> tuple[np.ndarray, Sample]:
    """The background's model inputs (float32, in memory, at most ``max_events``) and its
    Sample."""
    bg = data.background
    n = bg.n_events if max_events is None else min(max_events, bg.n_events)
    x = np.empty((n, bg.n_features), dtype=np.float32)
    for start, block in bg.chunks():
        if start >= n:
            break
        x[start : start + block.shape[0]] = block[: n - start]
    return x, bg


def train_on_data(
    data: DataSet,
    out: str | Path,
    *,
    config: VAEConfig | None = None,
    settings: TrainingSettings | None = None,
    on_epoch: EpochCallback | None = None,
) -> Path:
    """Train on the background of ``data``; write ``out`` (.keras) with hepfm's metadata.

    What ``hepfm train`` and the demo run: :func:`train_vae` on the background's inputs,
    then ``files.save_model`` with the feature names, the background's normalisation, the
    settings, the history and the data's fingerprint.

    Parameters
    ----------
    data : DataSet
        Its background is the training data (at most ``settings.max_events`` events).
    out : str or Path
        The model file to write, ending in ``.keras``.
    config : VAEConfig, optional
        The architecture (its ``input_dim`` is set to the data's); the default when None.
    settings : TrainingSettings, optional
        The default when None.
    on_epoch : callable, optional
        Called with each epoch's record.

    Returns
    -------
    Path
        ``out``, written whole (the file appears only once complete).

    Examples
    --------
    A model file for a small generated data folder (TensorFlow, some seconds):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from hepfm_core.data.generator import GeneratorConfig, generate_dataset
    >>> from hepfm_core.sources import describe_model, open_data
    >>> folder = Path(tempfile.mkdtemp())
    >>> files = generate_dataset(folder / "data", 2_000, 200, GeneratorConfig(seed=2), None)
    >>> path = train_on_data(open_data(folder / "data"), folder / "model.keras",
    ...                      settings=TrainingSettings(epochs=1))
    >>> info = describe_model(path)
    >>> info.kind, info.parameterisation
    ('hepfm', 'exp')
    """
    settings = settings or TrainingSettings()
    x, bg = background_inputs(data, settings.max_events)
    config = config or VAEConfig(input_dim=bg.n_features)
    if config.input_dim != bg.n_features:
        config = replace(config, input_dim=bg.n_features)
    encoder, decoder, history = train_vae(x, config, settings, on_epoch=on_epoch)
    return save_model(
        out,
        encoder,
        decoder,
        config,
        feature_names=bg.feature_names,
        normalisation=bg.normalisation,
        extra={
            "training": settings.to_dict(),
            "history": history.to_dict(),
            "data": {
                "path": str(Path(data.path).resolve()),
                "background_fingerprint": bg.provenance.fingerprint,
                "events_used": int(x.shape[0]),
                "feature_definition": feature_definition_of(data),
            },
        },
    )
