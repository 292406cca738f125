"""A worker's own state: its thread pools from its Dask threads, large freed blocks given
back (the model and data opened once per worker: tested through the cluster's evaluations)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from hepfm_core.cluster import worker_state


def test_client_run_gives_the_worker_its_threads():
    worker = SimpleNamespace(state=SimpleNamespace(nthreads=1))
    assert worker_state.worker_threads(worker) == 1
    assert worker_state.worker_threads() is None  # outside a worker
    assert worker_state.limit_threads(None) == {}


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_a_worker_gives_large_freed_blocks_back():
    assert worker_state.return_large_frees() is True
