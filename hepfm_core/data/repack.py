"""Repacking hepfm sample files: rewrite a file's events with another compression (or none), in
place and atomically, and report the bytes saved."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..common.atomic import output_error
from ..common.checksum import RowChunkChecksums
from ..common.fingerprint import ArrayHasher
from ..common.leftovers import owner_tag, sweep
from ..errors import (
    DataError,
    DataNotFoundError,
)
from ..vocabulary import (
    DEFAULT_COMPRESSION,
    Compression,
)
from .chunk_codec import BLOSC2_FILTER
from .h5_writer import H5Writer
from .h5io import H5Matrix, open_h5
from .hepfm_format import (
    CHECKSUMS,
    CHUNK_ROWS,
    EVENTS,
    NONFINITE_EVENTS,
    PARTIAL_MARK,
    compression_options,
    format_version_for,
    read_checksums,
    read_header,
)
from .sample_writer import create_events_dataset, write_checksums, write_nonfinite_events

__all__ = [
    "RepackResult",
    "repack_file",
    "repack_folder",
]


# -- rewriting files ----------------------------------------------------------------------
@dataclass(frozen=True)
class RepackResult:
    """What ``repack_file`` did to one file: sizes before and after, or why it was left."""

    path: Path
    from_version: int
    to_version: int
    bytes_before: int
    bytes_after: int
    skipped: str = ""

    @property
    def n_bytes_saved(self) -> int:
        return self.bytes_before - self.bytes_after


def _events_compression(ds: h5py.Dataset) -> str:
    """ "gzip", "lz4", "zstd" or another filter's name: how ``ds`` is compressed now."""
    if ds.compression == "gzip":
        return "gzip"
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _flags, values, _name = plist.get_filter(i)
        if code == BLOSC2_FILTER and len(values) > 6:  # cd_values[6]: the codec's number
            codec = int(values[6])
            return {1: "lz4", 2: "lz4hc", 5: "zstd"}.get(codec, f"blosc2 codec {codec}")
    return str(ds.compression)


def repack_file(
    path: str | Path,
    compression: Compression = DEFAULT_COMPRESSION,
    *,
    compression_level: int | None = None,
    block_rows: int = 65536,
) -> RepackResult:
    """Rewrite one hepfm sample file with ``compression``; nothing else changes.

    Every attribute is kept, the format version set to the compression's (2 for Blosc2, 1
    for gzip). The raw rows are hashed while copied and must give the file's content
    fingerprint, or nothing is replaced (so a sample's fingerprints, and the scoring passes
    cached under them, stay valid). Per-chunk checksums are written (added to a file
    written without them, which is then rewritten even if its compression is the same).
    The new file is written beside the old one as ``*.partial`` and renamed over it: an
    interrupted repack leaves the old file whole. A
    file already compressed with ``compression``, with checksums, is left as it is
    (``skipped``).
    """
    path = Path(path)
    header = read_header(path)
    version = format_version_for(compression)
    before = path.stat().st_size
    has_checksums = read_checksums(path) is not None
    with open_h5(path) as src:
        if _events_compression(src[EVENTS]) == compression and has_checksums:
            return RepackResult(path, version, version, before, before, "already " + compression)
    options = compression_options(compression, compression_level, path)
    tmp = path.with_name(f"{path.name}{PARTIAL_MARK}{owner_tag()}")
    sweep(path.parent, (f"{path.name}{PARTIAL_MARK}",))
    n, d = header["n_events"], header["n_features"]
    hasher = ArrayHasher()
    sums = RowChunkChecksums(CHUNK_ROWS)
    writer: H5Writer | None = None
    try:
        with open_h5(path) as src, H5Writer(tmp, "w") as writer:
            dst = writer.h5
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            dst.attrs["format_version"] = version
            for name in src:
                if name not in (EVENTS, CHECKSUMS):
                    src.copy(src[name], dst, name=name)
            events = create_events_dataset(dst, d, options)
            events.resize(n, axis=0)
            rows = H5Matrix(path, [EVENTS], None, n, d, read_checksums(path))
            nonfinite: list[np.ndarray] = []
            for start, block in rows.blocks(block_rows):
                hasher.update(block)
                sums.update(block)
                events[start : start + block.shape[0]] = block
                bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
                if bad.size:
                    nonfinite.append(bad.astype(np.int64) + start)
                writer.check()  # a full disk: stop at the first failed block
            write_checksums(dst, sums.values())
            if NONFINITE_EVENTS not in src:  # written before the list: add it
                write_nonfinite_events(dst, nonfinite)
        if n and hasher.hexdigest() != header["fingerprint"]:  # no rows: nothing to check
            raise DataError(
                f"{path.name}: its rows do not hash to its stored content fingerprint "
                f"({hasher.hexdigest()} against {header['fingerprint']}); left unchanged",
                path,
                "the file was changed or damaged after it was written: regenerate it",
            )
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise output_error(exc, path, f"the repacked {path.name}") from exc
    except OSError as exc:
        if writer is not None and writer.failure is None:
            raise  # no write failed: reading the old file did
        raise output_error(exc, path, f"the repacked {path.name}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return RepackResult(path, header["format_version"], version, before, path.stat().st_size)


def repack_folder(
    path: str | Path,
    compression: Compression = DEFAULT_COMPRESSION,
    *,
    compression_level: int | None = None,
) -> list[RepackResult]:
    """``repack_file`` on every ``*.h5`` of a hepfm data folder.

    Every file's header is checked first, so a folder with a file that is not in hepfm's
    layout is refused before any file is rewritten.
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(
            f"data folder not found: {path}", path, "give a hepfm data folder (`hepfm demo`)"
        )
    if not path.is_dir():
        raise DataError(f"{path} is not a folder", path, "give the folder that holds the .h5 files")
    files = sorted(path.glob("*.h5"))
    if not files:
        raise DataError(
            f"{path} holds no .h5 sample files", path, "give a hepfm data folder (`hepfm demo`)"
        )
    for f in files:
        read_header(f)
    return [repack_file(f, compression, compression_level=compression_level) for f in files]
