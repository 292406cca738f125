"""``hepfm report``: the figures of a report appear all or none."""

from __future__ import annotations

from hepfm_core.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_figures_appear_all_or_none_on_a_full_disk(upstream_fixture, tmp_path, capsys, monkeypatch):
    """A disk that fills after two of the eight figure files left those two in --figures,
    with the message that nothing was written (issue 23, faults 3); now the folder gets all
    of this run's figures or none, and a folder the run created is not left empty."""
    import errno

    from hepfm_core.common import atomic
    from hepfm_core.views.report import figures

    written: list[str] = []

    def full_after_two(path, payload, what="the output"):
        if len(written) == 2:
            failure = OSError(errno.ENOSPC, "No space left on device")
            raise atomic.output_error(failure, path, what)
        written.append(str(path))
        return atomic.atomic_write(path, payload, what)

    monkeypatch.setattr(figures, "atomic_write", full_after_two)
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    out = tmp_path / "figs"
    code, _out, err = run(
        capsys,
        *("report", "--model", str(exp), "--quiet", "--cache-dir", str(tmp_path / "c")),
        *("--out", str(tmp_path / "r.html"), "--figures", str(out)),
    )
    assert code == 2, err
    assert "cannot write a figure (No space left on device)" in err, err
    assert f"where: {out}\n" in err + "\n", err  # the folder, not a temporary inside it
    assert len(written) == 2 and not out.exists()
    assert not (tmp_path / "r.html").exists()  # no report without its figures
    # a folder that held figures keeps them all, and the previous report stays as it was
    (tmp_path / "r.html").write_text("the previous report")
    out.mkdir()
    (out / "roc.png").write_bytes(b"the previous figure")
    written.clear()
    code, _out, err = run(
        capsys,
        *("report", "--model", str(exp), "--quiet", "--cache-dir", str(tmp_path / "c")),
        *("--out", str(tmp_path / "r.html"), "--figures", str(out)),
    )
    assert code == 2, err
    assert [p.name for p in out.iterdir()] == ["roc.png"]
    assert (out / "roc.png").read_bytes() == b"the previous figure"
    assert (tmp_path / "r.html").read_text() == "the previous report"
