"""Waiting on a cluster ends when its scheduler has no worker left (issue 23, faults 5)."""

from __future__ import annotations

import time

import pytest

from hepfm_core.cluster import watch
from hepfm_core.cluster.connect import Cluster, ClusterSpec
from hepfm_core.errors import ClusterError


@pytest.fixture
def one_worker():
    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None)
    client = Client(local)
    spec = ClusterSpec(scheduler=local.scheduler_address, no_worker_timeout=2.0)
    cluster = Cluster(spec, client, local)
    yield cluster
    cluster.close()


def test_gather_waits_for_work_while_a_worker_lives(one_worker):
    slow = one_worker.client.submit(lambda: (time.sleep(3.0), 7)[1], pure=False)
    assert watch.gather(one_worker, {"x": [slow]}) == {"x": [7]}  # longer than the timeout


def test_every_worker_dead_ends_the_wait_with_a_cluster_error(one_worker):
    client = one_worker.client
    client.retire_workers(close_workers=True)
    deadline = time.monotonic() + 10
    while watch.n_workers(one_worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert watch.n_workers(one_worker) == 0
    future = client.submit(sum, [1, 2], pure=False)
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=r"no worker for 2 s") as err:
        watch.gather(one_worker, [future])
    assert 2.0 <= time.monotonic() - t0 < 6.0
    assert "start workers again" in str(err.value)
    with pytest.raises(ClusterError):
        list(watch.completed(one_worker, [future]))


def test_broadcasts_under_the_same_names_keep_their_own_values(one_worker):
    """Two broadcasts under the same signal names, the first's futures still held: each
    task reads its own broadcast's value (``client.scatter`` of a dict would have used the
    names as keys, and the second would have read the first's values)."""
    import numpy as np

    first = watch.broadcast(one_worker, {"wprime_qq": np.arange(3.0)})
    second = watch.broadcast(one_worker, {"wprime_qq": ("paired", np.arange(5.0))})
    assert watch.broadcast(one_worker, {}) == {}
    client = one_worker.client
    got_first = client.submit(lambda v: v.sum(), first["wprime_qq"], pure=False)
    got_second = client.submit(lambda v: (v[0], v[1].size), second["wprime_qq"], pure=False)
    assert watch.gather(one_worker, [got_first, got_second]) == [3.0, ("paired", 5)]
    assert first["wprime_qq"].key != second["wprime_qq"].key
