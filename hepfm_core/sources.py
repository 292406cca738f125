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

from .common.tensorflow_import import import_tensorflow
from .data.dataset import DataSet, check_signal_normalisation
from .data.hepfm_format import feature_definition_of, open_hepfm_folder
from .errors import (
    CorruptModelError,
    DataError,
    DataNotFoundError,
    ModelNotFoundError,
    check_exists,
)
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
from .vocabulary import PARAMETERISATIONS, Fill, Parameterisation, SignalNormalisation

__all__ = [
    "Kind",
    "ModelInfo",
    "dataset_for_model",
    "describe_model",
    "detect_kind",
    "feature_definition_warning",
    "load_model",
    "model_fingerprint",
    "open_data",
]

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
    """Open a hepfm data folder or an upstream dataset folder, whichever ``path`` is.

    Samples are lazy: their rows are read, filled and standardised on slicing, so a
    10^7-event folder opens without reading events (an upstream folder is scanned once per
    file version for its non-finite values and medians, then memoised in the cache).

    Parameters
    ----------
    path : str or Path
        A hepfm data folder (``*.h5`` in hepfm's layout) or an upstream
        ``_processed_datasets/<id>/`` folder (``dataset.h5``, ``signal_dataset.h5``).
    signal_normalisation : {"background", "own"}
        Standardise the signals with the background's parameters (what the model was
        trained on) or each with its own (upstream's choice).
    fill : {"median", "none"}
        Non-finite raw values: fill with the median, counted as imputed (upstream's), or
        leave them so those events are excluded as ``input_nonfinite``.

    Returns
    -------
    DataSet
        One background and the named signals, sharing their features.

    Raises
    ------
    DataError
        Or one of its subclasses, naming the file and what to do, for anything unusable.

    Examples
    --------
    >>> import tempfile
    >>> from hepfm_core.data.generator import GeneratorConfig, generate_dataset
    >>> from hepfm_core.sources import open_data
    >>> tmp = tempfile.TemporaryDirectory()
    >>> _ = generate_dataset(tmp.name, 500, 100, GeneratorConfig(signals=("zprime_ee",)))
    >>> data = open_data(tmp.name)
    >>> data.kind, data.background.n_events, list(data.signals)
    ('hepfm', 500, ['zprime_ee'])
    >>> rows = data.signals["zprime_ee"].x[0:3]  # read and standardised now
    >>> rows.shape, rows.dtype.name
    ((3, 180), 'float32')
    >>> tmp.cleanup()
    """
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
    parameterisation: Parameterisation
    latent_dim: int | None
    description: str
    feature_definition: str | None = None
    """How the training data's features were derived (None: not recorded)."""


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
    """Fingerprint and basic facts of a hepfm ``.keras`` file or an upstream experiment.

    Reads files only, never TensorFlow: a hepfm file's metadata and weights member, an
    experiment's config, checkpoint files and saved graph. This is what finding a cached
    scoring pass needs, so an evaluation whose passes are cached imports no TensorFlow.

    Parameters
    ----------
    path : str or Path
        A hepfm ``.keras`` file, or an upstream experiment folder (or a folder below it).

    Returns
    -------
    ModelInfo
        Path, kind, fingerprint (:func:`model_fingerprint`), variance parameterisation,
        latent size and a one-line description.

    Raises
    ------
    ModelError
        Or one of its subclasses, naming the file and what to do.

    Examples
    --------
    An upstream experiment as far as this function reads one: its config, and checkpoint
    files (empty here: they are hashed, not loaded). Without the encoder's saved graph the
    parameterisation is upstream's current one, softplus:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from hepfm_core.sources import describe_model
    >>> tmp = tempfile.TemporaryDirectory()
    >>> exp = Path(tmp.name) / "001_Foundation_VAE_Model"
    >>> for part in ("encoder", "decoder"):
    ...     weights = exp / "models" / "foundation_model" / part / "variables"
    ...     weights.mkdir(parents=True)
    ...     _ = (weights / "variables.index").write_bytes(b"")
    >>> config = "foundation_model_training: {model: {architecture: {latent_dim: 16}}}"
    >>> _ = (exp / "_experiment_config.yaml").write_text(config)
    >>> info = describe_model(exp)
    >>> info.kind, info.parameterisation, info.latent_dim, info.fingerprint[:9]
    ('upstream', 'softplus', 16, 'upstream-')
    >>> info.description
    'upstream experiment 001_Foundation_VAE_Model (softplus variance)'
    >>> tmp.cleanup()
    """
    path = check_exists(
        Path(path),
        ModelNotFoundError,
        "model",
        "check the path; `hepfm demo` trains the demo model into data/demo/",
    )
    if path.is_file():
        meta = read_metadata(path)
        cfg = meta.get("config", {})
        param = cfg.get("parameterisation", "exp")
        if param not in PARAMETERISATIONS:
            raise CorruptModelError(
                f"{path.name} names an unknown variance parameterisation {param!r}",
                path,
                f"retrain or copy the model file again; known: {', '.join(PARAMETERISATIONS)}",
            )
        return ModelInfo(
            path=str(path.resolve()),
            kind="hepfm",
            fingerprint=file_fingerprint(path),
            parameterisation=param,
            latent_dim=cfg.get("latent_dim"),
            description=f"hepfm VAE {path.name} ({param} variance)",
            feature_definition=(meta.get("data") or {}).get("feature_definition"),
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
        feature_definition="upstream-compatible",
    )


def load_model(path: str | Path) -> LoadedModel:
    """Load a hepfm ``.keras`` model (safe mode) or rebuild an upstream experiment's VAE.

    Imports TensorFlow (seconds). A hepfm file is loaded with Keras ``safe_mode=True``, so a
    file carrying code (a Lambda layer) is refused; an upstream experiment's VAE is rebuilt
    in float32 from its config and its checkpoint weights copied on, every shape checked.

    Parameters
    ----------
    path : str or Path
        A hepfm ``.keras`` file, or an upstream experiment folder (or a folder below it).

    Returns
    -------
    LoadedModel
        Encoder and decoder (float32 Keras models), config, fingerprint (the same as
        :func:`describe_model`'s), feature names and normalisation when known.

    Raises
    ------
    ModelError
        Or one of its subclasses (not found, corrupt, unsafe, an unusable experiment).

    Examples
    --------
    Errors are typed and say what to do; a missing path fails before TensorFlow is imported:

    >>> from hepfm_core.errors import ModelNotFoundError
    >>> from hepfm_core.sources import load_model
    >>> try:
    ...     load_model("no/such/model.keras")
    ... except ModelNotFoundError as exc:
    ...     print(exc.what, "|", exc.todo)
    model not found: model.keras | check the path; `hepfm demo` trains the demo model

    With a model (``hepfm demo`` trains one into ``<data root>/demo``; not run here)::

        model = load_model("data/demo/model.keras")
        z_mean, z_log_var, x_hat = model.predict(x)  # x: (n, 180) float32 inputs
    """
    path = check_exists(
        Path(path),
        ModelNotFoundError,
        "model",
        "check the path; `hepfm demo` trains the demo model",
        name_only=True,
    )
    import_tensorflow()  # one thread at a time (the dashboard warms it in another)
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


def feature_definition_warning(model: ModelInfo, data: DataSet) -> str | None:
    """A warning when the model was trained on features derived otherwise than the data's
    (physical against upstream-compatible: pt saturated at 100 GeV, eta clipped...); None
    when they agree or either is not recorded."""
    trained, given = model.feature_definition, feature_definition_of(data)
    if trained is None or given is None or trained == given:
        return None
    return (
        f"the model was trained on {trained} features but the data are {given}: its scores "
        f"mix two derivations (convert the data with{'' if given == 'physical' else 'out'} "
        "--upstream-compatible, or use a model trained on data like these)"
    )
