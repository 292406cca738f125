"""The Sample: any row source (an array or a lazy file matrix), its normalisation and its
default accounting."""

from __future__ import annotations

import numpy as np

from hepfm_core.data.h5io import H5Matrix
from hepfm_core.data.hepfm_format import read_sample
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.data.sample_writer import SampleWriter
from hepfm_core.data.samples import InputAccounting, NormalisedRows, Provenance, Sample

PROVENANCE = Provenance(source="memory", group="", fingerprint="test")


def test_in_memory_sample_defaults():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    s = Sample("bkg", "background", x, ("a", "b", "c"), PROVENANCE)
    assert (s.n_events, s.n_features) == (4, 3)
    assert s.normalisation is None  # an array's values are taken as they are
    assert not isinstance(s.x, NormalisedRows)
    # the default accounting is sized to the sample, and separate per sample
    np.testing.assert_array_equal(s.accounting.per_feature, [0, 0, 0])
    assert s.accounting.events_with_nonfinite == 0 and s.accounting.filled == "none"
    other = Sample("sig", "signal", x[:, :2], ("a", "b"), PROVENANCE)
    assert other.accounting.per_feature.shape == (2,)
    blocks = list(s.chunks(3))
    assert [start for start, _ in blocks] == [0, 3]
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), x)


def test_given_accounting_is_kept():
    acc = InputAccounting(np.array([2, 0]), 2, filled="median")
    s = Sample("sig", "signal", np.zeros((5, 2), np.float32), ("a", "b"), PROVENANCE, acc)
    assert s.accounting is acc


def test_lazy_sample_normalisation_is_its_matrix(tmp_path):
    norm = Normalisation.per_branch([1.0], [2.0], 2, clip=None, source="stored")
    with SampleWriter(
        tmp_path / "s.h5",
        name="s",
        role="signal",
        branch_names=("a",),
        units=("",),
        n_tracks=2,
        normalisation=norm,
    ) as w:
        w.write(np.array([[1.0, 3.0], [5.0, -1.0]], dtype=np.float32))
    s = read_sample(tmp_path / "s.h5")
    assert isinstance(s.x, H5Matrix) and isinstance(s.x, NormalisedRows)
    assert s.normalisation is s.x.normalisation
    assert s.normalisation is not None and s.normalisation.fingerprint() == norm.fingerprint()
    np.testing.assert_array_equal(s.x[0:2], [[0.0, 1.0], [2.0, -1.0]])


class _LazyRows:
    """A lazy row source that is not a BlockRows: sliced, a block ahead."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.shape = x.shape
        self.slices: list[tuple[int, int]] = []

    def __getitem__(self, rows: slice) -> np.ndarray:
        self.slices.append((rows.start, rows.stop))
        return self.x[rows].astype(np.float64)  # any dtype: blocks are float32


def test_row_blocks_of_arrays_and_lazy_sources():
    from hepfm_core.data.samples import BlockRows, row_blocks

    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    views = list(row_blocks(x, 4))
    assert [(s, b.shape[0]) for s, b in views] == [(0, 4), (4, 4), (8, 2)]
    assert np.shares_memory(views[0][1], x)  # an array's blocks are views, nothing copied
    padded = [(s, b.copy()) for s, b in row_blocks(x, 4, pad=True, stop=9)]
    assert all(b.shape == (4, 3) for _, b in padded)
    np.testing.assert_array_equal(padded[2][1], [[24, 25, 26], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    lazy = _LazyRows(x)
    assert not isinstance(lazy, BlockRows)
    blocks = [(s, b.copy()) for s, b in row_blocks(lazy, 4)]
    assert sorted(lazy.slices) == [(0, 4), (4, 8), (8, 10)]
    assert all(b.dtype == np.float32 for _, b in blocks)
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), x)


def test_row_blocks_from_a_start_in_this_thread():
    """A partition's blocks start at ``start``; ``threads=0`` reads them in the caller's
    thread; the values are the whole read's."""
    import threading

    from hepfm_core.data.samples import row_blocks

    class Spied(_LazyRows):
        def __getitem__(self, rows: slice) -> np.ndarray:
            self.threads = getattr(self, "threads", set()) | {threading.get_ident()}
            return super().__getitem__(rows)

    x = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    lazy = Spied(x)
    got = [(s, b.copy()) for s, b in row_blocks(lazy, 4, start=4, threads=0)]
    assert [s for s, _ in got] == [4, 8]
    np.testing.assert_array_equal(np.concatenate([b for _, b in got]), x[4:])
    assert sorted(lazy.slices) == [(4, 8), (8, 10)]
    assert lazy.threads == {threading.get_ident()}
