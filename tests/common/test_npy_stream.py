"""Tests of hepfm_core.common.npy_stream: .npy files written block by block."""

from __future__ import annotations

import errno
import itertools

import numpy as np
import pytest

from hepfm_core.common.npy_stream import NpyStream


@pytest.mark.parametrize(
    ("shape", "dtype", "cuts"),
    [
        ((1000, 3), np.float32, [0, 1, 512, 999, 1000]),
        ((10,), np.float64, [0, 10]),
        ((4, 2, 2), np.uint8, [0, 2, 4]),
        ((0, 16), np.float32, [0, 0]),  # an empty partition: a header only
    ],
)
def test_the_file_is_the_array_numpy_reads(tmp_path, shape, dtype, cuts):
    rng = np.random.default_rng(5)
    want = (rng.normal(size=shape) * 100).astype(dtype)
    if want.size and want.dtype.kind == "f":
        want.reshape(-1)[:3] = (np.nan, np.inf, -np.inf)
    path = tmp_path / "a.npy"
    with NpyStream(path, shape, dtype) as out:
        for a, b in itertools.pairwise(cuts):
            out.append(want[a:b])
    got = np.load(path)
    assert got.dtype == np.dtype(dtype) and got.shape == shape
    np.testing.assert_array_equal(got, want)
    mapped = np.load(path, mmap_mode="r")
    np.testing.assert_array_equal(mapped, want)


def test_a_block_is_cast_within_its_kind_as_an_assignment_would(tmp_path):
    path = tmp_path / "a.npy"
    values = np.array([0.1, 1e30, -2.5])  # float64
    with NpyStream(path, (3,), np.float32) as out:
        out.append(values)
    want = np.empty(3, np.float32)
    want[:] = values
    np.testing.assert_array_equal(np.load(path), want)
    with pytest.raises(ValueError, match="float64 rows, the file holds uint8"):
        NpyStream(tmp_path / "b.npy", (3,), np.uint8).append(values)


def test_rows_missing_too_many_or_of_another_shape_are_refused(tmp_path):
    with pytest.raises(ValueError, match="3 of its 4 rows"):
        with NpyStream(tmp_path / "short.npy", (4, 2), np.float32) as out:
            out.append(np.zeros((3, 2), np.float32))
    out = NpyStream(tmp_path / "long.npy", (4, 2), np.float32)
    out.append(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="5 rows written, it holds 4"):
        out.append(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"rows of shape \(3,\), the file's are \(2,\)"):
        out.append(np.zeros((1, 3), np.float32))
    out.abandon()


def test_a_writer_that_fails_leaves_the_file_closed_unchecked(tmp_path):
    path = tmp_path / "a.npy"
    with pytest.raises(RuntimeError, match="the model failed"):
        with NpyStream(path, (4,), np.float64) as out:
            out.append(np.zeros(2))
            raise RuntimeError("the model failed")
    assert out._file.closed
    out.close()  # closing again is harmless


def test_a_full_disk_is_an_oserror_at_the_write_that_does_not_fit(small_fs, filled):
    where = small_fs(256)
    filled(where, leave=64 * 1024)
    with pytest.raises(OSError) as err:
        with NpyStream(where / "a.npy", (100_000,), np.float64) as out:
            for _ in range(10):
                out.append(np.ones(10_000))
    assert err.value.errno == errno.ENOSPC
