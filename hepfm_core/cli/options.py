"""The flags several ``hepfm`` commands share: the evaluation settings (clip, score, policy,
...) with the data and cache options, the Dask cluster, ``--model`` and ``--compression``.

Each ``add_*`` adds one set to a parser; ``to_settings`` reads them back into the settings
dataclasses.
"""

from __future__ import annotations

import argparse

from ..cluster.connect import DEFAULT_CONNECT_TIMEOUT, DEFAULT_NO_WORKER_TIMEOUT
from ..vocabulary import (
    COMPRESSIONS,
    DEFAULT_CLIP,
    DEFAULT_COMPRESSION,
    FILLS,
    KL_FORMS,
    POLICIES,
    SCORES,
    SIGNAL_NORMALISATIONS,
)

__all__ = [
    "DEFAULT_PARTITION_EVENTS",
    "add_cluster_arguments",
    "add_compression_argument",
    "add_model_argument",
    "add_settings_arguments",
]

DEFAULT_PARTITION_EVENTS = 32 * 8192
"""The cluster evaluator's (checked there; not imported from it: that would import the
engine whenever the parser is built)."""


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The evaluation settings (``--clip``/``--no-clip``, ``--score``, ``--beta``,
    ``--policy``, ``--kl-form``, ``--signals``), how the data are read and cached, and the
    cluster flags with ``--partition-events``: evaluate's, report's and events' alike."""
    clip = p.add_mutually_exclusive_group()
    clip.add_argument(
        "--clip",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help=f"clip z_log_var to [LO, HI] (default: {DEFAULT_CLIP[0]:g} {DEFAULT_CLIP[1]:g}, "
        "upstream's committed fix, as the dashboard starts)",
    )
    clip.add_argument("--no-clip", action="store_true", help="no clip: the float64 guards alone")
    p.add_argument("--score", choices=SCORES, default="reconstruction")
    p.add_argument("--beta", type=float, default=1.0, help="total = reconstruction + beta * KL")
    p.add_argument(
        "--policy",
        choices=POLICIES,
        default="worst",
        help="non-finite scores: drop them (upstream) or rank them most anomalous (default)",
    )
    p.add_argument("--kl-form", choices=KL_FORMS, default="true", help="KL for softplus models")
    p.add_argument("--signals", default=None, help="comma-separated signal samples (default: all)")
    p.add_argument(
        "--signal-normalisation",
        choices=SIGNAL_NORMALISATIONS,
        default="background",
        help="standardise signals with the background's parameters (default) or their own",
    )
    p.add_argument(
        "--fill",
        choices=FILLS,
        default="median",
        help="non-finite raw inputs: fill with the median (upstream's; counted as imputed, "
        "default) or none (exclude those events as input_nonfinite)",
    )
    p.add_argument("--cache-dir", default=None, help="where scoring passes are cached")
    add_cluster_arguments(p, partitions=True)


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


def add_model_argument(p: argparse.ArgumentParser) -> None:
    """``--model [LABEL=]PATH[,PATH...]``, repeatable: one model, or several to compare."""
    p.add_argument(
        "--model",
        required=True,
        action="append",
        metavar="[LABEL=]PATH[,PATH...]",
        help="hepfm .keras file or upstream experiment folder; give --model several times to "
        "compare models on the same events (labels: the model's name and short fingerprint, "
        "or LABEL=PATH), LABEL=PATH1,PATH2,... for one variant trained with several seeds",
    )


def add_compression_argument(p: argparse.ArgumentParser) -> None:
    """``--compression`` of the data files a command writes (demo, repack)."""
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=DEFAULT_COMPRESSION,
        help="of the data files: Blosc2 lz4 (default) or zstd, format version 2; gzip, version"
        " 1, for readers without hdf5plugin",
    )
