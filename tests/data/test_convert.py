"""PhysLite ROOT files -> a hepfm data folder: values, identity, provenance, the streamed
normalisation, flat memory, and every bad input a typed error that leaves nothing behind."""

from __future__ import annotations

import hashlib
import math
import pickle
import tracemalloc

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from hepfm_core.data.convert import ConvertResult, convert, convert_file, read_provenance, run_task
from hepfm_core.data.generator import GeneratorConfig, estimate_normalisation
from hepfm_core.data.hepfm_format import (
    open_hepfm_folder,
    read_header,
    read_identity,
    read_sample,
)
from hepfm_core.data.inputs import expand_inputs
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.data.physlite import RAW_NAMES, Selection, TrackFilter
from hepfm_core.errors import (
    DataNotFoundError,
    EmptyInputError,
    FeatureMismatchError,
    HepfmError,
    MissingBranchError,
    MissingTreeError,
    NotRootFileError,
    OutputExistsError,
    TruncatedRootFileError,
)


def physics_tracks(n_events, seed, mean_tracks=8):
    """Random raw PhysLite tracks: (counts, flat float32 raw by RAW_NAMES)."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(mean_tracks, n_events)
    n = int(counts.sum())
    theta = rng.uniform(0.1, math.pi - 0.1, n)
    pt = 0.5 * rng.random(n) ** -0.6
    raw = {
        "d0": rng.normal(0, 0.05, n),
        "z0": rng.normal(0, 40, n),
        "phi": rng.uniform(-math.pi, math.pi, n),
        "theta": theta,
        "qOverP": rng.choice([-1, 1], n) * np.sin(theta) / (pt * 1000.0),
        "chiSquared": rng.chisquare(15, n),
        "numberDoF": rng.integers(5, 30, n).astype(float),
    }
    return counts, {k: v.astype(np.float32) for k, v in raw.items()}


def write_root(path, counts, raw, *, run=None, first_event=0, channel=None, chunk=None):
    """A PhysLite-like TTree written with uproot itself (default counter branches)."""
    counts = np.asarray(counts)
    data = {f"InDetTrackParticlesAuxDyn.{k}": ak.unflatten(raw[k], counts) for k in RAW_NAMES}
    n = counts.size
    if run is not None:
        data["EventInfoAuxDyn.runNumber"] = np.full(n, run, dtype=np.uint32)
        data["EventInfoAuxDyn.eventNumber"] = np.arange(
            first_event, first_event + n, dtype=np.uint64
        )
    if channel is not None:
        data["EventInfoAuxDyn.mcChannelNumber"] = np.full(n, channel, dtype=np.uint32)
    types = {k: ("var * float32" if k.startswith("InDet") else v.dtype) for k, v in data.items()}
    chunk = chunk or max(n, 1)
    with uproot.recreate(path) as f:
        tree = f.mktree("CollectionTree", types)
        for s in range(0, n, chunk):
            tree.extend({k: v[s : s + chunk] for k, v in data.items()})
    return path


@pytest.fixture
def inputs(tmp_path):
    """Two background files (data: run and event numbers) and one signal file (simulation)."""
    src = tmp_path / "in"
    src.mkdir()
    files = {}
    for i, (n, seed) in enumerate([(300, 1), (200, 2)]):
        counts, raw = physics_tracks(n, seed)
        files[f"bkg{i}"] = (
            write_root(src / f"bkg_{i}.root", counts, raw, run=300000 + i, first_event=1000 * i),
            counts,
            raw,
        )
    counts, raw = physics_tracks(150, 3, mean_tracks=25)
    files["sig"] = (
        write_root(src / "sig.root", counts, raw, run=284500, channel=801234),
        counts,
        raw,
    )
    return src, files


def expected_rows(counts, raw, n_tracks=10):
    """The events as the issue defines them, computed track by track with Python floats."""
    out = np.zeros((counts.size, n_tracks, 6))
    start = 0
    for e, c in enumerate(counts):
        rows = []
        for i in range(start, start + c):
            d0, z0, phi, theta, q, chi2, ndf = (float(raw[k][i]) for k in RAW_NAMES)
            pt = math.sin(theta) / abs(q) / 1000.0
            rows.append([d0, phi, z0, -math.log(math.tan(theta / 2)), pt, chi2 / ndf])
        rows.sort(key=lambda r: -r[4])  # Python's sort is stable: ties in file order
        for j, r in enumerate(rows[:n_tracks]):
            out[e, j] = r
        start += c
    return out.reshape(counts.size, -1)


def test_convert_writes_the_folder_with_values_identity_and_provenance(inputs, tmp_path):
    src, files = inputs
    out = tmp_path / "converted"
    result = convert(
        [str(src / "bkg_*.root")],
        {"zprime_tt": [str(src / "sig.root")]},
        out,
        selection=Selection(n_tracks=10),
        step_size=64,
    )
    assert isinstance(result, ConvertResult)
    assert sorted(p.name for p in out.iterdir()) == ["background.h5", "zprime_tt.h5"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    # values: the background is both files, in order
    bkg = read_sample(out / "background.h5")
    raw_bkg = bkg.x.raw(slice(0, bkg.n_events)).astype(np.float64)
    ref = np.concatenate([expected_rows(files[k][1], files[k][2]) for k in ("bkg0", "bkg1")])
    assert raw_bkg.shape == ref.shape == (500, 60)
    step = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(raw_bkg - ref) <= step)
    # identity, beside the events and per row range
    ids = read_identity(bkg)
    assert sorted(ids) == ["event_number", "run_number", "source_entry", "source_file"]
    assert ids["run_number"].tolist() == [300000] * 300 + [300001] * 200
    assert ids["event_number"].tolist() == list(range(300)) + list(range(1000, 1200))
    assert ids["source_file"].tolist() == [0] * 300 + [1] * 200
    assert ids["source_entry"].tolist() == list(range(300)) + list(range(200))
    part = read_identity(out / "background.h5", slice(298, 302))
    assert part["event_number"].tolist() == [298, 299, 1000, 1001]
    header = read_header(out / "background.h5")
    assert header["identity_sources"] == ["bkg_0.root", "bkg_1.root"]
    assert header["feature_definition"] == "physical"
    sig_ids = read_identity(out / "zprime_tt.h5")
    assert set(sig_ids["mc_channel_number"].tolist()) == {801234}
    # provenance: names, sizes, checksums, tree, uproot version, selection, counts
    prov = read_provenance(out / "background.h5")
    assert prov["uproot"] == uproot.__version__ and prov["tree"] == "CollectionTree"
    assert (
        prov["selection"]["n_tracks"] == 10
        and prov["selection"]["feature_definition"] == "physical"
    )
    for entry, key in zip(prov["inputs"], ("bkg0", "bkg1"), strict=True):
        path = files[key][0]
        assert entry["name"] == path.name and entry["size"] == path.stat().st_size
        assert entry["checksum"] == hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
        assert entry["entries"] == files[key][1].size
        assert entry["counts"]["tracks_in"] == files[key][1].sum()
    counts = prov["counts"]
    n_tracks_in = int(files["bkg0"][1].sum() + files["bkg1"][1].sum())
    assert counts["events_in"] == counts["events_kept"] == 500
    assert counts["tracks_in"] == n_tracks_in
    assert counts["tracks_written"] + counts["tracks_truncated"] == n_tracks_in
    # the summary says it too
    text = result.summary()
    assert "500 of 500 events kept" in text and "bkg_1.root" in text
    assert uproot.__version__ in text and "events/s" in text


def test_the_normalisation_is_the_demo_estimator_over_every_background_event(inputs, tmp_path):
    src, _ = inputs
    out = tmp_path / "c"
    convert(
        [str(src / "bkg_0.root"), str(src / "bkg_1.root")],
        {},
        out,
        step_size=50,
        selection=Selection(n_tracks=10),
    )
    header = read_header(out / "background.h5")
    with h5py.File(out / "background.h5") as h5:
        raw = h5["events"][:]
    ref = estimate_normalisation(raw, GeneratorConfig(n_tracks=10))
    norm = header["normalisation"]
    np.testing.assert_allclose(norm.means, ref.means, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(norm.stds, ref.stds, rtol=1e-10)
    assert np.array_equal(norm.fill, ref.fill)
    assert "all 500 events" in norm.source


def test_a_given_normalisation_is_stored_in_every_file(inputs, tmp_path):
    src, _ = inputs
    given = Normalisation.per_branch(np.arange(6.0), np.ones(6), 10, clip=10.0, source="model")
    out = tmp_path / "c"
    result = convert(
        [str(src / "bkg_0.root")],
        {"s": [str(src / "sig.root")]},
        out,
        selection=Selection(n_tracks=10),
        normalisation=given,
        normalisation_source="my model",
    )
    for name in ("background", "s"):
        stored = read_header(out / f"{name}.h5")["normalisation"]
        assert stored.fingerprint() == given.fingerprint()
    assert result.normalisation_source == "my model"
    with pytest.raises(HepfmError, match="60"):
        convert([str(src / "bkg_0.root")], {}, tmp_path / "d", normalisation=given)
    assert not (tmp_path / "d").exists()


def test_min_tracks_and_filters_are_accounted_and_identity_follows(tmp_path):
    counts = np.array([1, 4, 0, 6, 2])
    _, raw = physics_tracks(5, 0)
    n = int(counts.sum())
    raw = {k: np.resize(v, n) for k, v in raw.items()}
    raw["z0"][:] = 0.0
    raw["z0"][2] = 500.0  # the second track of event 1 fails the filter
    path = write_root(tmp_path / "a.root", counts, raw)  # no EventInfo: file and entry
    out = tmp_path / "c"
    sel = Selection(n_tracks=3, track_filters=(TrackFilter.parse("z0:-100:100"),), min_tracks=3)
    result = convert([str(path)], {}, out, selection=sel, step_size=2)
    c = result.samples["background"].counts
    assert (c.events_in, c.events_kept) == (5, 2)
    assert c.events_dropped == {"below_min_tracks": 3}
    assert c.tracks_filtered == {"z0:-100:100": 1}
    assert c.tracks_in_dropped_events == 1 + 0 + 2
    assert (c.tracks_written, c.tracks_truncated) == (3 + 3, 3)
    assert c.balanced()
    ids = read_identity(out / "background.h5")
    assert sorted(ids) == ["source_entry", "source_file"]
    assert ids["source_entry"].tolist() == [1, 3]  # the kept entries of the file


def test_upstream_compatible_is_recorded_and_folders_must_agree(inputs, tmp_path):
    src, _ = inputs
    up = tmp_path / "up"
    convert(
        [str(src / "bkg_0.root")],
        {"s": [str(src / "sig.root")]},
        up,
        selection=Selection(definition="upstream-compatible"),
    )
    assert read_header(up / "s.h5")["feature_definition"] == "upstream-compatible"
    pt = read_sample(up / "s.h5").x.raw(slice(0, 150)).reshape(150, 30, 6)[..., 4]
    assert pt.max() == 100.0
    phys = tmp_path / "phys"
    convert([str(src / "bkg_0.root")], {"s": [str(src / "sig.root")]}, phys)
    (up / "s.h5").replace(phys / "other.h5")
    with h5py.File(phys / "other.h5", "r+") as h5:
        h5.attrs["name"] = "other"
    with pytest.raises(FeatureMismatchError, match="upstream-compatible"):
        open_hepfm_folder(phys)


def test_globs_and_file_lists(inputs, tmp_path):
    src, _ = inputs
    listing = src / "bkg.txt"
    listing.write_text("# background\nbkg_1.root\n\n" + str(src / "bkg_0.root") + "\n")
    assert expand_inputs([str(listing)]) == [str(src / "bkg_1.root"), str(src / "bkg_0.root")]
    assert expand_inputs([str(src / "bkg_*.root"), str(src / "bkg_0.root")]) == [
        str(src / "bkg_0.root"),
        str(src / "bkg_1.root"),
    ]
    assert expand_inputs(["root://eos.example/file.root"]) == ["root://eos.example/file.root"]
    with pytest.raises(DataNotFoundError, match="no file matches"):
        expand_inputs([str(src / "nothing_*.root")])
    out = tmp_path / "c"
    result = convert([str(listing)], {}, out, selection=Selection(n_tracks=10))
    assert [f.info.name for f in result.samples["background"].files] == ["bkg_1.root", "bkg_0.root"]


def test_files_are_mapped_with_the_given_map(inputs, tmp_path):
    src, _ = inputs
    seen = []

    def recording_map(fn, tasks):
        tasks = list(tasks)
        seen.extend(t.source for t in tasks)
        assert fn is run_task
        for t in tasks:  # what a cluster's map sends to its workers
            assert pickle.loads(pickle.dumps(t)) == t
        return [fn(t) for t in reversed(tasks)][::-1]  # any order of work, results in order

    convert(
        [str(src / "bkg_*.root")],
        {"s": [str(src / "sig.root")]},
        tmp_path / "c",
        map_files=recording_map,
    )
    assert [p.rsplit("/", 1)[-1] for p in seen] == ["bkg_0.root", "bkg_1.root", "sig.root"]


def _bad_input(kind, tmp_path, good):
    path = tmp_path / f"{kind}.root"
    if kind == "not_root":
        path.write_text("run,event\n1,2\n")
    elif kind == "empty_file":
        path.touch()
    elif kind == "truncated":
        counts, raw = physics_tracks(3000, 9)
        data = write_root(tmp_path / "whole.root", counts, raw, chunk=500).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "missing_tree":
        with uproot.recreate(path) as f:
            f.mktree("Events", {"x": np.float32}).extend({"x": np.zeros(3, np.float32)})
    elif kind == "missing_branches":
        with uproot.recreate(path) as f:
            f.mktree("CollectionTree", {"InDetTrackParticlesAuxDyn.d0": "var * float32"}).extend(
                {"InDetTrackParticlesAuxDyn.d0": ak.Array([[1.0]])}
            )
    elif kind == "no_events":
        counts, raw = physics_tracks(0, 1)
        write_root(path, counts, raw)
    return path


BAD = {
    "not_root": NotRootFileError,
    "empty_file": NotRootFileError,
    "truncated": TruncatedRootFileError,
    "missing_tree": MissingTreeError,
    "missing_branches": MissingBranchError,
    "no_events": EmptyInputError,
}


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("as_signal", [False, True])
def test_bad_inputs_are_typed_errors_and_leave_no_output(inputs, tmp_path, kind, as_signal):
    _, files = inputs
    bad = _bad_input(kind, tmp_path, files)
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    background = [str(bad)] if not as_signal else [str(files["bkg0"][0])]
    # a file without entries among others is fine; a signal of it alone is empty
    sig_files = [str(bad)] if kind == "no_events" else [str(files["sig"][0]), str(bad)]
    signals = {"zp": sig_files} if as_signal else {}
    with pytest.raises(BAD[kind]) as info:
        convert(background, signals, out)
    text = str(info.value)
    assert "what to do" in text and bad.name in text
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no folder, no .partial


def test_a_file_without_entries_among_others_is_counted(inputs, tmp_path):
    _, files = inputs
    empty = _bad_input("no_events", tmp_path, files)
    result = convert([str(files["bkg0"][0]), str(empty)], {}, tmp_path / "c")
    bkg = result.samples["background"]
    entries = [(f.info.name, f.info.entries) for f in bkg.files]
    assert entries == [("bkg_0.root", 300), ("no_events.root", 0)]
    assert bkg.n_events == 300 and bkg.counts.balanced()


def test_a_failure_leaves_an_existing_folder_as_it_was(inputs, tmp_path):
    _, files = inputs
    out = tmp_path / "c"
    convert([str(files["bkg0"][0])], {}, out)
    stamp = read_header(out / "background.h5")["fingerprint"]
    with pytest.raises(NotRootFileError):
        convert([str(files["bkg1"][0])], {"s": [str(_bad_input("not_root", tmp_path, files))]}, out)
    assert read_header(out / "background.h5")["fingerprint"] == stamp
    # a successful conversion replaces it (hepfm files only)
    convert([str(files["bkg1"][0])], {}, out)
    assert read_header(out / "background.h5")["n_events"] == 200
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"notes\.txt"):
        convert([str(files["bkg1"][0])], {}, out)
    assert (out / "notes.txt").read_text() == "mine"


# -- a full disk and killed writers (issue 23, faults 3 and 4) -----------------------------
def test_a_full_disk_is_an_output_error_and_leaves_nothing(inputs, small_fs):
    """It ended with SIGSEGV (rc 139) once HDF5 had failed to write a chunk: in a child
    process, so that a crash shows as its exit status."""
    import subprocess
    import sys

    _, files = inputs
    disk = small_fs(64)
    script = (
        "import sys\n"
        "from hepfm_core.data.convert import convert\n"
        "from hepfm_core.errors import HepfmError\n"
        "try:\n"
        "    convert([sys.argv[1]], {'sig': [sys.argv[2]]}, sys.argv[3], compression='lz4')\n"
        "except HepfmError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(files["bkg0"][0]),
            str(files["sig"][0]),
            str(disk / "c"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refused: cannot write the sample file" in done.stdout, done.stdout + done.stderr
    assert "No space left on device" in done.stdout
    assert list(disk.iterdir()) == []  # no folder, no partial folder


def _dead_tag() -> str:
    import subprocess
    import sys

    from hepfm_core.common.leftovers import owner_tag

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{owner_tag().split('~')[0]}~{child.pid}~aaaa0000"


def test_leftovers_of_a_killed_convert_are_removed_by_the_next(inputs, tmp_path):
    """``.OUT.partial-*`` (killed while converting) and ``.OUT.old-*`` (killed while
    removing the folder it replaced) of a dead writer; a live writer's are left alone."""
    from hepfm_core.common.leftovers import owner_tag

    _, files = inputs
    out = tmp_path / "c"
    convert([str(files["bkg0"][0])], {}, out)
    tag = _dead_tag()
    for name in (f".c.partial-{tag}", f".c.old-{tag}"):
        (tmp_path / name / "parts").mkdir(parents=True)
        (tmp_path / name / "parts" / "background-00000.h5.partial").write_bytes(b"half")
    busy = tmp_path / f".c.partial-{owner_tag()}"  # another conversion, in this process
    busy.mkdir()
    convert([str(files["bkg1"][0])], {}, out)
    assert read_header(out / "background.h5")["n_events"] == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c", "in", busy.name])


def test_a_folder_moved_aside_by_a_killed_convert_is_put_back(inputs, tmp_path):
    """Killed between its two renames, a convert left the previous folder as ``.OUT.old-*``
    and no ``OUT``: the next one puts it back before it does anything."""
    from hepfm_core.common.atomic import AtomicFolder
    from hepfm_core.data.convert import _is_hepfm_sample

    _, files = inputs
    out = tmp_path / "c"
    convert([str(files["bkg0"][0])], {}, out)
    stamp = read_header(out / "background.h5")["fingerprint"]
    out.rename(tmp_path / f".c.old-{_dead_tag()}")
    folder = AtomicFolder(out, _is_hepfm_sample, "hepfm sample files")
    folder.discard()
    assert read_header(out / "background.h5")["fingerprint"] == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "in"]


def test_memory_stays_flat_on_a_file_twenty_times_the_step(tmp_path):
    step = 1000
    peaks = {}
    for n_events in (2 * step, 20 * step):
        counts, raw = physics_tracks(n_events, 4, mean_tracks=30)
        path = write_root(tmp_path / f"f{n_events}.root", counts, raw, run=1, chunk=step)
        raw_bytes = sum(v.nbytes for v in raw.values())
        del raw
        tracemalloc.start()
        try:
            result = convert_file(
                str(path),
                tmp_path / f"p{n_events}.h5",
                sample="background",
                role="background",
                selection=Selection(),
                step_size=step,
            )
            peaks[n_events] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.counts.events_kept == n_events
    big, small = peaks[20 * step], peaks[2 * step]
    # ten times the events, the same peak (within noise), and less than the big file's raw
    # float32 values alone would take (its float64 features would take 1.7 times more)
    assert big < 1.2 * small, peaks
    assert big < raw_bytes, (peaks, raw_bytes)
