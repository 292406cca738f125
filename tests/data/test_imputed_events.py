"""The imputed events are found: listed by hepfm's files, scanned in others, and refused when
the file's values and its own count disagree."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hepfm_core.data import imputed_events as module
from hepfm_core.data.hepfm_format import NONFINITE_EVENTS, read_sample
from hepfm_core.data.imputed_events import imputed_events
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.data.sample_writer import SampleWriter
from hepfm_core.data.samples import InputAccounting, Provenance, Sample
from hepfm_core.errors import DataError, SettingsError

N_TRACKS = 2
BRANCHES = ("d0", "pt")


def _raw(n: int, bad_rows: list[int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(n, N_TRACKS * len(BRANCHES))).astype(np.float32)
    for k, row in enumerate(bad_rows):
        raw[row, k % raw.shape[1]] = (np.nan, np.inf, -np.inf)[k % 3]
    return raw


def _write(path, raw: np.ndarray):
    norm = Normalisation.per_branch([0.0, 0.0], [1.0, 1.0], N_TRACKS, fill=[0.0, 1.0])
    with SampleWriter(
        path,
        name="sig",
        role="signal",
        branch_names=BRANCHES,
        units=("mm", "GeV"),
        n_tracks=N_TRACKS,
        normalisation=norm,
    ) as w:
        w.write(raw)
    return path


BAD = [0, 7, 4095, 4096, 9_999]


def test_the_listed_events_are_read_not_scanned(tmp_path, monkeypatch):
    raw = _raw(10_000, BAD)
    path = _write(tmp_path / "s.h5", raw)
    monkeypatch.setattr(module, "_raw_blocks", lambda *a: pytest.fail("scanned"))
    got = imputed_events(read_sample(path))
    np.testing.assert_array_equal(got, np.flatnonzero(~np.isfinite(raw).all(axis=1)))
    assert got.tolist() == BAD and got.dtype == np.int64


@pytest.mark.parametrize("rows", [64, 4096, 65_536])
def test_a_file_without_the_list_is_scanned_to_the_same_events(tmp_path, rows):
    raw = _raw(10_000, BAD)
    path = _write(tmp_path / "s.h5", raw)
    with h5py.File(path, "r+") as h5:
        del h5[NONFINITE_EVENTS]
    assert imputed_events(read_sample(path), rows=rows).tolist() == BAD


def test_fill_none_imputes_nothing(tmp_path):
    path = _write(tmp_path / "s.h5", _raw(1000, [3, 4]))
    assert imputed_events(read_sample(path, fill="none")).size == 0


def test_a_count_the_values_do_not_hold_is_refused(tmp_path):
    path = _write(tmp_path / "s.h5", _raw(1000, [3, 4]))
    with h5py.File(path, "r+") as h5:
        del h5[NONFINITE_EVENTS]
        h5.attrs["events_with_nonfinite"] = 5  # the file claims more than it holds
    with pytest.raises(DataError, match=r"holds only 2 events .* counted 5"):
        imputed_events(read_sample(path))


def test_filled_values_in_memory_cannot_be_listed():
    sample = Sample(
        name="mem",
        role="signal",
        x=np.zeros((10, 4), np.float32),
        feature_names=tuple(f"track{t:02d}_{b}" for t in range(2) for b in BRANCHES),
        provenance=Provenance("memory", "", "fp"),
        accounting=InputAccounting(np.array([1, 0, 0, 0]), 1, "median"),
    )
    with pytest.raises(SettingsError, match="not on disk"):
        imputed_events(sample)


def test_upstream_files_are_scanned(upstream_fixture, tmp_path):
    """Upstream's files (no list): the scan finds the rows given NaN and inf, and nothing in
    the untouched samples."""
    import shutil

    from hepfm_core.upstream.data import open_upstream_dataset

    source = next((upstream_fixture / "_processed_datasets").iterdir())
    data = tmp_path / source.name
    shutil.copytree(source, data)
    with h5py.File(data / "signal_dataset.h5", "r+") as h5:
        ds = h5["zprime_tt/features/aggregated/aggregator_0"]
        values = ds[...]
        values[5, 0, 1] = np.nan
        values[123, 3, 4] = np.inf
        values[799, 19, 5] = np.nan
        ds[...] = values
    samples = open_upstream_dataset(data).samples
    assert imputed_events(samples["zprime_tt"]).tolist() == [5, 123, 799]
    assert imputed_events(samples["background"]).size == 0
