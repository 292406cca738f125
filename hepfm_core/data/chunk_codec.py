"""Compressed chunks decoded outside HDF5: Blosc2 frames and zlib (gzip) chunks of a dataset
read with ``read_direct_chunk`` and decoded in threads that release the GIL; rows picked
from the chunks that hold them; a chunk's checksum checked on first use."""

from __future__ import annotations

import functools
import importlib
import mmap
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..common.checksum import array_crc32
from ..errors import (
    TruncatedFileError,
)

__all__ = [
    "ALIGN",
    "BLOSC2_FILTER",
    "ChunkChecksums",
    "aligned_empty",
    "blosc2_module",
    "blosc2_rows",
    "decode_chunk",
    "direct_filters",
    "limit_decoder_threads",
    "optional_module",
]


BLOSC2_FILTER = 32026  # the HDF5 filter id registered for Blosc2
ALIGN = 64  # bytes: TensorFlow takes an aligned numpy buffer without copying it
_DEFLATE, _SHUFFLE = 1, 2  # HDF5's built-in gzip and byte-shuffle filters


def optional_module(name: str) -> Any:
    """The module ``name``, or None where it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@functools.cache
def blosc2_module() -> Any:
    """blosc2, which decodes Blosc2 chunks outside HDF5, in threads (else HDF5 does, one at a
    time); None when not installed. Imported at the first chunk decoded, not with this
    module: its import costs about 0.2 s, and a dashboard on cached passes reads no chunk
    before its first view."""
    return optional_module("blosc2")


def limit_decoder_threads(threads: int) -> int:
    """Blosc2's own decoding pool set to ``threads`` in this process (it starts one thread
    per core): a Dask worker of one thread decodes in that thread. Returns the size in
    force, 0 without blosc2."""
    b2 = blosc2_module()
    if b2 is None:
        return 0
    b2.set_nthreads(max(1, int(threads)))
    return int(b2.nthreads)


def aligned_empty(shape: tuple[int, int]) -> np.ndarray:
    """A float32 array whose data starts on a ``ALIGN``-byte boundary."""
    nbytes = int(np.prod(shape)) * 4
    base = np.empty(nbytes + ALIGN, dtype=np.uint8)
    offset = (-base.ctypes.data) % ALIGN
    return base[offset : offset + nbytes].view(np.float32).reshape(shape)


def _decode_frame(raw: bytes, dst: np.ndarray) -> None:
    """A Blosc2 frame without b2nd metadata: its chunks' bytes in order into ``dst``."""
    schunk = blosc2_module().schunk_from_cframe(raw, copy=False)
    offset = 0
    for i in range(schunk.nchunks):
        chunk = schunk.get_chunk(i)
        size = blosc2_module().get_cbuffer_sizes(chunk)[0]
        if offset + size > dst.size:
            raise ValueError(f"Blosc2 frame larger than the chunk's {dst.size} bytes")
        blosc2_module().decompress2(chunk, dst=dst[offset : offset + size])
        offset += size
    if offset != dst.size:
        raise ValueError(f"Blosc2 frame holds {offset} bytes, the chunk {dst.size}")


_FRAME_MAGIC = b"\xa8b2frame\x00"  # a Blosc2 frame opens with a msgpack array: magic,


def _first_chunk(raw: bytes, nbytes: int, array: Any) -> Any:
    """The first chunk of a Blosc2 frame, in place when it sits right after the frame's
    header with ``nbytes`` bytes decompressed (a frame of one data chunk), else a copy."""
    view = memoryview(raw).cast("B")
    if view[1:10] == _FRAME_MAGIC and view[10] == 0xD2:
        start = int.from_bytes(view[11:15], "big")
        if start + 32 <= len(view):
            size, cbytes, _ = blosc2_module().get_cbuffer_sizes(view[start : start + 32])
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
            array = blosc2_module().ndarray_from_cframe(raw)
        except (ValueError, RuntimeError, KeyError):  # no b2nd metadata: a plain frame
            array = None
        if array is None:
            _decode_frame(raw, dst)
        elif tuple(array.shape) != out.shape:
            raise ValueError(f"Blosc2 frame of shape {array.shape}, the chunk {out.shape}")
        elif array.chunks == array.shape and array.blocks[1:] == array.shape[1:]:
            blosc2_module().decompress2(_first_chunk(raw, dst.size, array), dst=dst)
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
        direct_filters(ds) != (BLOSC2_FILTER,)
        or ds.file.userblock_size != 0
        or ds.file.driver not in ("sec2", "stdio")
    ):
        return None
    b2 = blosc2_module()
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


def direct_filters(ds: h5py.Dataset) -> tuple[int, ...] | None:
    """The filter pipeline of ``ds`` when hepfm decodes its chunks itself, else None: one
    2-D little-endian float32 dataset chunked by whole rows, compressed by Blosc2 or by
    gzip after byte shuffle, nothing else."""
    if ds.ndim != 2 or ds.dtype != np.dtype("<f4") or ds.chunks is None:
        return None
    if ds.chunks[1] != ds.shape[1]:
        return None
    plist = ds.id.get_create_plist()
    filters = tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))
    if filters == (BLOSC2_FILTER,) and blosc2_module() is not None:
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
