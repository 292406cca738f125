"""Load an upstream experiment folder (``<NNN>_Foundation_VAE_Model/``) as a float32 VAE.

Upstream saved Keras 2 SavedModels, which Keras 3 cannot load as models. The architecture
is in ``_experiment_config.yaml`` and the weights are plain TensorFlow checkpoints, so hepfm
rebuilds the same graph (``model/vae.py``, upstream's layer names) in float32 and copies
the checkpoint tensors onto it layer by layer, checking every shape. Evaluation is float32
whatever precision upstream trained in (it trained under mixed_float16).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (
    ModelNotFoundError,
    UnknownActivationError,
    UpstreamExperimentError,
    check_exists,
)
from ..model.files import LoadedModel
from ..model.vae import KNOWN_ACTIVATIONS, VAEConfig, build_decoder, build_encoder
from ..vocabulary import Parameterisation
from .data import upstream_feature_names
from .files import (
    EXPERIMENT_CONFIG,
    EXPERIMENT_INFO,
    MODEL_SUBDIR,
    experiment_fingerprint,
    experiment_root,
    read_experiment_config,
)
from .matching import find_dataset_for_experiment

__all__ = [
    "BN_ATTRS",
    "BN_EPSILON",
    "CHECKPOINT",
    "DENSE_ATTRS",
    "KEY",
    "detect_parameterisation",
    "load_upstream_experiment",
]

CHECKPOINT = Path("variables") / "variables"
KEY = "layer_with_weights-{i}/{attr}/.ATTRIBUTES/VARIABLE_VALUE"
DENSE_ATTRS = ("kernel", "bias")
BN_ATTRS = ("gamma", "beta", "moving_mean", "moving_variance")
BN_EPSILON = 1e-3


def _fail(what: str, where: Path, todo: str) -> UpstreamExperimentError:
    return UpstreamExperimentError(what, where, todo)


def _architecture(cfg: dict[str, Any], cfg_path: Path) -> dict[str, Any]:
    try:
        model = cfg["foundation_model_training"]["model"]
        arch = model["architecture"]
        if not isinstance(arch, dict):
            raise TypeError("architecture is not a mapping")
    except (KeyError, TypeError) as exc:
        raise _fail(
            f"{EXPERIMENT_CONFIG} has no foundation_model_training.model.architecture",
            cfg_path,
            "point at a foundation-model experiment written by the upstream pipeline",
        ) from exc
    model_type = model.get("model_type", "variational_autoencoder")
    if model_type != "variational_autoencoder":
        raise _fail(
            f"the experiment's model_type is {model_type!r}; hepfm reads only "
            "'variational_autoencoder' experiments",
            cfg_path,
            "point at a VAE foundation-model experiment",
        )
    missing = [k for k in ("latent_dim", "encoder_layers", "decoder_layers") if k not in arch]
    if missing:
        raise _fail(
            f"foundation_model_training.model.architecture in {EXPERIMENT_CONFIG} lacks "
            f"{', '.join(missing)}",
            cfg_path,
            "restore the experiment's original config",
        )
    activation = str(arch.get("activation", "relu"))
    if activation not in KNOWN_ACTIVATIONS:
        raise UnknownActivationError(
            f"the experiment's activation {activation!r} (foundation_model_training.model."
            f"architecture.activation in {EXPERIMENT_CONFIG}) is unknown to hepfm",
            cfg_path,
            f"use one of {', '.join(KNOWN_ACTIVATIONS)}",
        )
    try:
        return {
            "latent_dim": int(arch["latent_dim"]),
            "encoder_layers": [int(u) for u in arch["encoder_layers"]],
            "decoder_layers": [int(u) for u in arch["decoder_layers"]],
            "activation": activation,
        }
    except (TypeError, ValueError) as exc:
        raise _fail(
            f"foundation_model_training.model.architecture in {EXPERIMENT_CONFIG} has a "
            f"non-integer size ({exc})",
            cfg_path,
            "restore the experiment's original config",
        ) from exc


def _checkpoint(model_dir: Path, part: str) -> dict[str, np.ndarray]:
    """All ``layer_with_weights-*`` tensors of one SavedModel's checkpoint."""
    import tensorflow as tf

    prefix = model_dir / part / CHECKPOINT
    index = prefix.with_name(prefix.name + ".index")
    if not index.is_file():
        raise _fail(
            f"the {part} weights are missing: {index.relative_to(model_dir.parent.parent)} "
            "not found",
            index,
            "copy the experiment folder completely (models/foundation_model/<part>/variables/)",
        )
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        keys = [k for k in reader.get_variable_to_shape_map() if k.startswith("layer_with_")]
        return {k: np.asarray(reader.get_tensor(k)) for k in keys}
    except Exception as exc:  # TF raises several unrelated types for a damaged checkpoint
        raise _fail(
            f"the {part} checkpoint cannot be read ({type(exc).__name__}: {str(exc)[:200]})",
            prefix.parent,
            "copy the experiment folder again; the variables files look damaged",
        ) from exc


def _metadata_layers(part_dir: Path) -> tuple[list[dict[str, Any]] | None, str]:
    """Layer configs from ``keras_metadata.pb`` (JSON text inside a protobuf), and its text."""
    path = part_dir / "keras_metadata.pb"
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None, ""
    start = text.find('{"name": "')
    if start < 0:
        return None, text
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
        return list(obj["config"]["layers"]), text
    except (ValueError, KeyError, TypeError):
        return None, text


def _check_against_metadata(
    layers: list[dict[str, Any]] | None,
    plan: list[tuple[str, tuple[str, ...]]],
    activation: str,
    where: Path,
) -> float:
    """Cross-check the saved layer sequence against the rebuild; return the BN epsilon.

    The saved graph, reduced to Dense / activation / BatchNormalization steps (a Dense with
    a built-in activation counts as Dense then activation), must equal the rebuilt one.
    """
    if layers is None:
        return BN_EPSILON
    saved: list[tuple[str, str]] = []
    eps: set[float] = set()
    for lay in layers:
        cls, conf = lay.get("class_name"), lay.get("config") or {}
        if cls == "Dense":
            saved.append(("Dense", str(conf.get("name"))))
            if conf.get("activation", "linear") != "linear":
                saved.append(("Activation", str(conf.get("activation"))))
        elif cls == "Activation":
            saved.append(("Activation", str(conf.get("activation"))))
        elif cls == "BatchNormalization":
            saved.append(("BatchNormalization", str(conf.get("name"))))
            eps.add(float(conf.get("epsilon", BN_EPSILON)))
    expected: list[tuple[str, str]] = []
    for name, attrs in plan:
        if attrs == BN_ATTRS:
            expected += [("Activation", activation), ("BatchNormalization", name)]
        else:
            expected.append(("Dense", name))
    if saved != expected:
        raise _fail(
            f"the saved {where.name} ({_steps(saved)}) differs from what the config describes "
            f"({_steps(expected)})",
            where,
            "restore the experiment's original _experiment_config.yaml; if it is original, the "
            "experiment comes from an upstream version hepfm does not read yet",
        )
    if len(eps) > 1:
        raise _fail(
            f"the saved {where.name} uses several BatchNormalization epsilons {sorted(eps)}",
            where,
            "the experiment comes from an upstream version hepfm does not read yet",
        )
    return eps.pop() if eps else BN_EPSILON


def _steps(seq: list[tuple[str, str]]) -> str:
    return " -> ".join(name if kind != "Activation" else f"[{name}]" for kind, name in seq)


def _plan(cfg: VAEConfig, part: str) -> list[tuple[str, tuple[str, ...]]]:
    """(layer name, checkpoint attributes) in functional order = ``layer_with_weights-<i>``."""
    plan: list[tuple[str, tuple[str, ...]]] = []
    units = cfg.encoder_layers if part == "encoder" else cfg.decoder_layers
    for i in range(len(units)):
        plan += [(f"{part}_{i}_dense", DENSE_ATTRS), (f"{part}_{i}_bn", BN_ATTRS)]
    if part == "encoder":
        plan += [("z_mean", DENSE_ATTRS), ("z_log_var", DENSE_ATTRS)]
    else:
        plan += [("decoder_output", DENSE_ATTRS)]
    return plan


def _expected_shapes(cfg: VAEConfig, part: str) -> dict[str, tuple[int, ...]]:
    """The shape of every checkpoint tensor the config's architecture needs, computed from
    the config alone (nothing built): Dense kernels and biases, BatchNorm vectors."""
    units = cfg.encoder_layers if part == "encoder" else cfg.decoder_layers
    width = cfg.input_dim if part == "encoder" else cfg.latent_dim
    dense: list[tuple[int, int]] = []
    for u in units:
        dense.append((width, u))
        width = u
    heads = [(width, cfg.latent_dim)] * 2 if part == "encoder" else [(width, cfg.input_dim)]
    shapes: dict[str, tuple[int, ...]] = {}
    index = 0
    for n_in, n_out in dense:
        shapes[KEY.format(i=index, attr="kernel")] = (n_in, n_out)
        shapes[KEY.format(i=index, attr="bias")] = (n_out,)
        for attr in BN_ATTRS:
            shapes[KEY.format(i=index + 1, attr=attr)] = (n_out,)
        index += 2
    for n_in, n_out in heads:
        shapes[KEY.format(i=index, attr="kernel")] = (n_in, n_out)
        shapes[KEY.format(i=index, attr="bias")] = (n_out,)
        index += 1
    return shapes


def _check_shapes(cfg: VAEConfig, part: str, tensors: dict[str, np.ndarray], where: Path) -> None:
    """The checkpoint's tensors have the shapes the config's architecture needs, checked
    before anything is built: a config that asks for 12,000 units where the checkpoint holds
    64 is refused without allocating a network of its size."""
    for key, shape in _expected_shapes(cfg, part).items():
        held = tensors.get(key)
        if held is None or tuple(held.shape) != shape:
            found = "nothing" if held is None else f"shape {list(held.shape)}"
            raise _fail(
                f"the config's architecture needs {key} of shape {list(shape)}, the {part} "
                f"checkpoint holds {found}",
                where,
                "restore the experiment's original _experiment_config.yaml",
            )


def _assign(model, plan, tensors: dict[str, np.ndarray], part_dir: Path) -> None:
    """Copy checkpoint tensors onto the rebuilt layers, verifying every key and shape."""
    expected_keys = {KEY.format(i=i, attr=a) for i, (_, attrs) in enumerate(plan) for a in attrs}
    extra = sorted(set(tensors) - expected_keys)
    if extra:
        raise _fail(
            f"the {part_dir.name} checkpoint holds weights the config does not describe "
            f"(e.g. {extra[0]}); the config's architecture does not match the saved model",
            part_dir,
            "restore the experiment's original _experiment_config.yaml",
        )
    for i, (name, attrs) in enumerate(plan):
        layer = model.get_layer(name)
        values = []
        for attr, var in zip(attrs, layer.weights, strict=True):
            key = KEY.format(i=i, attr=attr)
            if key not in tensors:
                raise _fail(
                    f"the {part_dir.name} checkpoint lacks {key} (layer {name}); the config's "
                    "architecture does not match the saved model",
                    part_dir,
                    "restore the experiment's original _experiment_config.yaml",
                )
            value = tensors[key]
            if tuple(value.shape) != tuple(var.shape):
                raise _fail(
                    f"layer {name}: checkpoint tensor {key} has shape {list(value.shape)} but "
                    f"the config's architecture needs {list(var.shape)}",
                    part_dir,
                    "restore the experiment's original _experiment_config.yaml",
                )
            values.append(value.astype(np.float32))
        layer.set_weights(values)


def detect_parameterisation(encoder_dir: Path) -> tuple[Parameterisation, str]:
    """Upstream's current sampling uses softplus; older versions used exp. Look at the graph."""
    try:
        graph = (encoder_dir / "saved_model.pb").read_bytes()
    except OSError:
        return "softplus", "assumed (encoder saved_model.pb unreadable): upstream's current"
    # NodeDef.op is protobuf field 2: tag 0x12, then the name's length, then the name.
    if b"\x12\x08Softplus" in graph:
        return "softplus", "Softplus op found in the encoder's saved graph"
    if b"\x12\x03Exp" in graph:
        return "exp", "no Softplus op in the encoder's saved graph, an Exp op instead"
    return "softplus", "assumed: upstream's current sampling"


@contextlib.contextmanager
def _float32_policy() -> Iterator[None]:
    """Build the rebuilt models in float32 whatever the process-wide Keras policy is."""
    import keras

    old = keras.config.dtype_policy()
    if old.name == "float32":  # the usual case: leave the process-wide setting alone
        yield
        return
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)


def load_upstream_experiment(path: str | Path) -> LoadedModel:
    """Rebuild an upstream experiment's VAE in float32 and load its checkpoint weights."""
    path = check_exists(
        Path(path),
        ModelNotFoundError,
        "upstream experiment folder",
        "point at an upstream _foundation_experiments/<NNN>_Foundation_VAE_Model/ folder",
    )
    exp = experiment_root(path)
    cfg_path = exp / EXPERIMENT_CONFIG
    raw_cfg = read_experiment_config(exp)
    arch = _architecture(raw_cfg, cfg_path)
    model_dir = exp / MODEL_SUBDIR
    enc_t = _checkpoint(model_dir, "encoder")
    dec_t = _checkpoint(model_dir, "decoder")

    first = KEY.format(i=0, attr="kernel")
    if first not in enc_t or enc_t[first].ndim != 2:
        raise _fail(
            f"the encoder checkpoint lacks a first Dense kernel ({first})",
            model_dir / "encoder",
            "copy the experiment folder again",
        )
    input_dim = int(enc_t[first].shape[0])
    enc_layers, enc_meta = _metadata_layers(model_dir / "encoder")
    dec_layers, _ = _metadata_layers(model_dir / "decoder")
    parameterisation, param_how = detect_parameterisation(model_dir / "encoder")
    draft = VAEConfig(
        input_dim=input_dim,
        encoder_layers=tuple(arch["encoder_layers"]),
        decoder_layers=tuple(arch["decoder_layers"]),
        latent_dim=arch["latent_dim"],
        activation=arch["activation"],
        parameterisation=parameterisation,
    )
    enc_plan = _plan(draft, "encoder")
    dec_plan = _plan(draft, "decoder")
    eps_e = _check_against_metadata(enc_layers, enc_plan, arch["activation"], model_dir / "encoder")
    eps_d = _check_against_metadata(dec_layers, dec_plan, arch["activation"], model_dir / "decoder")
    if eps_e != eps_d:
        raise _fail(
            f"BatchNormalization epsilon differs between encoder ({eps_e}) and decoder ({eps_d})",
            model_dir,
            "report it to hepfm",
        )
    config = VAEConfig(**{**draft.to_dict(), "bn_epsilon": eps_e})
    _check_shapes(config, "encoder", enc_t, model_dir / "encoder")
    _check_shapes(config, "decoder", dec_t, model_dir / "decoder")
    with _float32_policy():
        encoder = build_encoder(config)
        decoder = build_decoder(config)
    _assign(encoder, enc_plan, enc_t, model_dir / "encoder")
    _assign(decoder, dec_plan, dec_t, model_dir / "decoder")

    match = find_dataset_for_experiment(exp)
    feature_names = None
    if match is not None:
        try:
            names = upstream_feature_names(match.path)
            feature_names = names if len(names) == input_dim else None
        except Exception:  # metadata only: a damaged dataset must not block loading the model
            feature_names = None

    fm = raw_cfg.get("foundation_model_training") or {}
    precision = "unknown"
    if enc_meta:
        precision = "mixed_float16" if "mixed_float16" in enc_meta else "float32"
    metadata: dict[str, Any] = {
        "format": "upstream-experiment",
        "experiment_dir": str(exp.resolve()),
        "experiment_name": raw_cfg.get("name"),
        "architecture": arch,
        "input_dim_source": f"encoder checkpoint {first} shape {list(enc_t[first].shape)}",
        "beta_schedule": ((fm.get("model") or {}).get("hyperparameters") or {}).get(
            "beta_schedule"
        ),
        "training": fm.get("training"),
        "dataset_config": raw_cfg.get("dataset"),
        "task_config": raw_cfg.get("task"),
        "precision_trained": precision,
        "precision_evaluated": "float32",
        "parameterisation": parameterisation,
        "parameterisation_source": param_how,
        "bn_epsilon": eps_e,
        "keras_metadata_checked": enc_layers is not None and dec_layers is not None,
        "dataset_dir": str(match.path) if match else None,
        "dataset_match": match.how if match else "no _processed_datasets/<id>/ folder found",
        "model_info": _read_json(model_dir / "model_info.json"),
        "experiment_info": _read_json(exp / EXPERIMENT_INFO),
    }
    if enc_meta and (version := _keras_version(enc_meta)):
        metadata["keras_version_trained"] = version
    return LoadedModel(
        encoder=encoder,
        decoder=decoder,
        config=config,
        source=str(exp.resolve()),
        kind="upstream",
        fingerprint=experiment_fingerprint(exp),
        feature_names=feature_names,
        normalisation=None,
        metadata=metadata,
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _keras_version(text: str) -> str | None:
    marker = '"keras_version": "'
    i = text.find(marker)
    if i < 0:
        return None
    j = text.find('"', i + len(marker))
    return text[i + len(marker) : j] if j > 0 else None
