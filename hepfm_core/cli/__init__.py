"""The ``hepfm`` command: one module per subcommand, each with its ``add_*_parser`` and its
``cmd_*``.

Commands: ``demo_command``, ``train_command``, ``evaluate_command``, ``report_command``,
``convert_command``, ``events_command``, ``cluster_command``, ``dashboard_command``,
``serve_command``, ``repack_command``. Shared by several: ``options`` (the flags:
evaluation settings, cluster, ``--model``, ``--compression``), ``to_settings`` (parsed
arguments into the settings dataclasses, derived from their fields), ``scored_run`` (the
evaluator evaluate, report and events open and score) and ``outputs`` (epoch lines,
warnings, all-or-nothing folders).

Exit codes: 0 done, 2 a user error (the message on stderr, no traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import HepfmError
from .cluster_command import add_cluster_parser
from .convert_command import add_convert_parser
from .dashboard_command import add_dashboard_parser
from .demo_command import add_demo_parser
from .evaluate_command import add_evaluate_parser
from .events_command import add_events_parser
from .outputs import own_warnings_as_lines
from .repack_command import add_repack_parser
from .report_command import add_report_parser
from .serve_command import add_serve_parser
from .train_command import add_train_parser

__all__ = ["build_parser", "main"]

_COMMANDS = (
    add_demo_parser,
    add_train_parser,
    add_evaluate_parser,
    add_report_parser,
    add_convert_parser,
    add_events_parser,
    add_cluster_parser,
    add_dashboard_parser,
    add_serve_parser,
    add_repack_parser,
)
"""Each command's parser, in the order ``hepfm --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The ``hepfm`` parser: each subcommand's ``func`` is its ``cmd_*``."""
    parser = argparse.ArgumentParser(
        prog="hepfm", description="Judge VAE anomaly detectors on collider track data."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser in _COMMANDS:
        add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hepfm`` on ``argv`` (default: the process's): the command's exit code, 2 for a
    user error, 130 for Ctrl-C."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with own_warnings_as_lines():
            return int(args.func(args))
    except HepfmError as exc:
        print(f"hepfm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hepfm: interrupted", file=sys.stderr)
        return 130
