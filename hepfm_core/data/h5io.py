"""Safe HDF5 opening and a lazy, chunk-readable model-input view of raw datasets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import (
    DataNotFoundError,
    MissingGroupError,
    NotHDF5Error,
    TruncatedFileError,
    check_exists,
)
from .normalisation import Normalisation

__all__ = [
    "HDF5_SIGNATURE",
    "H5Matrix",
    "open_h5",
    "require",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def open_h5(path: str | Path) -> h5py.File:
    """Open an HDF5 file read-only, turning every failure into a typed, explained error."""
    path = check_exists(
        Path(path),
        DataNotFoundError,
        "HDF5 file",
        "check the path; run `hepfm demo` to create the demo data",
        name_only=True,
    )
    if path.is_dir():
        raise NotHDF5Error(f"{path.name} is a folder, not an HDF5 file", path, "point at a file")
    with path.open("rb") as fh:
        head = fh.read(8)
    if head != HDF5_SIGNATURE and not _has_userblock_signature(path):
        raise NotHDF5Error(
            f"{path.name} is not an HDF5 file (no HDF5 signature)",
            path,
            "point at a file written by hepfm or by the upstream pipeline",
        )
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise TruncatedFileError(
            f"{path.name} is an HDF5 file that cannot be opened: it looks truncated or "
            f"corrupt ({exc})",
            path,
            "copy or regenerate the file completely",
        ) from exc


def _has_userblock_signature(path: Path) -> bool:
    """HDF5 allows a user block: the signature may sit at 512, 1024, 2048, ... bytes."""
    size = path.stat().st_size
    offset = 512
    with path.open("rb") as fh:
        while offset + 8 <= size:
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return True
            offset *= 2
    return False


def require(h5: h5py.File | h5py.Group, key: str, path: str | Path, todo: str) -> h5py.Dataset:
    """``h5[key]``, or a ``MissingGroupError`` naming the file and the missing key."""
    try:
        return h5[key]
    except KeyError as exc:
        raise MissingGroupError(
            f"missing '{key}' in {Path(path).name} (group {h5.name})", path, todo
        ) from exc


class H5Matrix:
    """A lazy ``(n, D)`` float32 view: raw HDF5 rows -> normalised model inputs on slicing.

    Several datasets (upstream's aggregators and scalars) are flattened per event and
    concatenated in the given order. Each slice opens the file, so views are cheap to keep,
    safe to share between threads, and never hold the sample in memory. A
    ``samples.NormalisedRows``: what a lazy ``Sample.x`` holds.
    """

    def __init__(
        self,
        path: str | Path,
        datasets: Sequence[str],
        normalisation: Normalisation | None,
        n_events: int,
        n_features: int,
    ) -> None:
        self.path = Path(path)
        self.datasets = tuple(datasets)
        self.normalisation = normalisation
        self.shape = (int(n_events), int(n_features))
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def raw(self, rows: slice) -> np.ndarray:
        """Raw physical values of a row slice, flattened track-major, in the stored dtype.

        No conversion here: ``Normalisation.apply`` makes its one float64 copy itself.
        """
        try:
            with h5py.File(self.path, "r") as h5:
                blocks = [
                    np.asarray(h5[name][rows]).reshape(
                        -1, int(np.prod(h5[name].shape[1:], dtype=np.int64))
                    )
                    for name in self.datasets
                ]
        except (OSError, KeyError) as exc:
            raise TruncatedFileError(
                f"cannot read rows {rows.start}:{rows.stop} of {self.path.name} ({exc})",
                self.path,
                "the file may be truncated or changed since it was opened; regenerate it",
            ) from exc
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("H5Matrix supports row slices only")
        raw = self.raw(rows)
        if self.normalisation is None:
            return raw.astype(np.float32)
        return self.normalisation.apply(raw)

    def __array__(self, dtype=None, copy=None):
        out = self[0 : self.shape[0]]
        return out if dtype is None else out.astype(dtype)
