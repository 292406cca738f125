"""The command-line flags that name a Dask cluster, shared by every ``hepfm`` command that
can run on one (evaluate, report, convert)."""

from __future__ import annotations

import argparse

from .connect import DEFAULT_CONNECT_TIMEOUT, DEFAULT_NO_WORKER_TIMEOUT, ClusterSpec

__all__ = [
    "DEFAULT_PARTITION_EVENTS",
    "add_cluster_arguments",
    "spec_from_args",
]

DEFAULT_PARTITION_EVENTS = 32 * 8192  # the cluster evaluator's (checked there)


def add_cluster_arguments(p: argparse.ArgumentParser, *, partitions: bool) -> None:
    """``--workers N | --scheduler ADDRESS | --scheduler-file FILE`` and their options;
    ``--partition-events`` too where a sample is cut into partitions (``partitions``)."""
    g = p.add_argument_group("cluster (Dask; without these flags everything runs in this process)")
    where = g.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=None, help="start a local cluster of N worker processes"
    )
    where.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="an existing cluster: tcp://host:port"
    )
    where.add_argument(
        "--scheduler-file",
        default=None,
        metavar="FILE",
        help="an existing cluster whose scheduler wrote this file (hepfm cluster, "
        "`dask scheduler --scheduler-file`)",
    )
    g.add_argument("--threads-per-worker", type=int, default=1, help="threads of each local worker")
    if partitions:
        g.add_argument(
            "--partition-events",
            type=int,
            default=DEFAULT_PARTITION_EVENTS,
            help="events per partition, a multiple of the scoring chunk (default "
            f"{DEFAULT_PARTITION_EVENTS})",
        )
    g.add_argument(
        "--connect-timeout",
        type=float,
        default=DEFAULT_CONNECT_TIMEOUT,
        help="seconds to reach the scheduler and see a worker (default "
        f"{DEFAULT_CONNECT_TIMEOUT:g})",
    )
    g.add_argument(
        "--no-worker-timeout",
        type=float,
        default=DEFAULT_NO_WORKER_TIMEOUT,
        metavar="SECONDS",
        help="give up (exit 2) when the scheduler has had no worker this long while work is "
        f"pending: every worker died (default {DEFAULT_NO_WORKER_TIMEOUT:g})",
    )


def spec_from_args(args: argparse.Namespace) -> ClusterSpec | None:
    """The cluster the flags name, or None: the single-process path."""
    if args.scheduler is None and args.scheduler_file is None and args.workers is None:
        return None
    return ClusterSpec(
        scheduler=args.scheduler,
        scheduler_file=args.scheduler_file,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        connect_timeout=args.connect_timeout,
        no_worker_timeout=args.no_worker_timeout,
    )
