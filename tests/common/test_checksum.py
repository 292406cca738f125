"""Checksums that catch damaged bytes (common.checksum): CRC-32 of arrays and files against
zlib on the whole bytes and the standard check value, and per fixed chunk of rows written in
blocks of any size."""

from __future__ import annotations

import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hepfm_core.common import checksum
from hepfm_core.common.checksum import (
    RowChunkChecksums,
    array_crc32,
    file_crc32,
    files_crc32,
)


def test_array_crc32_is_the_crc_of_the_c_order_bytes():
    # the CRC-32 check value: crc32(b"123456789") = 0xCBF43926
    assert array_crc32(np.frombuffer(b"123456789", dtype=np.uint8)) == 0xCBF43926
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    assert array_crc32(a) == zlib.crc32(a.tobytes())
    for view in (a[:, ::2], a.T, np.asfortranarray(a)):  # not C-contiguous: C order all the same
        assert array_crc32(view) == zlib.crc32(view.tobytes(order="C"))
    assert array_crc32(np.empty((0, 6), np.float32)) == 0
    a2 = a.copy()
    a2.reshape(-1).view(np.uint8)[5] ^= 1  # one flipped bit
    assert array_crc32(a2) != array_crc32(a)


def test_file_crc32_reads_in_blocks_the_crc_of_the_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(checksum, "_BLOCK", 1 << 20)  # the real blocks are 16 MiB
    data = np.random.default_rng(0).integers(0, 256, (5 << 20) // 2 + 7, dtype=np.uint8).tobytes()
    path = tmp_path / "f.bin"
    path.write_bytes(data)  # 2.5 MiB and 7 bytes: two whole blocks and a part
    assert file_crc32(path) == zlib.crc32(data)
    assert file_crc32(str(path)) == zlib.crc32(data)
    (tmp_path / "empty").write_bytes(b"")
    assert file_crc32(tmp_path / "empty") == 0


def test_files_crc32_gives_each_file_its_own_crc_in_order_and_an_unreadable_one_its_error(
    tmp_path,
):
    rng = np.random.default_rng(1)
    blobs = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (0, 1, 70_000, 3 << 20)]
    paths = []
    for i, blob in enumerate(blobs):
        paths.append(tmp_path / f"f{i}.bin")
        paths[-1].write_bytes(blob)
    missing = tmp_path / "missing.bin"
    found = files_crc32([*paths, missing, paths[1]])
    assert found[:4] == [zlib.crc32(b) for b in blobs]
    assert isinstance(found[4], FileNotFoundError)
    assert found[5] == zlib.crc32(blobs[1])
    assert files_crc32([]) == []
    assert files_crc32([paths[2]]) == [zlib.crc32(blobs[2])]


def _direct(x: np.ndarray, chunk_rows: int) -> list[int]:
    return [zlib.crc32(x[i : i + chunk_rows].tobytes()) for i in range(0, x.shape[0], chunk_rows)]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 40),
    chunk_rows=st.integers(1, 9),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_chunk_checksums_whatever_the_blocks(n, chunk_rows, cuts):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    sums = RowChunkChecksums(chunk_rows)
    for block in np.split(x, sorted(c for c in cuts if c <= n)):
        sums.update(block)
    got = sums.values()
    assert got.dtype == np.uint32
    assert got.tolist() == _direct(x, chunk_rows)


def test_values_mid_way_include_the_open_chunk_and_change_nothing():
    x = np.arange(10 * 2, dtype=np.int64).reshape(10, 2)
    sums = RowChunkChecksums(4)
    assert sums.values().size == 0
    sums.update(x[:6])
    assert sums.values().tolist() == _direct(x[:6], 4)  # one whole chunk, one open
    sums.update(x[6:8])  # closes the second chunk exactly: no empty chunk after it
    assert sums.values().tolist() == _direct(x[:8], 4)
    sums.update(x[8:])
    assert sums.values().tolist() == _direct(x, 4)


def test_rows_without_columns_have_checksums_too():
    x = np.empty((5, 0), np.float32)
    assert array_crc32(x) == 0
    sums = RowChunkChecksums(2)
    sums.update(x)
    assert sums.values().tolist() == [0, 0, 0]
