"""``hepfm report``: the offline, interactive meeting report (one HTML file), and with
``--figures DIR`` each figure as PNG and SVG."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_model_argument, add_settings_arguments
from .outputs import atomic_folder, warn
from .scored_run import scored_evaluator

__all__ = ["add_report_parser", "cmd_report"]


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` to the ``hepfm`` subcommands (``subparsers`` of ``add_subparsers``)."""
    rep = subparsers.add_parser(
        "report", help="write the offline, interactive meeting report (HTML)"
    )
    rep.add_argument("--data", default=None, help="hepfm or upstream data folder")
    add_model_argument(rep)
    rep.add_argument("--out", required=True, help="the HTML file to write")
    add_settings_arguments(rep)
    rep.add_argument(
        "--figures", default=None, help="also write each figure as PNG and SVG to this folder"
    )
    rep.add_argument("--quiet", action="store_true", help="no progress bars")
    rep.set_defaults(func=cmd_report)
    return rep


def cmd_report(args: argparse.Namespace) -> int:
    """Run ``hepfm report``: print the report's path and size (and the figures' folder); 0."""
    from ..engine.compare.models import ModelSet
    from ..views.report import write_report

    with scored_evaluator(args) as (settings, evaluator):
        if isinstance(evaluator, ModelSet):
            warn(evaluator.warnings)
        if args.figures:
            # the figures all or none: a full disk halfway leaves no partial set
            with atomic_folder(args.figures, "the figures (--figures)") as figures:
                path = write_report(evaluator, settings, args.out, figures=figures)
        else:
            path = write_report(evaluator, settings, args.out)
    print(f"report: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if args.figures:
        print(f"figures: {args.figures}")
    return 0
