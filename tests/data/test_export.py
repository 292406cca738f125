"""A hepfm folder written back as PhysLite-like ROOT files: one file per sample, every event
with its real tracks, refused where it would overwrite what it did not write."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import uproot

from hepfm_core.data.export import export_physlite
from hepfm_core.data.hepfm_format import EVENTS, read_header
from hepfm_core.data.physlite import TRACK_CONTAINER
from hepfm_core.data.root_io import DEFAULT_TREE
from hepfm_core.errors import DataNotFoundError, OutputExistsError


def test_every_sample_becomes_a_tree_with_its_events_and_their_tracks(small_data, tmp_path):
    written = export_physlite(small_data, tmp_path / "root", seed=5)
    names = sorted(read_header(f)["name"] for f in small_data.glob("*.h5"))
    assert sorted(written) == names
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == [f"{n}.root" for n in names]
    for name, path in written.items():
        with h5py.File(small_data / f"{name}.h5") as h5:
            x = h5[EVENTS][:]  # the raw physical values
        n_tracks = read_header(small_data / f"{name}.h5")["n_tracks"]
        # a real track is a track slot that is not all zero (the padding is left out)
        real = np.any(x.reshape(x.shape[0], n_tracks, -1) != 0, axis=2).sum(axis=1)
        with uproot.open(path) as f:
            tree = f[DEFAULT_TREE]
            assert tree.num_entries == x.shape[0]
            phi = tree[f"{TRACK_CONTAINER}.phi"].array(library="np")
        np.testing.assert_array_equal([len(v) for v in phi], real)


def test_the_same_seed_writes_the_same_files(small_data, tmp_path):
    a = export_physlite(small_data, tmp_path / "a", seed=1)
    b = export_physlite(small_data, tmp_path / "b", seed=1)
    for name in a:
        with uproot.open(a[name]) as fa, uproot.open(b[name]) as fb:
            ta, tb = fa[DEFAULT_TREE], fb[DEFAULT_TREE]
            assert ta.keys() == tb.keys()
            for branch in ta.keys():
                va, vb = ta[branch].array(library="np"), tb[branch].array(library="np")
                if va.dtype == object:  # one array of tracks per event
                    va, vb = np.concatenate(list(va)), np.concatenate(list(vb))
                np.testing.assert_array_equal(va, vb)


def test_a_folder_without_samples_or_an_output_of_other_files_is_refused(small_data, tmp_path):
    with pytest.raises(DataNotFoundError, match="holds no hepfm sample files"):
        export_physlite(tmp_path, tmp_path / "out")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"notes\.txt"):
        export_physlite(small_data, busy)
    assert (busy / "notes.txt").read_text() == "mine"  # nothing replaced
