"""``hepfm cluster``: a Dask cluster on a batch system (dask-jobqueue), held until Ctrl-C,
its scheduler file written for the other commands' ``--scheduler-file``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..cluster.jobqueue import SYSTEMS
from .to_settings import batch_settings

__all__ = ["add_cluster_parser", "cmd_cluster"]


def add_cluster_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``cluster`` to the ``hepfm`` subcommands (``subparsers`` of ``add_subparsers``)."""
    cl = subparsers.add_parser(
        "cluster",
        help="start a Dask cluster on a batch system (dask-jobqueue) for --scheduler-file",
    )
    cl.add_argument("system", choices=tuple(SYSTEMS), help="the batch system")
    cl.add_argument("--jobs", type=int, default=1, help="worker jobs to submit")
    cl.add_argument("--cores", type=int, default=1, help="threads of each worker job")
    cl.add_argument("--memory", default="4GiB", help="memory of each worker job")
    cl.add_argument("--walltime", default="01:00:00", help="HH:MM:SS of each worker job")
    cl.add_argument("--queue", default=None, help="queue or partition")
    cl.add_argument("--account", default=None, help="project or account to charge")
    cl.add_argument("--interface", default=None, help="network interface, e.g. ib0")
    cl.add_argument(
        "--job-directive",
        action="append",
        help="an extra header line of the job script (repeatable), e.g. --gres=gpu:1",
    )
    cl.add_argument(
        "--prologue", action="append", help="a shell line run before the worker (repeatable)"
    )
    cl.add_argument(
        "--scheduler-file",
        default="hepfm-scheduler.json",
        help="where to write the scheduler's address (pass it to --scheduler-file)",
    )
    cl.add_argument(
        "--print-job-script",
        action="store_true",
        help="print the job script each worker job runs, submit nothing",
    )
    cl.set_defaults(func=cmd_cluster)
    return cl


def cmd_cluster(args: argparse.Namespace) -> int:
    """Start a batch-system Dask cluster, write its scheduler file, hold it until Ctrl-C."""
    from ..cluster.jobqueue import batch_cluster

    cluster = batch_cluster(args.system, batch_settings(args))
    try:
        if args.print_job_script:
            print(cluster.job_script())
            return 0
        from distributed import Client

        client = Client(cluster)
        Path(args.scheduler_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
        client.write_scheduler_file(str(Path(args.scheduler_file).expanduser()))
        cluster.scale(jobs=args.jobs)
        print(
            f"scheduler {cluster.scheduler_address}, file {args.scheduler_file}: {args.jobs} "
            f"{args.system} jobs submitted. In another shell: hepfm evaluate ... "
            f"--scheduler-file {args.scheduler_file}. Ctrl-C stops the cluster.",
            flush=True,
        )
        while True:
            time.sleep(3600)
    finally:
        cluster.close()
