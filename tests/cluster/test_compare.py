"""``hepfm evaluate`` with several ``--model`` on a real two-worker cluster: the events paired
on the workers (``cluster.compare``), and the ``models`` and ``comparisons`` JSON equal to one
process's, every number (AUCs, delta AUC and its error, DeLong z and p, Holm, efficiencies,
pair counts, seed spreads), but for ``provenance.cluster``."""

from __future__ import annotations

import pytest
from distributed import wait

from hepfm_core import cli
from hepfm_core.cluster import compare as cluster_compare
from hepfm_core.cluster import evaluator as cluster_evaluator
from hepfm_core.cluster.connect import ClusterSpec, open_cluster
from hepfm_core.cluster.evaluator import ClusterEvaluator
from hepfm_core.engine.compare.models import ModelSet
from hepfm_core.engine.compare.specs import parse_model_specs
from hepfm_core.engine.distributed.order_statistics import merge_windows
from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.engine.scoring.run import CHUNK_EVENTS
from hepfm_core.errors import SettingsError

PARTITION = CHUNK_EVENTS  # the small demo's 20,000 background events: three partitions


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> dict[str, str]:
    return {
        "single": str(tmp_path_factory.mktemp("single-cache")),
        "cluster": str(tmp_path_factory.mktemp("cluster-cache")),
    }


def evaluate(capsys, strict_json, *argv: str) -> dict:
    code = cli.main(["evaluate", *argv, "--quiet", "--json", "-"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return strict_json(out)


CASES = {
    # +inf under worst: the KL overflows tie at the top of both models' backgrounds
    "worst-inf": ["--policy", "worst", "--score", "kl", "--no-clip"],
    "drop": ["--policy", "drop", "--score", "total", "--clip", "-20", "20"],
    "reconstruction": ["--policy", "worst", "--score", "reconstruction"],
}


def _both(capsys, strict_json, small_demo, second_model, caches, dask_cluster, models, argv):
    data, _ = small_demo
    base = ["--data", str(data), *(a for m in models for a in ("--model", m)), *argv]
    single = evaluate(capsys, strict_json, *base, "--cache-dir", caches["single"])
    merged = evaluate(
        capsys,
        strict_json,
        *base,
        *("--cache-dir", caches["cluster"], "--scheduler", dask_cluster),
        *("--partition-events", str(PARTITION)),
    )
    cluster = merged["provenance"].pop("cluster")
    assert cluster["partition_events"] == PARTITION and cluster["workers"] == 2
    assert "cluster" not in single["provenance"]
    for doc in (single, merged):
        doc["provenance"].pop("date", None)
    return single, merged


def _pair(small_demo, second_model) -> list[str]:
    return [str(small_demo[1]), f"small={second_model}"]


def assert_same_comparison(single: dict, merged: dict) -> None:
    """Every number equal: the test's and efficiencies' arithmetic runs on the same integers
    (counts, placement sums, selected ranks) in the same order, so no tolerance is needed."""
    assert merged["comparisons"], "no comparison: the case tests nothing"
    tested = [c for c in single["comparisons"] if c["status"] == "ok"]
    assert tested, "no comparison with a test"
    for a, b in zip(single["comparisons"], merged["comparisons"], strict=True):
        for key in ("auc_a", "auc_b", "delta_auc", "delta_auc_err", "z", "p_value"):
            assert b[key] == a[key], (a["signal"], key)
        assert b["p_value_holm"] == a["p_value_holm"]
        assert b["pairs"] == a["pairs"]
        assert b["eff_sig_differences"] == a["eff_sig_differences"]
        assert b == a
    assert merged["models"] == single["models"]
    assert merged == single


@pytest.mark.parametrize("case", list(CASES))
def test_comparison_on_two_workers_equals_one_process(
    case, capsys, strict_json, small_demo, second_model, caches, dask_cluster
):
    single, merged = _both(
        capsys,
        strict_json,
        small_demo,
        second_model,
        caches,
        dask_cluster,
        _pair(small_demo, second_model),
        CASES[case],
    )
    assert_same_comparison(single, merged)
    if case == "worst-inf":
        overflows = [m["samples"]["background"]["causes"] for m in merged["models"].values()]
        assert max(c["kl_overflow"] for c in overflows) > 0  # +inf kept: ties exercised


def test_seed_group_and_sketched_background_on_the_cluster(
    capsys, strict_json, small_demo, second_model, caches, dask_cluster, monkeypatch
):
    """A seed group (its spread, the group verdict) and a background beyond the top-scores
    budget (each model's working points read from sketches and windows): the same JSON."""
    monkeypatch.setattr(cluster_evaluator, "TOP_SCORES_BUDGET", 0)
    windows = []

    def spy(parts, planned):
        windows.append(planned)
        return merge_windows(parts, planned)

    monkeypatch.setattr(cluster_compare, "merge_windows", spy)
    models = [f"g={small_demo[1]},{second_model}", f"small={second_model}"]
    single, merged = _both(
        capsys,
        strict_json,
        small_demo,
        second_model,
        caches,
        dask_cluster,
        models,
        ["--policy", "worst"],
    )
    assert_same_comparison(single, merged)
    assert windows and all(windows), "the pairs' windows' round did not run"
    assert all(c["seed_spread"] is not None for c in merged["comparisons"])
    effs = [e for c in merged["comparisons"] for e in c["eff_sig_differences"].values()]
    assert any(e["delta_eff_sig"] is not None for e in effs)  # the working points were read


def test_pairs_are_formed_where_model_a_lives(small_demo, second_model, tmp_path, dask_cluster):
    """Each partition's pairs are computed on the worker holding model A's partition, and
    what comes back is the comparison, not the background's scores."""
    data, model = small_demo
    settings = EvaluationSettings(score="kl", clip=(-20.0, 20.0), policy="worst")
    with open_cluster(ClusterSpec(scheduler=dask_cluster)) as cluster:
        opener = ClusterEvaluator.opener(cluster, cache=tmp_path, partition_events=PARTITION)
        models = ModelSet.open(
            data, parse_model_specs([str(model), f"small={second_model}"]), opener=opener
        )
        models.score_all()
        a, b = (ev for _, ev in models.evaluators())
        pairing = a.pairing_with(b, settings)
        pairs = pairing.pairs("background")
        wait(pairs)
        homes = cluster.client.who_has(pairs)
        # A's prepared partitions (its guarded ones are computed beside them)
        prepared = a._prepared_parts("background", settings.kl_form)
        held = cluster.client.who_has(prepared)
        assert len(pairs) == 3 and len({w for ws in held.values() for w in ws}) == 2
        for p, f in zip(prepared, pairs, strict=True):
            assert set(homes[f.key]) == set(held[p.key])
        counts = pairing.counts("background")
        n = data_events = a.data.samples["background"].n_events
        total = counts.both + counts.dropped_a_only + counts.dropped_b_only + counts.dropped_both
        assert total == n == data_events and counts.both > 0
        compared = models.evaluate(settings)
        assert all(c.test.ok for c in compared.comparisons)
        assert [c.background for c in compared.comparisons] == [counts] * len(compared.comparisons)


def test_a_model_elsewhere_is_refused(small_demo, second_model, tmp_path, dask_cluster):
    """A comparison pairs events where both models' scores live: a model in this process
    against one on the cluster is a clear error, not a silent gather."""
    data, model = small_demo
    with open_cluster(ClusterSpec(scheduler=dask_cluster)) as cluster:
        there = ClusterEvaluator.open(data, model, cluster=cluster, cache=tmp_path)
        from hepfm_core.engine.evaluate import Evaluator

        here = Evaluator.open(data, second_model, cache=tmp_path)
        settings = EvaluationSettings(score="kl", clip=(-20.0, 20.0))
        with pytest.raises(SettingsError, match="was not scored on the cluster"):
            there.pairing_with(here, settings)
        other = ClusterEvaluator.open(
            data, second_model, cluster=cluster, cache=tmp_path, partition_events=2 * PARTITION
        )
        with pytest.raises(SettingsError, match="partitions of"):
            there.pairing_with(other, settings)


def test_scores_out_and_report_of_a_comparison_on_the_cluster(
    capsys, small_demo, second_model, caches, dask_cluster, tmp_path
):
    """``--scores-out`` of several models on the cluster streams each model's files, equal to
    one process's; ``hepfm report`` of the comparison runs there too."""
    import polars as pl

    data, _ = small_demo
    base = [
        "--data",
        str(data),
        *(a for m in _pair(small_demo, second_model) for a in ("--model", m)),
    ]
    cluster = ["--scheduler", dask_cluster, "--partition-events", str(PARTITION)]
    for name, extra in (("single", []), ("cluster", cluster)):
        argv = ["evaluate", *base, "--quiet", "--cache-dir", caches[name], *extra]
        argv += ["--signals", "wprime_qq", "--scores-out", str(tmp_path / name)]
        assert cli.main(argv) == 0
    capsys.readouterr()
    files = sorted(
        p.relative_to(tmp_path / "single") for p in (tmp_path / "single").rglob("*.parquet")
    )
    assert "small" in {f.parts[0] for f in files} and len(files) == 2 * 2  # models x samples
    assert files == sorted(
        p.relative_to(tmp_path / "cluster") for p in (tmp_path / "cluster").rglob("*.parquet")
    )
    for f in files:
        assert pl.read_parquet(tmp_path / "single" / f).equals(
            pl.read_parquet(tmp_path / "cluster" / f)
        )
    out = tmp_path / "report.html"
    argv = [
        "report",
        *base,
        "--quiet",
        "--cache-dir",
        caches["cluster"],
        *cluster,
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert "small" in out.read_text()
