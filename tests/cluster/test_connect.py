"""hepfm_core.cluster.connect: reaching a cluster, and the clear errors when it cannot be used."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from hepfm_core.cli import main
from hepfm_core.cluster.connect import ClusterSpec, open_cluster
from hepfm_core.cluster.worker_state import code_fingerprint
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


def test_a_worker_lost_while_it_is_checked_is_not_called_unable_to_run_hepfm():
    """Every worker killed while hepfm asked for its facts read as "some Dask workers
    cannot run this hepfm ... start the workers from this project's environment" (issue 23,
    faults 5): a lost worker is left to the scheduler, and none left is said as such."""
    from types import SimpleNamespace

    from distributed.comm.core import CommClosedError

    from hepfm_core.cluster.connect import check_workers

    mine = code_fingerprint()

    class Client:
        scheduler = SimpleNamespace(address="tcp://10.0.0.1:8786")

        def __init__(self, answers):
            self.answers = answers

        def run(self, function, on_error):
            return self.answers

    closed = CommClosedError("in <TCP (closed) Scheduler Broadcast>: Stream is closed")
    one_left = {"tcp://10.0.0.2:4000": {"code": mine}, "tcp://10.0.0.3:4000": closed}
    assert list(check_workers(Client(one_left))) == ["tcp://10.0.0.2:4000"]
    with pytest.raises(ClusterError) as info:
        check_workers(Client({"tcp://10.0.0.3:4000": closed, "tcp://10.0.0.4:4000": closed}))
    text = str(info.value)
    assert "every worker of the scheduler tcp://10.0.0.1:8786 was lost" in text
    assert "cannot run hepfm" not in text and "start workers again" in text


def test_no_worker_timeout_is_checked():
    with pytest.raises(ClusterError, match="must be positive"):
        ClusterSpec(workers=1, no_worker_timeout=0)


class DieOnFirstScore:
    """A worker plugin: the worker dies as it starts its first scoring task."""

    name = "hepfm-test-die-on-first-score"

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish == "executing" and str(key).startswith("hepfm-score-"):
            os._exit(1)


def test_every_worker_dead_ends_evaluate_with_exit_2(
    tmp_path, upstream_fixture, local_processes_factory
):
    """The scheduler lives, its only worker dies (no nanny to restart it): ``evaluate
    --scheduler`` exits 2 once it has had no worker for --no-worker-timeout seconds, instead
    of waiting for one forever (issue 23, faults 5)."""
    import cloudpickle
    from distributed import Client
    from distributed.diagnostics.plugin import WorkerPlugin

    def worker_without_nanny(address: str) -> list[str]:
        return [
            sys.executable,
            *("-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny"),
            *("--host", "127.0.0.1", "--no-dashboard"),
        ]

    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    plugin_type = type("DiePlugin", (DieOnFirstScore, WorkerPlugin), {})
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with local_processes_factory(tmp_path / "dask", 1, worker_without_nanny) as address:
            with Client(address, timeout="30s") as client:
                client.register_plugin(plugin_type(), name=DieOnFirstScore.name)
            t0 = time.monotonic()
            proc = subprocess.run(
                [
                    sys.executable,
                    *("-m", "hepfm_core.cli", "evaluate", "--model", str(exp), "--quiet"),
                    *("--cache-dir", str(tmp_path / "c"), "--scheduler", address),
                    *("--no-worker-timeout", "3"),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            elapsed = time.monotonic() - t0
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert proc.returncode == 2, proc.stderr
    assert "has had no worker for 3 s while work was pending" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 60, elapsed
