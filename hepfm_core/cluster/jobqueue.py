"""A Dask cluster on a batch system (SLURM, PBS, SGE, LSF, HTCondor) through dask-jobqueue.

The recipe: ``hepfm cluster slurm --jobs 10 --cores 4 --memory 16GiB --walltime 02:00:00
--scheduler-file ~/hepfm-scheduler.json`` starts the scheduler in that process, submits the
worker jobs (each runs ``python -m distributed.cli.dask_worker`` with this environment's
Python, so the workers import this hepfm), writes the scheduler file and waits; then, from
any shell that sees the file, ``hepfm evaluate ... --scheduler-file ~/hepfm-scheduler.json``.
Every other system is the same line with its name in place of ``slurm``.

dask-jobqueue is an optional dependency (``uv sync --extra slurm``, or ``pip install
hepfm[slurm]``): only this module needs it, and it says so when it is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ClusterError

__all__ = ["SYSTEMS", "BatchSettings", "batch_cluster"]

SYSTEMS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
}
"""Batch systems by name, and the dask-jobqueue class of each."""


@dataclass(frozen=True)
class BatchSettings:
    """One worker job's resources, and where it queues.

    ``cores`` threads per job (one worker process; TensorFlow on it is limited to them),
    ``memory`` as the batch system understands it (``16GiB``), ``walltime`` ``HH:MM:SS``;
    ``queue`` / ``account`` the partition and project, ``interface`` the network interface
    workers and scheduler talk on (e.g. ``ib0``), ``job_directives`` extra header lines
    (``--gres=gpu:1`` for SLURM), ``prologue`` shell lines before the worker starts
    (``module load ...``, ``source .venv/bin/activate``).
    """

    cores: int = 1
    memory: str = "4GiB"
    walltime: str = "01:00:00"
    queue: str | None = None
    account: str | None = None
    interface: str | None = None
    job_directives: Sequence[str] = field(default_factory=tuple)
    prologue: Sequence[str] = field(default_factory=tuple)

    def keywords(self) -> dict[str, Any]:
        """The dask-jobqueue constructor's keywords for these settings."""
        kw: dict[str, Any] = {
            "cores": self.cores,
            "processes": 1,
            "memory": self.memory,
            "walltime": self.walltime,
            "python": sys.executable,
            "job_extra_directives": list(self.job_directives),
            "job_script_prologue": list(self.prologue),
        }
        if self.queue:
            kw["queue"] = self.queue
        if self.account:
            kw["account"] = self.account
        if self.interface:
            kw["interface"] = self.interface
        return kw


def batch_cluster(system: str, settings: BatchSettings) -> Any:
    """A dask-jobqueue cluster object of ``system`` (its scheduler starts here; no job is
    submitted until ``.scale(jobs=N)``); ``.job_script()`` shows what each job runs."""
    if system not in SYSTEMS:
        raise ClusterError(
            f"unknown batch system {system!r}",
            "hepfm cluster",
            f"choose among: {', '.join(SYSTEMS)}",
        )
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise ClusterError(
            "dask-jobqueue is not installed (an optional dependency)",
            "hepfm cluster",
            "install it: uv sync --extra slurm (or pip install 'hepfm[slurm]')",
        ) from exc
    cls = getattr(dask_jobqueue, SYSTEMS[system])
    return cls(**settings.keywords())
