"""``hepfm serve``: its flags reach the server's settings, and a refused token file exits 2
with the reason before anything listens (the server itself: tests/test_serving.py)."""

from __future__ import annotations

from hepfm_core.cli import build_parser, main
from hepfm_core.serving import DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_TTL_S


def test_the_flags_and_the_app_arguments_reach_serve(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(
        "hepfm_core.cli.serve_command.serve", lambda app, **kw: seen.update(app=app, **kw) or 0
    )
    argv = ["serve", "--token-file", str(tmp_path / "t"), "--port", "9000", "--max-sessions",
            "3", "--", "--data", "d", "--model", "m"]  # fmt: skip
    assert main(argv) == 0
    assert seen["app"].name == "anomaly.py"
    assert seen["token_file"] == tmp_path / "t" and seen["host"] == "127.0.0.1"
    assert seen["port"] == 9000 and seen["max_sessions"] == 3
    assert seen["session_ttl_s"] == DEFAULT_SESSION_TTL_S and seen["proxy"] is None
    assert seen["app_args"] == ["--data", "d", "--model", "m"]
    defaults = build_parser().parse_args(["serve", "--token-file", "t"])
    assert defaults.max_sessions == DEFAULT_MAX_SESSIONS and defaults.app_args == []


def test_a_shared_token_file_exits_2_with_the_reason(tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text("x" * 40)
    token.chmod(0o644)
    assert main(["serve", "--token-file", str(token)]) == 2
    err = capsys.readouterr().err
    assert "can be read by others" in err and "chmod 600" in err and "Traceback" not in err
