"""The inputs of a conversion: signal specs, globs, file lists and URLs."""

from __future__ import annotations

import pytest

from hepfm_core.data.inputs import expand_inputs, parse_signal_spec
from hepfm_core.errors import DataNotFoundError


def test_a_signal_spec_names_its_files():
    assert parse_signal_spec(" zp.v2+x = a.root, b*.root") == ("zp.v2+x", ["a.root", "b*.root"])


def test_lists_globs_and_urls_expand_in_order_without_duplicates(tmp_path, monkeypatch):
    for name in ("b_0.root", "b_1.root", "b_10.root", "other.root"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    listing = tmp_path / "sub" / "files.LIST"  # the suffix in any case
    listing.write_text("# a comment\n\n  ../b_1.root  \nhttps://host/x.root\n")
    monkeypatch.chdir(tmp_path)
    got = expand_inputs([str(listing), "b_*.root", "root://eos/y.root", "other.root"])
    assert got == [
        str(tmp_path / "b_1.root"),  # a list's relative path: from the list's folder
        "https://host/x.root",
        str(tmp_path / "b_0.root"),  # a glob's matches sorted; b_1 listed already: once
        str(tmp_path / "b_10.root"),
        "root://eos/y.root",
        str(tmp_path / "other.root"),  # relative: made absolute for the workers
    ]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["nothing_*.root"], "no file matches"),
        (["absent.txt"], "file list not found"),
        (["empty.lst"], "names no file"),
        ([], "no input files given"),
    ],
)
def test_inputs_that_name_no_file_are_refused(tmp_path, monkeypatch, items, message):
    (tmp_path / "empty.lst").write_text("# nothing here\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataNotFoundError, match=message):
        expand_inputs(items)
