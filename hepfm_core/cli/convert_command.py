"""``hepfm convert``: PhysLite ROOT files into a hepfm data folder.

:func:`add_convert_parser` adds the subcommand (its ``func`` is :func:`cmd_convert`); the
reverse, the demo's samples as ROOT files, is ``hepfm demo --physlite`` (``demo_command``).
User errors are ``HepfmError``s (exit 2, the message on stderr); nothing here prints a
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

from ..errors import DataError, SettingsError, SignalSpecError
from ..vocabulary import COMPRESSIONS, DEFAULT_COMPRESSION
from .options import add_cluster_arguments
from .to_settings import cluster_spec, conversion_selection

__all__ = [
    "add_convert_parser",
    "cluster_map",
    "cmd_convert",
    "read_normalisation",
]

_EXAMPLE = """examples:
  hepfm convert --background 'data/run_*.root' --signal wprime_qq=wqq_1.root,wqq_2.root \\
      --out converted/
  hepfm convert --background files.txt --signal zprime_ee=zee.list --out converted/ \\
      --track-filter z0:-100:100 --min-tracks 5 --upstream-compatible
  hepfm convert --background https://example.org/data/DAOD_PHYSLITE.root --out converted/

remote inputs: http(s):// URLs (the server must answer range requests), root:// URLs with the
XRootD backend (uv sync --extra xrootd, or pip install fsspec-xrootd). A transient network
failure (refused or dropped connection, timeout, HTTP 408/425/429/5xx) is tried again;
HEPFM_REMOTE_TIMEOUT (seconds without an answer, default 60) and HEPFM_REMOTE_RETRIES
(default 3) set how long and how often. A URL that cannot be read exits 2 naming the cause.
"""


def add_convert_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``convert`` to the ``hepfm`` subcommands (``subparsers`` of ``add_subparsers``)."""
    from ..vocabulary import DEFAULT_STEP_EVENTS, DEFAULT_TREE

    p = subparsers.add_parser(
        "convert",
        help="PhysLite ROOT files -> a hepfm data folder (background.h5, one file per signal)",
        description="Derive hepfm's track features (d0, phi, z0, eta, pt, reducedChiSquared) "
        "from PhysLite ROOT files and write a hepfm data folder, atomically.",
        epilog=_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--background",
        nargs="+",
        required=True,
        metavar="FILE",
        help="the background's ROOT files: paths, globs (quoted), file lists (*.txt, *.list: one"
        " path or URL per line) or URLs (http(s)://; root:// with the xrootd extra)",
    )
    p.add_argument(
        "--signal",
        action="append",
        default=[],
        metavar="NAME=FILE[,FILE...]",
        help="a signal sample and its files (same forms as --background); repeat per signal",
    )
    p.add_argument("--out", required=True, help="the data folder to write (replaced atomically)")
    p.add_argument("--tracks", type=int, default=30, help="tracks kept per event (default 30)")
    p.add_argument("--tree", default=DEFAULT_TREE, help=f"the tree to read ({DEFAULT_TREE})")
    p.add_argument(
        "--track-filter",
        action="append",
        default=[],
        metavar="BRANCH:MIN:MAX",
        help="keep tracks with MIN <= value <= MAX (either may be empty), on a raw branch (d0,"
        " z0, phi, theta, qOverP, chiSquared, numberDoF) or a feature (eta, pt,"
        " reducedChiSquared); before sorting and truncation; repeatable",
    )
    p.add_argument(
        "--min-tracks",
        type=int,
        default=0,
        help="drop events with fewer tracks (after the filters); default 0: keep every event",
    )
    p.add_argument(
        "--upstream-compatible",
        action="store_true",
        help="upstream's derivations (pt clipped to [0, 100] GeV, eta to +-10, its"
        " reducedChiSquared rules) instead of physical values",
    )
    p.add_argument(
        "--step-size",
        type=int,
        default=DEFAULT_STEP_EVENTS,
        help=f"entries read per step (memory; default {DEFAULT_STEP_EVENTS})",
    )
    p.add_argument(
        "--normalisation-from",
        default=None,
        metavar="PATH",
        help="store this normalisation instead of the background's statistics: a hepfm data"
        " folder, sample file, or model (.keras; the one it was trained with)",
    )
    p.add_argument(
        "--input-clip",
        type=float,
        default=None,
        help="symmetric clip of the standardised inputs stored with the statistics (default"
        " none; upstream: 10)",
    )
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=DEFAULT_COMPRESSION,
        help="of the data files (default lz4)",
    )
    p.add_argument("--json", default=None, help="write the conversion's summary as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_cluster_arguments(p, partitions=False)
    p.set_defaults(func=cmd_convert)
    return p


def _signals(specs: list[str]) -> dict[str, list[str]]:
    from ..data.inputs import parse_signal_spec

    signals: dict[str, list[str]] = {}
    for spec in specs:
        name, files = parse_signal_spec(spec)
        if name in signals:
            raise SignalSpecError(
                f"--signal {name} is given twice",
                spec,
                "give each signal once, its files separated by commas",
            )
        signals[name] = files
    return signals


def read_normalisation(path: str | Path):
    """The normalisation stored in a hepfm data folder (its background's), sample file, or
    model file (``.keras``: the one it was trained with)."""
    from ..data.hepfm_format import read_header
    from ..data.normalisation import Normalisation

    path = Path(path)
    todo = "give a hepfm data folder, a hepfm sample file (.h5) or a hepfm model (.keras)"
    if path.is_dir():
        for f in sorted(path.glob("*.h5")):
            header = read_header(f)
            if header["role"] == "background":
                return header["normalisation"], f"{f} (stored)"
        raise DataError(f"{path} holds no hepfm background file", path, todo)
    if path.suffix == ".keras":
        from ..model.files import read_metadata

        norm = read_metadata(path).get("normalisation")
        if not norm:
            raise DataError(f"{path.name} records no normalisation", path, todo)
        return Normalisation.from_dict(norm), f"{path} (the model's)"
    return read_header(path)["normalisation"], f"{path} (stored)"


def cmd_convert(args: argparse.Namespace) -> int:
    """Run ``hepfm convert``: print the summary (and write ``--json``); 0 when done."""
    signals = _signals(args.signal)
    selection = conversion_selection(args)
    normalisation, source = (None, None)
    if args.normalisation_from:
        normalisation, source = read_normalisation(args.normalisation_from)
    if args.json and Path(args.json).is_dir():
        raise SettingsError(f"--json {args.json} is a folder", args.json, "give a file name")
    spec = cluster_spec(args)
    with contextlib.ExitStack() as stack:
        map_files: Any = map
        if spec is not None:
            from ..cluster.connect import open_cluster

            cluster = stack.enter_context(open_cluster(spec))
            map_files = cluster_map(cluster.client)
        result = _convert(args, signals, selection, normalisation, source, map_files)
    print(result.summary())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1, allow_nan=False))
    print(f"data folder: {result.out}")
    return 0


def _convert(args, signals, selection, normalisation, source, map_files):
    """``data.convert.convert`` with the command's arguments, the files mapped by
    ``map_files`` (the builtin ``map``, or a cluster's)."""
    from ..common.progress import TextProgress
    from ..data.convert import convert

    return convert(
        args.background,
        signals,
        Path(args.out).resolve(),
        selection=selection,
        tree=args.tree,
        step_size=args.step_size,
        compression=args.compression,
        normalisation=normalisation,
        normalisation_source=source,
        clip=args.input_clip,
        progress=None if args.quiet or map_files is not map else TextProgress(),
        map_files=map_files,
    )


def cluster_map(client: Any):
    """``map_files`` on a Dask cluster: one task per input file, results in input order
    (the part files land beside the output folder, which the workers must see)."""

    def map_files(fn, tasks):
        return client.gather(client.map(fn, list(tasks), pure=False))

    return map_files
