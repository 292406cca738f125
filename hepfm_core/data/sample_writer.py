"""Writing hepfm sample files: events in compressed chunks with a checksum per chunk, the
identity columns and the header, written beside their place and renamed in when complete."""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..common.atomic import PartialFile, output_error
from ..common.checksum import ALGORITHM, RowChunkChecksums
from ..common.fingerprint import ArrayHasher
from ..common.leftovers import owner_tag, sweep
from ..vocabulary import (
    DEFAULT_COMPRESSION,
    FEATURE_DEFINITIONS,
    Compression,
    FeatureDefinition,
    Role,
)
from .h5_writer import H5Writer
from .hepfm_format import (
    CHECKSUMS,
    CHUNK_ROWS,
    EVENTS,
    FORMAT_NAME,
    IDENTITY,
    NONFINITE_EVENTS,
    PARTIAL_MARK,
    compression_options,
    format_version_for,
)
from .normalisation import Normalisation

__all__ = [
    "SampleWriter",
    "create_events_dataset",
    "write_checksums",
    "write_nonfinite_events",
]


class SampleWriter(PartialFile):
    """Write one sample in blocks; the file appears under its name only once complete.

    Memory stays bounded by the block size whatever the number of events. The fingerprint
    and the non-finite counts are accumulated from the blocks as written. ``compression``
    "lz4" or "zstd" (Blosc2) writes format version 2, "gzip" version 1 (readable without
    ``hdf5plugin``); ``compression_level`` defaults to 5 for LZ4, 1 for Zstd and gzip.

    ``write(block, identity)`` stores the events' identity beside them (the ``/identity``
    group): the columns of the first block that has one, the same ones for every block.
    ``identity_sources`` names the input files a ``source_file`` column indexes.
    ``feature_definition`` says how the features were derived (``physical`` or
    ``upstream-compatible``), None when not known.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str,
        role: Role,
        branch_names: Sequence[str],
        units: Sequence[str],
        n_tracks: int,
        normalisation: Normalisation,
        metadata: dict[str, Any] | None = None,
        compression: Compression = DEFAULT_COMPRESSION,
        compression_level: int | None = None,
        feature_definition: FeatureDefinition | None = None,
        identity_sources: Sequence[str] | None = None,
    ) -> None:
        if feature_definition is not None and feature_definition not in FEATURE_DEFINITIONS:
            raise ValueError(f"unknown feature definition {feature_definition!r}")
        self.path = Path(path)
        # named after its writer: a later writer beside it removes it once that one is dead
        self.tmp_path = self.path.with_name(f"{self.path.name}{PARTIAL_MARK}{owner_tag()}")
        self.n_features = n_tracks * len(branch_names)
        self.name = name
        self._hasher = ArrayHasher()
        self._checksums = RowChunkChecksums(CHUNK_ROWS)
        self._nonfinite = np.zeros(self.n_features, dtype=np.int64)
        self._events_nonfinite = 0
        self._nonfinite_rows: list[np.ndarray] = []
        self._n = 0
        self._identity: dict[str, h5py.Dataset] | None = None
        version = format_version_for(compression)
        options = compression_options(compression, compression_level, self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            sweep(self.path.parent, (f"{self.path.name}{PARTIAL_MARK}",))
            self._writer = H5Writer(self.tmp_path, "w")
        except OSError as exc:
            raise output_error(exc, self.path, f"the sample file {self.path.name}") from exc
        self._h5 = self._writer.h5
        try:
            self._write_header(
                name,
                role,
                branch_names,
                units,
                n_tracks,
                normalisation,
                metadata,
                version,
                options,
                feature_definition,
                identity_sources,
            )
            self._check()
        except BaseException:
            self.abort()
            raise

    def _write_header(
        self,
        name: str,
        role: Role,
        branch_names: Sequence[str],
        units: Sequence[str],
        n_tracks: int,
        normalisation: Normalisation,
        metadata: dict[str, Any] | None,
        version: int,
        options: dict[str, Any],
        feature_definition: FeatureDefinition | None,
        identity_sources: Sequence[str] | None,
    ) -> None:
        """The empty ``/events`` and the root attributes known before the first block."""
        self._ds = create_events_dataset(self._h5, self.n_features, options)
        feature_names = [f"track{t:02d}_{b}" for t in range(n_tracks) for b in branch_names]
        attrs = self._h5.attrs
        attrs["format"] = FORMAT_NAME
        attrs["format_version"] = version
        attrs["name"] = name
        attrs["role"] = role
        attrs["n_tracks"] = n_tracks
        attrs["branch_names"] = json.dumps(list(branch_names))
        attrs["units"] = json.dumps(list(units))
        attrs["feature_names"] = json.dumps(feature_names)
        attrs["normalisation"] = json.dumps(normalisation.to_dict())
        attrs["metadata"] = json.dumps(metadata or {})
        if feature_definition is not None:
            attrs["feature_definition"] = feature_definition
        if identity_sources is not None:
            attrs["identity_sources"] = json.dumps(list(identity_sources))
        attrs["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")

    def write(self, block: np.ndarray, identity: Mapping[str, np.ndarray] | None = None) -> None:
        """Append ``block`` (raw values, ``(n, features)``) and, optionally, its identity
        (``name -> (n,)`` integers; the same names on every call once given)."""
        block = np.ascontiguousarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.n_features:
            raise ValueError(f"block must be (n, {self.n_features}), got {block.shape}")
        self._write_identity(block.shape[0], identity)
        bad = ~np.isfinite(block)
        self._nonfinite += bad.sum(axis=0)
        bad_rows = np.flatnonzero(bad.any(axis=1))
        if bad_rows.size:
            self._events_nonfinite += int(bad_rows.size)
            self._nonfinite_rows.append(bad_rows.astype(np.int64) + self._n)
        self._hasher.update(block)
        self._checksums.update(block)
        n0 = self._n
        self._n += block.shape[0]
        self._ds.resize(self._n, axis=0)
        self._ds[n0 : self._n] = block
        self._check()

    def _check(self) -> None:
        """An ``OutputError`` once a write to the file has failed (a full disk)."""
        try:
            self._writer.check()
        except OSError as exc:
            raise output_error(exc, self.path, f"the sample file {self.path.name}") from exc

    def _write_identity(self, n: int, identity: Mapping[str, np.ndarray] | None) -> None:
        if identity is None:
            if self._identity is not None:
                raise ValueError("this file stores identity: every block needs one")
            return
        if self._identity is None:
            if self._n:
                raise ValueError("identity given after blocks without one")
            group = self._h5.create_group(IDENTITY)
            self._identity = {
                name: group.create_dataset(
                    name,
                    shape=(0,),
                    maxshape=(None,),
                    dtype=np.asarray(values).dtype,
                    chunks=(CHUNK_ROWS * 8,),
                    compression="gzip",
                    compression_opts=1,
                    shuffle=True,
                )
                for name, values in identity.items()
            }
        if set(identity) != set(self._identity):
            raise ValueError(
                f"identity columns {sorted(identity)} differ from {sorted(self._identity)}"
            )
        for name, ds in self._identity.items():
            values = np.asarray(identity[name])
            if values.shape != (n,):
                raise ValueError(f"identity {name!r} has shape {values.shape}, expected ({n},)")
            ds.resize(self._n + n, axis=0)
            ds[self._n : self._n + n] = values.astype(ds.dtype, copy=False)

    def _complete(self) -> None:
        attrs = self._h5.attrs
        attrs["n_events"] = self._n
        attrs["fingerprint"] = self._hasher.hexdigest()
        attrs["nonfinite_per_feature"] = self._nonfinite
        attrs["events_with_nonfinite"] = self._events_nonfinite
        write_checksums(self._h5, self._checksums.values())
        write_nonfinite_events(self._h5, self._nonfinite_rows)

    def _release(self) -> None:
        try:
            self._writer.close()
        except OSError as exc:
            raise output_error(exc, self.path, f"the sample file {self.path.name}") from exc

    def close(self) -> Path:
        """Complete the file and rename it onto its name; on any failure (an
        ``OutputError`` for a full disk) the partial file is removed and nothing appears."""
        try:
            self._complete()
            self._release()
            os.replace(self.tmp_path, self.path)
        except OSError as exc:
            self.abort()
            raise output_error(exc, self.path, f"the sample file {self.path.name}") from exc
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Close without completing (nothing raised) and remove the partial file."""
        self._writer.discard()
        self.tmp_path.unlink(missing_ok=True)


def create_events_dataset(h5: h5py.File, n_features: int, options: dict[str, Any]) -> h5py.Dataset:
    """The empty, growable ``/events`` dataset: float32, chunks of ``CHUNK_ROWS`` events."""
    return h5.create_dataset(
        EVENTS,
        shape=(0, n_features),
        maxshape=(None, n_features),
        dtype=np.float32,
        chunks=(CHUNK_ROWS, n_features),
        **options,
    )


def write_checksums(h5: h5py.File, values: np.ndarray) -> None:
    """The ``/checksums`` dataset: per-chunk CRC-32 of the events' raw rows."""
    ds = h5.create_dataset(CHECKSUMS, data=np.asarray(values, dtype=np.uint32))
    ds.attrs["algorithm"] = ALGORITHM
    ds.attrs["rows"] = CHUNK_ROWS
    ds.attrs["of"] = EVENTS


def write_nonfinite_events(h5: h5py.File, rows: Sequence[np.ndarray]) -> None:
    """The ``/nonfinite_events`` dataset (see :data:`NONFINITE_EVENTS`)."""
    values = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    options: dict[str, Any] = {}
    if values.size:  # HDF5 does not filter an empty dataset
        options = {"chunks": (min(values.size, 65536),), "compression": "gzip", "fletcher32": True}
    h5.create_dataset(NONFINITE_EVENTS, data=values, **options)
