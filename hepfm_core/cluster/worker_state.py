"""A worker's own state: its thread pools sized to its Dask threads (TensorFlow, Blosc2), freed
large blocks given back to the system, the data sets and models it has opened (once per
process), what it reports of itself, its warm-up and its peak memory."""

from __future__ import annotations

import hashlib
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.dataset import DataSet
from ..engine.scoring.run import (
    CHUNK_EVENTS,
    SCORING_VERSION,
    forward_for,
)
from ..errors import HepfmError
from ..sources import describe_model, load_model, open_data
from ..vocabulary import Fill, SignalNormalisation

__all__ = [
    "MMAP_THRESHOLD",
    "DataRef",
    "code_fingerprint",
    "dataset_of",
    "limit_threads",
    "model_of",
    "peak_rss_bytes",
    "return_large_frees",
    "warm_up",
    "worker_facts",
    "worker_name",
    "worker_threads",
]


# -- worker state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DataRef:
    """How a worker opens the client's data folder (``sources.open_data``'s arguments)."""

    path: str
    signal_normalisation: SignalNormalisation
    fill: Fill


_state_lock = threading.Lock()


_data: dict[DataRef, DataSet] = {}


_models: dict[str, Any] = {}


def worker_threads(dask_worker: Any = None) -> int | None:
    """The threads of the Dask worker running this task (or of ``dask_worker``, what
    ``Client.run`` passes: there ``get_worker`` finds none); None outside a worker."""
    if dask_worker is not None:
        return int(dask_worker.state.nthreads)
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def limit_threads(threads: int | None) -> dict[str, int]:
    """The thread pools of this worker process sized to its ``threads`` (None: left alone),
    before TensorFlow starts: two workers of one thread on two cores must not each run
    pools of two. TensorFlow's intra-op pool (and XLA's CPU pool) gets ``threads``, its
    inter-op pool one; Blosc2's decoder ``threads``. (BLAS and OpenMP read the one-thread
    environment the Dask nanny gives its workers.) Returns the sizes in force, 0 for a
    pool left to its default (TensorFlow started before, in this process)."""
    if threads is None:
        return {}
    import tensorflow as tf

    from ..data.chunk_codec import limit_decoder_threads

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already started in this process: it keeps its pools
        pass
    return {
        "tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "blosc2": limit_decoder_threads(threads),
    }


MMAP_THRESHOLD = 1 << 20
"""Bytes from which this worker's allocations are their own maps (glibc ``mallopt``)."""


def return_large_frees() -> bool:
    """glibc's allocator told to map every allocation of ``MMAP_THRESHOLD`` bytes or more
    on its own, so that freeing it gives the memory back to the system at once. By default
    the threshold rises to the largest block freed (up to 32 MiB), after which a task's
    partition-sized temporaries come from the heap, which keeps them resident after the
    task. False where the C library is not glibc (nothing is changed)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if platform.system() != "Linux" or name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_mmap_threshold = -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def dataset_of(ref: DataRef) -> DataSet:
    with _state_lock:
        if ref not in _data:
            _data[ref] = open_data(
                ref.path, signal_normalisation=ref.signal_normalisation, fill=ref.fill
            )
        return _data[ref]


def model_of(path: str, fingerprint: str, threads: int | None = None):
    with _state_lock:
        if fingerprint not in _models:
            found = describe_model(path).fingerprint
            if found != fingerprint:
                raise HepfmError(
                    f"the worker {worker_name()} reads another model at {path} "
                    f"(fingerprint {found}, the client's {fingerprint})",
                    path,
                    "give the workers the same model file as the client (a shared filesystem)",
                )
            limit_threads(threads if threads is not None else worker_threads())
            if worker_threads() is not None or threads is not None:  # a worker's process
                return_large_frees()
            _models[fingerprint] = load_model(path)
        return _models[fingerprint]


def worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"process {os.getpid()} on {platform.node()}"


# -- identity -------------------------------------------------------------------------------
def code_fingerprint() -> str:
    """A hash of hepfm's own source files: two processes with the same one compute alike."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.blake2b(digest_size=8)
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def worker_facts(dask_worker: Any = None) -> dict[str, Any]:
    """What the client checks on every worker before it sends work (``Client.run`` passes
    the worker as ``dask_worker``)."""
    from .. import __version__

    threads = worker_threads() if dask_worker is None else int(dask_worker.state.nthreads)

    return {
        "hepfm": __version__,
        "code": code_fingerprint(),
        "scoring_version": SCORING_VERSION,
        "python": platform.python_version(),
        "host": platform.node(),
        "pid": os.getpid(),
        "threads": threads,
    }


def warm_up(model_path: str, model_fingerprint: str, dask_worker: Any = None) -> float:
    """Load the model on this worker and compile its forward function (one chunk of zeros):
    the seconds it took. Run on every worker (``Client.run``, which passes ``dask_worker``:
    the thread pools are sized to its threads first) before timing a pass."""
    t0 = time.perf_counter()
    model = model_of(model_path, model_fingerprint, worker_threads(dask_worker))
    forward = forward_for(model)
    size = forward.chunk_events or CHUNK_EVENTS
    forward(np.zeros((size, model.config.input_dim), dtype=np.float32))
    return time.perf_counter() - t0


def peak_rss_bytes() -> int:
    """This process's peak resident memory (Linux counts ``ru_maxrss`` in KiB)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
