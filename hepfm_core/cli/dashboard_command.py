"""``hepfm dashboard``: the editor on the app, opened on the dashboard, not on its code.

::

    hepfm dashboard [--port N] [--no-browser] [-- APP ARGUMENTS (--data DIR --model M ...)]

``marimo edit apps/anomaly.py`` opens the notebook view: the setup cell and the plumbing
cells' code stubs come before the title. marimo's editor also has an app view (its
"present" mode: outputs only, the code one click away, the pencil button at the bottom
right), which a page opens with the query parameter ``view-as=present``. This command
starts the same editor (bound to 127.0.0.1, with a token of its own) and opens, or prints,
that page's address. ``marimo run apps/anomaly.py`` remains the shared, read-only dashboard.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import socket
import subprocess
import sys
import time
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import HepfmError
from ..serving import app_path

__all__ = [
    "APP_VIEW",
    "HOST",
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "add_dashboard_parser",
    "app_path",
    "cmd_dashboard",
    "editor_command",
    "editor_url",
]

APP_VIEW = "present"
"""The value of marimo's ``view-as`` query parameter that opens the editor's app view."""
HOST = "127.0.0.1"
"""Where the editor listens: this machine only (the page carries a token as well)."""
START_TIMEOUT_S = 120.0
"""How long the editor may take to listen."""
STOP_TIMEOUT_S = 30.0
"""How long the editor may take to stop after its SIGINT (then it is killed)."""


def editor_command(app: Path, port: int, token: str, app_args: Sequence[str] = ()) -> list[str]:
    """The ``marimo edit`` command line: headless (this command opens the page), on
    127.0.0.1 at ``port``, with ``token``; ``app_args`` after ``--``."""
    argv = [
        sys.executable, "-m", "marimo", "edit", str(app), "--headless",
        "--host", HOST, "--port", str(port), "--token-password", token,
        "--skip-update-check",
    ]  # fmt: skip
    return [*argv, "--", *app_args] if app_args else argv


def editor_url(port: int, token: str) -> str:
    """The editor's page, in its app view."""
    return f"http://{HOST}:{port}/?access_token={token}&view-as={APP_VIEW}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_listening(proc: subprocess.Popen, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HepfmError(
                f"marimo's editor stopped before it served the dashboard (exit {proc.returncode})",
                "hepfm dashboard",
                "run `uv run marimo edit apps/anomaly.py` to see its message",
            )
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise HepfmError(
        f"marimo's editor did not listen on port {port} within {timeout_s:.0f} s",
        "hepfm dashboard",
        "try another --port, or run `uv run marimo edit apps/anomaly.py`",
    )


_STOP_SIGNALS = tuple(
    getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)
)
"""What stops this command: Ctrl+C, SIGTERM, SIGHUP (its terminal closed)."""


class _Stop(Exception):
    """A signal in ``_STOP_SIGNALS`` reached this command: stop the editor."""


def _on_stop(signum: int, frame: Any) -> None:
    # the first one counts: a second Ctrl+C (uv may pass on two) or a SIGTERM sent to the
    # whole group meanwhile does not cut the editor's stop short
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise _Stop(signum)


def _stop_editor(proc: subprocess.Popen) -> None:
    """Stop the editor with one SIGINT, its own Ctrl+C: marimo then shuts down and exits
    normally, which unlinks its kernel queues' semaphores. SIGTERM would not: uvicorn re-raises
    it after its shutdown, the editor dies without its exit handlers, and Python's resource
    tracker reports "12 leaked semaphore objects" on the terminal."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cmd_dashboard(args: argparse.Namespace) -> int:
    app = app_path()
    if not app.is_file():
        raise HepfmError(
            "the dashboard's notebook is not beside the package (an installed wheel?)",
            str(app),
            "run hepfm dashboard from the project's checkout",
        )
    port = args.port or _free_port()
    token = secrets.token_urlsafe(16)
    app_args = [a for a in args.app_args if a != "--"]
    # marimo's banner names the notebook view's address: this command prints the app view's.
    # The editor runs in a session of its own, without the terminal: the terminal's Ctrl+C
    # reaches this command alone, which stops the editor (otherwise marimo would ask, unseen,
    # "Are you sure you want to quit?" on the terminal while this command waited).
    proc = subprocess.Popen(
        editor_command(app, port, token, app_args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    previous = {sig: signal.signal(sig, _on_stop) for sig in _STOP_SIGNALS}
    try:
        _wait_listening(proc, port, START_TIMEOUT_S)
        url = editor_url(port, token)
        print(f"The dashboard (marimo's editor, app view): {url}", flush=True)
        print("The code: the pencil button at the bottom right. Stop: Ctrl+C.", flush=True)
        if not args.no_browser:
            webbrowser.open(url)
        return int(proc.wait())
    except (_Stop, KeyboardInterrupt):
        _stop_editor(proc)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def add_dashboard_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``dashboard`` command to ``subparsers`` (``add_subparsers``' result)."""
    p = subparsers.add_parser(
        "dashboard",
        help="open the dashboard in marimo's editor, on its app view (the code one click away)",
    )
    p.add_argument("--port", type=int, default=None, help="the editor's port (default: a free one)")
    p.add_argument(
        "--no-browser", action="store_true", help="print the page's address, open no browser"
    )
    p.add_argument(
        "app_args",
        nargs=argparse.REMAINDER,
        help="after --: the app's own arguments (--data DIR --model M, ...)",
    )
    p.set_defaults(func=cmd_dashboard)
    return p
