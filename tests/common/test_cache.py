"""Cache entries are published whole: a complete entry or none, never a half-written one."""

from __future__ import annotations

import pytest

from hepfm_core.common.cache import publish_dir


def test_publish_dir_replaces_incomplete_entries_and_cleans_up(tmp_path):
    target = tmp_path / "entry"
    target.mkdir()
    (target / "recon.npy").write_bytes(b"half written by something else")

    def write(folder):
        (folder / "meta.json").write_text("{}")

    assert publish_dir(target, write, marker="meta.json") is True
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]
    assert [p.name for p in target.iterdir()] == ["meta.json"]
    # a complete entry exists: the second writer's folder is discarded, the entry kept
    assert publish_dir(target, lambda f: (f / "other").write_text("1"), marker="meta.json") is False
    assert [p.name for p in target.iterdir()] == ["meta.json"]

    def broken(folder):
        (folder / "part.npy").write_bytes(b"x")
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        publish_dir(tmp_path / "other", broken)
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_open_or_build_opens_a_complete_entry_and_replaces_a_stale_one(tmp_path):
    import warnings

    from hepfm_core.common.cache import StaleEntry, open_or_build

    target = tmp_path / "entry"
    built: list[int] = []

    def build() -> int:
        built.append(1)
        return 41 + len(built)

    def write(folder, value) -> None:
        (folder / "value").write_text(str(value))
        (folder / "done").write_text("")

    def read() -> int:
        return int((target / "value").read_text())

    kw = {"build": build, "write": write, "what": "number"}
    assert open_or_build(target, "done", open_entry=read, **kw) == 42  # built, published
    assert open_or_build(target, "done", open_entry=read, **kw) == 42  # read back
    assert len(built) == 1

    def stale() -> int:
        raise StaleEntry

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # replaced without a warning
        assert open_or_build(target, "done", open_entry=stale, **kw) == 43
    assert read() == 43 and len(built) == 2
