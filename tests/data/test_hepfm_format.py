"""hepfm's HDF5 layout: round trip, self-description, accounting, typed errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hepfm_core.data.hepfm_format import SampleWriter, read_header, read_sample
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.errors import (
    DataNotFoundError,
    EmptySampleError,
    MissingGroupError,
    NotHDF5Error,
    TruncatedFileError,
)

BRANCHES = ("a", "b")
N_TRACKS = 3


def norm(clip=None) -> Normalisation:
    return Normalisation.per_branch([1.0, -2.0], [2.0, 0.5], N_TRACKS, fill=[0.5, 7.0], clip=clip)


def write(path, blocks, name="bkg", role="background", normalisation=None):
    with SampleWriter(
        path,
        name=name,
        role=role,
        branch_names=BRANCHES,
        units=("mm", "GeV"),
        n_tracks=N_TRACKS,
        normalisation=normalisation or norm(),
    ) as w:
        for b in blocks:
            w.write(b)
    return path


def test_round_trip_raw_values_and_header(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(5000, 6)).astype(np.float32)
    raw[10, 1] = np.inf
    raw[20, 1] = np.nan
    raw[20, 4] = np.nan
    path = write(tmp_path / "s.h5", [raw[:3000], raw[3000:]])
    h = read_header(path)
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
        assert f["events"].compression == "gzip" and f["events"].chunks is not None
    np.testing.assert_array_equal(stored, raw)  # raw physical values, bit for bit (NaN == NaN)


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


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "s.h5"
    with (
        pytest.raises(RuntimeError),
        SampleWriter(
            path,
            name="x",
            role="signal",
            branch_names=BRANCHES,
            units=("", ""),
            n_tracks=3,
            normalisation=norm(),
        ) as w,
    ):
        w.write(np.zeros((3, 6)))
        raise RuntimeError("boom")
    assert not path.exists() and not list(tmp_path.iterdir())


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
