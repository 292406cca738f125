"""The cold first view's server side, phase by phase, in one process.

``bench_app.py`` times the cold first view as a user feels it (a new server, an empty
scoring cache, Chromium). This script splits the server's part of it into the steps the
app's cells take, each through the public API, on an empty temporary cache:

- ``imports_s``: hepfm's dashboard modules (what the app's imports cell needs);
- ``tensorflow_import_s``: TensorFlow and Keras (only a cache miss needs them);
- ``model_load_s``, ``compile_s``: the model read, its forward function compiled (XLA, one
  chunk of ``CHUNK_EVENTS`` rows);
- ``pass_background_s`` (and its rate, its CPU seconds, the cores it kept busy against
  the machine's), ``pass_signals_s``: every event scored and written to the cache;
- ``first_evaluation_s``: the app's first evaluation (default settings; every pass
  prepared: its clip-independent quantities computed and cached) and, for contrast,
  ``second_evaluation_s`` (another clip, everything prepared).

It also asks whether TensorFlow's import could hide behind the app's imports: both in
fresh interpreters, one after the other and in two threads (``overlap_*``): imports run
Python code and hold the interpreter's lock, so threads do not make them shorter.

Run on an idle machine (other work moves these figures by 10-30 %)::

    uv run python benchmarks/bench_cold.py               # the seed's data (bench_app's)
    uv run python benchmarks/bench_cold.py --quick       # the 200k demo
    uv run python benchmarks/bench_cold.py --data DIR --model M.keras --json OUT
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_app import add_data_arguments, ensure_data, report  # noqa: E402  (its data)

OVERLAP_REPS = 2
_OVERLAP = """
import sys, threading, time
t0 = time.perf_counter()
def tensorflow():
    from hepfm_core.common.tensorflow_import import import_tensorflow
    import_tensorflow()
def app():
    from hepfm_core.common.import_ahead import import_ahead
    import_ahead()
    from hepfm_core.views import charts, dashboard, investigation, meeting_reports, tables
if sys.argv[1] == "threads":
    other = threading.Thread(target=tensorflow)
    other.start()
    app()
    other.join()
else:
    app()
    tensorflow()
print(time.perf_counter() - t0)
"""


def _cpu_s() -> float:
    """This process's CPU seconds so far, every thread's."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def overlap(reps: int) -> dict[str, float]:
    """TensorFlow's import and the app's, in fresh interpreters: one after the other, and
    in two threads at once (the median of ``reps`` each, alternating)."""
    times: dict[str, list[float]] = {"sequential": [], "threads": []}
    for _ in range(reps):
        for how in times:
            done = subprocess.run(
                [sys.executable, "-c", _OVERLAP, how],
                capture_output=True,
                text=True,
                check=True,
                cwd=HERE.parent,
            )
            times[how].append(float(done.stdout.strip().splitlines()[-1]))
    return {
        "overlap_sequential_s": statistics.median(times["sequential"]),
        "overlap_threads_s": statistics.median(times["threads"]),
    }


def phases(data: Path, model_path: Path, cache: Path) -> dict[str, Any]:
    """Each step of a cold first view's server side, timed in this process."""
    out: dict[str, Any] = {}
    t = time.perf_counter()
    from hepfm_core.views import dashboard as db

    out["imports_s"] = time.perf_counter() - t

    import numpy as np

    from hepfm_core.common.tensorflow_import import import_tensorflow
    from hepfm_core.engine.evaluate import Evaluator
    from hepfm_core.engine.scoring.run import CHUNK_EVENTS, cached_pass, forward_for
    from hepfm_core.sources import load_model
    from hepfm_core.views.page_state import PageState

    t = time.perf_counter()
    import_tensorflow()
    out["tensorflow_import_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = load_model(model_path)
    out["model_load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    forward = forward_for(model, CHUNK_EVENTS)  # the pass's own, kept per model object
    forward(np.zeros((CHUNK_EVENTS, model.config.input_dim), dtype=np.float32))
    out["compile_s"] = time.perf_counter() - t

    evaluator = Evaluator.open(data, model_path, cache=cache)
    samples = evaluator.data.samples
    signals_s = 0.0
    for name, sample in samples.items():
        cpu, t = _cpu_s(), time.perf_counter()
        cached_pass(model_path, sample, cache=cache, model_loader=lambda: model)
        wall = time.perf_counter() - t
        if name == "background":
            out["background_events"] = sample.n_events
            out["pass_background_s"] = wall
            out["pass_background_ev_s"] = sample.n_events / wall
            out["pass_background_cpu_s"] = _cpu_s() - cpu
            out["pass_background_cores_busy"] = out["pass_background_cpu_s"] / wall
        else:
            signals_s += wall
    out["pass_signals_s"] = signals_s
    out["signal_events"] = sum(s.n_events for n, s in samples.items() if n != "background")
    out["cores"] = os.cpu_count()

    default = PageState()
    signals = [n for n in samples if n != "background"]

    def settings(clip: tuple[float, float]) -> Any:
        return db.settings_for(
            clip=clip, score=default.score, beta=default.beta, policy=default.policy,
            signals=signals,
        )  # fmt: skip

    assert default.clip is not None
    t = time.perf_counter()
    evaluator.evaluate(settings(default.clip))
    out["first_evaluation_s"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluator.evaluate(settings((-10.0, 10.0)))
    out["second_evaluation_s"] = time.perf_counter() - t
    out["server_side_s"] = sum(
        out[k]
        for k in (
            "imports_s",
            "tensorflow_import_s",
            "model_load_s",
            "compile_s",
            "pass_background_s",
            "pass_signals_s",
            "first_evaluation_s",
        )
    )
    return out


def summary(out: dict[str, Any]) -> str:
    """A Markdown table of the phases, with each one's share of the server's side."""
    total = out["server_side_s"]
    rows = [
        ("hepfm's dashboard imports", "imports_s"),
        ("TensorFlow and Keras imported", "tensorflow_import_s"),
        ("the model read", "model_load_s"),
        ("its forward function compiled (XLA)", "compile_s"),
        (f"the background scored ({out['background_events']:,} events)", "pass_background_s"),
        (f"the signals scored ({out['signal_events']:,} events)", "pass_signals_s"),
        ("the first evaluation (every pass prepared)", "first_evaluation_s"),
    ]
    lines = [
        f"command: {out['command']}  (load average at the start: "
        f"{', '.join(f'{x:.2f}' for x in out['loadavg_start'])})",
        "",
        "| phase | s | share |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {out[key]:.2f} | {out[key] / total:.0%} |" for label, key in rows]
    lines += [
        f"| **the server's side of a cold first view** | **{total:.2f}** | |",
        "",
        f"The background's pass: {out['pass_background_ev_s'] / 1e6:.2f} M events/s, "
        f"{out['pass_background_cpu_s']:.1f} s of CPU: {out['pass_background_cores_busy']:.2f} "
        f"of the machine's {out['cores']} cores busy. A later evaluation (another clip, the "
        f"passes prepared): {out['second_evaluation_s']:.2f} s.",
    ]
    if "overlap_sequential_s" in out:
        lines.append(
            "TensorFlow's import beside the app's (fresh interpreters, median of "
            f"{OVERLAP_REPS}): {out['overlap_sequential_s']:.2f} s one after the other, "
            f"{out['overlap_threads_s']:.2f} s in two threads."
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_data_arguments(p, "its model (the first one given is timed)")
    p.add_argument("--no-overlap", action="store_true", help="skip the imports' overlap test")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data, models = ensure_data(args)
    out: dict[str, Any] = {
        "command": " ".join(["benchmarks/bench_cold.py", *sys.argv[1:]]),
        "data": str(data),
        "model": str(models[0]),
        "loadavg_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="hepfm-bench-cold-") as cache:
        out |= phases(data, models[0], Path(cache))
    if not args.no_overlap:
        out |= overlap(OVERLAP_REPS)
    out["loadavg_end"] = os.getloadavg()
    return report(out, summary(out), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
