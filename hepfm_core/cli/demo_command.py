"""``hepfm demo``: the demo data, the demo model, and with ``--physlite DIR`` the demo's
samples as PhysLite-like ROOT files (input for ``hepfm convert``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .options import add_compression_argument
from .outputs import print_epoch

__all__ = ["add_demo_parser", "add_physlite_option", "cmd_demo", "write_physlite_demo"]


def add_demo_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``demo`` to the ``hepfm`` subcommands (``subparsers`` of ``add_subparsers``)."""
    demo = subparsers.add_parser("demo", help="write the demo data and train the demo model")
    demo.add_argument(
        "--out",
        default=None,
        help="output folder (default: <data root>/demo; data root: $HEPFM_DATA_ROOT, else the"
        " checkout's data/, else ~/.local/share/hepfm)",
    )
    demo.add_argument(
        "--background",
        type=int,
        default=None,
        help="background events (default $HEPFM_DEMO_BACKGROUND or 200000)",
    )
    demo.add_argument(
        "--signal",
        type=int,
        default=None,
        help="events per signal sample (default $HEPFM_DEMO_SIGNAL or 10000)",
    )
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--no-train", action="store_true", help="write the data only")
    add_compression_argument(demo)
    add_physlite_option(demo)
    demo.set_defaults(func=cmd_demo)
    return demo


def cmd_demo(args: argparse.Namespace) -> int:
    """Run ``hepfm demo``: print where the data (and model, and ROOT files) went; 0."""
    from ..demo import make_demo

    t0 = time.perf_counter()
    data_dir, model = make_demo(
        args.out,
        n_background=args.background,
        n_signal=args.signal,
        seed=args.seed,
        train=not args.no_train,
        on_epoch=print_epoch,
        compression=args.compression,
    )
    print(f"demo data: {data_dir}")
    if model:
        print(f"demo model: {model}")
    if args.physlite:
        write_physlite_demo(data_dir, args.physlite, seed=args.seed)
    print(f"done in {time.perf_counter() - t0:.1f}s")
    return 0


def add_physlite_option(demo_parser: argparse.ArgumentParser) -> None:
    """Add ``--physlite DIR`` to ``hepfm demo``."""
    demo_parser.add_argument(
        "--physlite",
        default=None,
        metavar="DIR",
        help="also write the demo's samples as PhysLite-like ROOT files into DIR (one per"
        " sample, tree CollectionTree), input for `hepfm convert`",
    )


def write_physlite_demo(
    data_dir: str | Path, out: str | Path, *, seed: int = 42, quiet: bool = False
) -> dict[str, Path]:
    """Write the demo folder ``data_dir`` as PhysLite-like ROOT files into ``out``; prints
    where, and the ``hepfm convert`` command that reads them back."""
    from ..common.progress import TextProgress
    from ..data.export import export_physlite

    written = export_physlite(
        data_dir, out, seed=seed, progress=None if quiet else TextProgress(sys.stderr)
    )
    signals = " ".join(
        f"--signal {name}={path}" for name, path in written.items() if name != "background"
    )
    print(f"PhysLite ROOT files: {Path(out)} ({len(written)} files)")
    if "background" in written:
        print(
            f"  read back with: hepfm convert --background {written['background']} {signals}"
            f" --out DIR"
        )
    return written
