"""``hepfm serve``: the dashboard shared with others, safely (see :mod:`hepfm_core.serving`).

::

    hepfm serve --token-file FILE [--host H] [--port N] [--max-sessions N]
                [--session-ttl S] [--proxy URL] [-- APP ARGUMENTS (--data DIR --model M ...)]

``marimo run apps/anomaly.py`` with the operator's private token, on 127.0.0.1 unless
``--host`` says otherwise (reach it from elsewhere through a TLS-terminating reverse proxy),
at most ``--max-sessions`` pages at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..serving import DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_TTL_S, HOST, app_path, serve

__all__ = ["add_serve_parser", "cmd_serve"]


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the dashboard until interrupted; a refused token file or bound exits 2."""
    return serve(
        app_path(),
        token_file=Path(args.token_file),
        host=args.host,
        port=args.port,
        max_sessions=args.max_sessions,
        session_ttl_s=args.session_ttl,
        proxy=args.proxy,
        app_args=[a for a in args.app_args if a != "--"],
    )


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` command to ``subparsers`` (``add_subparsers``' result)."""
    p = subparsers.add_parser(
        "serve",
        help="share the dashboard read-only: a private token, 127.0.0.1, a cap on pages",
    )
    p.add_argument(
        "--token-file",
        required=True,
        help="a file (mode 600) whose first line is the token, 16 characters or more",
    )
    p.add_argument(
        "--host",
        default=HOST,
        help=f"where to listen (default {HOST}: put a TLS reverse proxy in front)",
    )
    p.add_argument("--port", type=int, default=2718, help="the port (default 2718)")
    p.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        help=f"pages served at once, at most (default {DEFAULT_MAX_SESSIONS})",
    )
    p.add_argument(
        "--session-ttl",
        type=int,
        default=DEFAULT_SESSION_TTL_S,
        help=f"seconds a closed page's session is kept (default {DEFAULT_SESSION_TTL_S})",
    )
    p.add_argument(
        "--proxy",
        default=None,
        help="the address viewers use, where a reverse proxy in front takes them (https://...)",
    )
    p.add_argument(
        "app_args",
        nargs=argparse.REMAINDER,
        help="after --: the app's own arguments (--data DIR --model M, ...)",
    )
    p.set_defaults(func=cmd_serve)
    return p
