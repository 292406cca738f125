"""``hepfm demo``: the flags reach the demo's maker, and where it wrote is printed."""

from __future__ import annotations

from pathlib import Path

from hepfm_core import demo
from hepfm_core.cli import main
from hepfm_core.cli.outputs import print_epoch


def test_demo_passes_its_flags_and_prints_where(monkeypatch, tmp_path, capsys):
    seen = {}

    def make_demo(out, **kwargs):
        seen.update(out=out, **kwargs)
        return Path(out), None  # --no-train: no model

    monkeypatch.setattr(demo, "make_demo", make_demo)
    argv = ["demo", "--out", str(tmp_path), "--background", "300", "--signal", "40"]
    assert main([*argv, "--seed", "5", "--no-train", "--compression", "gzip"]) == 0
    assert seen == {
        "out": str(tmp_path),
        "n_background": 300,
        "n_signal": 40,
        "seed": 5,
        "train": False,
        "on_epoch": print_epoch,
        "compression": "gzip",
    }
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"demo data: {tmp_path}"
    assert out[1].startswith("done in ") and len(out) == 2
