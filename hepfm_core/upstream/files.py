"""The upstream pipeline's file names, and the rules for finding and reading its folders.

A processed dataset is ``_processed_datasets/<id>/`` holding ``dataset.h5`` (background),
``signal_dataset.h5`` (one group per signal) and ``_dataset_config.yaml``. An experiment is
``_foundation_experiments/<NNN>_Foundation_VAE_Model/`` holding ``_experiment_config.yaml``
and the encoder and decoder SavedModels under ``models/foundation_model/``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..common import paths
from ..common.fingerprint import hash_stream
from ..errors import DataError, UpstreamExperimentError

__all__ = [
    "BACKGROUND_FILE",
    "DATASET_CONFIG",
    "EXPERIMENT_CONFIG",
    "EXPERIMENT_INFO",
    "FINGERPRINT_PREFIX",
    "MODEL_PARTS",
    "MODEL_SUBDIR",
    "SIGNAL_FILE",
    "branch_name",
    "configured_experiment_root",
    "experiment_fingerprint",
    "experiment_root",
    "read_experiment_config",
    "read_yaml",
]

BACKGROUND_FILE = "dataset.h5"
SIGNAL_FILE = "signal_dataset.h5"
DATASET_CONFIG = "_dataset_config.yaml"
EXPERIMENT_CONFIG = "_experiment_config.yaml"
EXPERIMENT_INFO = "_experiment_info.json"
MODEL_SUBDIR = Path("models") / "foundation_model"
MODEL_PARTS = ("encoder", "decoder")
FINGERPRINT_PREFIX = "upstream-"


def experiment_root(path: str | Path) -> Path:
    """The experiment folder for ``path``: the folder itself or its models/, models/
    foundation_model/ or a part folder below.

    The nearest of ``path`` and its three parents that holds ``_experiment_config.yaml``;
    without one, ``.../models/foundation_model`` and ``.../models`` (holding
    ``foundation_model/``) are recognised by name; otherwise ``path`` itself.
    """
    path = Path(path)
    for folder in (path, *path.parents[:3]):
        if not paths.readable(folder):  # a server's data root: the walk stops at it
            break
        if (folder / EXPERIMENT_CONFIG).exists():
            return folder
    named = path
    if path.name == "foundation_model" and path.parent.name == "models":
        named = path.parent.parent
    elif path.name == "models" and (path / "foundation_model").is_dir():
        named = path.parent
    return named if paths.readable(named) else path


def configured_experiment_root(path: str | Path) -> Path:
    """:func:`experiment_root`, which must hold ``_experiment_config.yaml``."""
    root = experiment_root(path)
    if not (root / EXPERIMENT_CONFIG).exists():
        path = Path(path)
        raise UpstreamExperimentError(
            f"{path.name} is a folder without {EXPERIMENT_CONFIG}",
            path,
            "point at an upstream experiment folder (<NNN>_Foundation_VAE_Model) or a hepfm "
            ".keras file",
        )
    return root


def read_experiment_config(exp: Path) -> dict[str, Any]:
    """The experiment's ``_experiment_config.yaml`` as a mapping; typed errors otherwise."""
    import yaml

    cfg_path = exp / EXPERIMENT_CONFIG
    if not cfg_path.is_file():
        raise UpstreamExperimentError(
            f"{EXPERIMENT_CONFIG} not found in {exp}",
            cfg_path,
            "point at an upstream experiment folder <NNN>_Foundation_VAE_Model/ (it holds "
            "_experiment_config.yaml and models/foundation_model/)",
        )
    try:
        cfg = yaml.safe_load(cfg_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UpstreamExperimentError(
            f"{EXPERIMENT_CONFIG} cannot be read ({exc})", cfg_path, "restore the file"
        ) from exc
    if not isinstance(cfg, dict):
        raise UpstreamExperimentError(
            f"{EXPERIMENT_CONFIG} is not a YAML mapping", cfg_path, "restore the file"
        )
    return cfg


def read_yaml(path: Path) -> dict[str, Any]:
    """A dataset's or experiment's YAML config as a mapping; DataError otherwise."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"cannot read {path.name} ({exc})", path, "check the file") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path.name} is not a YAML mapping", path, "check the file")
    return data


def branch_name(entry: Any) -> str:
    """A branch as a config names it: a plain string or a mapping with ``branch_name``."""
    if isinstance(entry, dict):
        return str(entry.get("branch_name", entry.get("branch", "")))
    return str(entry)


def experiment_fingerprint(root: Path) -> str:
    """The identity of an upstream experiment folder ``root``, read without TensorFlow.

    Hashes ``_experiment_config.yaml`` and, for encoder and decoder, the checkpoint files
    plus ``keras_metadata.pb`` (BatchNormalization epsilon) and ``saved_model.pb`` (variance
    parameterisation) where present.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update((root / EXPERIMENT_CONFIG).read_bytes())
    for part in MODEL_PARTS:
        part_dir = root / MODEL_SUBDIR / part
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
                hash_stream(h, stream)
    return FINGERPRINT_PREFIX + h.hexdigest()
