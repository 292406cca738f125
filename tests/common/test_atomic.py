"""Outputs appear whole or not at all; a failed write is an OutputError (issue 23)."""

from __future__ import annotations

import os

import pytest

from hepfm_core.common.atomic import OutputError, as_os_error, atomic_write
from hepfm_core.common.leftovers import owner_tag


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "report.html"
    atomic_write(target, "first")
    atomic_write(target, b"second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_a_full_disk_keeps_the_previous_file(small_fs, filled):
    disk = small_fs(256)
    target = disk / "report.html"
    target.write_text("previous")
    filled(disk, leave=0)
    with pytest.raises(OutputError, match="No space left") as err:
        atomic_write(target, "x" * 100_000, "the report")
    assert "cannot write the report" in str(err.value) and "free disk space" in str(err.value)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "report.html"]


def test_not_a_folder_is_an_output_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        atomic_write(tmp_path / "file" / "x.json", "{}")


def test_stale_temporaries_of_dead_writers_are_swept(tmp_path):
    dead = tmp_path / f".x.json.part-{owner_tag().split('~')[0]}~999999999~abcd1234"
    dead.write_text("half")
    mine = tmp_path / f".y.json.part-{owner_tag()}"  # this process: alive
    mine.write_text("being written")
    atomic_write(tmp_path / "x.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x.json", mine.name])


def test_polars_io_failures_are_read_as_os_errors():
    err = as_os_error(RuntimeError("parquet: underlying IO error: No space (os error 28)"))
    assert err is not None and err.errno == 28 and err.strerror == os.strerror(28)
    assert as_os_error(ValueError("no I/O here")) is None


def test_a_partial_file_appears_whole_or_not_at_all(tmp_path):
    """``PartialFile``: written beside its target as ``.partial``; renamed on success, removed
    on an exception, and what only a complete file holds is written on success only."""
    from hepfm_core.common.atomic import PartialFile

    class Lines(PartialFile):
        def __init__(self, path):
            self.path = path
            self.tmp_path = path.with_name(path.name + ".partial")
            self._f = self.tmp_path.open("w")

        def _complete(self):
            self._f.write("complete\n")

        def _release(self):
            self._f.close()

    with Lines(tmp_path / "ok.txt") as w:
        w._f.write("a\n")
        assert (tmp_path / "ok.txt.partial").exists() and not (tmp_path / "ok.txt").exists()
    assert (tmp_path / "ok.txt").read_text() == "a\ncomplete\n"
    with pytest.raises(RuntimeError), Lines(tmp_path / "bad.txt") as w:
        w._f.write("half\n")
        raise RuntimeError("killed mid-write")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.txt"]
