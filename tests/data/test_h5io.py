"""Safe HDF5 opening, the lazy normalised view, and scattered rows of Blosc2 datasets."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hepfm_core.data.h5io import H5Matrix, _chunk_places, blosc2_rows, open_h5, require
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.errors import (
    DataNotFoundError,
    MissingGroupError,
    NotHDF5Error,
    TruncatedFileError,
)


def test_open_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        open_h5(tmp_path / "absent.h5")
    with pytest.raises(NotHDF5Error, match="folder"):
        open_h5(tmp_path)
    (tmp_path / "x.h5").write_bytes(b"\x00" * 2048)
    with pytest.raises(NotHDF5Error, match="no HDF5 signature"):
        open_h5(tmp_path / "x.h5")


def test_user_block_signature_accepted(tmp_path):
    path = tmp_path / "ub.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["d"] = np.arange(3)
    with open_h5(path) as f:
        assert f["d"][:].tolist() == [0, 1, 2]


def test_require_names_the_key(tmp_path):
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f.create_group("features")
    with open_h5(path) as f, pytest.raises(MissingGroupError, match=r"'aggregated'.*g\.h5"):
        require(f["features"], "aggregated", path, "regenerate")


def test_matrix_flattens_and_concatenates_in_order(tmp_path):
    path = tmp_path / "m.h5"
    a = np.arange(5 * 2 * 3, dtype=np.float64).reshape(5, 2, 3)
    b = np.arange(5, dtype=np.float64) * -1
    with h5py.File(path, "w") as f:
        f["a"] = a
        f["b"] = b.reshape(5, 1)
    norm = Normalisation(np.full(7, 1.0), np.full(7, 2.0), np.zeros(7), clip=None)
    m = H5Matrix(path, ["a", "b"], norm, 5, 7)
    raw = np.concatenate([a.reshape(5, -1), b.reshape(5, 1)], axis=1)
    np.testing.assert_array_equal(m.raw(slice(1, 4)), raw[1:4])
    np.testing.assert_allclose(m[0:5], ((raw - 1.0) / 2.0).astype(np.float32))
    assert m.shape == (5, 7) and len(m) == 5
    with pytest.raises(TypeError):
        m[3]


# -- scattered rows of a Blosc2 dataset -----------------------------------------------------
def _blosc2_file(path, values, chunk_rows=2048):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    with h5py.File(path, "w") as h5:
        h5.create_dataset(
            "events",
            data=values,
            chunks=(chunk_rows, values.shape[1]),
            **hdf5plugin.Blosc2(cname="lz4", clevel=5, filters=hdf5plugin.Blosc2.SHUFFLE),
        )
    return path


def test_blosc2_rows_equal_what_hdf5_reads(tmp_path):
    blosc2 = pytest.importorskip("blosc2")
    rng = np.random.default_rng(7)
    values = rng.normal(size=(5000, 180)).astype(np.float32)
    values[rng.random(values.shape) < 0.01] = np.nan
    path = _blosc2_file(tmp_path / "b.h5", values)
    with h5py.File(path, "r") as h5:
        ds = h5["events"]
        _, raw = ds.id.read_direct_chunk((0, 0))
        # the case the block reader is for: several blocks of whole rows per chunk
        assert blosc2.ndarray_from_cframe(raw).blocks[0] < 2048
        # scattered rows, two in one block, a run across a block edge, the partial last chunk
        wanted = np.array([0, 3, 5, 255, 256, 257, 2047, 2048, 3000, 4095, 4096, 4999])
        wanted = np.union1d(wanted, rng.choice(5000, 300, replace=False))
        got = blosc2_rows(path, ds, wanted)
        assert got is not None and got.dtype == np.float32
        np.testing.assert_array_equal(got.view(np.uint32), values[wanted].view(np.uint32))
        assert blosc2_rows(path, ds, np.array([], dtype=np.int64)).shape == (0, 180)


def test_blosc2_rows_decode_chunks_whose_blocks_split_rows(tmp_path):
    # a b2nd chunk whose blocks do not span whole rows is not in C order: decoded whole
    blosc2 = pytest.importorskip("blosc2")
    hdf5plugin = pytest.importorskip("hdf5plugin")
    values = np.arange(1024 * 6, dtype=np.float32).reshape(1024, 6) * np.float32(0.25)
    path = tmp_path / "split.h5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset(
            "events", shape=values.shape, dtype=np.float32, chunks=(512, 6), **hdf5plugin.Blosc2()
        )
        for start in (0, 512):
            frame = blosc2.asarray(values[start : start + 512], chunks=(512, 6), blocks=(64, 3))
            ds.id.write_direct_chunk((start, 0), frame.to_cframe())
    with h5py.File(path, "r") as h5:
        wanted = np.array([1, 70, 511, 512, 1000])
        np.testing.assert_array_equal(blosc2_rows(path, h5["events"], wanted), values[wanted])


def test_blosc2_rows_leave_other_datasets_to_hdf5(tmp_path):
    values = np.ones((3000, 6), dtype=np.float32)
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("gzip", data=values, chunks=(1024, 6), compression="gzip", shuffle=True)
        h5.create_dataset("plain", data=values)
    with h5py.File(path, "r") as h5:
        for name in ("gzip", "plain"):
            assert blosc2_rows(path, h5[name], np.array([1, 2000])) is None
    hdf5plugin = pytest.importorskip("hdf5plugin")
    with h5py.File(tmp_path / "sparse.h5", "w") as h5:
        b2 = hdf5plugin.Blosc2()
        h5.create_dataset("unwritten", shape=(3000, 6), dtype=np.float32, chunks=(1024, 6), **b2)
    with h5py.File(tmp_path / "sparse.h5", "r") as h5:
        # chunks never written hold HDF5's fill value: HDF5 reads them
        assert blosc2_rows(tmp_path / "sparse.h5", h5["unwritten"], np.array([5])) is None


def test_blosc2_rows_of_a_truncated_file_raise(tmp_path):
    values = np.random.default_rng(1).normal(size=(6000, 180)).astype(np.float32)
    path = _blosc2_file(tmp_path / "t.h5", values)
    with h5py.File(path, "r") as h5:
        ds = h5["events"]
        places = sorted(v for v in _chunk_places(ds).values())
        last_offset = places[-1][0]
        cut = tmp_path / "cut.h5"
        cut.write_bytes(path.read_bytes()[: last_offset + 10])
        with pytest.raises(ValueError, match="past the end of the file"):
            blosc2_rows(cut, ds, np.array([5999]))
    # through read_rows, a typed error naming the file
    from hepfm_core.data.rows import read_rows

    matrix = H5Matrix(cut, ["events"], None, 6000, 180)
    with pytest.raises(TruncatedFileError, match=r"cut\.h5"):
        read_rows(matrix, np.array([5999]))
