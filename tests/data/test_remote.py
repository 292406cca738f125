"""``hepfm convert`` on remote inputs: ``http://`` URLs served by a local range-serving HTTP
server on 127.0.0.1 (a real PhysLite-like ROOT file), read exactly as the local file; network
failures (404, a refused connection, a timeout) reported as such, naming the URL, never as a
truncated file; transient ones (503, a dropped connection) retried; ``root://`` without the
XRootD backend answered with how to install it."""

from __future__ import annotations

import http.server
import json
import re
import socket
import sys
import threading
import time

import numpy as np
import pytest

from hepfm_core.cli import main
from hepfm_core.data import remote
from hepfm_core.data.hepfm_format import read_header, read_identity
from hepfm_core.data.physlite import RAW_NAMES
from hepfm_core.data.root_io import PhysliteWriter, iterate_steps, open_tree
from hepfm_core.errors import RemoteInputError, SettingsError, TruncatedRootFileError


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET and HEAD of the server's files; ``Range: bytes=a-b`` answered 206; the server's
    ``fail_next`` requests failed first (503, or the connection closed without an answer)."""

    server: RangeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, body: bool) -> None:
        srv = self.server
        with srv.lock:
            srv.requests.append((self.command, self.path, self.headers.get("Range")))
            failing = srv.fail_next > 0
            if failing:
                srv.fail_next -= 1
        if srv.delay_s:
            time.sleep(srv.delay_s)
        if failing and srv.failure == "drop":
            self.close_connection = True  # no status line: the client sees a disconnect
            return
        if failing:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = srv.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, start, stop = 200, 0, len(data)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", (self.headers.get("Range") or "").strip())
        if match and (match[1] or match[2]):
            if match[1]:
                start = int(match[1])
                stop = min(int(match[2]) + 1, len(data)) if match[2] else len(data)
            else:
                start = max(len(data) - int(match[2]), 0)
            if start >= len(data):
                self.send_response(416)  # Range Not Satisfiable, as real servers answer
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        if body:
            self.wfile.write(data[start:stop])

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)


class RangeServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 (a free port) serving ``files`` by path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.fail_next = 0
        self.failure = "503"
        self.delay_s = 0.0
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up midway (a timeout, a retry) is no error of the test's."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server():
    srv = RangeServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch):
    """Retries wait 10 ms, not seconds; no timeout or retry count from the caller's shell."""
    monkeypatch.setattr(remote, "RETRY_BACKOFF_S", 0.01)
    monkeypatch.delenv("HEPFM_REMOTE_TIMEOUT", raising=False)
    monkeypatch.delenv("HEPFM_REMOTE_RETRIES", raising=False)


def write_physlite(path, n_events=3000, seed=5):
    """A PhysLite-like ROOT file (the writer of ``hepfm demo --physlite``), in several baskets."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(6, n_events)
    n = int(counts.sum())
    raw = {name: rng.normal(1.0, 0.3, n).astype(np.float32) for name in RAW_NAMES}
    raw["theta"] = rng.uniform(0.2, 2.9, n).astype(np.float32)
    raw["numberDoF"] = rng.integers(5, 20, n).astype(np.float32)
    ids = {
        "run_number": np.full(n_events, 284500, dtype=np.uint32),
        "event_number": np.arange(n_events, dtype=np.uint64) + 10**9,
    }
    offsets = np.concatenate([[0], np.cumsum(counts)])
    with PhysliteWriter(path, ("run_number", "event_number")) as writer:
        for lo in range(0, n_events, 1000):
            hi = min(lo + 1000, n_events)
            writer.write(
                counts[lo:hi],
                {k: v[offsets[lo] : offsets[hi]] for k, v in raw.items()},
                {k: v[lo:hi] for k, v in ids.items()},
            )
    return path


@pytest.fixture
def served(server, tmp_path):
    """(server, local ROOT file, its URL)."""
    path = write_physlite(tmp_path / "events.root")
    server.files["/data/events.root"] = path.read_bytes()
    return server, path, server.url("/data/events.root")


def convert(source: str, out, capsys, *extra: str) -> tuple[int, str]:
    rc = main(["convert", "--background", source, "--out", str(out), "--quiet", *extra])
    return rc, capsys.readouterr().err


def same_conversion(a, b) -> None:
    ha, hb = read_header(a / "background.h5"), read_header(b / "background.h5")
    assert ha["n_events"] == hb["n_events"] > 0
    assert ha["fingerprint"] == hb["fingerprint"]
    assert ha["normalisation"].fingerprint() == hb["normalisation"].fingerprint()
    ia, ib = read_identity(a / "background.h5"), read_identity(b / "background.h5")
    assert sorted(ia) == sorted(ib)
    for column, values in ia.items():
        assert np.array_equal(values, ib[column]), column


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_http_url_converts_as_the_local_file(served, tmp_path, capsys):
    server, path, url = served
    assert convert(str(path), tmp_path / "local", capsys)[0] == 0
    rc, err = convert(url, tmp_path / "remote", capsys, "--json", str(tmp_path / "r.json"))
    assert rc == 0, err
    same_conversion(tmp_path / "local", tmp_path / "remote")
    (inp,) = json.loads((tmp_path / "r.json").read_text())["samples"]["background"]["inputs"]
    assert inp["source"] == url and inp["name"] == url and inp["size"] is None
    assert any(r and r.startswith("bytes=") for _, _, r in server.requests)  # ranges, not all


def test_http_404_is_a_network_error_naming_the_url(served, tmp_path, capsys):
    server, _, _ = served
    url = server.url("/data/missing.root")
    rc, err = convert(url, tmp_path / "out", capsys)
    assert rc == 2 and url in err and "HTTP 404" in err and "what to do" in err
    assert "truncated" not in err and "corrupt" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert len(server.requests) <= 2  # a 404 is not retried


def test_a_refused_connection_is_a_network_error_after_the_retries(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/events.root"
    rc, err = convert(url, tmp_path / "out", capsys)
    assert rc == 2 and url in err and "connection refused" in err and "what to do" in err
    assert "after 4 attempts" in err
    assert "truncated" not in err and "corrupt" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("failure", ["503", "drop"])
def test_transient_failures_are_retried(served, tmp_path, capsys, failure):
    server, path, url = served
    assert convert(str(path), tmp_path / "local", capsys)[0] == 0
    server.failure, server.fail_next = failure, 3
    rc, err = convert(url, tmp_path / "remote", capsys)
    assert rc == 0, err
    assert server.fail_next == 0  # every planned failure was met
    same_conversion(tmp_path / "local", tmp_path / "remote")


def test_retries_are_bounded(served, tmp_path, capsys, monkeypatch):
    server, _, url = served
    monkeypatch.setenv("HEPFM_REMOTE_RETRIES", "1")
    server.fail_next = 10
    rc, err = convert(url, tmp_path / "out", capsys)
    assert rc == 2 and url in err and "HTTP 503" in err and "after 2 attempts" in err
    assert "truncated" not in err and "HEPFM_REMOTE_RETRIES" in err
    assert server.fail_next == 8


def test_a_truncated_file_on_a_server_is_still_a_truncated_file(served):
    """Bad bytes are the file's fault, not the network's: served cut short, it reads as it
    does on disk (ranges past its end answered 416), and is not retried."""
    server, path, _ = served
    server.files["/data/cut.root"] = path.read_bytes()[: path.stat().st_size // 2]
    with pytest.raises(TruncatedRootFileError, match="truncated or corrupt") as info:
        with open_tree(server.url("/data/cut.root")) as (tree, tinfo):
            list(iterate_steps(tree, tinfo, 400))
    assert "cut.root" in str(info.value) and not isinstance(info.value, RemoteInputError)


def test_a_failure_midway_is_retried_from_the_step_it_hit(served):
    """Open, then fail the next requests (baskets): the steps come back whole and in order."""
    server, path, url = served
    with open_tree(str(path), checksum=False) as (tree, info):
        local = list(iterate_steps(tree, info, 400))
    with open_tree(url) as (tree, info):
        assert info.checksum is None and info.entries == 3000
        server.fail_next = 2
        remote = list(iterate_steps(tree, info, 400))
    assert server.fail_next == 0
    assert [s.start for s in remote] == [s.start for s in local]
    for a, b in zip(local, remote, strict=True):
        assert np.array_equal(a.counts, b.counts)
        for name in RAW_NAMES:
            assert np.array_equal(a.raw[name], b.raw[name])
        assert np.array_equal(a.identity["event_number"], b.identity["event_number"])


def test_a_server_that_does_not_answer_times_out(served, monkeypatch):
    server, _, url = served
    monkeypatch.setenv("HEPFM_REMOTE_TIMEOUT", "0.3")
    monkeypatch.setenv("HEPFM_REMOTE_RETRIES", "0")
    server.delay_s = 3.0
    t0 = time.perf_counter()
    with pytest.raises(RemoteInputError, match="timed out") as info:
        with open_tree(url):
            pass
    assert time.perf_counter() - t0 < 2.5 and url in str(info.value)
    assert "HEPFM_REMOTE_TIMEOUT" in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value"), [("HEPFM_REMOTE_TIMEOUT", "0"), ("HEPFM_REMOTE_RETRIES", "many")]
)
def test_bad_network_settings(served, monkeypatch, variable, value):
    _, _, url = served
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        with open_tree(url):
            pass


def test_root_url_without_the_xrootd_backend_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec_xrootd", None)  # as if the extra were missing
    url = "root://eospublic.cern.ch//eos/opendata/atlas/DAOD_PHYSLITE.root"
    rc, err = convert(url, tmp_path / "out", capsys)
    assert rc == 2 and url in err and "XRootD" in err
    assert "uv sync --extra xrootd" in err and "pip install fsspec-xrootd" in err
    assert "truncated" not in err and "corrupt" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_http_url_without_aiohttp_says_how_to_install_it(served, tmp_path, capsys, monkeypatch):
    """The bug this came from: without aiohttp the file 'looked truncated or corrupt'."""
    _, _, url = served
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    rc, err = convert(url, tmp_path / "out", capsys)
    assert rc == 2 and url in err and "aiohttp" in err and "uv sync" in err
    assert "truncated" not in err and "corrupt" not in err
