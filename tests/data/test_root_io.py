"""Reading PhysLite ROOT files with uproot (files written here, with the real branch names and
jagged arrays), in steps; every bad input a typed error; the PhysLite-like writer."""

from __future__ import annotations

import hashlib

import awkward as ak
import numpy as np
import pytest
import uproot

from hepfm_core.data.physlite import RAW_NAMES, TRACK_BRANCHES
from hepfm_core.data.root_io import PhysliteWriter, file_checksum, iterate_steps, open_tree
from hepfm_core.errors import (
    DataError,
    DataNotFoundError,
    MissingBranchError,
    MissingTreeError,
    NotRootFileError,
    TruncatedRootFileError,
)

VALUES = {name: float(i + 1) for i, name in enumerate(RAW_NAMES)}


def tracks(counts, offset=0.0):
    """Jagged float32 branches: track j of event i holds ``base + 100 * i + j`` (+ offset)."""
    out = {}
    for name, base in VALUES.items():
        rows = [[base + offset + 100 * i + j for j in range(c)] for i, c in enumerate(counts)]
        out[f"InDetTrackParticlesAuxDyn.{name}"] = ak.values_astype(ak.Array(rows), np.float32)
    return out


def write_ttree(path, counts, *, identity=True, drop=(), extend_by=None, tree="CollectionTree"):
    """A TTree written by uproot as a physicist would: default counter branches (one per
    jagged branch, ``n<branch>``), EventInfo branches, optionally a branch left out."""
    data = {k: v for k, v in tracks(counts).items() if k.split(".")[-1] not in drop}
    n = len(counts)
    if identity:
        data["EventInfoAuxDyn.runNumber"] = np.full(n, 284500, dtype=np.uint32)
        data["EventInfoAuxDyn.eventNumber"] = np.arange(10**12, 10**12 + n, dtype=np.uint64)
    types = {k: ("var * float32" if k.startswith("InDet") else v.dtype) for k, v in data.items()}
    with uproot.recreate(path) as f:
        t = f.mktree(tree, types)
        step = extend_by or max(n, 1)
        for s in range(0, n, step):
            t.extend({k: v[s : s + step] for k, v in data.items()})
    return path


def test_reads_steps_of_a_ttree_with_counter_branches(tmp_path):
    counts = [3, 0, 5, 1, 2, 4, 0]
    path = write_ttree(tmp_path / "a.root", counts, extend_by=3)
    with open_tree(str(path)) as (tree, info):
        assert "nInDetTrackParticlesAuxDyn.d0" in tree.keys()  # uproot's counter: ignored
        assert info.kind == "TTree" and info.entries == 7 and info.tree == "CollectionTree"
        assert info.identity == ("run_number", "event_number")
        assert info.size == path.stat().st_size
        assert info.checksum == hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
        steps = list(iterate_steps(tree, info, 2))
    assert [s.start for s in steps] == [0, 2, 4, 6]
    assert np.concatenate([s.counts for s in steps]).tolist() == counts
    d0 = np.concatenate([s.raw["d0"] for s in steps])
    expected = [1.0 + 100 * i + j for i, c in enumerate(counts) for j in range(c)]
    assert d0.tolist() == expected and d0.dtype == np.float32
    theta = np.concatenate([s.raw["theta"] for s in steps])
    assert theta.tolist() == [4.0 + 100 * i + j for i, c in enumerate(counts) for j in range(c)]
    ev = np.concatenate([s.identity["event_number"] for s in steps])
    assert ev.dtype == np.uint64 and ev.tolist() == list(range(10**12, 10**12 + 7))
    assert all(s.identity["run_number"].dtype == np.uint32 for s in steps)


def test_reads_an_rntuple_too(tmp_path):
    """uproot's default for dict assignment is an RNTuple (as newer PHYSLITE files are)."""
    counts = [2, 0, 3]
    with uproot.recreate(tmp_path / "r.root") as f:
        f["CollectionTree"] = tracks(counts) | {
            "EventInfoAuxDyn.mcChannelNumber": np.array([7, 7, 7], dtype=np.uint32)
        }
    with open_tree(str(tmp_path / "r.root")) as (tree, info):
        assert info.kind == "RNTuple" and info.identity == ("mc_channel_number",)
        (step,) = list(iterate_steps(tree, info, 100))
    assert step.counts.tolist() == counts
    assert step.raw["numberDoF"].tolist() == [7.0, 8.0, 207.0, 208.0, 209.0]
    assert step.identity["mc_channel_number"].tolist() == [7, 7, 7]


def test_without_eventinfo_there_is_no_identity_branch(tmp_path):
    path = write_ttree(tmp_path / "a.root", [1, 2], identity=False)
    with open_tree(str(path), checksum=False) as (tree, info):
        assert info.identity == () and info.checksum is None
        (step,) = list(iterate_steps(tree, info, 10))
    assert step.identity == {}


def test_not_a_root_file(tmp_path):
    path = tmp_path / "notes.root"
    path.write_text("these are my notes, not events\n" * 20)
    with pytest.raises(NotRootFileError, match="not a ROOT file") as info:
        with open_tree(str(path)):
            pass
    assert "what to do" in str(info.value) and str(path) in str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.root"
    path.touch()
    with pytest.raises(NotRootFileError, match="0 bytes"):
        with open_tree(str(path)):
            pass


def test_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError):
        with open_tree(str(tmp_path / "nope.root")):
            pass


@pytest.mark.parametrize("fraction", [0.3, 0.9, 0.999])
def test_truncated_file(tmp_path, fraction):
    full = write_ttree(tmp_path / "full.root", [5] * 2000, extend_by=250)
    data = full.read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(TruncatedRootFileError, match="truncated or corrupt") as info:
        with open_tree(str(cut)) as (tree, tinfo):
            for _ in iterate_steps(tree, tinfo, 100):
                pass
    assert "cut.root" in str(info.value) and "what to do" in str(info.value)


def test_corrupt_basket_midway_names_the_entries(tmp_path):
    full = write_ttree(tmp_path / "full.root", [5] * 2000, extend_by=250)
    data = bytearray(full.read_bytes())
    with open_tree(str(full), checksum=False) as (tree, _):
        seek = int(tree["InDetTrackParticlesAuxDyn.z0"].member("fBasketSeek")[3])
    data[seek + 80 : seek + 400] = b"\x00" * 320  # damage one basket's compressed bytes
    bad = tmp_path / "bad.root"
    bad.write_bytes(bytes(data))
    with pytest.raises(TruncatedRootFileError, match="entries from") as info:
        with open_tree(str(bad)) as (tree, tinfo):
            for _ in iterate_steps(tree, tinfo, 250):
                pass
    assert "bad.root" in str(info.value)


def test_missing_tree(tmp_path):
    path = write_ttree(tmp_path / "a.root", [1], tree="Events")
    with pytest.raises(MissingTreeError, match="no tree 'CollectionTree'") as info:
        with open_tree(str(path)):
            pass
    assert "Events" in str(info.value) and "--tree" in str(info.value)


def test_missing_track_branches(tmp_path):
    path = write_ttree(tmp_path / "a.root", [1, 2], drop=("qOverP", "numberDoF"))
    with pytest.raises(MissingBranchError) as info:
        with open_tree(str(path)):
            pass
    text = str(info.value)
    assert "InDetTrackParticlesAuxDyn.qOverP" in text and "numberDoF" in text
    assert "InDetTrackParticlesAuxDyn.d0," not in text  # only the missing ones are named


def test_branches_that_disagree_on_track_counts(tmp_path):
    data = tracks([2, 1])
    data["InDetTrackParticlesAuxDyn.z0"] = ak.values_astype(ak.Array([[1.0, 2.0], []]), np.float32)
    with uproot.recreate(tmp_path / "a.root") as f:
        f.mktree("CollectionTree", {k: "var * float32" for k in data}).extend(data)
    with pytest.raises(DataError, match=r"another number of tracks than .* in entry 1"):
        with open_tree(str(tmp_path / "a.root")) as (tree, info):
            list(iterate_steps(tree, info, 10))


def test_physlite_writer_round_trip_and_atomic(tmp_path):
    counts = np.array([2, 0, 1])
    raw = {name: np.arange(3, dtype=np.float32) + i for i, name in enumerate(RAW_NAMES)}
    ids = {
        "run_number": np.array([1, 1, 2], np.uint32),
        "event_number": np.array([5, 6, 7], np.uint64),
    }
    path = tmp_path / "w.root"
    with PhysliteWriter(path, ("run_number", "event_number")) as w:
        w.write(counts, raw, ids)
        assert not path.exists() and (tmp_path / "w.root.partial").exists()
    assert path.exists() and not (tmp_path / "w.root.partial").exists()
    t = uproot.open(path)["CollectionTree"]
    assert set(TRACK_BRANCHES) <= set(t.keys())
    assert t["InDetTrackParticlesAuxDyn.qOverP"].array().tolist() == [[4.0, 5.0], [], [6.0]]
    assert t["EventInfoAuxDyn.eventNumber"].array(library="np").tolist() == [5, 6, 7]
    assert file_checksum(path) == hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    with pytest.raises(RuntimeError), PhysliteWriter(tmp_path / "x.root") as w:
        raise RuntimeError("interrupted")
    assert list(tmp_path.glob("x.root*")) == []
