"""``hepfm dashboard``: marimo's editor on the app, its page in the app view."""

from __future__ import annotations

import sys
from urllib.parse import parse_qs, urlparse

from hepfm_core import dashboard_cli
from hepfm_core.cli import build_parser, main


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
