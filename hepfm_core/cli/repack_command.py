"""``hepfm repack``: a hepfm data folder's files rewritten with another compression, one file
at a time and atomically (content and fingerprints unchanged)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from .options import add_compression_argument

__all__ = ["add_repack_parser", "cmd_repack"]


def add_repack_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``repack`` to the ``hepfm`` subcommands (``subparsers`` of ``add_subparsers``)."""
    pack = subparsers.add_parser(
        "repack",
        help="rewrite a hepfm data folder's files with another compression (one file at a time,"
        " atomically; content and fingerprints unchanged)",
    )
    pack.add_argument("dir", help="hepfm data folder")
    add_compression_argument(pack)
    pack.set_defaults(func=cmd_repack)
    return pack


def cmd_repack(args: argparse.Namespace) -> int:
    """Run ``hepfm repack``: a line per file (its versions and sizes, or why it was left);
    0."""
    from ..data.repack import repack_folder

    t0 = time.perf_counter()
    results = repack_folder(args.dir, args.compression)
    for r in results:
        if r.skipped:
            print(f"{r.path.name}: left as it is ({r.skipped})")
        else:
            print(
                f"{r.path.name}: format version {r.from_version} -> {r.to_version}, "
                f"{r.bytes_before / 1e6:.1f} -> {r.bytes_after / 1e6:.1f} MB"
            )
    print(f"{len(results)} files in {time.perf_counter() - t0:.1f}s")
    return 0
