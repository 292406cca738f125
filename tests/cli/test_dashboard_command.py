"""``hepfm dashboard``: marimo's editor on the app, its page in the app view."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import psutil
import pytest

from hepfm_core.cli import build_parser, main
from hepfm_core.cli import dashboard_command as dashboard_cli


def test_the_editor_is_marimos_on_the_app_bound_here_with_its_token():
    app = dashboard_cli.app_path()
    assert app.is_file() and app.name == "anomaly.py" and app.parent.name == "apps"
    argv = dashboard_cli.editor_command(app, 8123, "tok", ["--data", "d", "--model", "m"])
    assert argv[:5] == [sys.executable, "-m", "marimo", "edit", str(app)]
    assert "--headless" in argv
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--token-password") + 1] == "tok"
    # the app's own arguments after --
    assert argv[argv.index("--") :] == ["--", "--data", "d", "--model", "m"]
    assert "--" not in dashboard_cli.editor_command(app, 8123, "tok")


def test_the_page_opens_in_the_app_view():
    url = urlparse(dashboard_cli.editor_url(8123, "tok"))
    assert (url.scheme, url.hostname, url.port) == ("http", "127.0.0.1", 8123)
    assert parse_qs(url.query) == {"access_token": ["tok"], "view-as": ["present"]}


def test_the_command_passes_the_apps_arguments():
    args = build_parser().parse_args(
        ["dashboard", "--no-browser", "--port", "9", "--", "--data", "DIR"]
    )
    assert args.no_browser and args.port == 9
    assert [a for a in args.app_args if a != "--"] == ["--data", "DIR"]


def test_an_editor_that_stops_at_once_is_a_message(monkeypatch, capsys):
    class Stopped:
        returncode = 1

        def __init__(self, *_a, **_k):
            pass

        def poll(self):
            return 1

    monkeypatch.setattr(dashboard_cli.subprocess, "Popen", Stopped)
    assert main(["dashboard", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "marimo's editor stopped before it served the dashboard (exit 1)" in err
    assert "what to do:" in err


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_dashboard_stops_the_editor_cleanly(
    sig, small_demo, tmp_path, marimo_env, chromium_launch
):
    """Ctrl+C (or SIGTERM) on ``hepfm dashboard`` with the page open stops marimo's editor, its
    kernel and its resource tracker, with no traceback and no "leaked semaphore" warning (the
    editor's kernel queues hold 12 POSIX semaphores, unlinked only when it exits cleanly)."""
    from playwright.sync_api import sync_playwright

    root = tmp_path / "root"
    shutil.copytree(small_demo[0], root / "demo")
    env = dict(
        os.environ, HEPFM_DATA_ROOT=str(root), HEPFM_CACHE_DIR=str(tmp_path / "cache"), **marimo_env
    )
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hepfm_core.cli", "dashboard", "--no-browser"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True, env=env,
        )  # fmt: skip
    tree: list[psutil.Process] = []
    try:
        assert proc.stdout is not None
        url = ""
        while not url:
            line = proc.stdout.readline()
            assert line, f"hepfm dashboard stopped before it served the page:\n{log.read_text()}"
            url = next((w for w in line.split() if w.startswith("http://")), "")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**chromium_launch)
            page = browser.new_page(viewport={"width": 1500, "height": 2400})
            page.goto(url)
            page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=120_000)
            # the editor, its kernel process and the resource tracker that reports leaks
            tree = psutil.Process(proc.pid).children(recursive=True)
            assert tree
            proc.send_signal(sig)
            code = proc.wait(timeout=60)
            browser.close()
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert not alive, f"still running after hepfm dashboard stopped: {alive}"
        text = log.read_text()
        assert "leaked" not in text and "Traceback" not in text, text
        assert code == 0, text
    finally:
        proc.kill()
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
