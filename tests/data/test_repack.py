"""Repacking hepfm sample files: to Blosc2 and back, content and fingerprints kept, damaged
or bad input refused before anything is rewritten."""

from __future__ import annotations

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

from hepfm_core.data.hepfm_format import (
    read_header,
    read_sample,
)
from hepfm_core.data.repack import repack_file, repack_folder
from hepfm_core.data.sample_writer import SampleWriter
from hepfm_core.errors import DataError, DataNotFoundError, NotHDF5Error


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


# -- repack -----------------------------------------------------------------------------------
def folder_of_version_1(tmp_path):
    folder = tmp_path / "data"
    write(folder / "background.h5", [raw_sample(5000, 1)], compression="gzip")
    write(folder / "sig.h5", [raw_sample(700, 2)], "sig", "signal", compression="gzip")
    return folder


def test_repack_an_empty_sample(tmp_path):
    path = write(tmp_path / "z.h5", [np.zeros((0, 6), np.float32)], compression="gzip")
    fingerprint = read_header(path)["fingerprint"]
    assert repack_file(path).to_version == 2
    assert read_header(path)["fingerprint"] == fingerprint and read_header(path)["n_events"] == 0


def test_repack_folder_to_version_2_keeps_content_and_fingerprints(tmp_path):
    folder = folder_of_version_1(tmp_path)
    before = {
        f.name: (read_header(f), np.asarray(read_sample(f).x[0:700])) for f in folder.iterdir()
    }
    samples = {f.name: read_sample(f).provenance.fingerprint for f in folder.iterdir()}
    results = repack_folder(folder)
    assert sorted(r.path.name for r in results) == ["background.h5", "sig.h5"]
    assert all((r.from_version, r.to_version, r.skipped) == (1, 2, "") for r in results)
    assert sorted(p.name for p in folder.iterdir()) == ["background.h5", "sig.h5"]  # no .partial
    for f in folder.iterdir():
        h = read_header(f)
        old, x = before[f.name]
        assert h["format_version"] == 2
        for key in ("fingerprint", "name", "role", "feature_names", "metadata", "created"):
            assert h[key] == old[key]
        np.testing.assert_array_equal(h["nonfinite_per_feature"], old["nonfinite_per_feature"])
        s = read_sample(f)
        assert s.provenance.fingerprint == samples[f.name]  # the scoring cache key
        np.testing.assert_array_equal(bits(s.x[0:700]), bits(x))
        with h5py.File(f) as h5:
            assert "32026" in h5["events"]._filters
    # again: nothing to do; and back to gzip (version 1) for readers without the plugin
    assert all(r.skipped == "already lz4" for r in repack_folder(folder))
    back = repack_folder(folder, "gzip")
    assert all(r.to_version == 1 for r in back)
    assert read_header(folder / "sig.h5")["fingerprint"] == before["sig.h5"][0]["fingerprint"]


def test_repack_refuses_a_file_whose_rows_do_not_match_its_fingerprint(tmp_path):
    folder = folder_of_version_1(tmp_path)
    path = folder / "sig.h5"
    with h5py.File(path, "r+") as f:
        f.attrs["fingerprint"] = "0" * 32  # as if the rows had changed since writing
    data = path.read_bytes()
    with pytest.raises(DataError, match="content fingerprint"):
        repack_file(path)
    assert path.read_bytes() == data  # left as it was, and no partial file beside it
    assert sorted(p.name for p in folder.iterdir()) == ["background.h5", "sig.h5"]


def test_repack_bad_input_rewrites_nothing(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found"):
        repack_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.h5"):
        repack_folder(tmp_path / "empty")
    folder = folder_of_version_1(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        repack_folder(folder / "sig.h5")
    (folder / "zz_notes.h5").write_text("not hdf5")
    data = (folder / "sig.h5").read_bytes()
    with pytest.raises(NotHDF5Error, match=r"zz_notes\.h5"):
        repack_folder(folder)
    assert (folder / "sig.h5").read_bytes() == data  # checked before any file was rewritten


def test_repack_keeps_the_identity(tmp_path):
    from hepfm_core.data.hepfm_format import read_identity

    path = tmp_path / "s.h5"
    _, ids = write_with_identity(path, compression="gzip")
    repack_file(path, "lz4")
    assert read_header(path)["format_version"] == 2
    assert np.array_equal(read_identity(path)["event_number"], ids["event_number"])


def test_repack_adds_checksums_to_an_older_file(tmp_path):
    raw = raw_sample(n=3000)
    path = write(tmp_path / "bkg.h5", [raw])
    with h5py.File(path, "r+") as h5:  # as hepfm wrote files before checksums
        del h5["checksums"]
    assert read_sample(path).x.checksums is None
    result = repack_file(path, "lz4")
    assert result.skipped == ""
    sums = read_sample(path).x.checksums
    assert sums is not None and sums.values.shape == (2,)
    np.testing.assert_array_equal(read_sample(path).x.raw(slice(0, 3000)), raw)
    assert repack_file(path, "lz4").skipped == "already lz4"
