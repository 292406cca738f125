"""Serving the dashboard to others: ``marimo run`` behind a token, on 127.0.0.1, with a cap.

``marimo run apps/anomaly.py`` alone serves the app read-only, but a shared dashboard needs
more than its defaults: a token the operator chose and keeps private (not a random one
printed to a terminal), no listening beyond this machine unless asked (a TLS-terminating
reverse proxy in front is the way to reach it from elsewhere: marimo speaks plain HTTP), and
a bound on the sessions one process holds. marimo enforces none: each viewer's page is a
session of its own (a kernel thread, the app's state: tens of MB), kept for the session TTL
after its page closes, so a page reloaded in a loop grows the server without bound.

:func:`serve` checks the token file (present, private to its owner, long enough), caps the
sessions (:func:`cap_sessions`: a viewer beyond the cap reads "the dashboard is full" in
place of the app, and the process keeps serving the others), shortens the time a closed
page's session is kept, and runs marimo's own ``run`` command in this process.
"""

from __future__ import annotations

import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import SettingsError

__all__ = [
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_SESSION_TTL_S",
    "HOST",
    "MIN_TOKEN_CHARS",
    "app_path",
    "cap_sessions",
    "full_message",
    "marimo_run_args",
    "read_token",
    "serve",
]

HOST = "127.0.0.1"
"""Where the dashboard listens unless told otherwise: this machine (a proxy in front)."""
DEFAULT_MAX_SESSIONS = 20
"""Sessions (open or recently closed pages) one server holds at most."""
DEFAULT_SESSION_TTL_S = 30
"""Seconds a closed page's session is kept (for a reconnect) before it is released."""
MIN_TOKEN_CHARS = 16
"""The shortest token taken: guessing it must not be practical."""


def app_path() -> Path:
    """The dashboard's notebook, beside the package in the project's checkout."""
    return Path(__file__).resolve().parents[1] / "apps" / "anomaly.py"


def read_token(path: str | Path) -> str:
    """The token in ``path`` (its first line, stripped); a ``SettingsError`` when the file
    is missing, readable by others than its owner, or holds a token that is too short."""
    path = Path(path).expanduser()
    make = (
        f"write one with: umask 077; python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        f" > {path}"
    )
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except FileNotFoundError:
        raise SettingsError(f"no token file at {path}", path, make) from None
    except OSError as exc:
        raise SettingsError(
            f"cannot read the token file {path}: {exc.strerror}", path, make
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(
            f"the token file {path} can be read by others (mode {stat.filemode(mode)})",
            path,
            f"make it private: chmod 600 {path}",
        )
    token = (text.splitlines() or [""])[0].strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise SettingsError(
            f"the token in {path} has {len(token)} characters, fewer than {MIN_TOKEN_CHARS}",
            path,
            make,
        )
    return token


def full_message(limit: int) -> str:
    """What a viewer beyond the cap reads in place of the dashboard."""
    return (
        f"This dashboard is full: it serves {limit} pages at once. Close another page of it, "
        "or try again in a minute (a closed page's place is freed shortly after)."
    )


def cap_sessions(limit: int) -> None:
    """Make this process's marimo server refuse a new session while it holds ``limit``
    (open pages, and closed ones within their TTL, and those starting). A page that
    reconnects to its own session is not refused. Calling it again changes the limit.

    Why here: marimo has no such setting. Its session manager's ``create_session`` is
    wrapped; the refusal is marimo's own kernel start-up error, which its page shows as a
    message, while the server goes on serving the other pages.
    """
    if limit < 1:
        raise SettingsError(
            f"--max-sessions {limit}: at least one", "--max-sessions", "give 1 or more"
        )
    from marimo._server.session_manager import SessionManager
    from marimo._session.managers.ipc import KernelStartupError

    create = SessionManager.create_session
    original = getattr(create, "__wrapped__", create)

    async def create_session(self: Any, session_id: Any, *args: Any, **kwargs: Any) -> Any:
        cap = getattr(create_session, "limit")  # noqa: B009 (set below, changed by a new call)
        held = len(self._repository) + len(self._pending)
        if self._repository.get_sync(session_id) is None and held >= cap:
            raise KernelStartupError(full_message(cap))
        return await original(self, session_id, *args, **kwargs)

    setattr(create_session, "limit", limit)  # noqa: B010
    setattr(create_session, "__wrapped__", original)  # noqa: B010
    SessionManager.create_session = create_session  # type: ignore[method-assign]


def marimo_run_args(
    app: Path,
    *,
    token_file: Path,
    host: str = HOST,
    port: int = 2718,
    session_ttl_s: int = DEFAULT_SESSION_TTL_S,
    proxy: str | None = None,
    app_args: Sequence[str] = (),
) -> list[str]:
    """The arguments of ``marimo run`` for a shared dashboard: headless, code hidden (its
    default), the operator's token, ``host`` and ``port``, the TTL, the address of a
    reverse proxy in front (``proxy``: marimo builds its links for it); ``app_args`` after
    ``--``."""
    args = [
        "run",
        str(app),
        "--headless",
        "--host",
        host,
        "--port",
        str(port),
        "--token-password-file",
        str(token_file),
        "--session-ttl",
        str(session_ttl_s),
        *(["--proxy", proxy] if proxy else []),
    ]
    return [*args, "--", *app_args] if app_args else args


def serve(
    app: Path,
    *,
    token_file: str | Path,
    host: str = HOST,
    port: int = 2718,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    session_ttl_s: int = DEFAULT_SESSION_TTL_S,
    proxy: str | None = None,
    app_args: Sequence[str] = (),
) -> int:
    """Serve ``app`` until interrupted (see the module's docstring); the exit status of
    marimo's server. A ``SettingsError`` before anything listens when the token file or a
    bound is not usable."""
    read_token(token_file)  # refused before anything listens
    if session_ttl_s < 0:
        raise SettingsError(
            f"--session-ttl {session_ttl_s}: not negative", "--session-ttl", "give 0 or more"
        )
    cap_sessions(max_sessions)
    from marimo._cli.cli import main as marimo_main

    args = marimo_run_args(
        app,
        token_file=Path(token_file).expanduser(),
        host=host,
        port=port,
        session_ttl_s=session_ttl_s,
        proxy=proxy,
        app_args=app_args,
    )
    try:
        marimo_main(args, standalone_mode=False)
    except KeyboardInterrupt:
        return 0
    return 0
