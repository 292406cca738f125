"""Scaling of the Dask cluster path: 1 and 2 local workers, the seed's size and three times it.

For each background size (2,727,612 events, the seed's, and 8,182,836, three times it; or
300k / 900k with ``--quick``) and each local cluster (1 and 2 worker processes of one thread,
TensorFlow limited to that thread), in a fresh cluster and an empty cache:

- scoring: wall time of ``ClusterEvaluator.score_all`` over every sample (background and
  signals), as events/s, after every worker has loaded and compiled the model
  (``tasks.warm_up``, reported apart); CPU seconds per event summed over the scoring tasks;
- recompute after a clip change through the cluster: ``evaluate`` once (which prepares the
  partitions on the workers), then the median of 5 evaluations at other clips;
- peak RSS per worker (``tasks.peak_rss_bytes``; it counts touched pages of memory-mapped
  shards too).

Ratios: 2 workers against 1 (goal >= 1.7), wall time per event at 3x the size against the
seed's (goal: within 15 %), recompute at the large size (goal <= 1 s), RSS (goal <= 1.5 GiB,
flat in events). Then the projection to 10^9 events on 100 workers.

The data: the seed-size folder of ``bench_engine.py`` (``benchmarks/.data/full``, its model
trained there), and a 3x background written by ``data.generator.generate_dataset`` (seed 43,
same generator and signal sizes) under ``benchmarks/.data/scale-3x``; the model is the
seed-size one for both (speed does not depend on what it learnt). ``--json OUT`` writes the
figures as one flat JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
DATA_ROOT = HERE / ".data"
SEED_EVENTS = 2_727_612
QUICK_EVENTS = 300_000
SIGNAL_EVENTS = 10_000
GIB = 2**30

GOAL_SPEEDUP_2_WORKERS = 1.7
GOAL_RECOMPUTE_S = 1.0
GOAL_RSS_GIB = 1.5
GOAL_COST_DRIFT = 0.15


def ensure_data(folder: Path, n_background: int, seed: int) -> Path:
    """A hepfm data folder of ``n_background`` events (written once, then reused)."""
    from hepfm_core.data.generator import GeneratorConfig, generate_dataset

    if (folder / "background.h5").exists():
        return folder
    print(f"writing {n_background:,} background events to {folder} (once)", flush=True)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    generate_dataset(tmp, n_background, SIGNAL_EVENTS, GeneratorConfig(seed=seed), None)
    tmp.rename(folder)
    return folder


def ensure_model(folder: Path, n_background: int) -> Path:
    """The seed-size demo and its model, as ``bench_engine.py`` writes them."""
    from hepfm_core.demo import make_demo

    model = folder / "model.keras"
    if not model.exists():
        print(f"writing the {n_background:,}-event demo and its model (once)", flush=True)
        make_demo(folder, n_background=n_background, n_signal=SIGNAL_EVENTS, seed=42)
    return model


def measure(
    data: Path, model: Path, workers: int, partition_events: int, recomputes: int = 5
) -> dict:
    """One fresh local cluster of ``workers`` one-thread workers on ``data``."""
    from hepfm_core.cluster import tasks
    from hepfm_core.cluster.connect import ClusterSpec, open_cluster
    from hepfm_core.cluster.evaluator import ClusterEvaluator
    from hepfm_core.engine.evaluate import EvaluationSettings

    cache = Path(tempfile.mkdtemp(prefix="hepfm-scale-"))
    try:
        with open_cluster(ClusterSpec(workers=workers, threads_per_worker=1)) as cluster:
            ev = ClusterEvaluator.open(
                data, model, cluster=cluster, cache=cache, partition_events=partition_events
            )
            client = cluster.client
            t0 = time.perf_counter()
            client.run(tasks.warm_up, str(ev.model_path), ev.model_info.fingerprint)
            warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            shards = ev.score_all()
            scoring = time.perf_counter() - t0
            n = sum(s.n_events for s in ev.data.samples.values())
            task_seconds = sum(r.seconds for refs in shards.values() for r in refs)
            settings = EvaluationSettings(score="kl", clip=(-20.0, 20.0))
            t0 = time.perf_counter()
            ev.evaluate(settings)
            first = time.perf_counter() - t0
            times = []
            for c in (5.0, 8.0, 12.0, 30.0, 60.0)[:recomputes]:
                t0 = time.perf_counter()
                ev.evaluate(EvaluationSettings(score="kl", clip=(-c, c)))
                times.append(time.perf_counter() - t0)
            rss = client.run(tasks.peak_rss_bytes)
            n_partitions = sum(len(refs) for refs in shards.values())
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "workers": workers,
        "events": n,
        "background_events": ev.data.background.n_events,
        "partitions": n_partitions,
        "warm_up_s": warm,
        "scoring_s": scoring,
        "scoring_ev_s": n / scoring,
        "scoring_task_us_per_event": 1e6 * task_seconds / n,
        "first_evaluate_s": first,
        "recompute_s": statistics.median(times),
        "peak_rss_gib": max(rss.values()) / GIB,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="300k and 900k background events")
    p.add_argument("--json", default=None, help="write the figures as flat JSON here")
    p.add_argument(
        "--partition-events",
        type=int,
        default=None,
        help="events per partition (default: the cluster evaluator's; 65,536 with --quick)",
    )
    args = p.parse_args(argv)
    from hepfm_core.cluster.evaluator import DEFAULT_PARTITION_EVENTS

    partition_events = args.partition_events or (
        8 * 8192 if args.quick else DEFAULT_PARTITION_EVENTS
    )
    small_n = QUICK_EVENTS if args.quick else SEED_EVENTS
    small = DATA_ROOT / ("quick" if args.quick else "full")
    model = ensure_model(small, small_n)
    large = ensure_data(
        DATA_ROOT / ("scale-3x-quick" if args.quick else "scale-3x"), 3 * small_n, 43
    )

    rows = {}
    for size, data in (("seed", small), ("3x", large)):
        for workers in (1, 2):
            print(f"measuring {size} size with {workers} worker(s) ...", flush=True)
            rows[(size, workers)] = measure(data, model, workers, partition_events)
            r = rows[(size, workers)]
            print(
                f"  {r['background_events']:,} background events, {r['partitions']} "
                f"partitions: scoring {r['scoring_s']:.1f} s ({r['scoring_ev_s'] / 1e6:.3f} M "
                f"ev/s; warm-up {r['warm_up_s']:.1f} s), task CPU "
                f"{r['scoring_task_us_per_event']:.2f} us/ev, recompute "
                f"{r['recompute_s'] * 1e3:.0f} ms (first {r['first_evaluate_s']:.2f} s), peak "
                f"RSS per worker {r['peak_rss_gib']:.2f} GiB",
                flush=True,
            )

    speedup_seed = rows[("seed", 2)]["scoring_ev_s"] / rows[("seed", 1)]["scoring_ev_s"]
    speedup_3x = rows[("3x", 2)]["scoring_ev_s"] / rows[("3x", 1)]["scoring_ev_s"]
    drift = rows[("seed", 2)]["scoring_ev_s"] / rows[("3x", 2)]["scoring_ev_s"] - 1.0
    drift_1 = rows[("seed", 1)]["scoring_ev_s"] / rows[("3x", 1)]["scoring_ev_s"] - 1.0
    recompute = rows[("3x", 2)]["recompute_s"]
    rss = max(r["peak_rss_gib"] for r in rows.values())
    rss_growth = rows[("3x", 2)]["peak_rss_gib"] / rows[("seed", 2)]["peak_rss_gib"]
    # Projection: 100 workers of one thread each, each scoring at the one-worker rate times
    # the two-worker efficiency; recompute grows with the events per worker (4.1 M -> 10 M).
    per_worker = rows[("3x", 1)]["scoring_ev_s"] * min(1.0, speedup_3x / 2)
    projected_scoring = 1e9 / (100 * per_worker)
    per_worker_events = rows[("3x", 2)]["background_events"] / 2
    projected_recompute = recompute * (1e9 / 100) / per_worker_events

    g2, gr, gm, gd = GOAL_SPEEDUP_2_WORKERS, GOAL_RECOMPUTE_S, GOAL_RSS_GIB, GOAL_COST_DRIFT
    checks = [
        (
            "2 workers vs 1, scoring (seed size)",
            f"x{speedup_seed:.2f}",
            f">= x{g2}",
            speedup_seed >= g2,
        ),
        ("2 workers vs 1, scoring (3x size)", f"x{speedup_3x:.2f}", f">= x{g2}", speedup_3x >= g2),
        ("recompute at 3x size, 2 workers", f"{recompute:.3f} s", f"<= {gr} s", recompute <= gr),
        ("peak RSS per worker (max)", f"{rss:.2f} GiB", f"<= {gm} GiB", rss <= gm),
        (
            "wall per event, 3x vs seed (2 workers)",
            f"{drift:+.1%}",
            f"within {gd:.0%}",
            abs(drift) <= gd,
        ),
        (
            "wall per event, 3x vs seed (1 worker)",
            f"{drift_1:+.1%}",
            f"within {gd:.0%}",
            abs(drift_1) <= gd,
        ),
    ]
    print()
    print(f"{'measurement':42s} {'value':>12s} {'goal':>14s}")
    for name, value, goal, ok in checks:
        print(f"{name:42s} {value:>12s} {goal:>14s}  {'met' if ok else 'NOT met'}")
    print(
        f"\nprojection, 10^9 events on 100 one-thread workers: scoring "
        f"{projected_scoring / 60:.1f} min ({per_worker / 1e3:.0f} k ev/s per worker), recompute "
        f"after a clip change about {projected_recompute:.1f} s (10^7 events per worker) plus "
        f"the merge on the client"
    )
    if args.json:
        flat = {f"{size}_{w}w_{k}": v for (size, w), r in rows.items() for k, v in r.items()} | {
            "speedup_2_workers_seed": speedup_seed,
            "speedup_2_workers_3x": speedup_3x,
            "cost_per_event_drift_2w": drift,
            "cost_per_event_drift_1w": drift_1,
            "recompute_3x_2w_s": recompute,
            "peak_rss_gib_max": rss,
            "peak_rss_growth_3x_vs_seed_2w": rss_growth,
            "projected_1e9_on_100_workers_scoring_s": projected_scoring,
            "projected_1e9_on_100_workers_recompute_s": projected_recompute,
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "quick": args.quick,
            "partition_events": partition_events,
        }
        Path(args.json).write_text(json.dumps(flat, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
