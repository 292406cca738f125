"""Serving the dashboard to others: the token file is checked before anything listens, the
server listens on 127.0.0.1 by default, and a viewer beyond the session cap reads that the
dashboard is full while the others are served (in Chromium, against a real server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hepfm_core.errors import SettingsError
from hepfm_core.serving import (
    HOST,
    MIN_TOKEN_CHARS,
    cap_sessions,
    full_message,
    marimo_run_args,
    read_token,
    serve,
)

TOKEN = "t0k3n-" + "x" * 26


def token_file(tmp_path: Path, text: str = TOKEN, mode: int = 0o600) -> Path:
    path = tmp_path / "token"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def test_a_private_token_file_gives_its_first_line(tmp_path):
    path = token_file(tmp_path, TOKEN + "\nsecond line")
    assert read_token(path) == TOKEN


@pytest.mark.parametrize(
    ("mode", "text", "message"),
    [
        (None, TOKEN, "no token file"),
        (0o644, TOKEN, "can be read by others"),
        (0o640, TOKEN, "can be read by others"),
        (0o600, "short", f"fewer than {MIN_TOKEN_CHARS}"),
        (0o600, "", "has 0 characters"),
    ],
)
def test_a_token_file_that_is_missing_shared_or_short_is_refused(tmp_path, mode, text, message):
    path = tmp_path / "token" if mode is None else token_file(tmp_path, text, mode)
    with pytest.raises(SettingsError, match=message) as info:
        read_token(path)
    assert "what to do" in str(info.value)


def test_nothing_listens_when_the_token_is_refused(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("marimo._cli.cli.main", lambda *a, **k: started.append(a))
    with pytest.raises(SettingsError, match="can be read by others"):
        serve(Path("apps/anomaly.py"), token_file=token_file(tmp_path, mode=0o644))
    with pytest.raises(SettingsError, match="at least one"):
        serve(Path("apps/anomaly.py"), token_file=token_file(tmp_path), max_sessions=0)
    assert started == []


def test_marimo_runs_headless_on_this_machine_with_the_token_file_and_the_ttl(tmp_path):
    args = marimo_run_args(Path("app.py"), token_file=tmp_path / "t", session_ttl_s=5)
    assert args[:3] == ["run", "app.py", "--headless"]
    assert args[args.index("--host") + 1] == HOST == "127.0.0.1"
    assert args[args.index("--token-password-file") + 1] == str(tmp_path / "t")
    assert args[args.index("--session-ttl") + 1] == "5"
    assert "--no-token" not in args and "--include-code" not in args
    with_app = marimo_run_args(
        Path("app.py"), token_file=tmp_path / "t", host="10.0.0.5", app_args=["--data", "d"]
    )
    assert with_app[with_app.index("--host") + 1] == "10.0.0.5"
    assert with_app[-3:] == ["--", "--data", "d"]
    assert "--proxy" not in with_app
    proxied = marimo_run_args(Path("app.py"), token_file=tmp_path / "t", proxy="https://h.org")
    assert proxied[proxied.index("--proxy") + 1] == "https://h.org"


def test_the_cap_wraps_once_and_takes_a_new_limit():
    from marimo._server.session_manager import SessionManager

    before = SessionManager.create_session
    original = getattr(before, "__wrapped__", before)
    try:
        cap_sessions(3)
        cap_sessions(5)  # again: the same original, the new limit
        assert SessionManager.create_session.__wrapped__ is original
        assert SessionManager.create_session.limit == 5
    finally:
        SessionManager.create_session = before


APP = """import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo

    mo.md("hello from the capped app")
    return
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_viewer_beyond_the_cap_reads_that_the_dashboard_is_full(
    tmp_path, chromium_launch, marimo_env
):
    from playwright.sync_api import sync_playwright

    app = tmp_path / "capped.py"
    app.write_text(APP)
    token = token_file(tmp_path)
    port = free_port()
    code = (
        "import sys; from pathlib import Path; from hepfm_core.serving import serve; "
        f"sys.exit(serve(Path({str(app)!r}), token_file={str(token)!r}, port={port}, "
        "max_sessions=1, session_ttl_s=1))"
    )
    env = dict(os.environ, **marimo_env)
    server = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=Path.cwd())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        url = f"http://{HOST}:{port}/?access_token={TOKEN}"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**chromium_launch)
            first = browser.new_page()
            first.goto(url)
            first.get_by_text("hello from the capped app").wait_for(timeout=60_000)
            second = browser.new_page()
            second.goto(url)
            second.get_by_text("This dashboard is full").wait_for(timeout=60_000)
            assert "hello from the capped app" not in second.content()
            # the first page is still served, and its place is freed once it closes
            assert "hello from the capped app" in first.content()
            first.close()
            second.close()
            time.sleep(3)  # the session TTL (1 s) and its release
            third = browser.new_page()
            third.goto(url)
            third.get_by_text("hello from the capped app").wait_for(timeout=60_000)
            without = browser.new_page()
            without.goto(f"http://{HOST}:{port}/")  # no token: marimo's login page
            without.wait_for_load_state()
            assert "hello from the capped app" not in without.content()
            browser.close()
        assert server.poll() is None  # still serving
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert full_message(1).startswith("This dashboard is full: it serves 1 pages")
