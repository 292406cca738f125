"""Chosen rows of a sample (data.rows): the stored values and the model inputs of scattered
rows, in any order and repeated, from hepfm's and upstream's files and from arrays, against
h5py and numpy reads; the spans read in one slice; the refusals."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hepfm_core.data.generator import GeneratorConfig, generate_dataset
from hepfm_core.data.h5io import H5Matrix
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.data.rows import read_rows, spans
from hepfm_core.engine.investigate.events import track_layout
from hepfm_core.errors import TruncatedFileError
from hepfm_core.sources import open_data


def test_read_rows_from_a_hepfm_file(tmp_path: Path):
    generate_dataset(tmp_path, 6_000, 100, GeneratorConfig(signals=("zprime_ee",), seed=5))
    data = open_data(tmp_path)
    x = data.background.x
    rows = np.array([5999, 3, 2050, 3, 4097])
    got = read_rows(x, rows)
    with h5py.File(tmp_path / "background.h5", "r") as h5:
        stored = np.asarray(h5["events"][:])
    np.testing.assert_array_equal(got.raw, stored[rows].astype(np.float64))
    expected = np.concatenate([x[r : r + 1] for r in rows])
    np.testing.assert_array_equal(got.inputs, expected)


def test_read_rows_from_upstream_files(upstream_fixture: Path):
    folder = upstream_fixture / "_processed_datasets" / "dataset_runs_00298967-2-00311481_45222f19"
    data = open_data(folder)
    sig = data.signals["wprime_taunu"]
    rows = np.array([799, 0, 400])
    got = read_rows(sig.x, rows)
    with h5py.File(folder / "signal_dataset.h5", "r") as h5:
        stored = np.asarray(h5["wprime_taunu/features/aggregated/aggregator_0"][:])
    np.testing.assert_array_equal(got.raw, stored[rows].reshape(3, -1))
    np.testing.assert_array_equal(got.inputs, np.concatenate([sig.x[r : r + 1] for r in rows]))
    layout = track_layout(data.feature_names)
    assert layout is not None and layout.n_tracks == 20 and layout.branches[4] == "pt"


def test_read_rows_of_an_array_has_no_stored_values():
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    got = read_rows(x, np.array([4, 0]))
    assert got.raw is None
    np.testing.assert_array_equal(got.inputs, x[[4, 0]])
    with pytest.raises(IndexError):
        read_rows(x, np.array([5]))


def test_spans_by_hand():
    assert spans(np.array([], dtype=np.int64)) == []
    assert spans(np.array([7])) == [(7, 8)]
    # rows less than gap apart share a span; exactly gap apart do not
    assert spans(np.array([0, 9, 19, 29]), gap=10) == [(0, 10), (19, 20), (29, 30)]
    assert spans(np.array([0, 1, 2, 100]), gap=2048) == [(0, 101)]


def _plain_file(tmp_path: Path, raw: np.ndarray, **create) -> Path:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("events", data=raw, **create)
    return path


@pytest.mark.parametrize("create", [{}, {"chunks": (16, 6), "compression": "gzip"}])
def test_scattered_rows_of_a_file_with_its_normalisation(tmp_path, create):
    rng = np.random.default_rng(0)
    raw = rng.normal(5.0, 3.0, (5000, 6)).astype(np.float32)
    raw[17, 2] = np.nan  # filled by the normalisation
    path = _plain_file(tmp_path, raw, **create)
    norm = Normalisation(np.full(6, 5.0), np.full(6, 3.0), np.arange(6.0), clip=1.0)
    matrix = H5Matrix(path, ["events"], norm, 5000, 6)
    rows = np.array([4999, 17, 0, 2500, 17, 3])
    got = read_rows(matrix, rows)
    np.testing.assert_array_equal(got.rows, rows)
    np.testing.assert_array_equal(got.raw, raw[rows].astype(np.float64))
    want = (np.where(np.isnan(raw[rows]), np.arange(6.0), raw[rows]) - 5.0) / 3.0
    np.testing.assert_allclose(got.inputs, np.clip(want, -1.0, 1.0), rtol=1e-6)
    assert got.inputs.dtype == np.float32 and got.raw.dtype == np.float64
    none = read_rows(matrix, np.empty(0, np.int64))
    assert none.inputs.shape == (0, 6) and none.raw.shape == (0, 6)


def test_a_source_that_is_neither_file_nor_array_is_read_row_by_row():
    class Rows:
        """A RowSource known only by its shape and slices."""

        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self.shape = x.shape

        def __getitem__(self, sl: slice) -> np.ndarray:
            return self.x[sl]

    x = np.arange(30.0).reshape(10, 3)
    got = read_rows(Rows(x), np.array([9, 0, 9]))
    assert got.raw is None and got.inputs.dtype == np.float32
    np.testing.assert_array_equal(got.inputs, x[[9, 0, 9]])


def test_rows_outside_the_sample_and_a_damaged_file(tmp_path):
    x = np.zeros((5, 2), np.float32)
    with pytest.raises(IndexError, match=r"rows must lie in 0\.\.4, got -1\.\.2"):
        read_rows(x, np.array([2, -1]))
    path = _plain_file(tmp_path, np.ones((100, 6), np.float32))
    matrix = H5Matrix(path, ["no_such_dataset"], None, 100, 6)
    with pytest.raises(TruncatedFileError, match=r"cannot read 2 rows of plain\.h5") as info:
        read_rows(matrix, np.array([3, 1]))
    assert info.value.where == str(path)
