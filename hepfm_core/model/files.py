"""hepfm model files: one ``.keras`` file holding the VAE and the metadata evaluation needs.

The Keras archive (a zip) gets one extra member, ``hepfm_metadata.json``: feature names,
normalisation, variance parameterisation, architecture, training settings and history, the
training data's fingerprint and library versions. Loading always uses Keras
``safe_mode=True``: a file that carries a Lambda layer or other arbitrary code is refused.
A file's identity (``file_fingerprint``) is read from the zip alone, without TensorFlow.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..common.fingerprint import hash_stream
from ..common.versions import model_versions
from ..data.normalisation import Normalisation
from ..errors import CorruptModelError, ModelInputMismatchError, UnsafeModelError
from ..vocabulary import Parameterisation
from .vae import VAEConfig

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KERAS_CONFIG_MEMBER",
    "KERAS_WEIGHTS_MEMBER",
    "METADATA_MEMBER",
    "LoadedModel",
    "file_fingerprint",
    "load_hepfm_model",
    "read_metadata",
    "save_model",
    "weights_fingerprint",
]

METADATA_MEMBER = "hepfm_metadata.json"
KERAS_WEIGHTS_MEMBER = "model.weights.h5"
KERAS_CONFIG_MEMBER = "config.json"
"""Keras's architecture of the saved model (what Keras builds it from)."""
FORMAT_NAME = "hepfm-model"
FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A VAE ready for evaluation: encoder ``x -> [z_mean, z_log_var]`` and decoder ``z -> x``.

    Both are float32 Keras models whatever precision training used. ``kind`` says whether it
    came from a hepfm ``.keras`` file or an upstream experiment folder. ``fingerprint`` is
    ``sources.model_fingerprint`` of the source, the same as ``describe_model``'s.
    """

    encoder: Any
    decoder: Any
    config: VAEConfig
    source: str
    kind: Literal["hepfm", "upstream"]
    fingerprint: str
    feature_names: tuple[str, ...] | None = None
    normalisation: Normalisation | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def parameterisation(self) -> Parameterisation:
        return self.config.parameterisation

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """z_mean, z_log_var and the reconstruction from z = z_mean, all float32 numpy."""
        x = np.asarray(x, dtype=np.float32)
        z_mean, z_log_var = self.encoder(x, training=False)
        x_hat = self.decoder(z_mean, training=False)
        return (
            np.asarray(z_mean, dtype=np.float32),
            np.asarray(z_log_var, dtype=np.float32),
            np.asarray(x_hat, dtype=np.float32),
        )

    def check_input(
        self, n_features: int, feature_names: tuple[str, ...] | None, where: str
    ) -> None:
        """Raise ``ModelInputMismatchError`` when the data does not fit the model's input."""
        if n_features != self.config.input_dim:
            names = ""
            if self.feature_names is not None or feature_names is not None:
                names = (
                    f"; model features: {_short(self.feature_names)}; "
                    f"data features: {_short(feature_names)}"
                )
            raise ModelInputMismatchError(
                f"the model takes {self.config.input_dim} inputs but the data has "
                f"{n_features} features{names}",
                where,
                "evaluate the model on data from the same preprocessing it was trained on",
            )


def _short(names: tuple[str, ...] | None) -> str:
    if names is None:
        return "unknown"
    if len(names) <= 8:
        return ", ".join(names)
    return f"{', '.join(names[:4])}, ..., {', '.join(names[-2:])} ({len(names)})"


def weights_fingerprint(path: str | Path, config: dict[str, Any]) -> str:
    """Fingerprint of a hepfm ``.keras`` file: its weights member, Keras's architecture
    (``config.json``) and the VAE ``config``.

    ``config`` is the ``VAEConfig.to_dict()`` stored in the file's metadata (it carries the
    variance parameterisation, which Keras's files do not). Keras's ``config.json`` is what
    Keras builds the model from, so it is hashed too (a changed one is another model, or one
    Keras refuses), less its per-process object ids (``shared_object_id``): same weights and
    architecture, same fingerprint, whichever process saved them. ``metadata.json`` holds a
    save date and is not hashed.
    """
    path = Path(path)
    h = hashlib.blake2b(digest_size=16)
    h.update(b"hepfm-model\0")
    h.update(json.dumps(config, sort_keys=True).encode())
    try:
        with zipfile.ZipFile(path) as zf:
            missing = {KERAS_WEIGHTS_MEMBER, KERAS_CONFIG_MEMBER} - set(zf.namelist())
            if missing:
                raise CorruptModelError(
                    f"{path.name} holds no {' and no '.join(sorted(missing))}",
                    path,
                    "retrain or copy the model file again",
                )
            with zf.open(KERAS_WEIGHTS_MEMBER) as member:
                hash_stream(h, member)
            architecture = _without_object_ids(json.loads(zf.read(KERAS_CONFIG_MEMBER)))
            h.update(b"\0architecture\0")
            h.update(json.dumps(architecture, sort_keys=True).encode())
    except json.JSONDecodeError as exc:
        raise CorruptModelError(
            f"{path.name}'s {KERAS_CONFIG_MEMBER} is not JSON ({exc})",
            path,
            "retrain or copy the model file again",
        ) from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorruptModelError(
            f"{path.name} is not a readable .keras model file ({exc})",
            path,
            "retrain or copy the model file again",
        ) from exc
    return h.hexdigest()


def _without_object_ids(node: Any) -> Any:
    """Keras's architecture less the ids it numbers shared objects with in one process."""
    if isinstance(node, dict):
        return {k: _without_object_ids(v) for k, v in node.items() if k != "shared_object_id"}
    if isinstance(node, list):
        return [_without_object_ids(v) for v in node]
    return node


def file_fingerprint(path: str | Path) -> str:
    """The identity of a hepfm model file (no TensorFlow): its weights and stored config."""
    return weights_fingerprint(path, read_metadata(path).get("config", {}))


def save_model(
    path: str | Path,
    encoder,
    decoder,
    config: VAEConfig,
    *,
    feature_names: tuple[str, ...] | None,
    normalisation: Normalisation | None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write encoder and decoder as one ``.keras`` file with hepfm's metadata inside."""
    import keras

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError("hepfm model files end in .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    x = keras.Input(shape=(config.input_dim,), name="x")
    z_mean, z_log_var = encoder(x)
    x_hat = decoder(z_mean)
    bundle = keras.Model(x, [z_mean, z_log_var, x_hat], name="hepfm_vae")
    tmp = path.with_name(path.name + ".partial.keras")
    bundle.save(tmp)
    # the file's identity (file_fingerprint), from the weights just written
    fingerprint = weights_fingerprint(tmp, config.to_dict())
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "feature_names": list(feature_names) if feature_names is not None else None,
        "normalisation": normalisation.to_dict() if normalisation is not None else None,
        "fingerprint": fingerprint,
        "versions": model_versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    with zipfile.ZipFile(tmp, "a") as zf:
        zf.writestr(METADATA_MEMBER, json.dumps(metadata, indent=1))
    tmp.replace(path)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(METADATA_MEMBER))
    except KeyError as exc:
        raise CorruptModelError(
            f"{path.name} is a Keras file without hepfm's metadata",
            path,
            "save models with `hepfm train`, or point at an upstream experiment folder",
        ) from exc
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError) as exc:
        raise CorruptModelError(
            f"{path.name} is not a readable .keras model file ({exc})",
            path,
            "retrain or copy the model file again",
        ) from exc


def load_hepfm_model(path: str | Path) -> LoadedModel:
    """Load a hepfm ``.keras`` model in safe mode; typed errors for every failure."""
    import keras

    path = Path(path)
    metadata = read_metadata(path)
    try:
        bundle = keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "unsafe" in text.lower():
            raise UnsafeModelError(
                f"{path.name} carries code that runs on load (e.g. a Lambda layer); hepfm "
                "refuses to load it",
                path,
                "only load model files you trust; rebuild the model without Lambda layers",
            ) from exc
        raise CorruptModelError(
            f"{path.name} cannot be loaded ({text[:300]})", path, "retrain"
        ) from exc
    except Exception as exc:
        raise CorruptModelError(
            f"{path.name} cannot be loaded ({type(exc).__name__}: {str(exc)[:300]})",
            path,
            "retrain or copy the model file again",
        ) from exc
    config = VAEConfig.from_dict(metadata["config"])
    encoder = bundle.get_layer("encoder")
    decoder = bundle.get_layer("decoder")
    norm = metadata.get("normalisation")
    names = metadata.get("feature_names")
    return LoadedModel(
        encoder=encoder,
        decoder=decoder,
        config=config,
        source=str(path.resolve()),
        kind="hepfm",
        fingerprint=file_fingerprint(path),
        feature_names=tuple(names) if names else None,
        normalisation=Normalisation.from_dict(norm) if norm else None,
        metadata=metadata,
    )
