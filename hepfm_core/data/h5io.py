"""Safe HDF5 opening and a lazy, chunk-readable model-input view of raw datasets.

Compressed chunks are decoded here rather than by HDF5 where the layout allows it: HDF5 runs
its filters one chunk at a time under h5py's global lock, so ``H5Matrix.blocks`` reads the
raw chunks (``read_direct_chunk``, under the lock but cheap) and decodes and normalises them
in threads (Blosc2 and zlib release the GIL), ahead of whoever consumes the blocks.
"""

from __future__ import annotations

import errno
import functools
import importlib
import mmap
import os
import threading
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..common.checksum import array_crc32
from ..errors import (
    DataNotFoundError,
    MissingCodecError,
    MissingGroupError,
    NotHDF5Error,
    TruncatedFileError,
    check_exists,
)
from .normalisation import Normalisation


def _optional_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# Both are dependencies of hepfm; without them a v2 file fails with a MissingCodecError.
# Importing hdf5plugin registers the Blosc2 filter (and others) with HDF5.
_hdf5plugin = _optional_module("hdf5plugin")


@functools.cache
def _blosc2() -> Any:
    """blosc2, which decodes Blosc2 chunks outside HDF5, in threads (else HDF5 does, one at a
    time); None when not installed. Imported at the first chunk decoded, not with this
    module: its import costs about 0.2 s, and a dashboard on cached passes reads no chunk
    before its first view."""
    return _optional_module("blosc2")


__all__ = [
    "BLOSC2_FILTER",
    "HDF5_SIGNATURE",
    "READ_THREADS",
    "ChunkChecksums",
    "H5Matrix",
    "H5Writer",
    "blosc2_available",
    "blosc2_options",
    "blosc2_rows",
    "decode_chunk",
    "open_h5",
    "require",
    "require_blosc2",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
BLOSC2_FILTER = 32026  # the HDF5 filter id registered for Blosc2
_DEFLATE, _SHUFFLE = 1, 2  # HDF5's built-in gzip and byte-shuffle filters
READ_THREADS = 1
"""Threads that decode (and normalise) chunks in ``H5Matrix.blocks``. One keeps up with the
compiled model on 2 cores (LZ4 decodes at about 0.15 us per event); more only contend with
the model's threads and with each other for the GIL between numpy calls."""
_ALIGN = 64  # bytes: TensorFlow takes an aligned numpy buffer without copying it


def blosc2_available() -> bool:
    """Whether HDF5 can read Blosc2-compressed datasets here (``hdf5plugin`` imported)."""
    return _hdf5plugin is not None


def require_blosc2(path: str | Path) -> None:
    """A ``MissingCodecError`` naming ``path`` unless the Blosc2 HDF5 filter is available."""
    if not blosc2_available():
        raise MissingCodecError(
            f"{Path(path).name} is compressed with Blosc2 (hepfm format version 2), and the "
            "'hdf5plugin' package that lets HDF5 read it is not installed",
            path,
            "install hdf5plugin (a dependency of hepfm: `uv sync`, or `pip install "
            "hdf5plugin`), or have the file rewritten with gzip: `hepfm repack DIR "
            "--compression gzip` where hdf5plugin is installed",
        )


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


class _AbsorbingFile:
    """A file for h5py's ``fileobj`` driver whose writes HDF5 never sees fail.

    The first failed write (no space, a quota, an I/O error) is recorded as ``failure``;
    that write and every later one are kept in memory instead (reads see them), so HDF5
    carries on and closes cleanly, and the writer raises the recorded error afterwards.
    """

    def __init__(self, path: Path, mode: str) -> None:
        self._fd = os.open(path, os.O_RDWR | (os.O_CREAT | os.O_TRUNC if mode == "w" else 0))
        self._pos = 0
        self._size = os.fstat(self._fd).st_size
        self._overlay: list[tuple[int, bytes]] = []  # writes after the failure
        self.failure: OSError | None = None

    def _fail(self, exc: OSError) -> None:
        if self.failure is None:
            self.failure = exc

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = base + pos
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        n = self._size - self._pos if n < 0 else n
        out = bytearray(n)  # what lies beyond the end reads as zeros, as HDF5's own driver
        try:
            got = os.pread(self._fd, n, self._pos)
            out[: len(got)] = got
        except OSError as exc:
            self._fail(exc)
        for at, data in self._overlay:
            lo, hi = max(at, self._pos), min(at + len(data), self._pos + n)
            if lo < hi:
                out[lo - self._pos : hi - self._pos] = data[lo - at : hi - at]
        self._pos += n
        return bytes(out)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        if self.failure is None:
            try:
                at = self._pos
                while view:
                    done = os.pwrite(self._fd, view, at)
                    if done == 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    at, view = at + done, view[done:]
            except OSError as exc:
                self._fail(exc)
        if self.failure is not None:
            self._overlay.append((self._pos, bytes(data)))
        self._pos += n
        self._size = max(self._size, self._pos)
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.failure is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self._fail(exc)
        self._size = size
        return size

    def flush(self) -> None:
        """Nothing: every write went to the file (``close`` syncs it)."""

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            if self.failure is None:
                os.fsync(self._fd)  # a full disk may say so only here (delayed allocation)
        except OSError as exc:
            self._fail(exc)
        finally:
            os.close(self._fd)
            self._fd = -1


class H5Writer:
    """An HDF5 file open for writing (``mode`` "w": created, or "r+") whose failed writes
    become one ``OSError`` raised by :meth:`check` and :meth:`close`, never a crash.

    Why: HDF5 (2.0, through h5py 3.16) does not survive a failed write of a compressed chunk:
    the dataset is left half-freed and the next flush or close, at the latest at the
    interpreter's exit, dies with SIGSEGV (``hepfm convert`` on a full disk ended with rc
    139). Written through :class:`_AbsorbingFile` (h5py's ``fileobj`` driver, as fast as
    its default one for hepfm's 1.4 MB chunks), HDF5 never sees a write fail: the failure
    is kept and raised here, and the caller removes the file.
    """

    def __init__(self, path: str | Path, mode: str = "w") -> None:
        if mode not in ("w", "r+"):
            raise ValueError(f"mode {mode!r}: 'w' or 'r+'")
        self.path = Path(path)
        self._file = _AbsorbingFile(self.path, mode)
        try:
            self.h5 = h5py.File(self._file, mode)
        except BaseException:
            self._file.close()
            raise
        self._open = True

    @property
    def failure(self) -> OSError | None:
        """The first write that failed, or None."""
        return self._file.failure

    def check(self) -> None:
        """Raise the first write failure so far (an ``OSError``), if any."""
        if self._file.failure is not None:
            raise self._file.failure

    def close(self) -> None:
        """Close the HDF5 file (it writes what it holds), then the file (synced); raise the
        first write failure, if any. Closing twice does nothing more."""
        if self._open:
            self._open = False
            try:
                self.h5.close()
            finally:
                self._file.close()
        self.check()

    def discard(self) -> None:
        """Close without raising (after a failure, before the file is removed)."""
        try:
            self.close()
        except (OSError, RuntimeError):
            pass

    def __enter__(self) -> H5Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


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


def blosc2_options(cname: str, level: int, where: str | Path) -> dict[str, Any]:
    """``create_dataset`` keywords for Blosc2 compression (``cname`` "lz4" or "zstd", byte
    shuffle) through hdf5plugin's filter; a ``MissingCodecError`` naming ``where`` without."""
    require_blosc2(where)
    blosc2 = _hdf5plugin.Blosc2
    return dict(blosc2(cname=cname, clevel=level, filters=blosc2.SHUFFLE))


def _aligned_empty(shape: tuple[int, int]) -> np.ndarray:
    """A float32 array whose data starts on a ``_ALIGN``-byte boundary."""
    nbytes = int(np.prod(shape)) * 4
    base = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    offset = (-base.ctypes.data) % _ALIGN
    return base[offset : offset + nbytes].view(np.float32).reshape(shape)


def _decode_frame(raw: bytes, dst: np.ndarray) -> None:
    """A Blosc2 frame without b2nd metadata: its chunks' bytes in order into ``dst``."""
    schunk = _blosc2().schunk_from_cframe(raw, copy=False)
    offset = 0
    for i in range(schunk.nchunks):
        chunk = schunk.get_chunk(i)
        size = _blosc2().get_cbuffer_sizes(chunk)[0]
        if offset + size > dst.size:
            raise ValueError(f"Blosc2 frame larger than the chunk's {dst.size} bytes")
        _blosc2().decompress2(chunk, dst=dst[offset : offset + size])
        offset += size
    if offset != dst.size:
        raise ValueError(f"Blosc2 frame holds {offset} bytes, the chunk {dst.size}")


_FRAME_MAGIC = b"\xa8b2frame\x00"  # a Blosc2 frame opens with a msgpack array: magic,
# then its header's length as a msgpack int32 (0xd2, big-endian); its chunks follow it


def _first_chunk(raw: bytes, nbytes: int, array: Any) -> Any:
    """The first chunk of a Blosc2 frame, in place when it sits right after the frame's
    header with ``nbytes`` bytes decompressed (a frame of one data chunk), else a copy."""
    view = memoryview(raw).cast("B")
    if view[1:10] == _FRAME_MAGIC and view[10] == 0xD2:
        start = int.from_bytes(view[11:15], "big")
        if start + 32 <= len(view):
            size, cbytes, _ = _blosc2().get_cbuffer_sizes(view[start : start + 32])
            if size == nbytes and start + cbytes <= len(view):
                return view[start : start + cbytes]
    return array.schunk.get_chunk(0)


def decode_chunk(raw: bytes, filters: tuple[int, ...], out: np.ndarray) -> None:
    """Decode one raw HDF5 chunk (as ``read_direct_chunk`` returns it) into ``out``.

    ``filters`` is the dataset's filter pipeline in writing order: ``(BLOSC2_FILTER,)`` or
    ``(_SHUFFLE, _DEFLATE)``; ``out`` is the chunk's C-contiguous array (float32, whole
    chunk). The Blosc2 filter stores each chunk as a Blosc2 frame holding a b2nd array of one
    chunk, whose bytes are in C order when its blocks span whole rows (as the filter writes
    them): then one ``decompress2`` (outside the GIL) writes straight into ``out``.
    """
    dst = out.reshape(-1).view(np.uint8)
    if filters == (BLOSC2_FILTER,):
        try:
            array = _blosc2().ndarray_from_cframe(raw)
        except (ValueError, RuntimeError, KeyError):  # no b2nd metadata: a plain frame
            array = None
        if array is None:
            _decode_frame(raw, dst)
        elif tuple(array.shape) != out.shape:
            raise ValueError(f"Blosc2 frame of shape {array.shape}, the chunk {out.shape}")
        elif array.chunks == array.shape and array.blocks[1:] == array.shape[1:]:
            _blosc2().decompress2(_first_chunk(raw, dst.size, array), dst=dst)
        else:
            out[...] = np.asarray(array[...]).view(out.dtype).reshape(out.shape)
    elif filters == (_SHUFFLE, _DEFLATE):
        data = np.frombuffer(zlib.decompress(raw), dtype=np.uint8)
        if data.size != dst.size:
            raise ValueError(f"inflated chunk of {data.size} bytes, the chunk {dst.size}")
        item = out.dtype.itemsize
        dst.reshape(-1, item)[...] = data.reshape(item, -1).T  # undo the byte shuffle
    else:
        raise ValueError(f"no decoder for the filter pipeline {filters}")


def _chunk_places(ds: h5py.Dataset) -> dict[int, tuple[int, int]]:
    """Per stored chunk of a dataset chunked by whole rows: its first row -> (byte offset in
    the file, stored size). Chunks never written (fill values) are absent."""
    places: dict[int, tuple[int, int]] = {}

    def note(info: Any) -> None:
        places[int(info.chunk_offset[0])] = (int(info.byte_offset), int(info.size))

    ds.id.chunk_iter(note)
    return places


def blosc2_rows(path: str | Path, ds: h5py.Dataset, wanted: np.ndarray) -> np.ndarray | None:
    """The sorted, distinct rows ``wanted`` of a Blosc2-compressed 2-D float32 dataset,
    float32 ``(len(wanted), width)``, decoding only the Blosc2 blocks that hold them.

    Why: scattered events (the investigation view) touch one chunk each; HDF5 decodes a
    whole chunk (2048 rows in hepfm's files) for each, where one Blosc2 block (256 rows)
    suffices: about 65 us a row instead of about 0.9 ms. The chunks are read in place from a
    read-only memory map of ``path`` at the offsets HDF5 reports. None when the dataset is
    not of that kind (another filter, a chunk never written, a file with a user block): the
    caller reads through HDF5. A chunk whose Blosc2 blocks do not span whole rows is decoded
    whole.
    """
    if (
        _direct_filters(ds) != (BLOSC2_FILTER,)
        or ds.file.userblock_size != 0
        or ds.file.driver not in ("sec2", "stdio")
    ):
        return None
    b2 = _blosc2()
    chunk_rows, width = int(ds.chunks[0]), int(ds.shape[1])
    places = _chunk_places(ds)
    starts = (wanted // chunk_rows) * chunk_rows
    if not all(int(c) in places for c in np.unique(starts)):
        return None
    out = np.empty((wanted.size, width), dtype=np.float32)
    if wanted.size == 0:
        return out
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        # no close: chunks decoded from it hold views until they are collected
        whole = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
    cuts = np.flatnonzero(np.diff(starts)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, wanted.size], strict=True):
        first = int(starts[lo])
        offset, stored = places[first]
        if offset + stored > size:
            raise ValueError(f"the chunk at row {first} lies past the end of the file")
        raw = whole[offset : offset + stored]
        if raw[1:10] != _FRAME_MAGIC:
            raise ValueError(f"the chunk at row {first} is not a Blosc2 frame")
        inside = wanted[lo:hi] - first
        array = b2.ndarray_from_cframe(raw)
        if tuple(array.shape) != (chunk_rows, width) or tuple(array.blocks[1:]) != (width,):
            chunk = np.empty((chunk_rows, width), dtype=np.float32)
            decode_chunk(raw.tobytes(), (BLOSC2_FILTER,), chunk)
            out[lo:hi] = chunk[inside]
            continue
        # a block of whole rows holds them in C order: one decode per block touched
        block = inside // int(array.blocks[0])
        bcuts = np.flatnonzero(np.diff(block)) + 1
        for a, b in zip(np.r_[0, bcuts], np.r_[bcuts, inside.size], strict=True):
            r0, r1 = int(inside[a]), int(inside[b - 1]) + 1
            got = np.frombuffer(array.schunk.get_slice(r0 * width, r1 * width), np.float32)
            out[lo + a : lo + b] = got.reshape(r1 - r0, width)[inside[a:b] - r0]
    return out


def _direct_filters(ds: h5py.Dataset) -> tuple[int, ...] | None:
    """The filter pipeline of ``ds`` when hepfm decodes its chunks itself, else None: one
    2-D little-endian float32 dataset chunked by whole rows, compressed by Blosc2 or by
    gzip after byte shuffle, nothing else."""
    if ds.ndim != 2 or ds.dtype != np.dtype("<f4") or ds.chunks is None:
        return None
    if ds.chunks[1] != ds.shape[1]:
        return None
    plist = ds.id.get_create_plist()
    filters = tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))
    if filters == (BLOSC2_FILTER,) and _blosc2() is not None:
        return filters
    if filters == (_SHUFFLE, _DEFLATE):
        return filters
    return None


@dataclass(frozen=True, eq=False)
class ChunkChecksums:
    """CRC-32 of the raw rows of every ``rows``-row chunk of a dataset (``uint32 (chunks,)``,
    the last chunk its rows only): what a reader checks each chunk it reads against."""

    rows: int
    values: np.ndarray

    def check(self, start: int, raw: np.ndarray, path: Path) -> None:
        """A ``TruncatedFileError`` unless ``raw`` (the raw rows of the chunk starting at row
        ``start``, all of them) has the stored checksum."""
        index = start // self.rows
        if index >= self.values.shape[0]:
            raise TruncatedFileError(
                f"{path.name} holds rows from {start} on that its checksums do not cover",
                path,
                "the file was changed or damaged after it was written: regenerate it",
            )
        found = array_crc32(raw)
        if found != int(self.values[index]):
            raise TruncatedFileError(
                f"rows {start}:{start + raw.shape[0]} of {path.name} are damaged: their "
                f"CRC-32 is {found:08x}, the file recorded {int(self.values[index]):08x} when "
                "it was written (a flipped bit on disk or in a copy)",
                path,
                "copy or regenerate the file (hepfm demo / hepfm convert); nothing was "
                "computed from the damaged rows",
            )


class H5Matrix:
    """A lazy ``(n, D)`` float32 view: raw HDF5 rows -> normalised model inputs on slicing.

    Several datasets (upstream's aggregators and scalars) are flattened per event and
    concatenated in the given order. Each slice opens the file, so views are cheap to keep,
    safe to share between threads, and never hold the sample in memory. A
    ``samples.NormalisedRows``: what a lazy ``Sample.x`` holds.

    ``checksums`` (one dataset only): every chunk read is checked against them, whole, as it
    is decoded; a damaged one raises a ``TruncatedFileError`` instead of giving values.
    """

    def __init__(
        self,
        path: str | Path,
        datasets: Sequence[str],
        normalisation: Normalisation | None,
        n_events: int,
        n_features: int,
        checksums: ChunkChecksums | None = None,
    ) -> None:
        self.path = Path(path)
        self.datasets = tuple(datasets)
        self.normalisation = normalisation
        self.shape = (int(n_events), int(n_features))
        self.dtype = np.dtype(np.float32)
        if checksums is not None and len(self.datasets) != 1:
            raise ValueError("checksums are for a single dataset")
        self.checksums = checksums

    def __len__(self) -> int:
        return self.shape[0]

    def raw(self, rows: slice) -> np.ndarray:
        """Raw physical values of a row slice, flattened track-major, in the stored dtype.

        No conversion here: ``Normalisation.apply`` makes its one float64 copy itself.
        With checksums, the whole chunks holding the rows are read and checked first.
        """
        if self.checksums is not None:
            return self._verified_raw(rows)
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

    def _verified_raw(self, rows: slice) -> np.ndarray:
        """``raw(rows)`` read by whole chunks, each checked against its checksum."""
        sums = self.checksums
        assert sums is not None
        lo, hi, step = rows.indices(self.shape[0])
        if step != 1:
            return self._verified_raw(slice(min(lo, hi), max(lo, hi)))[::step]
        if hi <= lo:
            return np.empty((0, self.shape[1]), dtype=np.float32)
        c0 = lo - lo % sums.rows
        c1 = min(self.shape[0], -(-hi // sums.rows) * sums.rows)
        try:
            with h5py.File(self.path, "r") as h5:
                block = np.asarray(h5[self.datasets[0]][c0:c1])
        except (OSError, KeyError) as exc:
            raise self._read_error(rows, exc) from exc
        block = block.reshape(block.shape[0], -1)
        for start in range(c0, c1, sums.rows):
            sums.check(start, block[start - c0 : start - c0 + sums.rows], self.path)
        return block[lo - c0 : hi - c0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("H5Matrix supports row slices only")
        raw = self.raw(rows)
        if self.normalisation is None:
            return raw.astype(np.float32)
        return self.normalisation.apply(raw)

    def blocks(
        self,
        block_rows: int,
        *,
        pad: bool = False,
        stop: int | None = None,
        threads: int = READ_THREADS,
        start: int = 0,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(row, block)`` pairs of model inputs covering rows ``start:stop``, in order.

        ``threads``: reading threads beside the consumer; 0 reads in the consumer's own
        thread (a Dask worker of one thread must not run a second one).

        Blocks of ``block_rows`` rows (the last one zero-padded to that with ``pad``), each
        valid until the next is requested (the buffers are reused), values bit for bit those
        of slicing. For a single 2-D float32 dataset chunked by whole rows and compressed
        with Blosc2 or gzip+shuffle (hepfm's files), ``threads`` threads read the raw chunks
        and decode (and normalise) each one while it is in the CPU cache, up to two blocks
        ahead of the consumer; otherwise one thread reads slices, a block ahead.
        """
        n = self.shape[0] if stop is None else min(int(stop), self.shape[0])
        start = max(0, int(start))
        if n <= start:
            return
        try:
            h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise self._read_error(slice(start, n), exc) from exc
        with h5:
            ds = h5.get(self.datasets[0]) if len(self.datasets) == 1 else None
            filters = _direct_filters(ds) if isinstance(ds, h5py.Dataset) else None
            if ds is None or filters is None:
                yield from self._sliced_blocks(block_rows, pad, start, n, threads)
            else:
                yield from self._decoded_blocks(ds, filters, block_rows, pad, start, n, threads)

    def _sliced_blocks(self, block_rows: int, pad: bool, first: int, n: int, threads: int):
        ring = [_aligned_empty((block_rows, self.shape[1])) for _ in range(2)]

        def read(i: int) -> int:
            lo = first + i * block_rows
            values = self[lo : min(lo + block_rows, n)]
            ring[i % 2][: values.shape[0]] = values
            return values.shape[0]

        count = -(-(n - first) // block_rows)
        if threads <= 0:  # in the consumer's thread: a one-thread worker reads itself
            for i in range(count):
                yield first + i * block_rows, self._padded(ring[i % 2], read(i), pad)
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: Future[int] = pool.submit(read, 0)
            for i in range(count):
                rows = pending.result()
                if i + 1 < count:
                    pending = pool.submit(read, i + 1)
                yield first + i * block_rows, self._padded(ring[i % 2], rows, pad)

    @staticmethod
    def _padded(buf: np.ndarray, rows: int, pad: bool) -> np.ndarray:
        if not pad:
            return buf[:rows]
        buf[rows:] = 0.0
        return buf

    def _decoded_blocks(
        self,
        ds: h5py.Dataset,
        filters: tuple[int, ...],
        block_rows: int,
        pad: bool,
        first: int,
        n: int,
        threads: int,
    ):
        chunk_rows, width = int(ds.chunks[0]), self.shape[1]
        sums = self.checksums if self.checksums and self.checksums.rows == chunk_rows else None
        total = self.shape[0]
        depth = 2  # blocks in flight besides the one being consumed
        ring = [_aligned_empty((block_rows, width)) for _ in range(depth + 1)]
        local = threading.local()
        norm = self.normalisation
        if filters == (BLOSC2_FILTER,):
            _blosc2().set_releasegil(True)  # decompress2 then runs outside the GIL

        def piece(chunk_start: int, a: int, b: int, out: np.ndarray) -> None:
            """Rows ``a:b`` of the chunk at ``chunk_start`` into ``out``."""
            if not hasattr(local, "scratch"):
                local.scratch = np.empty((chunk_rows, width), dtype=np.float32)
                local.raw = np.empty(local.scratch.nbytes + 65536, dtype=np.uint8)
            valid = min(chunk_rows, total - chunk_start)  # the chunk's rows in the file
            info = ds.id.get_chunk_info_by_coord((chunk_start, 0))
            if info.byte_offset is None or info.filter_mask:
                # unwritten, or a filter was skipped for this chunk: HDF5 reads it
                if sums is not None:
                    whole = np.asarray(ds[chunk_start : chunk_start + valid], dtype=np.float32)
                    sums.check(chunk_start, whole, self.path)
                    src = whole[a:b]
                else:
                    src = np.asarray(ds[chunk_start + a : chunk_start + b], dtype=np.float32)
            else:
                if local.raw.size < info.size:  # a fresh buffer per chunk costs page faults
                    local.raw = np.empty(info.size + 65536, dtype=np.uint8)
                _, raw = ds.id.read_direct_chunk((chunk_start, 0), out=local.raw)
                if norm is None and a == 0 and b == chunk_rows:
                    decode_chunk(raw, filters, out)  # straight into the block
                    if sums is not None:
                        sums.check(chunk_start, out[:valid], self.path)
                    return
                decode_chunk(raw, filters, local.scratch)
                if sums is not None:
                    sums.check(chunk_start, local.scratch[:valid], self.path)
                src = local.scratch[a:b]
            if norm is None:
                out[...] = src
            else:
                norm.apply_into(src, out)

        def tasks(i: int) -> list[tuple[int, int, int, int]]:
            """(chunk start, first row, end row in the chunk, row in the block) of block i."""
            lo = first + i * block_rows
            hi = min(lo + block_rows, n)
            out = []
            for c0 in range(lo - lo % chunk_rows, hi, chunk_rows):
                a, b = max(lo, c0) - c0, min(hi, c0 + chunk_rows) - c0
                out.append((c0, a, b, c0 + a - lo))
            return out

        def guarded(chunk_start: int, a: int, b: int, out: np.ndarray) -> None:
            try:
                piece(chunk_start, a, b, out)
            except (OSError, KeyError, ValueError, RuntimeError, zlib.error) as exc:
                rows = slice(chunk_start + a, chunk_start + b)
                raise self._read_error(rows, exc) from exc

        count = -(-(n - first) // block_rows)
        if threads <= 0:  # in the consumer's thread: a one-thread worker reads itself
            for i in range(count):
                lo = first + i * block_rows
                for c0, a, b, o in tasks(i):
                    guarded(c0, a, b, ring[0][o : o + b - a])
                yield lo, self._padded(ring[0], min(block_rows, n - lo), pad)
            return
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            inflight: dict[int, list[Future[None]]] = {}

            def submit(i: int) -> None:
                buf = ring[i % len(ring)]
                inflight[i] = [
                    pool.submit(guarded, c0, a, b, buf[o : o + b - a]) for c0, a, b, o in tasks(i)
                ]

            try:
                for i in range(min(depth + 1, count)):
                    submit(i)
                for i in range(count):
                    for f in inflight.pop(i):
                        f.result()
                    lo = first + i * block_rows
                    rows = min(block_rows, n - lo)
                    yield lo, self._padded(ring[i % len(ring)], rows, pad)
                    if i + depth + 1 < count:
                        submit(i + depth + 1)
            finally:  # the consumer stopped early or a read failed: drop what is queued
                pending = [f for fs in inflight.values() for f in fs if not f.cancel()]
                for f in pending:
                    f.exception()

    def _read_error(self, rows: slice, exc: BaseException) -> TruncatedFileError:
        return TruncatedFileError(
            f"cannot read rows {rows.start}:{rows.stop} of {self.path.name} ({exc})",
            self.path,
            "the file may be truncated or changed since it was opened; regenerate it",
        )

    def __array__(self, dtype=None, copy=None):
        out = self[0 : self.shape[0]]
        return out if dtype is None else out.astype(dtype)
