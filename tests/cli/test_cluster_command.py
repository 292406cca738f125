"""``hepfm cluster``: the flags reach the worker job's script (repeatable flags included)."""

from __future__ import annotations

from hepfm_core.cli import main


def test_the_flags_reach_the_job_script(capsys):
    argv = ["cluster", "slurm", "--cores", "3", "--queue", "short", "--account", "atlas"]
    argv += ["--job-directive=--gres=gpu:1", "--job-directive=--exclusive"]
    argv += ["--prologue", "module load cuda", "--prologue", "echo ready"]
    assert main([*argv, "--print-job-script"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for line in ("#SBATCH -p short", "#SBATCH -A atlas", "#SBATCH --cpus-per-task=3"):
        assert line in lines
    assert "#SBATCH --gres=gpu:1" in lines and "#SBATCH --exclusive" in lines
    assert lines.index("module load cuda") < lines.index("echo ready")


def test_an_unknown_system_is_refused_by_the_parser(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["cluster", "yarn"])
    assert exit_.value.code == 2
    assert "invalid choice: 'yarn'" in capsys.readouterr().err
