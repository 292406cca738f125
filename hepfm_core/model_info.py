"""What a model file or experiment folder is, read without TensorFlow.

The scoring cache is keyed by the model's fingerprint, so finding a cached pass must not
need the (slow to import) framework: hepfm files carry their fingerprint in the metadata,
and an upstream experiment is fingerprinted from its weight files' bytes and its config.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ModelNotFoundError, UpstreamExperimentError

UPSTREAM_PARTS = ("encoder", "decoder")


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
            fingerprint=str(meta["fingerprint"]),
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
    h = hashlib.blake2b(digest_size=16)
    h.update((root / "_experiment_config.yaml").read_bytes())
    for part in UPSTREAM_PARTS:
        var_dir = root / "models" / "foundation_model" / part / "variables"
        files = sorted(var_dir.glob("variables.*")) if var_dir.exists() else []
        if not files:
            raise UpstreamExperimentError(
                f"upstream experiment {root.name} has no {part} weights",
                var_dir,
                "copy the whole experiment folder, models/foundation_model included",
            )
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    from .upstream_model import detect_parameterisation

    param, _ = detect_parameterisation(root / "models" / "foundation_model" / "encoder")
    return ModelInfo(
        path=str(root.resolve()),
        kind="upstream",
        fingerprint="upstream-" + h.hexdigest(),
        parameterisation=param,
        latent_dim=arch.get("latent_dim"),
        description=f"upstream experiment {root.name} ({param} variance)",
    )
