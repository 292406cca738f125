"""Speed of hepfm's engine at the scale of the original failure, against upstream-style code.

Three measurements, each printed as absolute figures and as ratios against a baseline measured
in the same run (see benchmarks/README.md):

(a) scoring throughput: hepfm's pass (``scoring.run_pass`` / ``cached_pass`` on a miss)
    end-to-end on the whole background (HDF5 read, Blosc2 decode, normalise, XLA model,
    float64 losses, ``.npy`` cache), and on in-memory input; CPU per event of reading and of
    the model; bytes per event on disk in format versions 1 (gzip) and 2 (Blosc2); the
    largest difference from the uncompiled forward pass (scoring version 2). The baseline
    calls encoder and decoder eagerly per 1024-event batch with float32 numpy losses, as the
    upstream pipeline did, in a process of its own with fixed thread settings.
(b) time to recompute guards and all metrics for all signals after a clip change
    (``Evaluator.evaluate``), against a naive full float64 recompute with scikit-learn.
(c) cache bytes per event, and peak RSS per phase.

``--json OUT`` writes the figures as one flat JSON object. Run
``uv run python benchmarks/bench_engine.py --help``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FULL_BACKGROUND = 2_727_612
DEMO_SIGNAL = 10_000
QUICK_BACKGROUND = 300_000
HERE = Path(__file__).resolve().parent
DATA_ROOT = HERE / ".data"

# The baseline's code (upstream_scores) and thread settings are frozen, so that runs compare:
# TensorFlow's intra- and inter-op pools of 2 threads each (its defaults on the 2-core
# development machine), set in a process of its own before TensorFlow starts.
BASELINE_INTRA_OP_THREADS = 2
BASELINE_INTER_OP_THREADS = 2

GOAL_IN_MEMORY_SPEEDUP = 20.0
GOAL_IN_MEMORY_RATE = 0.5e6
GOAL_END_TO_END_SPEEDUP = 15.0
GOAL_READ_SHARE = 0.25  # reading at most a quarter of the pass's CPU
GOAL_DISK_RATIO = 1.3  # version 2 bytes per event at most 1.3x version 1's (gzip)
GOAL_EVALUATE_MS = 250.0
GOAL_BYTES_PER_EVENT = 150.0


# -- measuring ----------------------------------------------------------------------------
def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@dataclass
class Runs:
    """Wall and CPU seconds (and minor page faults) of repeated runs of one thing."""

    label: str
    events: int
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)

    def add(self, fn: Callable[[], object]) -> object:
        f0, c0, w0 = minor_faults(), cpu_seconds(), time.perf_counter()
        out = fn()
        self.wall.append(time.perf_counter() - w0)
        self.cpu.append(cpu_seconds() - c0)
        self.faults.append(minor_faults() - f0)
        return out

    @property
    def wall_median(self) -> float:
        return float(np.median(self.wall))

    @property
    def rate(self) -> float:
        """Events per second from the median wall time."""
        return self.events / self.wall_median

    @property
    def best_rate(self) -> float:
        return self.events / min(self.wall)

    @property
    def cpu_us_per_event(self) -> float:
        return float(np.median(self.cpu)) / self.events * 1e6

    @property
    def faults_per_event(self) -> float:
        return float(np.median(self.faults)) / self.events

    def line(self, ref: Runs | None = None) -> str:
        text = (
            f"  {self.label:<52} {self.rate / 1e6:7.3f} M ev/s (median of {len(self.wall)}; "
            f"best {self.best_rate / 1e6:.3f})  CPU {self.cpu_us_per_event:5.2f} us/ev  "
            f"faults {self.faults_per_event:5.2f}/ev"
        )
        if ref is not None:
            text += f"  x{self.rate / ref.rate:.2f} vs {ref.label.split(' (')[0]}"
        return text


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Phases:
    """Peak RSS per phase (VmHWM reset at each phase start when the kernel allows it)."""

    def __init__(self) -> None:
        self.peaks: list[tuple[str, str, float]] = []
        self.resettable = reset_peak_rss()
        self.name = "startup"
        self.key = ""

    def start(self, name: str, key: str = "") -> None:
        """Begin a phase; ``key`` (short) puts its peak into the summary table."""
        self.end()
        self.name = name
        self.key = key
        if self.resettable:
            reset_peak_rss()
        print(f"\n== {name}", flush=True)

    def end(self) -> None:
        if self.name:
            peak = peak_rss_mib()
            self.peaks.append((self.name, self.key, peak))
            print(f"  [peak RSS during '{self.name}': {peak:.0f} MiB]", flush=True)
            self.name = ""


# -- machine and data ---------------------------------------------------------------------
def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024**2:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"nproc": str(usable), "cpu": model, "memory": mem, "python": platform.python_version()}


def ensure_data(args: argparse.Namespace) -> tuple[Path, Path]:
    """The data folder and model: given, or made once under benchmarks/.data/."""
    if args.data or args.model:
        if not (args.data and args.model):
            sys.exit("give both --data and --model, or neither")
        return Path(args.data), Path(args.model)
    from hepfm_core.data.hepfm_format import FORMAT_VERSION, read_header
    from hepfm_core.data.repack import repack_folder
    from hepfm_core.demo import demo_ready, make_demo

    n = QUICK_BACKGROUND if args.quick else FULL_BACKGROUND
    out = DATA_ROOT / ("quick" if args.quick else "full")
    if not demo_ready(out):
        print(f"making the demo data and model under {out} ({n} background events) ...")
        t0 = time.perf_counter()
        make_demo(out, n_background=n, n_signal=DEMO_SIGNAL)
        print(f"  done in {time.perf_counter() - t0:.0f} s")
    elif read_header(out / "background.h5")["format_version"] < FORMAT_VERSION:
        print(f"rewriting the demo data under {out} in format version {FORMAT_VERSION} ...")
        repack_folder(out)
    return out, out / "model.keras"


def head_sample(sample, n: int):
    """A sample cut to its first ``n`` events, with its own fingerprint (own cache key)."""
    from hepfm_core.common.fingerprint import combine
    from hepfm_core.data.h5io import H5Matrix

    if n >= sample.n_events:
        return sample
    x = sample.x
    head = H5Matrix(x.path, x.datasets, x.normalisation, n, x.shape[1])
    prov = replace(sample.provenance, fingerprint=combine(sample.provenance.fingerprint, "head", n))
    return replace(sample, x=head, provenance=prov)


def in_memory_sample(sample, x: np.ndarray):
    from hepfm_core.common.fingerprint import combine

    prov = replace(sample.provenance, fingerprint=combine(sample.provenance.fingerprint, "mem"))
    return replace(sample, name=f"{sample.name}[:{x.shape[0]}]", x=x, provenance=prov)


def read_rows(sample, n: int, chunk: int = 8192) -> np.ndarray:
    x = np.empty((n, sample.n_features), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        x[start:stop] = sample.x[start:stop]
    return x


# -- baselines ----------------------------------------------------------------------------
def upstream_scores(model, x: np.ndarray, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """What the upstream pipeline did: eager Keras calls per batch, float32 numpy losses.

    Frozen (with ``BASELINE_*_THREADS``): the baseline every ratio of this script divides by.
    """
    n = x.shape[0]
    recon = np.empty(n, dtype=np.float32)
    kl = np.empty(n, dtype=np.float32)
    with np.errstate(all="ignore"):
        for start in range(0, n, batch):
            xb = x[start : start + batch]
            z_mean, z_log_var = model.encoder(xb)
            x_hat = model.decoder(z_mean)
            zm, zl, xh = z_mean.numpy(), z_log_var.numpy(), x_hat.numpy()
            recon[start : start + batch] = np.sum((xb - xh) ** 2, axis=1)
            kl[start : start + batch] = -0.5 * np.sum(1.0 + zl - zm**2 - np.exp(zl), axis=1)
    return recon, kl


def baseline_worker(data: str, model_path: str, n: int, reps: int) -> None:
    """The baseline's own process: fixed TensorFlow threads, ``reps`` runs on the first ``n``
    background events in memory; prints one JSON line of wall and CPU seconds."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(BASELINE_INTRA_OP_THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(BASELINE_INTER_OP_THREADS)
    from hepfm_core.sources import load_model, open_data

    model = load_model(model_path)
    x = read_rows(open_data(data).background, n)
    upstream_scores(model, x[:2048])  # warm-up (the first eager call builds the graph)
    runs = Runs("baseline", n)
    for _ in range(reps):
        runs.add(lambda: upstream_scores(model, x))
    print(json.dumps({"wall": runs.wall, "cpu": runs.cpu, "faults": runs.faults}))


def measure_baseline(data_dir: Path, model_path: Path, n: int, reps: int) -> Runs:
    """``baseline_worker`` in a fresh process (nothing this one set or compiled touches it)."""
    worker = ["--baseline-worker", str(data_dir), str(model_path), str(n), str(reps)]
    out = subprocess.run(
        [sys.executable, __file__, *worker],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    runs = Runs(
        f"baseline: eager Keras per 1024 + numpy f32, TF threads "
        f"{BASELINE_INTRA_OP_THREADS}/{BASELINE_INTER_OP_THREADS} (first {n})",
        n,
    )
    runs.wall, runs.cpu, runs.faults = doc["wall"], doc["cpu"], doc["faults"]
    return runs


def naive_scores(pass_, clip: tuple[float, float], score: str, parameterisation: str):
    """A full float64 recompute of one score over the whole (n, k) arrays."""
    with np.errstate(all="ignore"):
        recon = np.asarray(pass_.recon, dtype=np.float64)
        if score == "reconstruction":
            return recon.copy()
        mu = np.asarray(pass_.z_mean, dtype=np.float64)
        s = np.clip(np.asarray(pass_.z_log_var, dtype=np.float64), clip[0], clip[1])
        if parameterisation == "exp":
            v, log_v = np.exp(s), s
        else:
            v = np.logaddexp(0.0, s) + 1e-6
            log_v = np.log(v)
        if score == "radius":
            return np.sum(mu * mu / v, axis=1)
        kl = -0.5 * np.sum(1.0 + log_v - mu * mu - v, axis=1)
        return kl if score == "kl" else recon + kl


def naive_evaluate(passes, signals, clip, score, parameterisation) -> dict[str, float]:
    """Naive recompute plus scikit-learn ROC and AUC per signal on the finite scores."""
    from sklearn.metrics import roc_auc_score, roc_curve

    bkg = naive_scores(passes["background"], clip, score, parameterisation)
    bkg = bkg[np.isfinite(bkg)]
    aucs = {}
    for name in signals:
        sig = naive_scores(passes[name], clip, score, parameterisation)
        sig = sig[np.isfinite(sig)]
        y = np.concatenate([np.zeros(bkg.size, dtype=np.int8), np.ones(sig.size, dtype=np.int8)])
        s = np.concatenate([bkg, sig])
        roc_curve(y, s)
        aucs[name] = float(roc_auc_score(y, s))
    return aucs


# -- the reference --------------------------------------------------------------------------
def reference_forward(model):
    """The forward pass of scoring version 2: uncompiled TensorFlow on chunks of any size."""
    from hepfm_core.engine.scoring.run import make_forward

    return make_forward(model, chunk_events=None, jit_compile=False)


def max_rel_diff(a, b) -> float:
    """Largest |a - b| relative to max(|a|, 1) over the float arrays of two passes."""
    worst = 0.0
    for name in ("z_mean", "z_log_var", "recon", "sum_mu2"):
        u = np.asarray(getattr(a, name), dtype=np.float64)
        w = np.asarray(getattr(b, name), dtype=np.float64)
        ok = np.isfinite(u) & np.isfinite(w)
        if ok.any():
            worst = max(worst, float(np.max(np.abs(u[ok] - w[ok]) / np.maximum(np.abs(u[ok]), 1))))
    if not np.array_equal(np.asarray(a.finite), np.asarray(b.finite)):
        worst = float("inf")
    return worst


# -- phases -------------------------------------------------------------------------------
@dataclass
class Summary:
    """Rows of the final table (measurement, hepfm, baseline, ratio, goal), and the figures
    for ``--json`` (flat: one key per number)."""

    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)

    def add(self, what: str, hepfm: str, base: str = "", ratio: str = "", goal: str = "") -> None:
        self.rows.append((what, hepfm, base, ratio, goal))

    def markdown(self) -> str:
        head = ("measurement", "hepfm", "baseline", "ratio", "goal")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def measure_read(sample, label: str, reps: int) -> Runs:
    """Reading alone as the pass reads: ``row_blocks`` of the pass's chunks, padded."""
    from hepfm_core.data.samples import row_blocks
    from hepfm_core.engine.scoring.run import CHUNK_EVENTS

    def read() -> None:
        for _ in row_blocks(sample.x, CHUNK_EVENTS, pad=True):
            pass

    runs = Runs(label, sample.n_events)
    read()  # warm-up: the file's pages, the decoder
    for _ in range(reps):
        runs.add(read)
    return runs


def file_bytes_per_event(path: Path) -> float:
    from hepfm_core.data.hepfm_format import read_header

    return path.stat().st_size / read_header(path)["n_events"]


def phase_scoring(args, data, data_dir, model_path, cache, phases: Phases, summary: Summary):
    from hepfm_core.data.h5io import READ_THREADS
    from hepfm_core.data.hepfm_format import read_sample
    from hepfm_core.data.repack import repack_file
    from hepfm_core.engine.scoring.run import CHUNK_EVENTS, cached_pass, run_pass
    from hepfm_core.sources import load_model

    reps = args.reps
    fig = summary.figures
    bg = data.background
    n_bg = bg.n_events
    m = min(args.memory_events, n_bg)
    nb = min(args.baseline_events, n_bg)

    phases.start("(a) scoring: baseline, in a process of its own", "baseline")
    base = measure_baseline(data_dir, model_path, nb, reps)
    print(base.line())

    phases.start("(a) scoring: load model", "load model")
    t0 = time.perf_counter()
    model = load_model(model_path)
    print(f"  model {model.config} loaded in {time.perf_counter() - t0:.1f} s")

    phases.start(f"(a) scoring: reading the background ({n_bg} events)")
    read_v2 = measure_read(bg, f"read + decode + normalise, {READ_THREADS} thread(s)", reps)
    print(read_v2.line())
    x_mem = read_rows(bg, m, CHUNK_EVENTS)

    phases.start("(a) scoring: in memory, hepfm and the reference", "in-memory runs")
    mem = in_memory_sample(bg, x_mem)
    variants = {
        f"hepfm pass in memory (XLA, chunks of {CHUNK_EVENTS})": {},
        "reference: scoring version 2 (uncompiled)": {"forward": reference_forward(model)},
    }
    runs = {label: Runs(label, m) for label in variants}
    outputs = {label: run_pass(model, mem, None, **kw) for label, kw in variants.items()}
    for _ in range(reps):
        for label, kw in variants.items():  # interleaved, so load changes hit all alike
            runs[label].add(lambda kw=kw, mem=mem: run_pass(model, mem, None, **kw))
    default, reference = runs.values()
    out_default, out_reference = outputs.values()
    dev = max_rel_diff(out_reference, out_default)
    same_bits = bool(np.array_equal(out_reference.finite, out_default.finite))
    for r in runs.values():
        print(r.line(base))
    print(
        f"  largest relative difference from the reference: {dev:.1e}; finite bits equal: "
        f"{same_bits}"
    )
    del x_mem, mem, outputs, out_default, out_reference

    phases.start(
        f"(a) scoring: hepfm pass end-to-end, whole background ({n_bg} events)",
        "whole-background pass",
    )
    full = Runs(f"hepfm pass end-to-end, {n_bg} events, format version 2", n_bg)
    t0 = time.perf_counter()
    full.add(lambda: cached_pass(model_path, bg, cache=cache, model_loader=lambda: model))
    print(f"  first pass (cached_pass, fresh cache): {time.perf_counter() - t0:.1f} s")
    scratch = cache / "bench-scratch"
    for i in range(args.full_reps - 1):
        full.add(lambda i=i: run_pass(model, bg, scratch / f"full-{i}"))
        shutil.rmtree(scratch, ignore_errors=True)
    print(full.line(base))
    sig_events = sum(s.n_events for s in data.signals.values())
    sig = Runs(f"signals ({len(data.signals)} samples) end-to-end", sig_events)
    sig.add(
        lambda: [
            cached_pass(model_path, s, cache=cache, model_loader=lambda: model)
            for s in data.signals.values()
        ]
    )
    print(sig.line())

    phases.start("(a) scoring: the background in format version 1 (gzip)", "version 1")
    v2_path = Path(bg.provenance.source)
    v1_path = cache / "v1" / v2_path.name
    v1_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(v2_path, v1_path)
    t0 = time.perf_counter()
    repack_file(v1_path, "gzip")
    print(f"  rewritten with gzip in {time.perf_counter() - t0:.1f} s")
    bytes_v2, bytes_v1 = file_bytes_per_event(v2_path), file_bytes_per_event(v1_path)
    print(f"  bytes per event on disk: version 2 {bytes_v2:.1f}, version 1 {bytes_v1:.1f}")
    v1 = head_sample(read_sample(v1_path, bg.normalisation), n_bg)
    read_v1 = measure_read(head_sample(v1, m), f"version 1: read + inflate + normalise, {m}", reps)
    print(read_v1.line())
    full_v1 = Runs(f"hepfm pass end-to-end, {n_bg} events, format version 1", n_bg)
    full_v1.add(lambda: run_pass(model, v1, scratch / "v1"))
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(v1_path.parent, ignore_errors=True)
    print(full_v1.line(base))

    mem_ratio, e2e_ratio = default.rate / base.rate, full.rate / base.rate
    read_share = read_v2.cpu_us_per_event / (read_v2.cpu_us_per_event + default.cpu_us_per_event)
    disk_ratio = bytes_v2 / bytes_v1
    fig.update(
        scoring_in_memory_ev_s=default.rate,
        scoring_in_memory_events=m,
        scoring_end_to_end_ev_s=full.rate,
        scoring_end_to_end_events=n_bg,
        scoring_end_to_end_v1_ev_s=full_v1.rate,
        scoring_signals_ev_s=sig.rate,
        reference_in_memory_ev_s=reference.rate,
        baseline_ev_s=base.rate,
        baseline_events=nb,
        baseline_intra_op_threads=BASELINE_INTRA_OP_THREADS,
        baseline_inter_op_threads=BASELINE_INTER_OP_THREADS,
        in_memory_speedup=mem_ratio,
        end_to_end_speedup=e2e_ratio,
        end_to_end_over_in_memory=full.rate / default.rate,
        max_rel_diff_vs_reference=dev,
        finite_bits_equal_reference=same_bits,
        cpu_us_per_event_read=read_v2.cpu_us_per_event,
        cpu_us_per_event_read_v1=read_v1.cpu_us_per_event,
        cpu_us_per_event_model=default.cpu_us_per_event,
        cpu_us_per_event_reference=reference.cpu_us_per_event,
        cpu_us_per_event_end_to_end=full.cpu_us_per_event,
        cpu_us_per_event_baseline=base.cpu_us_per_event,
        read_share_of_cpu=read_share,
        read_threads=READ_THREADS,
        bytes_per_event_disk=bytes_v2,
        bytes_per_event_disk_v1=bytes_v1,
        disk_ratio_v2_over_v1=disk_ratio,
        goal_in_memory_met=bool(
            mem_ratio >= GOAL_IN_MEMORY_SPEEDUP and default.rate >= GOAL_IN_MEMORY_RATE
        ),
        goal_end_to_end_met=bool(e2e_ratio >= GOAL_END_TO_END_SPEEDUP),
        goal_read_share_met=bool(read_share <= GOAL_READ_SHARE),
        goal_disk_met=bool(disk_ratio <= GOAL_DISK_RATIO),
    )
    summary.add(
        f"scoring in memory, first {m:,} bkg events (ev/s)",
        f"{default.rate / 1e6:.3f} M",
        f"{base.rate / 1e6:.3f} M",
        f"x{mem_ratio:.1f}",
        f">= x{GOAL_IN_MEMORY_SPEEDUP:.0f}: {met(mem_ratio >= GOAL_IN_MEMORY_SPEEDUP)}; "
        f">= {GOAL_IN_MEMORY_RATE / 1e6:.1f} M/s: {met(default.rate >= GOAL_IN_MEMORY_RATE)}",
    )
    summary.add(
        f"scoring end-to-end, {n_bg:,} bkg events, version 2 file (ev/s)",
        f"{full.rate / 1e6:.3f} M ({full.wall_median:.1f} s)",
        f"{base.rate / 1e6:.3f} M (in memory)",
        f"x{e2e_ratio:.1f}",
        f">= x{GOAL_END_TO_END_SPEEDUP:.0f}: {met(e2e_ratio >= GOAL_END_TO_END_SPEEDUP)}",
    )
    summary.add(
        "CPU per event: read (decode + normalise) / model pass / end-to-end",
        f"{read_v2.cpu_us_per_event:.2f} / {default.cpu_us_per_event:.2f} / "
        f"{full.cpu_us_per_event:.2f} us",
        f"- / {base.cpu_us_per_event:.2f} / - us",
        f"read {100 * read_share:.0f} % of read + model",
        f"<= {100 * GOAL_READ_SHARE:.0f} %: {met(read_share <= GOAL_READ_SHARE)}",
    )
    summary.add(
        "disk bytes per event: version 2 (Blosc2 LZ4) / version 1 (gzip)",
        f"{bytes_v2:.1f} / {bytes_v1:.1f}",
        "",
        f"x{disk_ratio:.2f}",
        f"<= x{GOAL_DISK_RATIO}: {met(disk_ratio <= GOAL_DISK_RATIO)}",
    )
    summary.add(
        "version 1 (gzip) file: end-to-end (ev/s) / CPU per event read",
        f"{full_v1.rate / 1e6:.3f} M / {read_v1.cpu_us_per_event:.2f} us",
        "",
        f"x{full_v1.rate / base.rate:.1f}",
        "",
    )
    summary.add(
        "reference (scoring version 2, uncompiled), in memory: ev/s / largest rel. difference",
        f"{reference.rate / 1e6:.3f} M / {dev:.1e}",
        "",
        f"hepfm x{default.rate / reference.rate:.2f}",
        "finite bits equal" if same_bits else "finite bits DIFFER",
    )


def phase_evaluate(args, data, model_path, cache: Path, phases: Phases, summary: Summary):
    from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
    from hepfm_core.engine.guards.guarded import prepare
    from hepfm_core.vocabulary import SCORES

    phases.start("(b) evaluate: open passes and prepare", "prepare")
    ev = Evaluator(data, model_path, cache=cache)
    t0 = time.perf_counter()
    passes = ev.score_all()
    print(f"  score_all from cache (memory-mapped): {1e3 * (time.perf_counter() - t0):.0f} ms")
    t0 = time.perf_counter()
    prepare(passes["background"], ev.parameterisation)
    t_prep_bg = time.perf_counter() - t0
    print(f"  guards.prepare, background ({data.background.n_events} events): {t_prep_bg:.2f} s")
    t0 = time.perf_counter()
    ev.evaluate(EvaluationSettings(clip=None, score="reconstruction", policy="worst"))
    t_first = time.perf_counter() - t0
    print(f"  first evaluate (prepare of every sample + sort + metrics): {t_first:.2f} s")

    phases.start("(b) evaluate: clip changes", "clip changes")
    clips = np.linspace(5.0, 88.7, args.clips)
    signals = ev.signal_names
    times: dict[tuple[str, str], list[float]] = {}
    touched: dict[str, list[int]] = {}
    for score in SCORES:
        for policy in ("worst", "drop"):
            ts = times.setdefault((score, policy), [])
            for c in clips:
                clip = (-float(c), float(c))
                settings = EvaluationSettings(clip=clip, score=score, policy=policy)
                t0 = time.perf_counter()
                res = ev.evaluate(settings)
                ts.append(time.perf_counter() - t0)
                touched.setdefault(score, []).append(res.samples["background"].counts.outside_clip)
    print(f"  {len(clips)} distinct clips c in [{clips[0]:.1f}, {clips[-1]:.1f}], clip (-c, c)")
    print(f"  background events outside the clip: {min(touched['kl'])} .. {max(touched['kl'])}")
    for (score, policy), ts in times.items():
        ms = 1e3 * np.asarray(ts)
        print(
            f"  {score:<15} {policy:<6} median {np.median(ms):7.1f} ms  p90 "
            f"{np.percentile(ms, 90):7.1f} ms  max {ms.max():7.1f} ms"
        )

    phases.start("(b) evaluate: naive full recompute (baseline)", "naive recompute")
    naive: dict[str, list[float]] = {}
    worst_dauc = 0.0
    for score in SCORES:
        for c in clips[: args.naive_clips]:
            clip = (-float(c), float(c))
            t0 = time.perf_counter()
            aucs = naive_evaluate(passes, signals, clip, score, ev.parameterisation)
            naive.setdefault(score, []).append(time.perf_counter() - t0)
            res = ev.evaluate(EvaluationSettings(clip=clip, score=score, policy="drop"))
            for name, auc in aucs.items():
                if res.signals[name].auc is not None:
                    worst_dauc = max(worst_dauc, abs(res.signals[name].auc - auc))
    for score, ts in naive.items():
        print(f"  {score:<15} median {1e3 * np.median(ts):7.0f} ms ({len(ts)} clips)")
    print(f"  largest |AUC hepfm(drop) - AUC scikit-learn| over those settings: {worst_dauc:.1e}")

    for score in SCORES:
        ms = 1e3 * np.asarray(times[(score, "worst")] + times[(score, "drop")])
        base_ms = 1e3 * float(np.median(naive[score]))
        med = float(np.median(ms))
        summary.figures[f"evaluate_ms_median_{score}"] = med
        summary.figures[f"evaluate_naive_ms_median_{score}"] = base_ms
        summary.add(
            f"evaluate after clip change, {score}: median / p90 (ms)",
            f"{med:.0f} / {np.percentile(ms, 90):.0f}",
            f"{base_ms:.0f}",
            f"x{base_ms / med:.1f}",
            f"<= {GOAL_EVALUATE_MS:.0f} ms: {met(med <= GOAL_EVALUATE_MS)}",
        )
    summary.add(
        "one-off: prepare background / first evaluate, all samples (s)",
        f"{t_prep_bg:.2f} / {t_first:.2f}",
        "",
        "",
        "",
    )


def phase_cache(data, cache: Path, phases: Phases, summary: Summary) -> None:
    phases.start("(c) cache size")
    total_bytes = 0
    total_events = 0
    for directory in sorted((cache / "passes").iterdir()):
        if not (directory / "meta.json").exists():
            continue
        size = sum(f.stat().st_size for f in directory.glob("*.npy"))
        events = int(np.load(directory / "recon.npy", mmap_mode="r").shape[0])
        total_bytes += size
        total_events += events
    per_event = total_bytes / max(total_events, 1)
    print(f"  {total_bytes / 2**20:.1f} MiB for {total_events} events: {per_event:.1f} B/event")
    summary.figures["cache_bytes_per_event"] = per_event
    summary.add(
        "cache bytes per event (all samples)",
        f"{per_event:.1f}",
        "",
        "",
        f"<= {GOAL_BYTES_PER_EVENT:.0f}: {met(per_event <= GOAL_BYTES_PER_EVENT)}",
    )


# -- main ---------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", help="hepfm data folder (default: made under benchmarks/.data/)")
    p.add_argument("--model", help="hepfm .keras model (default: made with the data)")
    p.add_argument("--cache-dir", help="scoring cache (default: a fresh temporary folder)")
    p.add_argument("--quick", action="store_true", help="smoke run: 300k events, smaller subsets")
    p.add_argument("--events", type=int, help="use only the first N background events")
    p.add_argument("--reps", type=int, help="repeats of each short measurement (default 3)")
    p.add_argument("--full-reps", type=int, help="repeats of the whole-background pass (3)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as flat JSON to OUT")
    p.add_argument("--baseline-worker", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    args.reps = args.reps or 3
    args.full_reps = args.full_reps or 3
    args.events = args.events or (QUICK_BACKGROUND if quick else None)
    args.memory_events = 65_536 if quick else 262_144
    args.baseline_events = args.memory_events  # the same events as the in-memory pass
    args.clips = 4 if quick else 12
    args.naive_clips = 1 if quick else 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.baseline_worker:
        data, model, n, reps = args.baseline_worker
        baseline_worker(data, model, int(n), int(reps))
        return 0
    started = _dt.datetime.now().astimezone()
    command = "uv run python benchmarks/bench_engine.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    info = machine()
    load0 = os.getloadavg()
    print(command)
    print(
        f"{started:%Y-%m-%d %H:%M %Z}; {info['nproc']} cores ({info['cpu']}), {info['memory']} "
        f"RAM; load average at start {load0[0]:.2f}"
    )
    phases = Phases()
    data_dir, model_path = ensure_data(args)

    from hepfm_core.sources import open_data

    data = open_data(data_dir)
    if args.events:
        data = replace(data, background=head_sample(data.background, args.events))
    print(
        f"data {data_dir}: background {data.background.n_events} events, "
        f"{len(data.signals)} signals of {[s.n_events for s in data.signals.values()]}; "
        f"model {model_path}"
    )

    own_cache = args.cache_dir is None
    cache = Path(tempfile.mkdtemp(prefix="hepfm-bench-")) if own_cache else Path(args.cache_dir)
    if (cache / "passes").exists() and any((cache / "passes").iterdir()):
        sys.exit(f"--cache-dir {cache} already holds passes: give an empty folder")
    summary = Summary()
    total0 = time.perf_counter()
    try:
        phase_scoring(args, data, data_dir, model_path, cache, phases, summary)
        phase_evaluate(args, data, model_path, cache, phases, summary)
        phase_cache(data, cache, phases, summary)
        phases.end()
    finally:
        if own_cache:
            shutil.rmtree(cache, ignore_errors=True)
    keyed = [(key, peak) for _, key, peak in phases.peaks if key]
    summary.add(
        "peak RSS per phase (MiB)",
        "; ".join(f"{key} {peak:.0f}" for key, peak in keyed),
        "",
        "",
        f"max {max(peak for _, _, peak in phases.peaks):.0f}",
    )
    load1 = os.getloadavg()
    total = time.perf_counter() - total0
    summary.figures.update(
        peak_rss_mib_max=max(peak for _, _, peak in phases.peaks),
        command=command,
        date=f"{started:%Y-%m-%d %H:%M %Z}",
        cores=int(info["nproc"]),
        cpu=info["cpu"],
        memory=info["memory"],
        python=info["python"],
        load_average_start=load0[0],
        load_average_end=load1[0],
        total_s=total,
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary.figures, indent=1, allow_nan=False) + "\n")
    print("\n== summary\n")
    print(f"`{command}`  ")
    print(
        f"{started:%Y-%m-%d}, {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, "
        f"Python {info['python']}; load average {load0[0]:.2f} at start, {load1[0]:.2f} at end; "
        f"total {total:.0f} s. Baseline: upstream-style eager Keras per 1024 events with float32 "
        f"numpy losses, TensorFlow threads {BASELINE_INTRA_OP_THREADS} intra-op / "
        f"{BASELINE_INTER_OP_THREADS} inter-op in a process of its own (scoring), naive float64 "
        "recompute plus scikit-learn roc_curve/roc_auc_score per signal (evaluate).\n"
    )
    print(summary.markdown())
    if not phases.resettable:
        print("\n(peak RSS is the process high-water mark: this kernel refused to reset it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
