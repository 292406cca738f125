"""Sources: hepfm's formats or the upstream pipeline's, whichever a path holds.

Whatever opens data or a model by path comes here. ``open_data`` reads a hepfm data folder
or an upstream dataset folder as one DataSet. A model is a hepfm ``.keras`` file or an
upstream experiment folder: ``describe_model`` says what it is and ``load_model`` loads it.

A model has one identity, ``model_fingerprint``: a hash of the stored bytes that decide its
outputs (``model.files.file_fingerprint``, ``upstream.files.experiment_fingerprint``).
``ModelInfo`` and the loaded model both carry it, and the scoring cache is keyed by it, so
finding a cached pass must not need the (slow to import) framework: it reads files only.
``dataset_for_model`` is the one rule for the data that goes with a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .data.dataset import DataSet, check_signal_normalisation
from .data.hepfm_format import open_hepfm_folder
from .errors import DataError, DataNotFoundError, ModelNotFoundError, check_exists
from .model.files import LoadedModel, file_fingerprint, load_hepfm_model, read_metadata
from .upstream.data import open_upstream_dataset
from .upstream.files import (
    BACKGROUND_FILE,
    MODEL_SUBDIR,
    configured_experiment_root,
    experiment_fingerprint,
    read_experiment_config,
)
from .upstream.matching import find_dataset_for_experiment
from .upstream.model import detect_parameterisation, load_upstream_experiment
from .vocabulary import Fill, SignalNormalisation

Kind = Literal["hepfm", "upstream"]


# -- data ---------------------------------------------------------------------------------
def detect_kind(path: str | Path) -> Kind:
    """Whether ``path`` is a hepfm data folder or an upstream dataset folder."""
    path = check_exists(
        Path(path),
        DataNotFoundError,
        "data folder",
        "check the path; `hepfm demo` writes the demo folder data/demo/",
    )
    if not path.is_dir():
        raise DataError(
            f"{path.name} is a file; hepfm expects a data folder",
            path,
            "point at the folder holding the .h5 files",
        )
    if (path / BACKGROUND_FILE).exists():
        return "upstream"
    if any(path.glob("*.h5")):
        return "hepfm"
    raise DataNotFoundError(
        f"no data in {path}: neither hepfm sample files (*.h5) nor an upstream {BACKGROUND_FILE}",
        path,
        "run `hepfm demo --out DIR`, or point at an upstream _processed_datasets/<id>/ folder",
    )


def open_data(
    path: str | Path,
    *,
    signal_normalisation: SignalNormalisation = "background",
    fill: Fill = "median",
) -> DataSet:
    """Open a hepfm data folder or an upstream dataset folder, whichever ``path`` is."""
    check_signal_normalisation(signal_normalisation)
    if detect_kind(path) == "upstream":
        return open_upstream_dataset(path, signal_normalisation=signal_normalisation, fill=fill)
    return open_hepfm_folder(path, signal_normalisation=signal_normalisation, fill=fill)


# -- models -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    """Identity of a model: where it is, what kind, its fingerprint and parameterisation."""

    path: str
    kind: Kind
    fingerprint: str
    parameterisation: str
    latent_dim: int | None
    description: str


def model_fingerprint(path: str | Path) -> str:
    """The one identity of a model: a hepfm ``.keras`` file or an upstream experiment folder.

    Reads files only (no TensorFlow); ``ModelInfo.fingerprint`` and
    ``LoadedModel.fingerprint`` both come from here, so they agree for the same model.
    """
    path = check_exists(Path(path), ModelNotFoundError, "model", "check the path")
    if path.is_file():
        return file_fingerprint(path)
    return experiment_fingerprint(configured_experiment_root(path))


def describe_model(path: str | Path) -> ModelInfo:
    """Fingerprint and basic facts of a hepfm ``.keras`` file or an upstream experiment."""
    path = check_exists(
        Path(path),
        ModelNotFoundError,
        "model",
        "check the path; `hepfm demo` trains the demo model into data/demo/",
    )
    if path.is_file():
        cfg = read_metadata(path).get("config", {})
        param = str(cfg.get("parameterisation", "exp"))
        return ModelInfo(
            path=str(path.resolve()),
            kind="hepfm",
            fingerprint=file_fingerprint(path),
            parameterisation=param,
            latent_dim=cfg.get("latent_dim"),
            description=f"hepfm VAE {path.name} ({param} variance)",
        )
    root = configured_experiment_root(path)
    config = read_experiment_config(root)
    model = (config.get("foundation_model_training") or {}).get("model") or {}
    arch = model.get("architecture") or {}
    fingerprint = experiment_fingerprint(root)
    param, _ = detect_parameterisation(root / MODEL_SUBDIR / "encoder")
    return ModelInfo(
        path=str(root.resolve()),
        kind="upstream",
        fingerprint=fingerprint,
        parameterisation=param,
        latent_dim=arch.get("latent_dim"),
        description=f"upstream experiment {root.name} ({param} variance)",
    )


def load_model(path: str | Path) -> LoadedModel:
    """Load a hepfm ``.keras`` model (safe mode) or rebuild an upstream experiment's VAE."""
    path = check_exists(
        Path(path),
        ModelNotFoundError,
        "model",
        "check the path; `hepfm demo` trains the demo model",
        name_only=True,
    )
    if path.is_dir():
        return load_upstream_experiment(path)
    return load_hepfm_model(path)


def dataset_for_model(model_path: str | Path) -> Path | None:
    """The dataset folder that goes with a model when none was chosen: an upstream
    experiment's own (found from its config), None for hepfm models or when none is found."""
    info = describe_model(model_path)
    if info.kind != "upstream":
        return None
    found = find_dataset_for_experiment(info.path)
    return None if found is None else found.path
