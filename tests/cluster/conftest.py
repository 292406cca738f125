"""A real Dask cluster on 127.0.0.1 for the cluster tests: a scheduler and worker processes
started as a user would start them (``dask scheduler`` / ``dask worker``), torn down after."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


@contextmanager
def local_processes(
    folder: Path, n_workers: int, worker_command: Callable[[str], list[str]] | None = None
) -> Iterator[str]:
    """Start ``dask scheduler`` and ``n_workers`` ``dask worker`` processes (one thread each,
    under a nanny), yield the scheduler's address, stop them all."""
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    procs = []
    logs = []

    def spawn(cmd: list[str], name: str) -> None:
        log = open(folder / f"{name}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))

    try:
        spawn(
            _python_module(
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ),
            "scheduler",
        )
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise RuntimeError((folder / "scheduler.log").read_text())
            time.sleep(0.1)
        import json

        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(n_workers):
            cmd = (worker_command or default_worker)(address)
            spawn(cmd, f"worker{i}")
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(n_workers, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()


def default_worker(address: str) -> list[str]:
    return _python_module(
        "distributed.cli.dask_worker",
        address,
        "--nthreads",
        "1",
        "--host",
        "127.0.0.1",
        "--no-dashboard",
        "--death-timeout",
        "60",
    )


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory) -> Iterator[str]:
    """The address of a scheduler with two single-thread worker processes on 127.0.0.1."""
    with local_processes(tmp_path_factory.mktemp("dask"), 2) as address:
        yield address


@pytest.fixture(scope="session")
def local_processes_factory():
    """:func:`local_processes` for a test that needs a cluster of its own."""
    return local_processes


@pytest.fixture
def shard(small_demo, tmp_path, monkeypatch):
    """The first two scoring chunks of the small demo's background, scored here (a
    ``tasks.ShardRef``)."""
    from typing import Any, cast

    from hepfm_core.cluster import tasks
    from hepfm_core.cluster.evaluator import ClusterEvaluator
    from hepfm_core.common import spill as spill_mod
    from hepfm_core.engine.scoring.run import CHUNK_EVENTS

    monkeypatch.setattr(spill_mod, "_folders", {})
    data, model = small_demo
    ev = ClusterEvaluator.open(
        data, model, cluster=cast(Any, None), cache=tmp_path, partition_events=2 * CHUNK_EVENTS
    )
    return tasks.score_partition(ev.partition_tasks("background")[0])
