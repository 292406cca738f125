"""hepfm_core.cluster.connect: reaching a cluster, and the clear errors when it cannot be used."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from hepfm_core.cli import main
from hepfm_core.cluster.connect import ClusterSpec, open_cluster
from hepfm_core.cluster.tasks import code_fingerprint
from hepfm_core.errors import ClusterError


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_scheduler_exits_2_within_15_s(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    argv = ["evaluate", "--data", str(tmp_path), "--model", str(tmp_path / "m.keras")]
    proc = subprocess.run(
        [sys.executable, "-m", "hepfm_core.cli", *argv, "--scheduler", address],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    assert elapsed < 15, elapsed
    assert "cannot reach the Dask scheduler within 10 s" in proc.stderr
    assert address in proc.stderr and "what to do:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_scheduler_file(tmp_path, capsys):
    missing = tmp_path / "nowhere.json"
    argv = ["evaluate", "--data", str(tmp_path), "--model", str(tmp_path / "m.keras")]
    assert main([*argv, "--scheduler-file", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "the scheduler file does not exist" in err and str(missing) in err


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "give one of"),
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:1"}, "give one of"),
        ({"workers": 0}, "at least one worker"),
        ({"workers": 1, "threads_per_worker": 0}, "at least one thread"),
    ],
)
def test_spec_is_checked(kwargs, message):
    with pytest.raises(ClusterError, match=message):
        ClusterSpec(**kwargs)


def test_provenance_names_the_cluster(dask_cluster):
    with open_cluster(ClusterSpec(scheduler=dask_cluster)) as cluster:
        doc = cluster.provenance()
        facts = cluster.facts
    assert doc == {
        "kind": "scheduler",
        "scheduler": dask_cluster,
        "workers": 2,
        "threads": 2,
        "hosts": ["127.0.0.1"],
    }
    assert len(facts) == 2
    assert {f["code"] for f in facts.values()} == {code_fingerprint()}
    assert {f["threads"] for f in facts.values()} == {1}


def test_worker_without_hepfm_is_named(tmp_path, local_processes_factory):
    """A worker whose Python cannot import hepfm: the error names it, no work is sent."""

    def worker_without_hepfm(address: str) -> list[str]:
        code = (
            "import sys; sys.modules['hepfm_core'] = None; "
            "from distributed.cli.dask_worker import main; "
            f"sys.argv = ['dask-worker', '{address}', '--nthreads', '1', '--no-nanny', "
            "'--host', '127.0.0.1', '--no-dashboard']; main()"
        )
        return [sys.executable, "-c", code]

    with local_processes_factory(tmp_path, 1, worker_without_hepfm) as address:
        with pytest.raises(ClusterError) as info:
            open_cluster(ClusterSpec(scheduler=address))
    text = str(info.value)
    assert "cannot run hepfm" in text and "tcp://127.0.0.1:" in text
    assert "uv run dask worker" in text


def test_worker_with_other_hepfm_code_is_named():
    """A worker whose hepfm sources differ from this process's (another version or a local
    edit): named with both code fingerprints."""
    from types import SimpleNamespace

    from hepfm_core.cluster.connect import check_workers

    mine = code_fingerprint()

    class Client:
        scheduler = SimpleNamespace(address="tcp://10.0.0.1:8786")

        def run(self, function, on_error):
            assert on_error == "return"
            return {
                "tcp://10.0.0.2:4000": {"code": mine, "hepfm": "0.1.0"},
                "tcp://10.0.0.3:4000": {"code": "0123456789abcdef", "hepfm": "0.0.9"},
            }

    with pytest.raises(ClusterError) as info:
        check_workers(Client())
    text = str(info.value)
    assert "tcp://10.0.0.3:4000: runs other hepfm code (version 0.0.9" in text
    assert mine in text and "tcp://10.0.0.2:4000" not in text
