"""What the commands print: the epoch line and warnings (the all-or-nothing folder is tested
through evaluate's and report's outputs on a full disk)."""

from __future__ import annotations

from hepfm_core.cli.outputs import atomic_folder, print_epoch, warn


def test_the_epoch_line(capsys):
    record = {"epoch": 3, "loss": 12.5, "reconstruction": 10.25, "kl": 2.25, "beta": 0.05}
    print_epoch(record | {"val_loss": 13.0, "val_objective": 12.75, "seconds": 1.24})
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "epoch   3  loss    12.5000  reconstruction    10.2500  KL    2.2500  beta 0.0500  "
        "val_loss    13.0000  val_objective    12.7500  (1.2s)\n"
    )


def test_warnings_each_on_a_line(capsys):
    warn(["one", "two"])
    assert capsys.readouterr().err == "hepfm: warning: one\nhepfm: warning: two\n"


def test_a_folder_gets_its_files_once_all_are_written(tmp_path):
    out = tmp_path / "scores"
    with atomic_folder(out) as tmp:
        (tmp / "a.parquet").write_text("a")
        (tmp / "m" / "b.parquet").parent.mkdir()
        (tmp / "m" / "b.parquet").write_text("b")
        assert not (out / "a.parquet").exists()
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "a.parquet",
        "m",
        "m/b.parquet",
    ]


def test_own_warnings_print_as_one_line_and_others_as_python_prints_them(capsys):
    import warnings

    from hepfm_core.cli.outputs import own_warnings_as_lines
    from hepfm_core.common.cache import CacheRepairWarning

    with warnings.catch_warnings(record=True) as others:
        warnings.simplefilter("always")
        before = warnings.showwarning
        with own_warnings_as_lines():
            warnings.warn("cache entry recon.npy damaged: computed again", CacheRepairWarning, 2)
            warnings.warn("something of numpy's", RuntimeWarning, 2)
        assert warnings.showwarning is before  # put back on the way out
    err = capsys.readouterr().err
    assert err.splitlines() == ["hepfm: warning: cache entry recon.npy damaged: computed again"]
    # another's warning goes where Python sends it (here: the record), untouched
    assert [(w.category, str(w.message)) for w in others] == [
        (RuntimeWarning, "something of numpy's")
    ]


def test_a_command_s_own_warning_reaches_stderr_as_a_line(monkeypatch, capsys):
    import warnings

    from hepfm_core.cli import main
    from hepfm_core.common.cache import CacheRepairWarning

    def cmd(args):
        warnings.warn("an entry was repaired", CacheRepairWarning, 2)
        return 0

    monkeypatch.setattr("hepfm_core.cli.repack_command.cmd_repack", cmd)
    assert main(["repack", "somewhere"]) == 0
    assert capsys.readouterr().err.splitlines() == ["hepfm: warning: an entry was repaired"]
