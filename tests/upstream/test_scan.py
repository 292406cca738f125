"""One pass over an upstream sample's raw values (upstream.scan): the content fingerprint,
the non-finite counts and the medians of the columns that hold non-finite values, against
numpy; read in any number of blocks; memoised per file version, so a second scan reads no
event; a damaged or full memo only costs a rescan."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from hepfm_core.common.fingerprint import ArrayHasher
from hepfm_core.data.h5io import H5Matrix
from hepfm_core.upstream import scan as scan_module
from hepfm_core.upstream.scan import MEMO_FILE, scan


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("HEPFM_CACHE_DIR", str(folder))
    return folder


def _raw(seed: int = 1, n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.normal(0.0, 2.0, (n, 5))
    raw[::97, 1] = np.nan
    raw[5::301, 1] = np.inf
    raw[::450, 3] = -np.inf
    raw[7, 3] = np.nan  # event 7 has two bad values: it counts once
    raw[7, 1] = np.nan
    return raw


def _write(path, raw: np.ndarray, name: str = "events") -> H5Matrix:
    with h5py.File(path, "a") as h5:
        h5[name] = raw
    return H5Matrix(path, [name], None, raw.shape[0], raw.shape[1])


class Counting:
    """An H5Matrix that counts the rows it reads."""

    def __init__(self, inner: H5Matrix) -> None:
        self.inner, self.path, self.shape, self.rows_read = inner, inner.path, inner.shape, 0

    def raw(self, rows: slice) -> np.ndarray:
        block = self.inner.raw(rows)
        self.rows_read += block.shape[0]
        return block


def test_scan_against_numpy_in_any_number_of_blocks(tmp_path, cache, monkeypatch):
    raw = _raw()
    matrix = _write(tmp_path / "s.h5", raw)
    bad = ~np.isfinite(raw)
    hasher = ArrayHasher()
    hasher.update(raw)
    whole = scan(matrix, "/events")
    assert whole.nonfinite.tolist() == bad.sum(axis=0).tolist()
    assert whole.events_with_nonfinite == int(bad.any(axis=1).sum())
    assert whole.content == hasher.hexdigest()
    assert sorted(whole.medians) == [1, 3]  # only the columns holding non-finite values
    for col in (1, 3):
        finite = raw[np.isfinite(raw[:, col]), col]
        assert whole.medians[col] == np.median(finite)
    # in blocks of 1024 rows, the medians a column at a time: the same scan
    monkeypatch.setattr(scan_module, "SCAN_VALUES", 1)
    monkeypatch.setattr(scan_module, "MEDIAN_BUDGET_BYTES", 1)
    (cache / MEMO_FILE).unlink()
    blocks = scan(matrix, "/events")
    assert blocks.content == whole.content and blocks.medians == whole.medians
    assert blocks.nonfinite.tolist() == whole.nonfinite.tolist()


def test_a_second_scan_reads_no_event(tmp_path, cache):
    matrix = Counting(_write(tmp_path / "s.h5", _raw()))
    first = scan(matrix, "/events")
    assert matrix.rows_read >= 3000
    memo = json.loads((cache / MEMO_FILE).read_text())
    assert len(memo) == 1
    matrix.rows_read = 0
    again = scan(matrix, "/events")
    assert matrix.rows_read == 0
    assert (again.content, again.events_with_nonfinite) == (
        first.content,
        first.events_with_nonfinite,
    )
    assert again.nonfinite.tolist() == first.nonfinite.tolist() and again.medians == first.medians
    # another group of the same file is another entry
    scan(matrix, "/other")
    assert matrix.rows_read >= 3000


def test_a_changed_file_is_scanned_again(tmp_path, cache):
    path = tmp_path / "s.h5"
    first = scan(_write(path, _raw(1)), "/events")
    with h5py.File(path, "a") as h5:
        h5["events"][0, 0] = 123.0
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = scan(H5Matrix(path, ["events"], None, 3000, 5), "/events")
    assert again.content != first.content


def test_medians_asked_later_are_computed_then(tmp_path, cache):
    matrix = Counting(_write(tmp_path / "s.h5", _raw()))
    no_medians = scan(matrix, "/events", medians=False)
    assert no_medians.medians == {}
    assert not (cache / MEMO_FILE).exists()  # an entry always carries the medians it needs
    with_medians = scan(matrix, "/events")
    assert sorted(with_medians.medians) == [1, 3]
    clean = np.ones((10, 2))
    assert scan(_write(tmp_path / "c.h5", clean), "/events").medians == {}
    assert len(json.loads((cache / MEMO_FILE).read_text())) == 2  # no non-finite: memoised


def test_a_column_without_a_finite_value_has_a_nan_median(tmp_path, cache):
    raw = np.ones((20, 3))
    raw[:, 2] = np.nan
    found = scan(_write(tmp_path / "s.h5", raw), "/events")
    assert np.isnan(found.medians[2]) and found.events_with_nonfinite == 20
    again = scan(H5Matrix(tmp_path / "s.h5", ["events"], None, 20, 3), "/events")  # from the memo
    assert list(again.medians) == [2] and np.isnan(again.medians[2])


def test_a_damaged_or_unwritable_memo_costs_a_rescan(tmp_path, cache, monkeypatch):
    matrix = Counting(_write(tmp_path / "s.h5", _raw()))
    cache.mkdir()
    (cache / MEMO_FILE).write_text("{not json")
    found = scan(matrix, "/events")
    assert matrix.rows_read >= 3000 and sorted(found.medians) == [1, 3]
    memo = json.loads((cache / MEMO_FILE).read_text())
    (key,) = memo
    memo[key]["nonfinite"] = "garbage"  # an entry of the wrong shape is not used
    (cache / MEMO_FILE).write_text(json.dumps(memo))
    matrix.rows_read = 0
    assert scan(matrix, "/events").content == found.content and matrix.rows_read >= 3000
    # a cache folder that cannot be written: the scan still answers
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("HEPFM_CACHE_DIR", str(blocker / "cache"))
    assert scan(matrix, "/events").content == found.content


def test_the_memo_keeps_the_newest_entries(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(scan_module, "MEMO_MAX_ENTRIES", 2)
    matrices = [_write(tmp_path / f"s{i}.h5", np.full((4, 2), float(i))) for i in range(3)]
    for m in matrices:
        scan(m, "/events")
    memo = json.loads((cache / MEMO_FILE).read_text())
    assert [k.split("|")[0].rsplit("/", 1)[-1] for k in memo] == ["s1.h5", "s2.h5"]
