"""hepfm's own HDF5 layout: one self-describing file per sample (see data/README.md), and a
folder of them (one background, any number of signals) read as a DataSet.

Files store raw physical values, chunked and compressed, with everything a reader needs as
root attributes: format version, feature names and units, the normalisation to apply (the
background's, shared by every file of a folder), the non-finite accounting and a content
fingerprint computed while writing, so that opening a 10^7-event file reads no events.

Format version 2 compresses with Blosc2 (LZ4 by default, or Zstd; byte shuffle) through the
HDF5 filter of ``hdf5plugin``; version 1, gzip level 1 with byte shuffle, stays readable and
is still written on request (``compression="gzip"``) for readers without that filter.
``repack.repack_folder`` (``hepfm repack``) rewrites a folder from one to the other.

A file lists its events with a non-finite raw value (``/nonfinite_events``, the rows a
``fill="median"`` reader fills: :func:`read_nonfinite_events`), so that they are found
without reading the events; files written before read as before (they are then scanned).

Optionally, a file stores its events' identity beside them (the ``/identity`` group: run and
event number, mcChannelNumber, source file and entry; :func:`read_identity` by row range) and
how its features were derived (``feature_definition``); files without them read as before.

This module holds the layout and reads it; :mod:`.sample_writer` writes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..common.atomic import output_error
from ..common.checksum import ALGORITHM
from ..common.fingerprint import combine
from ..errors import (
    DataError,
    EmptySampleError,
    FeatureMismatchError,
    MissingGroupError,
    NoSignalsError,
    TruncatedFileError,
)
from ..vocabulary import (
    COMPRESSIONS,
    Compression,
    Fill,
    SignalNormalisation,
)
from .chunk_codec import ChunkChecksums
from .dataset import DataSet, check_consistent
from .h5_writer import H5Writer
from .h5io import H5Matrix, blosc2_options, open_h5, require_blosc2
from .normalisation import Normalisation
from .samples import InputAccounting, Provenance, Sample

__all__ = [
    "CHECKSUMS",
    "CHUNK_ROWS",
    "EVENTS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "IDENTITY",
    "NONFINITE_EVENTS",
    "PARTIAL_MARK",
    "compression_options",
    "feature_definition_of",
    "format_version_for",
    "identity_columns",
    "open_hepfm_folder",
    "read_checksums",
    "read_header",
    "read_identity",
    "read_nonfinite_events",
    "read_sample",
    "set_normalisation",
]

FORMAT_NAME = "hepfm-sample"
FORMAT_VERSION = 2
"""The newest version this hepfm reads and writes: 2 (Blosc2); 1 (gzip) is read too."""
EVENTS = "events"
IDENTITY = "identity"
"""Optional group beside ``/events``: one 1-D integer dataset per identity column, row for row
(run and event number, ...). Files without it open as before."""
NONFINITE_EVENTS = "nonfinite_events"
"""Dataset beside ``/events``: the rows (int64, ascending) holding a non-finite raw value,
``events_with_nonfinite`` of them, with HDF5's Fletcher-32 checksum. Files written before it
existed lack it."""
CHUNK_ROWS = 2048
CHECKSUMS = "checksums"
"""Optional dataset beside ``/events``: the CRC-32 of the raw rows of every ``CHUNK_ROWS``
chunk (``common.checksum``), checked by every read of a chunk. Files without it (written
before) read unchecked; ``hepfm repack`` adds it."""
PARTIAL_MARK = ".partial-"
"""Infix of a file being written: ``<name>.partial-<owner tag>`` (``common.leftovers``)."""

_LEVELS = {"lz4": 5, "zstd": 1, "gzip": 1}
"""Default levels. Measured on the demo background (720 raw bytes per event, 2 cores):
LZ4 5 446 B/event, decoded at 0.16 us/event on one thread; Zstd 1 407 B/event, 0.28 us;
gzip 1 417 B/event, 1.8 us. Higher LZ4 or Zstd levels gain 1-2 % for 2-4x slower writes."""


def format_version_for(compression: Compression) -> int:
    """The format version of a file compressed with ``compression``: gzip is version 1."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; one of {COMPRESSIONS}")
    return 1 if compression == "gzip" else 2


def compression_options(
    compression: Compression, level: int | None, where: str | Path
) -> dict[str, Any]:
    """``create_dataset`` keywords for the events of a file compressed with ``compression``."""
    format_version_for(compression)  # a known one
    level = _LEVELS[compression] if level is None else int(level)
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": level, "shuffle": True}
    return blosc2_options(compression, level, where)


def read_nonfinite_events(path: str | Path) -> np.ndarray | None:
    """The rows of the file ``path`` holding a non-finite raw value, as it listed them when
    written (ascending int64), or None for a file written before the list existed.

    A list that disagrees with the file's own count, is not ascending or points outside the
    file is a ``TruncatedFileError`` (as is a failed Fletcher-32 check).
    """
    path = Path(path)
    with open_h5(path) as h5:
        if NONFINITE_EVENTS not in h5:
            return None
        n_events = int(_attr(h5, "n_events", path))
        expected = int(_attr(h5, "events_with_nonfinite", path))
        try:
            rows = np.asarray(h5[NONFINITE_EVENTS][...], dtype=np.int64)
        except OSError as exc:
            raise TruncatedFileError(
                f"{path.name}'s list of events with non-finite values cannot be read ({exc})",
                path,
                "the file was changed or damaged after it was written: regenerate it",
            ) from exc
    ordered = rows.size < 2 or bool(np.all(np.diff(rows) > 0))
    inside = rows.size == 0 or (0 <= rows[0] and rows[-1] < n_events)
    if rows.ndim != 1 or rows.size != expected or not ordered or not inside:
        raise TruncatedFileError(
            f"{path.name} lists {rows.size} events with non-finite values but counts "
            f"{expected} (or the list is not ascending within its {n_events} events)",
            path,
            "the file was changed or damaged after it was written: regenerate it",
        )
    return rows


def read_checksums(path: str | Path) -> ChunkChecksums | None:
    """The per-chunk checksums of a hepfm file's events; None for a file written without
    them (or with checksums of another kind)."""
    path = Path(path)
    with open_h5(path) as h5:
        ds = h5.get(CHECKSUMS)
        if not isinstance(ds, h5py.Dataset) or ds.attrs.get("algorithm") != ALGORITHM:
            return None
        n = int(h5[EVENTS].shape[0]) if EVENTS in h5 else 0
        rows = int(ds.attrs.get("rows", CHUNK_ROWS))
        values = np.asarray(ds[...], dtype=np.uint32)
    if values.ndim != 1 or rows < 1 or values.shape[0] != -(-n // rows):
        raise TruncatedFileError(
            f"{path.name} records {values.shape[0]} chunk checksums for {n} events",
            path,
            "the file was changed or damaged after it was written: regenerate it",
        )
    return ChunkChecksums(rows, values)


def _attr(h5: h5py.File, key: str, path: Path) -> Any:
    if key not in h5.attrs:
        raise MissingGroupError(
            f"{path.name} lacks the attribute '{key}' of hepfm's layout",
            path,
            "rewrite the file with `hepfm demo` or hepfm's SampleWriter",
        )
    return h5.attrs[key]


def read_header(path: str | Path) -> dict[str, Any]:
    """Everything hepfm's layout records about a sample, without reading events."""
    path = Path(path)
    with open_h5(path) as h5:
        if h5.attrs.get("format") != FORMAT_NAME:
            raise DataError(
                f"{path.name} is HDF5 but not in hepfm's layout (no format='{FORMAT_NAME}')",
                path,
                "point at a hepfm data folder, or at an upstream dataset folder",
            )
        version = int(_attr(h5, "format_version", path))
        if version > FORMAT_VERSION:
            raise DataError(
                f"{path.name} has format version {version}; this hepfm reads up to "
                f"{FORMAT_VERSION}",
                path,
                "upgrade hepfm",
            )
        if version >= 2:
            require_blosc2(path)
        if EVENTS not in h5:
            raise MissingGroupError(
                f"{path.name} has no '{EVENTS}' dataset", path, "regenerate the file"
            )
        shape = h5[EVENTS].shape
        return {
            "name": str(_attr(h5, "name", path)),
            "role": str(_attr(h5, "role", path)),
            "n_tracks": int(_attr(h5, "n_tracks", path)),
            "branch_names": json.loads(_attr(h5, "branch_names", path)),
            "units": json.loads(_attr(h5, "units", path)),
            "feature_names": json.loads(_attr(h5, "feature_names", path)),
            "normalisation": Normalisation.from_dict(json.loads(_attr(h5, "normalisation", path))),
            "metadata": json.loads(h5.attrs.get("metadata", "{}")),
            "fingerprint": str(_attr(h5, "fingerprint", path)),
            "nonfinite_per_feature": np.asarray(_attr(h5, "nonfinite_per_feature", path)),
            "events_with_nonfinite": int(_attr(h5, "events_with_nonfinite", path)),
            "n_events": int(shape[0]),
            "n_features": int(shape[1]),
            "created": str(h5.attrs.get("created", "")),
            "format_version": version,
            "feature_definition": _optional_str(h5.attrs.get("feature_definition")),
            "identity": _identity_names(h5, shape[0]),
            "identity_sources": json.loads(h5.attrs.get("identity_sources", "[]")),
        }


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _identity_names(h5: h5py.File, n_events: int) -> list[str]:
    """The identity columns of a file (datasets of ``/identity`` with one row per event)."""
    group = h5.get(IDENTITY)
    if not isinstance(group, h5py.Group):
        return []
    return sorted(
        name
        for name, ds in group.items()
        if isinstance(ds, h5py.Dataset) and ds.shape == (n_events,)
    )


def identity_columns(path: str | Path) -> list[str]:
    """The identity columns stored in the hepfm file ``path`` (empty when none)."""
    return list(read_header(path)["identity"])


def read_identity(
    sample: Sample | str | Path, rows: slice | Sequence[slice] | None = None
) -> dict[str, np.ndarray] | None:
    """The identity columns of a sample's events ``rows`` (default: all), or None.

    ``sample`` is a :class:`Sample` read from a hepfm file (its ``provenance.source``) or
    the file's path. None when the file stores no identity (older files, upstream data, an
    in-memory sample). Columns: ``run_number``, ``event_number`` and, for simulation,
    ``mc_channel_number`` where the input had them; ``source_file`` (an index into
    ``read_header(path)["identity_sources"]``) and ``source_entry`` for converted files.
    Row ``i`` of each column belongs to row ``i`` of the events. ``rows`` may be several
    slices (scattered events: the file opened once), their rows concatenated in order.
    """
    if isinstance(sample, Sample):
        source = Path(sample.provenance.source)
        if sample.provenance.group != EVENTS or not source.is_file():
            return None
    else:
        source = Path(sample)
    with open_h5(source) as h5:
        if h5.attrs.get("format") != FORMAT_NAME or EVENTS not in h5:
            return None
        names = _identity_names(h5, int(h5[EVENTS].shape[0]))
        if not names:
            return None
        sels = [slice(None)] if rows is None else [rows] if isinstance(rows, slice) else rows
        try:
            # each column looked up once (not once per slice: 0.2 ms a lookup)
            columns = {name: h5[IDENTITY][name] for name in names}
            return {
                name: np.concatenate([np.asarray(column[s]) for s in sels])
                if sels
                else np.asarray(column[0:0])
                for name, column in columns.items()
            }
        except (OSError, KeyError) as exc:
            raise TruncatedFileError(
                f"cannot read the identity of {source.name} ({exc})",
                source,
                "the file may be truncated; regenerate it",
            ) from exc


def set_normalisation(path: str | Path, normalisation: Normalisation) -> None:
    """Store ``normalisation`` in a hepfm file written earlier (the converter computes the
    background's statistics once every file is written, in a second streamed pass).

    The file is changed in place: a write that fails (a full disk) is an ``OutputError``
    and may leave the file damaged (the converter's files are in its temporary folder,
    which is then removed)."""
    try:
        with H5Writer(path, "r+") as writer:
            h5 = writer.h5
            if h5.attrs.get("format") != FORMAT_NAME:
                raise DataError(
                    f"{Path(path).name} is not a hepfm sample file", path, "check the path"
                )
            if normalisation.n_features != h5[EVENTS].shape[1]:
                raise ValueError(
                    f"normalisation of {normalisation.n_features} inputs for "
                    f"{h5[EVENTS].shape[1]} features"
                )
            h5.attrs["normalisation"] = json.dumps(normalisation.to_dict())
    except OSError as exc:  # a full disk: the file may be damaged, and must be written again
        raise output_error(exc, Path(path), f"the normalisation into {Path(path).name}") from exc


def read_sample(
    path: str | Path, normalisation: Normalisation | None = None, *, fill: str = "median"
) -> Sample:
    """Open one sample lazily; ``normalisation`` defaults to the one stored in the file.

    ``fill="median"`` replaces non-finite raw values by the normalisation's fill values (the
    background's per-input medians); ``fill="none"`` leaves them, so that scoring flags
    those events as non-finite input. Either way they are counted in ``accounting``.
    """
    path = Path(path)
    header = read_header(path)
    if header["n_events"] == 0:
        raise EmptySampleError(
            f"sample '{header['name']}' in {path.name} holds zero events",
            path,
            "remove the file or regenerate it with events",
        )
    norm = normalisation if normalisation is not None else header["normalisation"]
    if fill == "none":
        norm = Normalisation(
            norm.means, norm.stds, np.full_like(norm.fill, np.nan), norm.clip, norm.source
        )
    elif fill != "median":
        raise ValueError(f"unknown fill mode {fill!r}")
    matrix = H5Matrix(
        path, [EVENTS], norm, header["n_events"], header["n_features"], read_checksums(path)
    )
    accounting = InputAccounting(
        per_feature=header["nonfinite_per_feature"].astype(np.int64),
        events_with_nonfinite=header["events_with_nonfinite"],
        filled="median" if fill == "median" else "none",
    )
    provenance = Provenance(
        source=str(path.resolve()),
        group=EVENTS,
        fingerprint=combine(header["fingerprint"], norm.fingerprint(), fill),
        content_fingerprint=header["fingerprint"],
        normalisation=norm.source or "stored",
    )
    return Sample(
        name=header["name"],
        role=header["role"],
        x=matrix,
        feature_names=tuple(header["feature_names"]),
        provenance=provenance,
        accounting=accounting,
    )


def open_hepfm_folder(
    path: str | Path,
    *,
    signal_normalisation: SignalNormalisation = "background",
    fill: Fill = "median",
) -> DataSet:
    """Read a hepfm data folder: exactly one background file and any number of signals."""
    path = Path(path)
    files = sorted(path.glob("*.h5"))
    headers = {f: read_header(f) for f in files}
    backgrounds = [f for f, h in headers.items() if h["role"] == "background"]
    if len(backgrounds) != 1:
        raise DataError(
            f"{path} holds {len(backgrounds)} background samples; hepfm expects exactly one",
            path,
            "keep one file with role 'background' in the folder",
        )
    background = read_sample(backgrounds[0], fill=fill)
    bg_norm = background.normalisation
    signals: dict[str, Sample] = {}
    for f, h in headers.items():
        if h["role"] != "signal":
            continue
        norm = bg_norm if signal_normalisation == "background" else _own_normalisation(f, h)
        signals[h["name"]] = read_sample(f, norm, fill=fill)
    if not signals:
        raise NoSignalsError(
            f"{path} holds a background but no signal sample",
            path,
            "add signal files (role 'signal'), e.g. with `hepfm demo`",
        )
    check_consistent(background, signals, path)
    _check_definitions(headers, path)
    return DataSet("hepfm", str(path), background, signals, signal_normalisation)


def _check_definitions(headers: dict[Path, dict[str, Any]], where: Path) -> None:
    """Every file of a folder derived its features the same way (files that do not say are
    taken as agreeing)."""
    found = {f.name: h["feature_definition"] for f, h in headers.items() if h["feature_definition"]}
    if len(set(found.values())) > 1:
        listed = ", ".join(f"{name}: {d}" for name, d in sorted(found.items()))
        raise FeatureMismatchError(
            f"the files of {where} derive their features differently ({listed})",
            where,
            "convert every sample with the same feature definition (all physical, or all with "
            "--upstream-compatible)",
        )


def _own_normalisation(path: Path, header: dict) -> Normalisation:
    """A signal's own per-branch statistics (upstream's choice), computed chunk by chunk."""
    n_b = len(header["branch_names"])
    raw = H5Matrix(path, [EVENTS], None, header["n_events"], header["n_features"])
    s = np.zeros(n_b)
    s2 = np.zeros(n_b)
    cnt = np.zeros(n_b)
    for start in range(0, header["n_events"], 65536):
        block = raw.raw(slice(start, start + 65536)).astype(np.float64).reshape(-1, n_b)
        fin = np.isfinite(block)
        b = np.where(fin, block, 0.0)
        s += b.sum(0)
        s2 += (b * b).sum(0)
        cnt += fin.sum(0)
    means = s / np.maximum(cnt, 1)
    stds = np.sqrt(np.maximum(s2 / np.maximum(cnt, 1) - means**2, 0.0))
    stored = header["normalisation"]
    return Normalisation(
        np.tile(means, header["n_tracks"]),
        np.tile(stds, header["n_tracks"]),
        stored.fill,
        stored.clip,
        source=f"{header['name']} (own)",
    )


def feature_definition_of(data: DataSet) -> str | None:
    """How a data folder's track features were derived: ``physical`` or
    ``upstream-compatible``; upstream's own datasets are the latter; None for hepfm files
    written before the definition was recorded."""
    if data.kind == "upstream":
        return "upstream-compatible"
    source = Path(data.background.provenance.source)
    if not source.is_file():
        return None
    value = read_header(source).get("feature_definition")
    return None if value is None else str(value)
