"""The VAE foundation model (Keras 3): its architecture and the variance and KL ops.

Encoder: blocks of Dense -> activation -> BatchNormalization, then linear ``z_mean`` and
``z_log_var`` heads. Decoder mirrors it with a linear output. Layer names follow upstream's
(``encoder_<i>_dense``, ``encoder_<i>_bn``, ``z_mean``, ``z_log_var``, ``decoder_<i>_dense``,
``decoder_<i>_bn``, ``decoder_output``) so upstream weights map onto the same graph.

Variance parameterisation: ``exp`` (v = exp(s), Gaussian, hepfm's default) or ``softplus``
(v = softplus(s) + 1e-6, upstream's current one). It is stored with the model because the
KL and the latent radius depend on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UnknownActivationError
from ..vocabulary import PARAMETERISATIONS, SOFTPLUS_EPS, Parameterisation

__all__ = [
    "KNOWN_ACTIVATIONS",
    "VAEConfig",
    "build_decoder",
    "build_encoder",
    "kl_per_event",
    "variance",
]

KNOWN_ACTIVATIONS = (
    "relu",
    "tanh",
    "sigmoid",
    "elu",
    "selu",
    "gelu",
    "swish",
    "silu",
    "leaky_relu",
)


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of the VAE."""

    input_dim: int
    encoder_layers: tuple[int, ...] = (128, 64, 32)
    decoder_layers: tuple[int, ...] = (32, 64, 128)
    latent_dim: int = 16
    activation: str = "relu"
    parameterisation: Parameterisation = "exp"
    bn_epsilon: float = 1e-3

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_layers", tuple(int(u) for u in self.encoder_layers))
        object.__setattr__(self, "decoder_layers", tuple(int(u) for u in self.decoder_layers))
        if self.activation not in KNOWN_ACTIVATIONS:
            raise UnknownActivationError(
                f"unknown activation {self.activation!r}",
                "model architecture",
                f"use one of {', '.join(KNOWN_ACTIVATIONS)}",
            )
        if self.parameterisation not in PARAMETERISATIONS:
            raise ValueError(f"unknown parameterisation {self.parameterisation!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["encoder_layers"] = list(self.encoder_layers)
        d["decoder_layers"] = list(self.decoder_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VAEConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _blocks(h, widths: tuple[int, ...], cfg: VAEConfig, prefix: str):
    """Dense -> activation -> BatchNormalization blocks named as upstream names them."""
    import keras

    for i, units in enumerate(widths):
        h = keras.layers.Dense(units, name=f"{prefix}_{i}_dense")(h)
        h = keras.layers.Activation(cfg.activation, name=f"{prefix}_{i}_activation")(h)
        h = keras.layers.BatchNormalization(epsilon=cfg.bn_epsilon, name=f"{prefix}_{i}_bn")(h)
    return h


def build_encoder(cfg: VAEConfig):
    """Encoder ``x -> [z_mean, z_log_var]``."""
    import keras

    inputs = keras.Input(shape=(cfg.input_dim,), name="encoder_input")
    h = _blocks(inputs, cfg.encoder_layers, cfg, "encoder")
    z_mean = keras.layers.Dense(cfg.latent_dim, name="z_mean")(h)
    z_log_var = keras.layers.Dense(cfg.latent_dim, name="z_log_var")(h)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(cfg: VAEConfig):
    """Decoder ``z -> x_hat`` (linear output)."""
    import keras

    inputs = keras.Input(shape=(cfg.latent_dim,), name="decoder_input")
    h = _blocks(inputs, cfg.decoder_layers, cfg, "decoder")
    out = keras.layers.Dense(cfg.input_dim, name="decoder_output")(h)
    return keras.Model(inputs, out, name="decoder")


def variance(z_log_var, parameterisation: Parameterisation):
    """The latent variance v from s = z_log_var, as a TensorFlow op."""
    import tensorflow as tf

    if parameterisation == "exp":
        return tf.exp(z_log_var)
    return tf.nn.softplus(z_log_var) + SOFTPLUS_EPS


def kl_per_event(z_mean, z_log_var, parameterisation: Parameterisation):
    """True Gaussian KL to N(0, 1) per event (for softplus: with log v, not s), in float64
    whatever the model's dtype: exp(z_log_var) overflows float32 above 88.7, which an
    unconstrained variance reaches (a beta-0 warm-up: the KL inf, 0 * inf a NaN loss)."""
    import tensorflow as tf

    z_mean, z_log_var = tf.cast(z_mean, tf.float64), tf.cast(z_log_var, tf.float64)
    v = variance(z_log_var, parameterisation)
    log_v = z_log_var if parameterisation == "exp" else tf.math.log(v)
    return -0.5 * tf.reduce_sum(1.0 + log_v - tf.square(z_mean) - v, axis=1)
