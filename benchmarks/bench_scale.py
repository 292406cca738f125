"""Scaling of the Dask cluster path, end to end: scoring, evaluation, a clip change, the
top-100 events and a two-model comparison, on 1 and 2 local one-thread workers.

For each background size (``--events``, default the seed's 2,727,612 and three times it,
8,182,836; ``--quick``: 300k and 900k) and each local cluster (``--workers``, default 1
and 2 worker processes of one thread, TensorFlow and Blosc2 limited to that thread), in a
fresh cluster and an empty cache:

- **scoring**: wall time of ``ClusterEvaluator.score_all`` over every sample, after every
  worker has loaded and compiled the model (``worker_state.warm_up``, reported apart); the CPU
  seconds of the worker processes and of this process (client and scheduler) per event;
- **first evaluation** (it prepares every partition on the workers), then the **clip
  change**: the median of ``--recomputes`` evaluations at other clips;
- **top-100**: ``hepfm events --top 100`` through the cluster's events path (the
  background evaluated, the workers' top 100 merged, the first page of 100 events' details
  and the selection's summary; the client's decoder warmed first, reported apart);
- **comparison** of two models (the seed-size model and a second one trained with another
  seed) through ``ModelSet`` on the cluster: where this checkout has it
  (``ClusterEvaluator.opener``, issue 21 item 2), else reported as missing;
- **RSS per worker**: sampled every 50 ms from this process (``psutil``, the worker
  processes' resident memory, memory-mapped pages they touch included), the peak per
  phase, and ``ru_maxrss``; the threads per worker.

Every step reports wall and CPU time: CPU time per event is the figure to compare across
runs, as other load on the machine moves wall times; the load averages at the start and
the end are in the output. Then the goals (issue 21) and the projection to 10^9 events on
100 one-thread workers. ``--json OUT`` writes every figure as one flat JSON object.

The data: the seed-size folder and model of ``bench_engine.py`` (``benchmarks/.data/full``),
and for any other size a background written once by ``data.generator.generate_dataset``
(seed 43, streamed: bounded memory) under ``benchmarks/.data/scale-3x`` (three times the
seed) or ``benchmarks/.data/scale-<events>``; the seed-size model scores all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
DATA_ROOT = Path(os.environ.get("HEPFM_BENCH_DATA", HERE / ".data"))
"""Where the benchmarks keep their data (``$HEPFM_BENCH_DATA``, default ``benchmarks/.data``)."""
SEED_EVENTS = 2_727_612
QUICK_EVENTS = 300_000
SIGNAL_EVENTS = 10_000
GIB = 2**30
TOP_N = 100
CLIPS = (5.0, 8.0, 12.0, 30.0, 60.0)

GOAL_SPEEDUP_2_WORKERS = 1.8
GOAL_CLIP_CHANGE_S = {8_182_836: 1.0, 27_000_000: 2.0}
GOAL_TOP_S = 5.0
GOAL_RSS_GIB = 1.0
PROJECTED_EVENTS = 1e9
PROJECTED_WORKERS = 100
AUTO_PARTITIONS = 16
AUTO_MAX_FACTOR = 4
"""``--partition-events auto``: at most this many background partitions, none smaller than
the evaluator's default nor larger than ``AUTO_MAX_FACTOR`` times it (a task's temporaries
grow with its partition: about 130 MB at 1 M events)."""


# -- data ---------------------------------------------------------------------------------
def data_folder(n_background: int, quick: bool) -> Path:
    """Where the data of ``n_background`` background events are kept."""
    small = QUICK_EVENTS if quick else SEED_EVENTS
    if n_background == small:
        return DATA_ROOT / ("quick" if quick else "full")
    if n_background == 3 * small:
        return DATA_ROOT / ("scale-3x-quick" if quick else "scale-3x")
    return DATA_ROOT / f"scale-{n_background}"


def ensure_model(folder: Path, n_background: int) -> Path:
    """The seed-size demo and its model, as ``bench_engine.py`` writes them."""
    from hepfm_core.demo import make_demo

    model = folder / "model.keras"
    if not model.exists():
        print(f"writing the {n_background:,}-event demo and its model (once)", flush=True)
        make_demo(folder, n_background=n_background, n_signal=SIGNAL_EVENTS, seed=42)
    return model


def ensure_second_model(folder: Path) -> Path:
    """A second model of the same architecture, trained with another seed (once)."""
    from hepfm_core.demo import demo_training, train_on_folder

    model = folder / "model-seed43.keras"
    if not model.exists():
        print(f"training a second model on {folder} (seed 43, once)", flush=True)
        train_on_folder(folder, model, settings=replace(demo_training(), seed=43))
    return model


def ensure_data(folder: Path, n_background: int) -> Path:
    """A data folder of ``n_background`` events (written once, streamed, then reused)."""
    from hepfm_core.data.generator import GeneratorConfig, generate_dataset

    if (folder / "background.h5").exists():
        return folder
    print(f"writing {n_background:,} background events to {folder} (once)", flush=True)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    generate_dataset(tmp, n_background, SIGNAL_EVENTS, GeneratorConfig(seed=43), None)
    tmp.rename(folder)
    return folder


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.h5"))


# -- sampling -------------------------------------------------------------------------------
class Sampler:
    """The resident memory and threads of some processes, sampled in a thread; the peak per
    phase (``phase(name)``) and overall."""

    def __init__(self, pids: list[int], every: float = 0.05) -> None:
        import psutil

        self.procs = [psutil.Process(p) for p in pids]
        self.every = every
        self.name = "start"
        self.peaks: dict[str, int] = {}
        self.threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.every)

    def sample(self) -> None:
        for p in self.procs:
            with contextlib.suppress(Exception):
                rss = p.memory_info().rss
                self.peaks[self.name] = max(self.peaks.get(self.name, 0), rss)
                self.threads = max(self.threads, p.num_threads())

    def phase(self, name: str) -> None:
        self.sample()
        self.name = name
        self.sample()

    def now(self) -> int:
        """The largest resident memory of the processes right now."""
        return max(p.memory_info().rss for p in self.procs)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class Clock:
    """Wall time, and CPU time of the worker processes and of this process, of a step."""

    def __init__(self, pids: list[int]) -> None:
        import psutil

        self.procs = [psutil.Process(p) for p in pids]

    def _cpu(self) -> tuple[float, float]:
        workers = sum(sum(p.cpu_times()[:2]) for p in self.procs)
        me = resource.getrusage(resource.RUSAGE_SELF)
        return workers, me.ru_utime + me.ru_stime

    @contextlib.contextmanager
    def step(self, into: dict[str, float], key: str) -> Iterator[None]:
        w0, c0 = self._cpu()
        t0 = time.perf_counter()
        yield
        into[f"{key}_s"] = time.perf_counter() - t0
        w1, c1 = self._cpu()
        into[f"{key}_worker_cpu_s"] = w1 - w0
        into[f"{key}_client_cpu_s"] = c1 - c0
        print(  # as it happens: a later failure keeps what was measured
            f"    {key}: {into[f'{key}_s']:.3f} s (workers' CPU {w1 - w0:.2f} s, the "
            f"client's {c1 - c0:.2f} s; load {load()})",
            flush=True,
        )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- one cluster ----------------------------------------------------------------------------
def has_cluster_comparison() -> bool:
    """Whether this checkout compares models on a cluster (issue 21, item 2)."""
    from hepfm_core.cluster.evaluator import ClusterEvaluator

    return hasattr(ClusterEvaluator, "opener")


def comparison_opener(cluster: Any, cache: Path, partition_events: int) -> Callable | None:
    """How ``ModelSet.open`` opens a model on the cluster, where this checkout has it (the
    cluster comparison, issue 21 item 2); None where not."""
    from hepfm_core.cluster.evaluator import ClusterEvaluator

    opener = getattr(ClusterEvaluator, "opener", None)
    if opener is None:
        return None
    return opener(cluster, cache=cache, partition_events=partition_events)


def measure(
    data: Path,
    model: Path,
    second_model: Path | None,
    workers: int,
    partition_events: int,
    recomputes: int,
) -> dict[str, Any]:
    """Every step on one fresh local cluster of ``workers`` one-thread workers."""
    from hepfm_core.cluster import worker_state
    from hepfm_core.cluster.connect import ClusterSpec, open_cluster
    from hepfm_core.cluster.evaluator import ClusterEvaluator
    from hepfm_core.engine.evaluate import EvaluationSettings
    from hepfm_core.engine.investigate.events import Criterion
    from hepfm_core.engine.investigate.investigator import Investigator

    r: dict[str, Any] = {
        "workers": workers,
        "partition_events": partition_events,
        "load_start": load(),
    }
    cache = Path(tempfile.mkdtemp(prefix="hepfm-scale-"))
    try:
        with open_cluster(ClusterSpec(workers=workers, threads_per_worker=1)) as cluster:
            client = cluster.client
            ev = ClusterEvaluator.open(
                data, model, cluster=cluster, cache=cache, partition_events=partition_events
            )
            pids = sorted(client.run(os.getpid).values())
            sampler = Sampler(pids)
            clock = Clock(pids)
            n = sum(s.n_events for s in ev.data.samples.values())
            n_bkg = ev.data.background.n_events
            r |= {"events": n, "background_events": n_bkg}

            sampler.phase("warm_up")
            with clock.step(r, "warm_up"):
                client.run(worker_state.warm_up, str(ev.model_path), ev.model_info.fingerprint)
            r["pools"] = json.dumps(client.run(worker_state.limit_threads, 1))
            r["rss_after_warm_up_gib"] = sampler.now() / GIB

            sampler.phase("scoring")
            with clock.step(r, "scoring"):
                shards = ev.score_all()
            r["partitions"] = sum(len(refs) for refs in shards.values())
            r["scoring_ev_s"] = n / r["scoring_s"]
            r["scoring_worker_cpu_us_per_event"] = 1e6 * r["scoring_worker_cpu_s"] / n
            r["scoring_client_cpu_us_per_event"] = 1e6 * r["scoring_client_cpu_s"] / n
            r["scoring_task_us_per_event"] = (
                1e6 * sum(s.seconds for refs in shards.values() for s in refs) / n
            )

            sampler.phase("evaluation")
            settings = EvaluationSettings(score="kl", clip=(-20.0, 20.0))
            with clock.step(r, "first_evaluate"):
                ev.evaluate(settings)
            sampler.phase("clip_change")
            runs: list[dict[str, float]] = []
            for c in CLIPS[:recomputes]:
                one: dict[str, float] = {}
                settings = EvaluationSettings(score="kl", clip=(-c, c))
                with clock.step(one, "clip_change"):
                    ev.evaluate(settings)
                runs.append(one)
            for key in runs[0]:
                r[key] = statistics.median(x[key] for x in runs)
            r["clip_change_worker_cpu_ns_per_event"] = 1e9 * r["clip_change_worker_cpu_s"] / n

            sampler.phase("top")
            investigator = Investigator(ev)
            with clock.step(r, "client_decoder_warm_up"):
                investigator.warm()
            with clock.step(r, "top100"):
                with clock.step(r, "top100_select"):
                    result = investigator.evaluate_sample(settings, "background")
                    selection = investigator.select(
                        result.samples["background"], Criterion.top(TOP_N), result.settings
                    )
                with clock.step(r, "top100_details"):
                    details = investigator.details(selection, page=0, limit=TOP_N)
                    investigator.summary(selection)
            r["top100_events_shown"] = len(details)

            sampler.phase("comparison")
            opener = comparison_opener(cluster, cache, partition_events)
            r["comparison"] = (
                "HOOK: not measured, this checkout has no cluster comparison "
                "(ClusterEvaluator.opener, issue 21 item 2)"
                if opener is None
                else "skipped (--no-compare)"
            )
            if opener is not None and second_model is not None:
                from hepfm_core.engine.compare.models import ModelSet
                from hepfm_core.engine.compare.specs import ModelSpec

                specs = [ModelSpec((model,), "a"), ModelSpec((second_model,), "b")]
                try:
                    models = ModelSet.open(data, specs, cache=cache, opener=opener)
                    with clock.step(r, "comparison_scoring"):
                        models.score_all()
                    with clock.step(r, "comparison"):
                        compared = models.evaluate(
                            EvaluationSettings(score="kl", clip=(-20.0, 20.0))
                        )
                    r["comparison"] = f"{len(compared.comparisons)} comparisons"
                except Exception as exc:  # reported, and the other figures kept
                    r.pop("comparison_s", None)
                    r["comparison"] = f"FAILED: {type(exc).__name__}: {exc}"
                    print(f"  the comparison failed: {r['comparison']}", flush=True)
            sampler.stop()
            maxrss = client.run(worker_state.peak_rss_bytes)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    for phase, peak in sampler.peaks.items():
        r[f"rss_peak_{phase}_gib"] = peak / GIB
    r["rss_peak_gib"] = max(sampler.peaks.values()) / GIB
    r["ru_maxrss_gib"] = max(maxrss.values()) / GIB
    r["threads_per_worker_max"] = sampler.threads
    r["load_end"] = load()
    return r


def report(r: dict[str, Any]) -> str:
    return (
        f"  {r['background_events']:,} background events, {r['partitions']} partitions "
        f"(load {r['load_start']} -> {r['load_end']})\n"
        f"  scoring      {r['scoring_s']:7.2f} s  ({r['scoring_ev_s'] / 1e6:.3f} M ev/s; CPU "
        f"{r['scoring_worker_cpu_us_per_event']:.2f} us/ev in workers, "
        f"{r['scoring_client_cpu_us_per_event']:.2f} in the client; warm-up "
        f"{r['warm_up_s']:.1f} s)\n"
        f"  first eval   {r['first_evaluate_s']:7.2f} s  (worker CPU "
        f"{r['first_evaluate_worker_cpu_s']:.2f} s)\n"
        f"  clip change  {r['clip_change_s']:7.3f} s  (worker CPU "
        f"{r['clip_change_worker_cpu_s']:.2f} s, client CPU {r['clip_change_client_cpu_s']:.2f} s; "
        "median)\n"
        f"  top-100      {r['top100_s']:7.3f} s  (worker CPU {r['top100_worker_cpu_s']:.2f} s, "
        f"client CPU {r['top100_client_cpu_s']:.2f} s; decoder warm-up "
        f"{r['client_decoder_warm_up_s']:.1f} s; the selection {r['top100_select_s']:.3f} s, "
        f"the details and summary {r['top100_details_s']:.3f} s)\n"
        + (
            f"  comparison   {r['comparison_s']:7.3f} s  (worker CPU "
            f"{r['comparison_worker_cpu_s']:.2f} s; the second model's scoring "
            f"{r['comparison_scoring_s']:.1f} s)\n"
            if "comparison_s" in r
            else f"  comparison   {r['comparison']}\n"
        )
        + f"  RSS per worker: peak {r['rss_peak_gib']:.3f} GiB sampled (after warm-up "
        f"{r['rss_after_warm_up_gib']:.3f}; per phase "
        + ", ".join(
            f"{k[9:-4]} {v:.3f}"
            for k, v in r.items()
            if k.startswith("rss_peak_") and k != "rss_peak_gib"
        )
        + f"), ru_maxrss {r['ru_maxrss_gib']:.3f} GiB; "
        f"{r['threads_per_worker_max']} threads; pools {r['pools']}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--events",
        default=None,
        help="background sizes, comma-separated (default: the seed's and 3x; 300k and 900k "
        "with --quick)",
    )
    p.add_argument("--workers", default="1,2", help="local workers, comma-separated")
    p.add_argument("--quick", action="store_true", help="300k and 900k background events")
    p.add_argument("--recomputes", type=int, default=5, help="clip changes timed (median)")
    p.add_argument("--no-compare", action="store_true", help="skip the two-model comparison")
    p.add_argument("--json", default=None, help="write the figures as flat JSON here")
    p.add_argument(
        "--partition-events",
        default="auto",
        help="events per partition, or 'auto' (the default): a sixteenth of the background, "
        "at least the cluster evaluator's 262,144 (65,536 with --quick) and at most four "
        "times it (fewer, larger partitions: less scheduling per evaluation)",
    )
    args = p.parse_args(argv)
    from hepfm_core.cluster.evaluator import DEFAULT_PARTITION_EVENTS
    from hepfm_core.engine.scoring.run import CHUNK_EVENTS

    started = load()
    print(f"load averages at start: {started} ({os.cpu_count()} cores)", flush=True)
    small_n = QUICK_EVENTS if args.quick else SEED_EVENTS
    sizes = [int(x) for x in args.events.split(",")] if args.events else [small_n, 3 * small_n]
    workers = [int(x) for x in args.workers.split(",")]
    smallest = 8 * CHUNK_EVENTS if args.quick else DEFAULT_PARTITION_EVENTS

    def partition_events(n_background: int) -> int:
        if args.partition_events != "auto":
            return int(args.partition_events)
        sixteenth = -(-n_background // (AUTO_PARTITIONS * CHUNK_EVENTS)) * CHUNK_EVENTS
        return max(smallest, min(AUTO_MAX_FACTOR * smallest, sixteenth))

    small = data_folder(small_n, args.quick)
    model = ensure_model(small, small_n)
    second = None
    if not args.no_compare and has_cluster_comparison():
        second = ensure_second_model(small)

    rows: dict[tuple[int, int], dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for size in sizes:
        t0 = time.perf_counter()
        folder = ensure_data(data_folder(size, args.quick), size)
        flat[f"{size}ev_data_gib"] = folder_bytes(folder) / GIB
        flat[f"{size}ev_data_bytes_per_event"] = folder_bytes(folder) / size
        flat[f"{size}ev_data_ready_s"] = time.perf_counter() - t0
        for w in workers:
            print(f"measuring {size:,} background events with {w} worker(s) ...", flush=True)
            rows[(size, w)] = r = measure(
                folder, model, second, w, partition_events(size), args.recomputes
            )
            print(report(r), flush=True)
            flat |= {f"{size}ev_{w}w_{k}": v for k, v in r.items()}

    checks: list[tuple[str, str, str, str, bool]] = []
    for size in sizes:
        if (size, 1) in rows and (size, 2) in rows:
            a, b = rows[(size, 1)], rows[(size, 2)]
            wall = b["scoring_ev_s"] / a["scoring_ev_s"]
            cpu = a["scoring_worker_cpu_us_per_event"] / b["scoring_worker_cpu_us_per_event"]
            flat[f"speedup_2w_vs_1w_{size}ev"] = wall
            flat[f"cpu_per_event_1w_over_2w_{size}ev"] = cpu
            g = GOAL_SPEEDUP_2_WORKERS
            checks.append(
                (
                    f"speedup_2w_{size}ev",
                    f"2 workers vs 1, scoring ({size:,})",
                    f"x{wall:.2f}",
                    f">= x{g}",
                    wall >= g,
                )
            )
        for (s, w), r in rows.items():
            if s != size or w != max(workers):
                continue
            goal = GOAL_CLIP_CHANGE_S.get(size)
            if goal is not None:
                v = r["clip_change_s"]
                checks.append(
                    (
                        f"clip_change_{size}ev_{w}w",
                        f"clip change ({size:,}, {w}w)",
                        f"{v:.3f} s",
                        f"<= {goal} s",
                        v <= goal,
                    )
                )
            v = r["top100_s"]
            checks.append(
                (
                    f"top100_{size}ev_{w}w",
                    f"top-100 events ({size:,}, {w}w)",
                    f"{v:.3f} s",
                    f"<= {GOAL_TOP_S} s",
                    v <= GOAL_TOP_S,
                )
            )
    rss = max(r["rss_peak_gib"] for r in rows.values())
    checks.append(
        (
            "rss_per_worker",
            "RSS per worker, peak sampled (max)",
            f"{rss:.3f} GiB",
            f"<= {GOAL_RSS_GIB} GiB",
            rss <= GOAL_RSS_GIB,
        )
    )
    print()
    print(f"{'measurement':44s} {'value':>12s} {'goal':>12s}")
    for key, name, value, goal, ok in checks:
        print(f"{name:44s} {value:>12s} {goal:>12s}  {'met' if ok else 'NOT met'}")
        flat[f"goal_met_{key}"] = ok

    # Projection: 100 one-thread workers, each at the largest run's per-worker rates. A
    # worker's part scales with its events (10^7 each); the client's with the partitions
    # (as many per worker as measured).
    big = max(s for s, _ in rows)
    w = max(workers)
    r = rows[(big, w)]
    per_worker_events = PROJECTED_EVENTS / PROJECTED_WORKERS
    # as many partitions per worker as each of the measured workers held
    partitions = r["partitions"] / w * PROJECTED_WORKERS

    def projected(key: str) -> float:
        """A step's wall time there: its workers' CPU per event (one thread each) times
        10^7 events, plus the client's CPU per partition times the partitions."""
        worker = r[f"{key}_worker_cpu_s"] / r["events"] * per_worker_events * w
        client = r[f"{key}_client_cpu_s"] / r["partitions"] * partitions
        return worker + client

    proj = {
        "projected_1e9_on_100_workers_scoring_s": PROJECTED_EVENTS
        / (PROJECTED_WORKERS * r["scoring_ev_s"] / w),
        "projected_1e9_on_100_workers_clip_change_s": projected("clip_change"),
        # the details of 100 events cost the same at any size
        "projected_1e9_on_100_workers_top100_s": projected("top100_select") + r["top100_details_s"],
        "projected_1e9_on_100_workers_rss_gib": r["rss_peak_gib"],
    }
    flat |= proj
    print(
        f"\nprojection, 10^9 events on 100 one-thread workers (from {big:,} events on {w}): "
        f"scoring {proj['projected_1e9_on_100_workers_scoring_s'] / 60:.1f} min; clip change "
        f"{proj['projected_1e9_on_100_workers_clip_change_s']:.1f} s and top-100 "
        f"{proj['projected_1e9_on_100_workers_top100_s']:.1f} s (workers' CPU per event times "
        f"10^7 events each, plus the client's CPU per partition times "
        f"{partitions:,.0f} partitions); RSS per worker flat at "
        f"{proj['projected_1e9_on_100_workers_rss_gib']:.2f} GiB"
    )
    ended = load()
    print(f"load averages at end: {ended}")
    flat |= {
        "load_start": started,
        "load_end": ended,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "quick": args.quick,
        "partition_events": args.partition_events,
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(flat, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
