"""hepfm's HDF5 layout: round trips in both versions (Blosc2 and gzip), self-description,
accounting, rewriting a folder, typed errors."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from sample_files import (  # tests/data/sample_files.py
    BRANCHES,
    N_TRACKS,
    bits,
    norm,
    raw_sample,
    write,
)

from hepfm_core.data import h5io
from hepfm_core.data.hepfm_format import (
    FORMAT_VERSION,
    NONFINITE_EVENTS,
    read_header,
    read_nonfinite_events,
    read_sample,
)
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.data.repack import repack_file
from hepfm_core.data.sample_writer import SampleWriter
from hepfm_core.errors import (
    DataNotFoundError,
    EmptySampleError,
    MissingCodecError,
    MissingGroupError,
    NotHDF5Error,
    TruncatedFileError,
)


# Version 2 (Blosc2 LZ4 or Zstd, byte shuffle) is written by default; version 1 (gzip) on
# request, for readers without hdf5plugin. Both read the same.
@pytest.mark.parametrize(
    ("compression", "version", "filter_key"),
    [("lz4", 2, "32026"), ("zstd", 2, "32026"), ("gzip", 1, "gzip")],
)
def test_round_trip_raw_values_and_header(tmp_path, compression, version, filter_key):
    raw = raw_sample()
    path = write(tmp_path / "s.h5", [raw[:3000], raw[3000:]], compression=compression)
    h = read_header(path)
    assert h["format_version"] == version <= FORMAT_VERSION
    assert h["n_events"] == 5000 and h["n_features"] == 6
    assert h["feature_names"] == [
        "track00_a",
        "track00_b",
        "track01_a",
        "track01_b",
        "track02_a",
        "track02_b",
    ]
    assert h["units"] == ["mm", "GeV"]
    np.testing.assert_array_equal(h["nonfinite_per_feature"], [0, 2, 0, 0, 1, 0])
    assert h["events_with_nonfinite"] == 2
    with h5py.File(path) as f:
        stored = f["events"][:]
        assert filter_key in f["events"]._filters and f["events"].chunks == (2048, 6)
        assert f.attrs["format_version"] == version
    np.testing.assert_array_equal(bits(stored), bits(raw))  # raw physical values, bit for bit
    # the blocks of the threaded reader are what slicing gives, bit for bit
    s = read_sample(path)
    sliced = np.asarray(s.x[0:5000])
    for block_rows in (700, 2048, 4096, 8192):
        blocks = [(start, b.copy()) for start, b in s.x.blocks(block_rows)]
        assert [start for start, _ in blocks] == list(range(0, 5000, block_rows))
        np.testing.assert_array_equal(bits(np.concatenate([b for _, b in blocks])), bits(sliced))


def test_read_sample_normalises_and_fills(tmp_path):
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(100, 6)).astype(np.float32) * 3
    raw[5, 1] = np.inf
    path = write(tmp_path / "s.h5", [raw])
    s = read_sample(path)
    x = np.asarray(s.x[0:100])
    expected = (raw.astype(np.float64) - np.tile([1.0, -2.0], 3)) / np.tile([2.0, 0.5], 3)
    expected[5, 1] = (7.0 - -2.0) / 0.5  # filled with the branch's fill value, then standardised
    np.testing.assert_allclose(x, expected.astype(np.float32), rtol=1e-6)
    assert s.accounting.total == 1 and s.accounting.filled == "median"
    kept = read_sample(path, fill="none")
    assert not np.isfinite(np.asarray(kept.x[0:100])[5, 1])  # not filled: flagged by scoring
    assert kept.provenance.fingerprint != s.provenance.fingerprint


def test_clip_applied(tmp_path):
    raw = np.full((4, 6), 1000.0, dtype=np.float32)
    s = read_sample(write(tmp_path / "s.h5", [raw], normalisation=norm(clip=10.0)))
    assert np.asarray(s.x[0:4]).max() == 10.0


def test_chunks_cover_sample_in_order(tmp_path):
    raw = np.arange(6000 * 6, dtype=np.float32).reshape(6000, 6)
    s = read_sample(write(tmp_path / "s.h5", [raw]))
    starts = []
    total = 0
    for start, block in s.chunks(2048):
        starts.append(start)
        total += block.shape[0]
    assert starts == [0, 2048, 4096] and total == 6000


def test_fingerprint_tracks_content(tmp_path):
    raw = np.ones((10, 6), dtype=np.float32)
    a = read_header(write(tmp_path / "a.h5", [raw]))["fingerprint"]
    b = read_header(write(tmp_path / "b.h5", [raw[:5], raw[5:]]))["fingerprint"]
    raw[3, 3] = 2
    c = read_header(write(tmp_path / "c.h5", [raw]))["fingerprint"]
    assert a == b != c


# -- bad input ----------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found") as e:
        read_sample(tmp_path / "nope.h5")
    assert "nope.h5" in str(e.value)


def test_not_hdf5(tmp_path):
    p = tmp_path / "x.h5"
    p.write_text("event,pt\n1,2\n")
    with pytest.raises(NotHDF5Error, match="not an HDF5 file") as e:
        read_sample(p)
    assert "x.h5" in str(e.value) and "what to do" in str(e.value)


def test_truncated(tmp_path):
    raw = np.random.default_rng(2).normal(size=(20000, 6)).astype(np.float32)
    p = write(tmp_path / "t.h5", [raw])
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedFileError) as e:
        s = read_sample(p)
        np.asarray(s.x[0:20000])
    assert "t.h5" in str(e.value)


def test_missing_group(tmp_path):
    p = tmp_path / "g.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "hepfm-sample"
        f.attrs["format_version"] = 1
    with pytest.raises(MissingGroupError, match="events") as e:
        read_sample(p)
    assert "g.h5" in str(e.value)


def test_zero_events(tmp_path):
    p = write(tmp_path / "z.h5", [np.zeros((0, 6), np.float32)])
    with pytest.raises(EmptySampleError, match="zero events"):
        read_sample(p)


# -- version 2 and the threaded reader ------------------------------------------------------


def test_blocks_pad_stop_and_raw(tmp_path):
    raw = raw_sample(5000)
    path = write(tmp_path / "s.h5", [raw], normalisation=norm(clip=3.0))
    s = read_sample(path)
    sliced = np.asarray(s.x[0:4500])
    padded = [(start, b.copy()) for start, b in s.x.blocks(2000, pad=True, stop=4500)]
    assert [start for start, _ in padded] == [0, 2000, 4000]
    assert all(b.shape == (2000, 6) for _, b in padded)
    np.testing.assert_array_equal(bits(padded[-1][1][:500]), bits(sliced[4000:]))
    assert not padded[-1][1][500:].any()  # zero padding
    got = np.concatenate([b[: min(2000, 4500 - start)] for start, b in padded])
    np.testing.assert_array_equal(bits(got), bits(sliced))
    # without a normalisation, the raw values; more threads, the same
    matrix = h5io.H5Matrix(path, ["events"], None, 5000, 6)
    got = np.concatenate([b.copy() for _, b in matrix.blocks(3000, threads=2)])
    np.testing.assert_array_equal(bits(got), bits(raw))


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_blocks_of_a_partition_are_the_whole_reads_blocks(tmp_path, threads):
    """From ``start`` (a partition on the block grid), in any number of reading threads (0:
    the consumer's own), the very blocks a whole read gives from there."""
    raw = raw_sample(9000)
    path = write(tmp_path / "s.h5", [raw], normalisation=norm(clip=3.0))
    s = read_sample(path)
    whole = {start: b.copy() for start, b in s.x.blocks(2048, pad=True)}
    part = [
        (start, b.copy())
        for start, b in s.x.blocks(2048, pad=True, start=4096, stop=8192, threads=threads)
    ]
    assert [start for start, _ in part] == [4096, 6144]
    for start, b in part:
        np.testing.assert_array_equal(bits(b), bits(whole[start]))
    tail = [(start, b.copy()) for start, b in s.x.blocks(2048, start=8192, threads=threads)]
    assert [start for start, _ in tail] == [8192]
    np.testing.assert_array_equal(bits(tail[0][1]), bits(np.asarray(s.x[8192:9000])))
    # a float64 layout is sliced, in this thread too
    other = tmp_path / "m.h5"
    with h5py.File(other, "w") as f:
        f["a"] = raw.astype(np.float64)
    m = h5io.H5Matrix(other, ["a"], None, 9000, 6)
    got = np.concatenate([b.copy() for _, b in m.blocks(1000, start=3000, threads=threads)])
    np.testing.assert_array_equal(got, raw[3000:].astype(np.float32))


def test_blocks_of_other_layouts_are_sliced(tmp_path):
    # several datasets, or a float64 one: read by slicing, same values
    path = tmp_path / "m.h5"
    a = np.arange(50 * 4, dtype=np.float64).reshape(50, 4)
    with h5py.File(path, "w") as f:
        f["a"] = a
        f["b"] = a[:, :2] * -1.0
    n = Normalisation(np.full(6, 1.0), np.full(6, 2.0), np.zeros(6), clip=None)
    m = h5io.H5Matrix(path, ["a", "b"], n, 50, 6)
    got = np.concatenate([b.copy() for _, b in m.blocks(16, pad=False)])
    np.testing.assert_array_equal(got, m[0:50])


def test_a_damaged_chunk_is_a_typed_error(tmp_path):
    raw = raw_sample(20000)
    path = write(tmp_path / "t.h5", [raw])
    with h5py.File(path) as f:
        offset = f["events"].id.get_chunk_info(3).byte_offset
    with open(path, "r+b") as fh:  # garble the fourth chunk's compressed bytes
        fh.seek(offset + 200)
        fh.write(os.urandom(4096))
    s = read_sample(path)
    with pytest.raises(TruncatedFileError, match=r"t\.h5"):
        for _ in s.x.blocks(4096):
            pass


def test_version_2_without_hdf5plugin_says_so(tmp_path, monkeypatch):
    path = write(tmp_path / "s.h5", [raw_sample()[:100]])
    monkeypatch.setattr(h5io, "_hdf5plugin", None)
    with pytest.raises(MissingCodecError, match="hdf5plugin") as e:
        read_sample(path)
    assert "s.h5" in str(e.value) and "--compression gzip" in str(e.value)
    with pytest.raises(MissingCodecError, match="hdf5plugin"):
        write(tmp_path / "new.h5", [raw_sample(100)])
    # gzip (version 1) needs no plugin, to write or to read
    old = write(tmp_path / "v1.h5", [raw_sample(100)], compression="gzip")
    assert read_header(old)["format_version"] == 1 and read_sample(old).n_events == 100


def test_version_1_file_as_written_before_version_2(tmp_path):
    # a version-1 file laid out by hand as hepfm wrote them (gzip 1 + shuffle), still read
    raw = raw_sample(3000)
    v2 = write(tmp_path / "v2.h5", [raw])
    path = tmp_path / "v1.h5"
    with h5py.File(v2) as src, h5py.File(path, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        dst.attrs["format_version"] = 1
        dst.create_dataset(
            "events",
            data=raw,
            maxshape=(None, 6),
            chunks=(2048, 6),
            compression="gzip",
            compression_opts=1,
            shuffle=True,
        )
    a, b = read_sample(path), read_sample(v2)
    assert read_header(path)["format_version"] == 1
    assert a.provenance.fingerprint == b.provenance.fingerprint  # the same raw content
    np.testing.assert_array_equal(bits(a.x[0:3000]), bits(b.x[0:3000]))


# -- event identity and feature definition (written by `hepfm convert` and the demo) -------
def write_with_identity(path, n=5000, block=1500, **kwargs):
    raw = raw_sample(n)
    ids = {
        "run_number": np.full(n, 284500, dtype=np.uint32),
        "event_number": np.arange(2**40, 2**40 + n, dtype=np.uint64),
    }
    with SampleWriter(path, name="bkg", role="background", branch_names=BRANCHES,
                      units=("mm", "GeV"), n_tracks=N_TRACKS, normalisation=norm(),
                      **kwargs) as w:  # fmt: skip
        for s in range(0, n, block):
            w.write(raw[s : s + block], {k: v[s : s + block] for k, v in ids.items()})
    return raw, ids


def test_identity_is_stored_beside_the_events_and_read_by_row_range(tmp_path):
    from hepfm_core.data.hepfm_format import identity_columns, read_identity

    path = tmp_path / "s.h5"
    raw, ids = write_with_identity(path, feature_definition="physical",
                                   identity_sources=["a.root"])  # fmt: skip
    h = read_header(path)
    assert h["identity"] == ["event_number", "run_number"] == identity_columns(path)
    assert h["feature_definition"] == "physical" and h["identity_sources"] == ["a.root"]
    got = read_identity(path)
    assert got["event_number"].dtype == np.uint64 and got["run_number"].dtype == np.uint32
    assert np.array_equal(got["event_number"], ids["event_number"])
    part = read_identity(read_sample(path), slice(1499, 1502))
    assert part["event_number"].tolist() == [2**40 + 1499, 2**40 + 1500, 2**40 + 1501]
    # the events, and so the fingerprint, do not depend on the identity
    write(tmp_path / "plain.h5", [raw[:1500], raw[1500:]])
    assert read_header(tmp_path / "plain.h5")["fingerprint"] == h["fingerprint"]


def test_files_without_identity_still_open(tmp_path):
    from hepfm_core.data.hepfm_format import read_identity

    path = write(tmp_path / "s.h5", [raw_sample()])
    h = read_header(path)
    assert h["identity"] == [] and h["feature_definition"] is None
    assert read_identity(path) is None and read_identity(read_sample(path)) is None
    assert read_sample(path).n_events == 5000


def test_set_normalisation_replaces_the_stored_one(tmp_path):
    from hepfm_core.data.hepfm_format import set_normalisation

    path = write(tmp_path / "s.h5", [raw_sample()[:100]])
    new = Normalisation.per_branch([3.0, 4.0], [1.0, 2.0], N_TRACKS, clip=5.0, source="x")
    set_normalisation(path, new)
    assert read_header(path)["normalisation"].fingerprint() == new.fingerprint()
    with pytest.raises(ValueError, match="normalisation of 2 inputs"):
        set_normalisation(path, Normalisation.per_branch([1.0, 2.0], [1.0, 1.0], 1))


# -- damage: per-chunk checksums (issue 23) -------------------------------------------------
def _flip_bit_in_chunk(path, chunk_start):
    """Flip one bit in the middle of the compressed bytes of the events chunk at
    ``chunk_start`` (there LZ4 and Zstd decode it without an error, to other values)."""
    with h5py.File(path, "r") as h5:
        info = h5["events"].id.get_chunk_info_by_coord((chunk_start, 0))
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        value = fh.read(1)[0]
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([value ^ 0x10]))


@pytest.mark.parametrize("compression", ["lz4", "zstd", "gzip"])
def test_a_flipped_bit_in_a_chunk_is_refused_not_read(tmp_path, compression):
    raw = raw_sample(n=5000)
    path = write(tmp_path / "bkg.h5", [raw[:3000], raw[3000:]], compression=compression)
    sums = read_sample(path).x.checksums
    assert sums is not None and sums.rows == 2048 and sums.values.shape == (3,)
    # the intact file reads as written, by blocks and by slices
    clean = read_sample(path).x
    np.testing.assert_array_equal(clean.raw(slice(0, 5000)), raw)
    _flip_bit_in_chunk(path, 2048)
    x = read_sample(path).x
    # rows of the intact first chunk still read (a slice checks only the chunks it touches)
    np.testing.assert_array_equal(x.raw(slice(10, 20)), raw[10:20])
    # gzip's own Adler-32 already fails the read; LZ4 and Zstd decode the damage silently,
    # and the chunk's CRC-32 catches it
    damaged = r"rows 2048:4096 of bkg.h5 are damaged" if compression != "gzip" else "bkg.h5"
    with pytest.raises(TruncatedFileError, match=damaged) as err:
        x.raw(slice(3000, 3001))
    assert "regenerate" in str(err.value)
    for threads in (0, 1):
        with pytest.raises(TruncatedFileError, match=r"rows 2048:"):
            for _ in x.blocks(1024, threads=threads):
                pass


def test_without_checksums_the_same_flip_reads_silently_changed(tmp_path):
    """What the checksums are for: an LZ4 chunk with a flipped bit decodes to other values."""
    raw = raw_sample(n=5000)
    path = write(tmp_path / "bkg.h5", [raw])
    with h5py.File(path, "r+") as h5:
        del h5["checksums"]
    _flip_bit_in_chunk(path, 2048)
    got = read_sample(path).x.raw(slice(2048, 4096))
    assert not np.array_equal(got, raw[2048:4096], equal_nan=True)


def test_blocks_check_every_chunk_and_stay_bit_exact(tmp_path):
    raw = raw_sample(n=5000)
    path = write(tmp_path / "bkg.h5", [raw[:777], raw[777:]])
    x = read_sample(path).x
    got = np.concatenate([b.copy() for _, b in x.blocks(1000, threads=1)])
    np.testing.assert_array_equal(got, x[0:5000])


# -- the list of events with non-finite raw values ---------------------------------------
def test_the_file_lists_its_events_with_non_finite_values(tmp_path):
    raw = raw_sample(5000, 3)
    raw[4999, 0] = -np.inf  # the last row of the last block
    path = write(tmp_path / "b.h5", [raw[:1500], raw[1500:]])  # rows of the 2nd block shift
    expected = np.flatnonzero(~np.isfinite(raw).all(axis=1))
    np.testing.assert_array_equal(read_nonfinite_events(path), expected)
    assert read_header(path)["events_with_nonfinite"] == expected.size == 3
    with h5py.File(path) as h5:
        assert h5[NONFINITE_EVENTS].fletcher32


def test_a_file_without_non_finite_values_lists_none(tmp_path):
    path = write(tmp_path / "b.h5", [np.ones((10, 6), np.float32)])
    assert read_nonfinite_events(path).tolist() == []


def test_a_file_written_before_the_list_reads_none_and_repack_adds_it(tmp_path):
    raw = raw_sample(3000, 4)
    path = write(tmp_path / "b.h5", [raw], compression="gzip")
    with h5py.File(path, "r+") as h5:
        del h5[NONFINITE_EVENTS]
    assert read_nonfinite_events(path) is None
    repack_file(path)
    np.testing.assert_array_equal(
        read_nonfinite_events(path), np.flatnonzero(~np.isfinite(raw).all(axis=1))
    )


@pytest.mark.parametrize(
    "listed",
    [np.array([10], np.int64), np.array([20, 10], np.int64), np.array([10, 5000], np.int64)],
)
def test_a_list_that_disagrees_with_the_file_is_refused(tmp_path, listed):
    path = write(tmp_path / "b.h5", [raw_sample(5000, 0)])  # rows 10 and 20
    with h5py.File(path, "r+") as h5:
        del h5[NONFINITE_EVENTS]
        h5.create_dataset(NONFINITE_EVENTS, data=listed)
    with pytest.raises(TruncatedFileError, match="lists"):
        read_nonfinite_events(path)


# -- a full disk while writing (issue 23, faults 3) -----------------------------------------
# HDF5 does not survive a failed write of a compressed chunk: the process died with SIGSEGV
# (rc 139) when it exited (``hepfm convert`` on a full disk). Each case runs in a child
# process, so that such a crash shows as its exit status.
_CHILD_PRELUDE = """
import os, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, os.getcwd())
from hepfm_core.common.atomic import OutputError
from hepfm_core.data.hepfm_format import set_normalisation
from hepfm_core.data.sample_writer import SampleWriter
from hepfm_core.data.repack import repack_file
from hepfm_core.data.normalisation import Normalisation

def norm(source="demo"):
    return Normalisation.per_branch([1.0, -2.0], [2.0, 0.5], 3, fill=[0.5, 7.0], source=source)

def write(path, n_blocks, compression="lz4"):
    rng = np.random.default_rng(0)
    with SampleWriter(path, name="bkg", role="background", branch_names=("a", "b"),
                      units=("mm", "GeV"), n_tracks=3, normalisation=norm(),
                      compression=compression) as w:
        for _ in range(n_blocks):
            w.write(rng.normal(size=(2048, 6)).astype(np.float32))
    return path
"""


def _child(code: str, *args: str) -> tuple[int, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _CHILD_PRELUDE + code, *args], capture_output=True, text=True
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("compression", ["lz4", "gzip"])
def test_a_full_disk_while_writing_is_an_output_error_not_a_crash(small_fs, compression):
    disk = small_fs(512)
    code, out = _child(
        """
try:
    write(Path(sys.argv[1]) / "bkg.h5", 100, sys.argv[2])  # 4.9 MB on 512 KiB
except OutputError as exc:
    print("refused:", exc)
""",
        str(disk),
        compression,
    )
    assert code == 0, out  # 139 (SIGSEGV at exit) before
    assert "refused: cannot write the sample file bkg.h5 (No space left on device)" in out
    assert list(disk.iterdir()) == []  # no file, no partial file


def test_every_failed_write_is_an_output_error_wherever_it_falls(tmp_path):
    """A write failing at any byte (the header, a block, the checksums, the close) gives an
    ``OutputError`` and no file; the process exits normally."""
    code, out = _child(
        """
from hepfm_core.data import h5_writer  # the writer whose os.pwrite fails
folder = Path(sys.argv[1])
size = os.path.getsize(write(folder / "whole.h5", 3))
real_pwrite = os.pwrite
for quota in [0, 100, 2000, size // 3, size // 2, size - 5000, size - 1000, size - 200, size - 1]:
    written = 0
    def pwrite(fd, data, offset):
        global written
        if written + len(data) > quota:
            raise OSError(28, "No space left on device")
        written += len(data)
        return real_pwrite(fd, data, offset)
    h5_writer.os.pwrite = pwrite
    try:
        write(folder / "bkg.h5", 3)
        print("written with quota", quota)
    except OutputError as exc:
        assert "No space left on device" in str(exc), exc
        print("refused")
    finally:
        h5_writer.os.pwrite = real_pwrite
    assert sorted(p.name for p in folder.iterdir()) == ["whole.h5"], list(folder.iterdir())
print("done")
""",
        str(tmp_path),
    )
    assert code == 0, out
    assert out.count("refused") == 9 and out.endswith("done\n"), out


def test_a_full_disk_while_storing_a_normalisation_or_repacking(small_fs):
    disk = small_fs(1024)
    code, out = _child(
        """
folder = Path(sys.argv[1])
bkg, sig = write(folder / "bkg.h5", 3), write(folder / "sig.h5", 3)
before = sig.read_bytes()
with open(folder / "filler", "wb") as fh:
    try:
        fh.write(bytes(2 << 20))
    except OSError:
        pass
try:
    set_normalisation(bkg, norm(source="x" * 200_000))  # a larger attribute: new space
except OutputError as exc:
    print("normalisation refused:", exc.what)
try:
    repack_file(sig, "gzip")
except OutputError as exc:
    print("repack refused:", exc.what)
assert sig.read_bytes() == before  # the file repacked is left as it was
assert sorted(p.name for p in folder.iterdir()) == ["bkg.h5", "filler", "sig.h5"]
""",
        str(disk),
    )
    assert code == 0, out
    assert "normalisation refused: cannot write the normalisation into bkg.h5" in out
    assert "repack refused: cannot write the repacked sig.h5 (No space left" in out
