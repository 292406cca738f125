"""``hepfm events`` on a real two-worker cluster: the selection computed per partition on
the workers, only the shown events' pass rows shipped, and the JSON equal to one process's
(events, scores, causes, tracks, residuals, summary) but for ``provenance.cluster``."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core import cli
from hepfm_core.engine.scoring.run import CHUNK_EVENTS

PARTITION = CHUNK_EVENTS  # the small demo's 20,000 background events: three partitions


def run_events(capsys, *argv: str) -> tuple[int, str, str]:
    """``hepfm events`` through ``cli.main`` (a ``HepfmError``: exit 2)."""
    code = cli.main(["events", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_base(small_demo) -> list[str]:
    data_dir, model = small_demo
    return ["--data", str(data_dir), "--model", str(model), "--quiet"]


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> dict[str, str]:
    return {
        "single": str(tmp_path_factory.mktemp("single-cache")),
        "cluster": str(tmp_path_factory.mktemp("cluster-cache")),
    }


CASES = {
    "cause": ["--sample", "background", "--cause", "kl_overflow", "--score", "kl", "--no-clip"],
    "imputed": ["--sample", "background", "--cause", "imputed", "--limit", "3", "--page", "2"],
    "top-inf": ["--sample", "background", "--top", "30", "--score", "kl", "--no-clip"],
    "top": ["--sample", "wprime_qq", "--top", "25", "--limit", "10", "--page", "3"],
    "range": ["--sample", "background", "--range", "30", "40", "--limit", "15"],
    "range-inf": [
        *("--sample", "background", "--range", "40", "inf", "--score", "kl", "--no-clip"),
    ],
}


def _both(capsys, strict_json, demo_base, caches, dask_cluster, argv):
    code, out, err = run_events(
        capsys, *demo_base, "--cache-dir", caches["single"], *argv, "--json", "-"
    )
    assert code == 0, err
    single = strict_json(out)
    code, out, err = run_events(
        capsys,
        *demo_base,
        *("--cache-dir", caches["cluster"], *argv, "--json", "-"),
        *("--scheduler", dask_cluster, "--partition-events", str(PARTITION)),
    )
    assert code == 0, err
    merged = strict_json(out)
    return single, merged


@pytest.mark.parametrize("policy", ["worst", "drop"])
@pytest.mark.parametrize("case", list(CASES))
def test_events_on_two_workers_equal_one_process(
    case, policy, capsys, strict_json, demo_base, caches, dask_cluster
):
    single, merged = _both(
        capsys, strict_json, demo_base, caches, dask_cluster, [*CASES[case], "--policy", policy]
    )
    cluster = merged["provenance"].pop("cluster")
    assert cluster["partition_events"] == PARTITION and cluster["workers"] == 2
    single["provenance"].pop("date"), merged["provenance"].pop("date")
    assert merged["events"], "the case selects no event: it tests nothing"
    assert [e["event"] for e in merged["events"]] == [e["event"] for e in single["events"]]
    assert merged["selection"] == single["selection"]
    assert merged["events"] == single["events"]  # scores, causes, tracks, residuals
    assert merged["summary"] == single["summary"]
    assert merged == single


def test_top_under_worst_ranks_the_overflows_first_on_the_cluster(
    capsys, strict_json, demo_base, caches, dask_cluster
):
    """The +inf of ``worst`` across partitions: the KL overflows come first, by event index."""
    _, merged = _both(capsys, strict_json, demo_base, caches, dask_cluster, CASES["top-inf"])
    causes = [e["cause"] for e in merged["events"]]
    first = [e["event"] for e in merged["events"] if e["cause"] != "ok"]
    assert causes[: len(first)] == [c for c in causes if c != "ok"]
    assert first == sorted(first) and len({e // PARTITION for e in first}) > 1


def test_empty_range_on_the_cluster_names_the_kept_scores(demo_base, caches, dask_cluster, capsys):
    code, _, err = run_events(
        capsys,
        *demo_base,
        *("--cache-dir", caches["cluster"], "--sample", "background", "--range", "1e300", "inf"),
        *("--policy", "drop", "--json", "-", "--scheduler", dask_cluster),
        *("--partition-events", str(PARTITION)),
    )
    assert code == 2
    assert "no event of background" in err and "--range" in err and "what to do:" in err
    assert "the kept finite scores of background lie in [" in err and "Traceback" not in err
    lo, hi = (float(v) for v in err.split("lie in [")[1].split("]")[0].split(", "))
    assert 0 < lo <= hi < np.inf


@pytest.mark.parametrize("policy", ["worst", "drop"])
def test_dashboard_looks_at_events_on_the_cluster(policy, dask_cluster, small_demo, tmp_path):
    """The app's investigation with ``-- --scheduler``: ``db.look`` selects on the workers;
    the selection, its summary and a page of details equal one process's."""
    from hepfm_core.cluster.connect import ClusterSpec, open_cluster
    from hepfm_core.cluster.evaluator import ClusterEvaluator
    from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
    from hepfm_core.engine.investigate.events import Criterion
    from hepfm_core.views import dashboard as db
    from hepfm_core.views.page_state import EventRequest

    data, model = small_demo
    settings = EvaluationSettings(score="kl", clip=None, policy=policy)
    single = Evaluator.open(data, model, cache=tmp_path / "c1")
    with open_cluster(ClusterSpec(scheduler=dask_cluster)) as cluster:
        remote = ClusterEvaluator.open(
            data, model, cluster=cluster, cache=tmp_path / "c2", partition_events=PARTITION
        )
        here, there = db.shared_investigator(single), db.shared_investigator(remote)
        assert here is not None and there is not None
        results = (single.evaluate(settings), remote.evaluate(settings))
        for criterion in (Criterion.by_cause("kl_overflow"), Criterion.top(12)):
            asked = EventRequest("background", criterion)
            a, b = db.look(here, results[0], asked), db.look(there, results[1], asked)
            assert a.selection is not None and b.selection is not None, (a.message, b.message)
            np.testing.assert_array_equal(a.selection.events, b.selection.events)
            np.testing.assert_array_equal(a.selection.scores, b.selection.scores)
            assert a.summary is not None and b.summary is not None
            assert a.summary.to_json_dict() == b.summary.to_json_dict()
            da, dbb = here.details(a.selection, limit=5), there.details(b.selection, limit=5)
            assert [d.to_json_dict() for d in da] == [d.to_json_dict() for d in dbb]
        latent = db.attempt(lambda: there.latent(settings, "background"))[1]
        assert latent is not None and "stay on the cluster" in str(latent)
