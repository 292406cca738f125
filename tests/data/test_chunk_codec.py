"""Chunks decoded outside HDF5: Blosc2 frames of any layout and gzip chunks give the bytes
HDF5's own filters give, and rows picked from their chunks equal HDF5's reads."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from sample_files import (  # tests/data/sample_files.py
    bits,
    raw_sample,
    write,
)

from hepfm_core.data import chunk_codec
from hepfm_core.data.chunk_codec import _chunk_places, blosc2_rows
from hepfm_core.data.h5io import H5Matrix
from hepfm_core.errors import TruncatedFileError


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


def test_blosc2_chunks_decoded_outside_hdf5_as_hdf5_reads_them(tmp_path):
    # h5io reads the raw chunks and decodes them itself (in threads, outside h5py's lock):
    # chunk by chunk, the same bytes as HDF5's own filter gives, for both codecs and gzip
    raw = raw_sample(5000)
    for compression in ("lz4", "zstd", "gzip"):
        path = write(tmp_path / f"{compression}.h5", [raw], compression=compression)
        with h5py.File(path) as f:
            ds = f["events"]
            filters = chunk_codec.direct_filters(ds)
            assert filters is not None
            for start in range(0, 5000, 2048):
                mask, chunk = ds.id.read_direct_chunk((start, 0))
                assert mask == 0
                out = np.empty((2048, 6), dtype=np.float32)
                chunk_codec.decode_chunk(chunk, filters, out)
                rows = min(2048, 5000 - start)
                np.testing.assert_array_equal(bits(out[:rows]), bits(ds[start : start + rows]))


def test_blosc2_frames_of_other_layouts_decode_too():
    # a b2nd array whose blocks split the rows is not in C order inside its chunk, and a
    # frame without b2nd metadata holds plain bytes: both decode to the array
    blosc2 = pytest.importorskip("blosc2")
    a = np.arange(512 * 6, dtype=np.float32).reshape(512, 6) * np.float32(0.5)
    out = np.empty_like(a)
    split = blosc2.asarray(a, chunks=(512, 6), blocks=(64, 3))
    chunk_codec.decode_chunk(split.to_cframe(), (chunk_codec.BLOSC2_FILTER,), out)
    np.testing.assert_array_equal(out, a)
    plain = blosc2.SChunk(chunksize=a.nbytes // 2, data=a.tobytes(), cparams={"typesize": 4})
    out[...] = 0
    chunk_codec.decode_chunk(plain.to_cframe(), (chunk_codec.BLOSC2_FILTER,), out)
    np.testing.assert_array_equal(out, a)


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


def test_the_decoder_pool_is_sized_to_the_worker():
    import blosc2

    from hepfm_core.data.chunk_codec import limit_decoder_threads

    before = blosc2.nthreads
    try:
        assert limit_decoder_threads(1) == 1 == blosc2.nthreads
        assert limit_decoder_threads(0) == 1  # never below one
    finally:
        blosc2.set_nthreads(before)
