"""hepfm_core.cluster.jobqueue: the batch-system recipe's job script, rendered without a
batch system."""

from __future__ import annotations

import sys

import pytest

from hepfm_core.cli import main
from hepfm_core.cluster.jobqueue import BatchSettings, batch_cluster
from hepfm_core.errors import ClusterError


def test_slurm_job_script_runs_a_worker_of_this_environment():
    settings = BatchSettings(
        cores=4,
        memory="16GiB",
        walltime="02:00:00",
        queue="short",
        account="atlas",
        job_directives=("--gres=gpu:1",),
        prologue=("module load cuda",),
    )
    cluster = batch_cluster("slurm", settings)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    for directive in (
        "#SBATCH -p short",
        "#SBATCH -A atlas",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH -t 02:00:00",
        "#SBATCH --gres=gpu:1",
    ):
        assert directive in lines, script
    assert any(line.startswith("#SBATCH --mem=") for line in lines)
    assert "module load cuda" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert worker.startswith(f"{sys.executable} -m distributed.cli.dask_worker tcp://")
    assert "--nthreads 4" in worker and "--nanny" in worker


def test_cli_prints_the_job_script(capsys):
    argv = ["cluster", "pbs", "--cores", "2", "--memory", "8GiB", "--print-job-script"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "#PBS" in out and "distributed.cli.dask_worker" in out


def test_unknown_system():
    with pytest.raises(ClusterError, match="unknown batch system 'yarn'"):
        batch_cluster("yarn", BatchSettings())
