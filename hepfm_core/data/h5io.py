"""Safe HDF5 opening and a lazy, chunk-readable model-input view of raw datasets.

Compressed chunks are decoded here rather than by HDF5 where the layout allows it: HDF5 runs
its filters one chunk at a time under h5py's global lock, so ``H5Matrix.blocks`` reads the
raw chunks (``read_direct_chunk``, under the lock but cheap) and decodes and normalises them
in threads (Blosc2 and zlib release the GIL), ahead of whoever consumes the blocks. The
decoding itself is :mod:`.chunk_codec`'s; writing, :mod:`.h5_writer`'s.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import (
    DataNotFoundError,
    MissingCodecError,
    MissingGroupError,
    NotHDF5Error,
    TruncatedFileError,
    check_exists,
)
from .chunk_codec import (
    BLOSC2_FILTER,
    ChunkChecksums,
    aligned_empty,
    blosc2_module,
    decode_chunk,
    direct_filters,
    optional_module,
)
from .normalisation import Normalisation

# Both are dependencies of hepfm; without them a v2 file fails with a MissingCodecError.
# Importing hdf5plugin registers the Blosc2 filter (and others) with HDF5.
_hdf5plugin = optional_module("hdf5plugin")


__all__ = [
    "HDF5_SIGNATURE",
    "READ_THREADS",
    "H5Matrix",
    "blosc2_available",
    "blosc2_options",
    "open_h5",
    "require",
    "require_blosc2",
]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
READ_THREADS = 1
"""Threads that decode (and normalise) chunks in ``H5Matrix.blocks``. One keeps up with the
compiled model on 2 cores (LZ4 decodes at about 0.15 us per event); more only contend with
the model's threads and with each other for the GIL between numpy calls."""


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


# then its header's length as a msgpack int32 (0xd2, big-endian); its chunks follow it


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
            filters = direct_filters(ds) if isinstance(ds, h5py.Dataset) else None
            if ds is None or filters is None:
                yield from self._sliced_blocks(block_rows, pad, start, n, threads)
            else:
                yield from self._decoded_blocks(ds, filters, block_rows, pad, start, n, threads)

    def _sliced_blocks(self, block_rows: int, pad: bool, first: int, n: int, threads: int):
        ring = [aligned_empty((block_rows, self.shape[1])) for _ in range(2)]

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
        ring = [aligned_empty((block_rows, width)) for _ in range(depth + 1)]
        local = threading.local()
        norm = self.normalisation
        if filters == (BLOSC2_FILTER,):
            blosc2_module().set_releasegil(True)  # decompress2 then runs outside the GIL

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
