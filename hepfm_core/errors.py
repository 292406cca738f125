"""Typed errors a user can cause.

Every error says what went wrong, where (which file or setting) and what to do. The CLI
prints ``str(error)`` and exits 2; the app shows it in a callout. Nothing else in hepfm
should reach a user as a traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ClusterError",
    "CorruptModelError",
    "DataError",
    "DataNotFoundError",
    "EmptyInputError",
    "EmptySampleError",
    "FeatureMismatchError",
    "HepfmError",
    "MissingBranchError",
    "MissingCodecError",
    "MissingGroupError",
    "MissingTreeError",
    "ModelError",
    "ModelInputMismatchError",
    "ModelNotFoundError",
    "NoSignalsError",
    "NotHDF5Error",
    "NotRootFileError",
    "OutputExistsError",
    "PathNotAllowedError",
    "RemoteInputError",
    "SettingsError",
    "SignalSpecError",
    "TrackFilterError",
    "TrainingDivergedError",
    "TruncatedFileError",
    "TruncatedRootFileError",
    "UnknownActivationError",
    "UnsafeModelError",
    "UpstreamExperimentError",
    "check_exists",
]


class HepfmError(Exception):
    """Base class of every error a user can cause and fix."""

    def __init__(self, what: str, where: str | Path | None = None, todo: str | None = None):
        self.what = what
        self.where = str(where) if where is not None else None
        self.todo = todo
        parts = [what]
        if self.where:
            parts.append(f"where: {self.where}")
        if todo:
            parts.append(f"what to do: {todo}")
        super().__init__("\n  ".join(parts))

    def __reduce__(self):
        """Pickled with its parts (a Dask task's error reaches the client whole)."""
        return (type(self), (self.what, self.where, self.todo))


class ClusterError(HepfmError):
    """A Dask cluster cannot be reached or used (address, workers, their hepfm)."""


# -- data ---------------------------------------------------------------------------------
class DataError(HepfmError):
    """A data folder or file cannot be used."""


class DataNotFoundError(DataError):
    """A data folder or file does not exist."""


class NotHDF5Error(DataError):
    """A file is not HDF5 at all."""


class TruncatedFileError(DataError):
    """An HDF5 file is cut short or corrupt."""


class MissingGroupError(DataError):
    """An expected HDF5 group, dataset or attribute is missing."""


class MissingCodecError(DataError):
    """A file is compressed with a filter this installation cannot decode."""


class FeatureMismatchError(DataError):
    """Samples of one data folder disagree on their features."""


class EmptySampleError(DataError):
    """A sample holds zero events."""


class NoSignalsError(DataError):
    """A data folder holds a background but no signal sample."""


# -- ROOT input (hepfm convert) -----------------------------------------------------------
class NotRootFileError(DataError):
    """An input of ``hepfm convert`` is not a ROOT file (or is an empty, 0-byte file)."""


class TruncatedRootFileError(DataError):
    """A ROOT file is cut short or corrupt: its directory, tree or baskets cannot be read."""


class RemoteInputError(DataError):
    """A remote input (``https://``, ``root://`` ...) cannot be fetched: the server refuses or
    does not answer, says 404 or 503, or the backend for its protocol is not installed. A
    network failure, never a verdict on the file's bytes."""


class MissingTreeError(MissingGroupError):
    """A ROOT file lacks the tree to convert (``--tree``)."""


class MissingBranchError(MissingGroupError):
    """A ROOT tree lacks track branches the features are derived from."""


class EmptyInputError(EmptySampleError):
    """The input files of a sample hold no event to write."""


class OutputExistsError(DataError):
    """The output of a conversion exists and is not a hepfm data folder to replace."""


# -- models -------------------------------------------------------------------------------
class ModelError(HepfmError):
    """A model file or experiment folder cannot be used."""


class ModelNotFoundError(ModelError):
    """A model file or folder does not exist."""


class CorruptModelError(ModelError):
    """A model file exists but cannot be read."""


class UnsafeModelError(ModelError):
    """A model file carries arbitrary code (a Lambda layer, say) and was refused."""


class ModelInputMismatchError(ModelError):
    """A model's input size differs from the data's feature count."""


class UpstreamExperimentError(ModelError):
    """An upstream experiment folder lacks its config or weights, or the config is unusable."""


class UnknownActivationError(UpstreamExperimentError):
    """A config names an activation hepfm does not know."""


class TrainingDivergedError(ModelError):
    """Training produced a non-finite loss."""


# -- settings -----------------------------------------------------------------------------
class SettingsError(HepfmError):
    """A setting (clip bounds, score, policy, signal name) is invalid."""


class PathNotAllowedError(SettingsError):
    """A path lies outside the data root a shared dashboard is confined to."""


class SignalSpecError(SettingsError):
    """A ``--signal NAME=FILE[,FILE...]`` argument is malformed or names a sample twice."""


class TrackFilterError(SettingsError):
    """A ``--track-filter BRANCH:MIN:MAX`` argument is malformed or names an unknown value."""


def check_exists(
    path: Path, error: type[HepfmError], what: str, todo: str, *, name_only: bool = False
) -> Path:
    """``path`` when it exists; else ``error`` saying "<what> not found: <path>" (the file
    name alone with ``name_only``), where, and ``todo``."""
    if not path.exists():
        raise error(f"{what} not found: {path.name if name_only else path}", path, todo)
    return path
