"""``hepfm repack``: a data folder rewritten with another compression, and exit 2 with a
message for every bad input."""

from __future__ import annotations

import pytest

from hepfm_core.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_repack_rewrites_a_folder_and_keeps_it_usable(small_data, tmp_path, capsys):
    import shutil

    from hepfm_core.data.hepfm_format import read_header
    from hepfm_core.sources import open_data

    folder = tmp_path / "data"
    shutil.copytree(small_data, folder)
    before = {f.name: read_header(f)["fingerprint"] for f in folder.glob("*.h5")}
    code, out, err = run(capsys, "repack", str(folder), "--compression", "gzip")
    assert code == 0, err
    assert "format version 2 -> 1" in out and f"{len(before)} files" in out
    assert {f.name: read_header(f)["format_version"] for f in folder.glob("*.h5")} == dict.fromkeys(
        before, 1
    )
    code, out, err = run(capsys, "repack", str(folder))  # back to the default, Blosc2 LZ4
    assert code == 0, err
    assert "format version 1 -> 2" in out
    assert {f.name: read_header(f)["fingerprint"] for f in folder.glob("*.h5")} == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(before)  # nothing left beside
    code, out, _ = run(capsys, "repack", str(folder))
    assert code == 0 and "left as it is (already lz4)" in out
    assert open_data(folder).background.n_events == 5_000


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "data folder not found"),
        ("empty", "holds no .h5 sample files"),
        ("garbage", "not an HDF5 file"),
        ("file", "is not a folder"),
    ],
)
def test_repack_bad_input_exits_2(tmp_path, capsys, setup, message):
    target = tmp_path / "d"
    if setup in ("empty", "garbage"):
        target.mkdir()
    if setup == "garbage":
        (target / "background.h5").write_text("not hdf5")
    if setup == "file":
        target.write_text("x")
    code, _out, err = run(capsys, "repack", str(target))
    assert code == 2
    assert message in err
    assert "Traceback" not in err and err.startswith("hepfm: error:")
