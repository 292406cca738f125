"""Which Dask cluster hepfm works on, reached or started here, and checked before use.

Three ways, one :class:`ClusterSpec`: a local cluster of ``workers`` processes started and
stopped by hepfm (``--workers N``), an existing scheduler at ``tcp://host:port``
(``--scheduler``), or one whose address a file holds (``--scheduler-file``, what ``dask
scheduler --scheduler-file`` and dask-jobqueue write). :func:`open_cluster` connects within
``connect_timeout`` seconds (distributed waits 30 s by default), waits for a worker, and asks
every worker which hepfm it runs (``worker_state.worker_facts``): a worker without hepfm, or with
other code, is named in a :class:`~hepfm_core.errors.ClusterError` before any work is sent.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ClusterError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_NO_WORKER_TIMEOUT",
    "Cluster",
    "ClusterSpec",
    "check_workers",
    "open_cluster",
]

DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds to reach a scheduler, and again to see its first worker."""
DEFAULT_NO_WORKER_TIMEOUT = 60.0
"""Seconds a scheduler may have no worker while work is pending before hepfm gives up
(``cluster.watch``): long enough for a batch system to replace a lost worker."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: exactly one of ``scheduler``, ``scheduler_file`` or ``workers``.

    ``threads_per_worker`` applies to a local cluster (TensorFlow on each worker is limited
    to its worker's threads either way).
    """

    scheduler: str | None = None
    scheduler_file: str | None = None
    workers: int | None = None
    threads_per_worker: int = 1
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    no_worker_timeout: float = DEFAULT_NO_WORKER_TIMEOUT

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.scheduler, self.scheduler_file, self.workers)]
        if sum(given) != 1:
            raise ClusterError(
                "give one of a scheduler address, a scheduler file or a number of workers",
                "--scheduler / --scheduler-file / --workers",
                "e.g. --workers 2 for a local cluster, or --scheduler tcp://host:8786",
            )
        if self.workers is not None and self.workers < 1:
            raise ClusterError(
                f"a local cluster needs at least one worker, not {self.workers}",
                "--workers",
                "pass --workers 1 or more",
            )
        if self.threads_per_worker < 1:
            raise ClusterError(
                f"a worker needs at least one thread, not {self.threads_per_worker}",
                "--threads-per-worker",
                "pass 1 or more",
            )
        if not self.no_worker_timeout > 0:
            raise ClusterError(
                f"the wait without workers must be positive, not {self.no_worker_timeout:g} s",
                "--no-worker-timeout",
                "pass a number of seconds above 0",
            )

    @property
    def kind(self) -> str:
        if self.workers is not None:
            return "local"
        return "scheduler" if self.scheduler is not None else "scheduler-file"

    @property
    def where(self) -> str:
        if self.workers is not None:
            return f"a local cluster of {self.workers} worker processes"
        return str(self.scheduler if self.scheduler is not None else self.scheduler_file)


@dataclass
class Cluster:
    """A connected ``distributed.Client`` (and the local cluster hepfm started, if any)."""

    spec: ClusterSpec
    client: Any
    local: Any = None
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    def provenance(self) -> dict[str, Any]:
        """What the JSON's provenance says of the cluster: kind, scheduler, workers, threads."""
        info = self.client.scheduler_info(n_workers=-1)
        workers = info.get("workers", {})
        return {
            "kind": self.spec.kind,
            "scheduler": self.address,
            "workers": len(workers),
            "threads": int(sum(w.get("nthreads", 0) for w in workers.values())),
            "hosts": sorted({str(w.get("host", "")) for w in workers.values()}),
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.local is not None:
            with contextlib.suppress(Exception):
                self.local.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start_local(spec: ClusterSpec):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=spec.workers,
        threads_per_worker=spec.threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


def _connect(spec: ClusterSpec):
    import dask
    from distributed import Client

    timeout = f"{spec.connect_timeout}s"
    with dask.config.set({"distributed.comm.timeouts.connect": timeout}):
        if spec.scheduler_file is not None:
            path = Path(spec.scheduler_file)
            if not path.is_file():
                raise ClusterError(
                    "the scheduler file does not exist",
                    path,
                    "start the scheduler with --scheduler-file at this path, or pass "
                    "--scheduler tcp://host:port",
                )
            return Client(scheduler_file=str(path), timeout=timeout)
        return Client(spec.scheduler, timeout=timeout)


def open_cluster(spec: ClusterSpec) -> Cluster:
    """Connect (or start a local cluster), wait for a worker, check every worker's hepfm.

    Raises
    ------
    ClusterError
        The scheduler cannot be reached within ``spec.connect_timeout`` seconds, has no
        worker within that time, or a worker lacks hepfm or runs other hepfm code.
    """
    local = _start_local(spec) if spec.workers is not None else None
    try:
        client = local.get_client() if local is not None else _connect(spec)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler within {spec.connect_timeout:g} s ({exc})",
            spec.where,
            "check the address (tcp://host:port) and that `dask scheduler` runs there and is "
            "reachable from this machine; or run without --scheduler (one process) or with "
            "--workers N (a local cluster)",
        ) from exc
    cluster = Cluster(spec, client, local)
    try:
        try:
            client.wait_for_workers(1, timeout=spec.connect_timeout)
        except (TimeoutError, OSError) as exc:
            raise ClusterError(
                f"the scheduler {cluster.address} has no worker after {spec.connect_timeout:g} s",
                spec.where,
                "start workers with `dask worker ADDRESS` (in this project's environment)",
            ) from exc
        cluster.facts = check_workers(client)
    except BaseException:
        cluster.close()
        raise
    return cluster


def check_workers(client) -> dict[str, dict[str, Any]]:
    """``worker_state.worker_facts`` of every worker; a ``ClusterError`` naming any worker that
    cannot import hepfm or runs other hepfm code than this process."""
    from .worker_state import code_fingerprint, worker_facts  # only once a cluster is used

    answers = client.run(worker_facts, on_error="return")
    mine = code_fingerprint()
    problems = []
    lost = sorted(a for a, f in answers.items() if _lost(f))
    if answers and len(lost) == len(answers):
        raise ClusterError(
            f"every worker of the scheduler {client.scheduler.address} was lost while hepfm "
            f"checked it ({', '.join(lost)}: {_reason(answers[lost[0]])})",
            str(client.scheduler.address),
            "look at the workers' logs (killed? out of memory?), start workers again "
            "(`dask worker ADDRESS`) and rerun",
        )
    for address, facts in sorted(answers.items()):
        if address in lost:
            continue  # died meanwhile: the scheduler reschedules its work on the others
        if isinstance(facts, BaseException):
            problems.append(f"{address}: cannot run hepfm ({_reason(facts)})")
        elif facts.get("code") != mine:
            problems.append(
                f"{address}: runs other hepfm code (version {facts.get('hepfm')}, code "
                f"{facts.get('code')}; this process: {mine})"
            )
    if problems:
        raise ClusterError(
            "some Dask workers cannot run this hepfm: " + "; ".join(problems),
            str(client.scheduler.address),
            "start the workers from this project's environment (`uv run dask worker ...`, "
            "the same checkout or installed version)",
        )
    return {a: f for a, f in answers.items() if not isinstance(f, BaseException)}


def _lost(answer: object) -> bool:
    """Whether a worker's answer says it could not be reached (it died, or its connection
    closed), rather than that it ran and failed."""
    return isinstance(answer, OSError | TimeoutError | EOFError)


def _reason(exc: object) -> str:
    return f"{type(exc).__name__}: {exc}"
