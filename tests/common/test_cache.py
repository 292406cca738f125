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
