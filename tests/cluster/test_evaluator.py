"""hepfm_core.cluster.evaluator: on a real two-worker cluster, the very result of one process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hepfm_core.cli import main
from hepfm_core.cluster import evaluator as cluster_evaluator
from hepfm_core.cluster.connect import ClusterSpec, open_cluster
from hepfm_core.cluster.evaluator import (
    ClusterEvaluator,
    check_partition_events,
    partition_bounds,
)
from hepfm_core.data.hepfm_format import read_identity
from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
from hepfm_core.engine.scoring.run import CHUNK_EVENTS
from hepfm_core.errors import SettingsError

PARTITION = CHUNK_EVENTS  # the small demo's 20,000 background events: three partitions


def run_evaluate(tmp: Path, name: str, demo, *extra: str, strict_json) -> dict:
    data, model = demo
    out = tmp / f"{name}.json"
    argv = ["evaluate", "--data", str(data), "--model", str(model), "--json", str(out)]
    argv += ["--quiet", "--score", "kl", "--clip", "-20", "20", *extra]
    assert main(argv) == 0
    return strict_json(out.read_text())


def assert_same_result(single: dict, merged: dict) -> None:
    """Counts identical, every metric within 1e-12 (in fact equal), same structure."""
    assert merged["settings"] == single["settings"]
    assert merged["samples"] == single["samples"]
    assert merged["signals"].keys() == single["signals"].keys()
    for name, sig in single["signals"].items():
        other = merged["signals"][name]
        assert other["status"] == sig["status"]
        if sig["auc"] is not None:
            assert abs(other["auc"] - sig["auc"]) <= 1e-12
        assert other == sig
    for key in ("model", "data", "fingerprints", "fill"):
        assert merged["provenance"][key] == single["provenance"][key]


@pytest.mark.parametrize("policy", ["worst", "drop"])
def test_cli_on_two_workers_equals_one_process(
    policy, dask_cluster, small_demo, tmp_path, strict_json
):
    single = run_evaluate(
        tmp_path,
        "single",
        small_demo,
        "--policy",
        policy,
        "--cache-dir",
        str(tmp_path / "c1"),
        strict_json=strict_json,
    )
    merged = run_evaluate(
        tmp_path,
        "cluster",
        small_demo,
        "--policy",
        policy,
        "--cache-dir",
        str(tmp_path / "c2"),
        "--scheduler",
        dask_cluster,
        "--partition-events",
        str(PARTITION),
        strict_json=strict_json,
    )
    assert_same_result(single, merged)
    assert "cluster" not in single["provenance"]
    cluster = merged["provenance"]["cluster"]
    assert cluster["scheduler"] == dask_cluster
    assert cluster["workers"] == 2 and cluster["threads"] == 2
    assert cluster["partition_events"] == PARTITION
    # the shards: whole chunks, three for the background, published, nothing half-written
    shards = sorted((tmp_path / "c2" / "shards").glob("*/*"))
    n_bkg = merged["samples"]["background"]["total"]
    assert len(shards) == len(partition_bounds(n_bkg, PARTITION)) + len(merged["signals"])
    assert all((s / "meta.json").is_file() for s in shards)


def test_scores_out_streams_the_same_files(dask_cluster, small_demo, tmp_path, strict_json):
    for name, extra in (("single", ()), ("cluster", ("--scheduler", dask_cluster))):
        run_evaluate(
            tmp_path,
            name,
            small_demo,
            "--cache-dir",
            str(tmp_path / name),
            "--scores-out",
            str(tmp_path / f"{name}-scores"),
            "--partition-events",
            str(PARTITION),
            *extra,
            strict_json=strict_json,
        )
    files = sorted(p.name for p in (tmp_path / "single-scores").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "cluster-scores").iterdir())
    for f in files:
        a = pl.read_parquet(tmp_path / "single-scores" / f)
        b = pl.read_parquet(tmp_path / "cluster-scores" / f)
        assert a.equals(b), f
        # the events keep their identity (the demo's synthetic run and event numbers)
        ids = read_identity((small_demo[0] / f).with_suffix(".h5"))
        ids = ids if ids is not None else {}
        assert {"run_number", "event_number"} <= set(ids) <= set(a.columns)
        for column, values in ids.items():
            np.testing.assert_array_equal(a[column].to_numpy(), values)


def test_sketched_background_gives_the_same_working_points(
    dask_cluster, small_demo, tmp_path, monkeypatch
):
    """Beyond the top-scores budget the background is sketched and read in a second round
    (``selection``): the working points and every other number stay the same."""
    monkeypatch.setattr(cluster_evaluator, "TOP_SCORES_BUDGET", 0)
    data, model = small_demo
    settings = EvaluationSettings(score="total", clip=(-20.0, 20.0), policy="worst")
    single = Evaluator.open(data, model, cache=tmp_path / "c1").evaluate(settings)
    with open_cluster(ClusterSpec(scheduler=dask_cluster)) as cluster:
        ev = ClusterEvaluator.open(
            data, model, cluster=cluster, cache=tmp_path / "c2", partition_events=PARTITION
        )
        merged = ev.evaluate(settings)
    a, b = single.to_json_dict(), merged.to_json_dict()
    assert b["signals"] == a["signals"] and b["samples"] == a["samples"]
    wps = [wp for s in a["signals"].values() for wp in s["working_points"]]
    assert any(wp["threshold"] is not None for wp in wps)


class KillAfterFirstShard:
    """A worker plugin: the worker that first finishes a scoring task (its shard published,
    its result not yet fetched) dies at once. ``marker`` makes it happen once."""

    name = "hepfm-test-kill-after-first-shard"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def setup(self, worker) -> None:
        self.worker = worker

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish != "memory" or not str(key).startswith("hepfm-score-"):
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(self.worker.address).encode())
        os.close(fd)
        os._exit(1)


def test_worker_killed_mid_pass_loses_nothing(dask_cluster, small_demo, tmp_path, strict_json):
    import cloudpickle
    from distributed import Client
    from distributed.diagnostics.plugin import WorkerPlugin

    plugin_type = type("KillPlugin", (KillAfterFirstShard, WorkerPlugin), {})
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "killed"
    with Client(dask_cluster, timeout="30s") as client:
        client.register_plugin(plugin_type(str(marker)), name=KillAfterFirstShard.name)
        try:
            merged = run_evaluate(
                tmp_path,
                "cluster",
                small_demo,
                "--cache-dir",
                str(tmp_path / "c2"),
                "--scheduler",
                dask_cluster,
                "--partition-events",
                str(PARTITION),
                strict_json=strict_json,
            )
        finally:
            client.unregister_worker_plugin(KillAfterFirstShard.name)
            cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
            client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed one
    assert marker.read_text().startswith("tcp://127.0.0.1:")  # a worker did die
    single = run_evaluate(
        tmp_path, "single", small_demo, "--cache-dir", str(tmp_path / "c1"), strict_json=strict_json
    )
    assert_same_result(single, merged)
    for sample in merged["samples"].values():
        assert sample["kept"] + sum(sample["excluded"].values()) == sample["total"]
    leftovers = [p for p in (tmp_path / "c2" / "shards").rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_partitions_are_whole_chunks():
    assert partition_bounds(20_000, 8192) == [(0, 8192), (8192, 16384), (16384, 20000)]
    assert partition_bounds(0, 8192) == [(0, 0)]
    assert check_partition_events(3 * CHUNK_EVENTS) == 3 * CHUNK_EVENTS
    for bad in (CHUNK_EVENTS + 1, CHUNK_EVENTS // 2, 0):
        with pytest.raises(SettingsError, match="multiple of the scoring chunk"):
            check_partition_events(bad)


def test_histograms_of_a_cluster_result(dask_cluster, small_demo, tmp_path):
    """A result whose scores stayed on the cluster draws the same histograms from tallies."""
    from hepfm_core.views.tables import histogram_tables

    data, model = small_demo
    settings = EvaluationSettings(score="kl", clip=(-20.0, 20.0))
    single = Evaluator.open(data, model, cache=tmp_path / "c1").evaluate(settings)
    with open_cluster(ClusterSpec(scheduler=dask_cluster)) as cluster:
        ev = ClusterEvaluator.open(
            data, model, cluster=cluster, cache=tmp_path / "c2", partition_events=PARTITION
        )
        merged = ev.evaluate(settings, n_bins=40)
    assert all(s.guarded is None for s in merged.samples.values())
    for a, b in zip(histogram_tables(single, 40), histogram_tables(merged, 40), strict=True):
        assert a.equals(b)
    with pytest.raises(ValueError, match="40 bins, not 60"):
        histogram_tables(merged, 60)
    assert np.all(merged.binned.edges > 0)
