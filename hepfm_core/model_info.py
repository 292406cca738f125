"""What a model file or experiment folder is, read without TensorFlow.

A model has one identity, ``model_fingerprint``: a hash of the stored bytes that decide its
outputs. ``describe_model`` (``ModelInfo``) and the loaders (``LoadedModel``) both use it.
The scoring cache is keyed by it, so finding a cached pass must not need the (slow to
import) framework: the fingerprint reads files only.

- hepfm ``.keras`` file: the weights member's bytes and the architecture from hepfm's
  metadata (Keras's own ``config.json`` holds per-process object ids, and ``metadata.json``
  a save date, so neither is hashed).
- upstream experiment: ``_experiment_config.yaml`` and, for encoder and decoder, the
  checkpoint files plus ``keras_metadata.pb`` (BatchNormalization epsilon) and
  ``saved_model.pb`` (variance parameterisation) where present.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import CorruptModelError, ModelNotFoundError, UpstreamExperimentError

UPSTREAM_PARTS = ("encoder", "decoder")
KERAS_WEIGHTS_MEMBER = "model.weights.h5"
UPSTREAM_PREFIX = "upstream-"
_READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class ModelInfo:
    """Identity of a model: where it is, what kind, its fingerprint and parameterisation."""

    path: str
    kind: Literal["hepfm", "upstream"]
    fingerprint: str
    parameterisation: str
    latent_dim: int | None
    description: str


def upstream_root(path: Path) -> Path:
    """The experiment folder for a path that is the folder or its models/foundation_model."""
    if (path / "_experiment_config.yaml").exists():
        return path
    for parent in path.parents[:3]:
        if (parent / "_experiment_config.yaml").exists():
            return parent
    raise UpstreamExperimentError(
        f"{path.name} is a folder without _experiment_config.yaml",
        path,
        "point at an upstream experiment folder (<NNN>_Foundation_VAE_Model) or a hepfm "
        ".keras file",
    )


def _hash_stream(h: Any, stream: Any) -> None:
    while block := stream.read(_READ_BLOCK):
        h.update(block)


def hepfm_file_fingerprint(path: str | Path, config: dict[str, Any]) -> str:
    """Fingerprint of a hepfm ``.keras`` file: its weights member and the VAE ``config``.

    ``config`` is the ``VAEConfig.to_dict()`` stored in the file's metadata (it carries the
    variance parameterisation, which Keras's files do not). Same weights, same fingerprint,
    whichever process saved them.
    """
    path = Path(path)
    h = hashlib.blake2b(digest_size=16)
    h.update(b"hepfm-model\0")
    h.update(json.dumps(config, sort_keys=True).encode())
    try:
        with zipfile.ZipFile(path) as zf, zf.open(KERAS_WEIGHTS_MEMBER) as member:
            _hash_stream(h, member)
    except KeyError as exc:
        raise CorruptModelError(
            f"{path.name} holds no {KERAS_WEIGHTS_MEMBER}",
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


def upstream_fingerprint(root: Path) -> str:
    """Fingerprint of an upstream experiment folder ``root`` (see the module docstring)."""
    h = hashlib.blake2b(digest_size=16)
    h.update((root / "_experiment_config.yaml").read_bytes())
    for part in UPSTREAM_PARTS:
        part_dir = root / "models" / "foundation_model" / part
        var_dir = part_dir / "variables"
        files = sorted(var_dir.glob("variables.*")) if var_dir.exists() else []
        if not files:
            raise UpstreamExperimentError(
                f"upstream experiment {root.name} has no {part} weights",
                var_dir,
                "copy the whole experiment folder, models/foundation_model included",
            )
        for f in [*files, part_dir / "keras_metadata.pb", part_dir / "saved_model.pb"]:
            if not f.is_file():
                continue
            h.update(f"{part}/{f.name}\0".encode())
            with f.open("rb") as stream:
                _hash_stream(h, stream)
    return UPSTREAM_PREFIX + h.hexdigest()


def model_fingerprint(path: str | Path) -> str:
    """The one identity of a model: a hepfm ``.keras`` file or an upstream experiment folder.

    Reads files only (no TensorFlow); ``ModelInfo.fingerprint`` and
    ``LoadedModel.fingerprint`` both come from here, so they agree for the same model.
    """
    path = Path(path)
    if not path.exists():
        raise ModelNotFoundError(f"model not found: {path}", path, "check the path")
    if path.is_file():
        from .model_io import read_metadata

        return hepfm_file_fingerprint(path, read_metadata(path).get("config", {}))
    return upstream_fingerprint(upstream_root(path))


def describe_model(path: str | Path) -> ModelInfo:
    """Fingerprint and basic facts of a hepfm ``.keras`` file or an upstream experiment."""
    path = Path(path)
    if not path.exists():
        raise ModelNotFoundError(
            f"model not found: {path}",
            path,
            "check the path; `hepfm demo` trains the demo model into data/demo/",
        )
    if path.is_file():
        from .model_io import read_metadata

        meta = read_metadata(path)
        cfg = meta.get("config", {})
        return ModelInfo(
            path=str(path.resolve()),
            kind="hepfm",
            fingerprint=hepfm_file_fingerprint(path, cfg),
            parameterisation=str(cfg.get("parameterisation", "exp")),
            latent_dim=cfg.get("latent_dim"),
            description=f"hepfm VAE {path.name} ({cfg.get('parameterisation', 'exp')} variance)",
        )
    import yaml

    root = upstream_root(path)
    config = yaml.safe_load((root / "_experiment_config.yaml").read_text())
    arch = (
        (config or {}).get("foundation_model_training", {}).get("model", {}).get("architecture", {})
    )
    fingerprint = upstream_fingerprint(root)
    from .upstream_model import detect_parameterisation

    param, _ = detect_parameterisation(root / "models" / "foundation_model" / "encoder")
    return ModelInfo(
        path=str(root.resolve()),
        kind="upstream",
        fingerprint=fingerprint,
        parameterisation=param,
        latent_dim=arch.get("latent_dim"),
        description=f"upstream experiment {root.name} ({param} variance)",
    )
