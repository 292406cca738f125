"""The README's figures, measured as a newcomer meets them: on a fresh clone.

    uv run python benchmarks/readme_figures.py            # ~6 min on 2 cores
    uv run python benchmarks/readme_figures.py --write    # and store them for the README

It clones this repository (its committed HEAD) into a temporary folder with nothing beside it
and, with an empty ``HEPFM_CACHE_DIR``:

1. runs the README's first command, ``uv run hepfm dashboard --no-browser``, and opens the
   address it prints in Debian's Chromium: seconds from the command to the address, to the
   first chart drawn, and to "Model loaded in the background"; page and console errors;
2. runs the fast test loop, ``uv run pytest -m "not slow"``: how many tests, in how long;
3. writes the meeting report (``hepfm report``) on the demo the first step wrote and on the
   upstream fixture: their sizes;
4. times ``uv run hepfm demo`` into a fresh folder (200k + 6 x 10k events and the model).

``--write`` stores the figures in ``benchmarks/readme_figures.json``; the README quotes
them in the words of :func:`phrases`, which ``tests/test_readme.py`` checks against that
file, so that a figure in the README is always the last one measured. The dashboard's
per-control figures come from ``bench_app.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STORED = REPO / "benchmarks" / "readme_figures.json"
UPSTREAM = "tests/data/upstream_small"
UPSTREAM_DATA = f"{UPSTREAM}/_processed_datasets/dataset_runs_00298967-2-00311481_45222f19"
UPSTREAM_MODEL = f"{UPSTREAM}/_foundation_experiments/001_Foundation_VAE_Model"


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, HEPFM_CACHE_DIR=str(cache))
    for key in ("VIRTUAL_ENV", "HEPFM_DATA_ROOT", "PYTHONDONTWRITEBYTECODE"):
        env.pop(key, None)
    return env


def dashboard_start(clone: Path, env: dict[str, str], shot: Path | None) -> dict[str, Any]:
    """The README's first command in Chromium: seconds to the address, to the first chart
    and to the model loaded; the page's errors."""
    from bench_app import CHROMIUM, CHROMIUM_FLAGS  # this folder's: one set of flags
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["uv", "run", "hepfm", "dashboard", "--no-browser"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        url = None
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.search(r"https?://127\.0\.0\.1:\d+/\S*", line)
            if found:
                url = found.group(0)
                break
        if url is None:
            raise RuntimeError("the dashboard printed no address")
        address_s = time.perf_counter() - t0
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=900_000)
            chart_s = time.perf_counter() - t0
            page.get_by_text("Model loaded in the background").first.wait_for(timeout=900_000)
            model_s = time.perf_counter() - t0
            if shot is not None:
                page.screenshot(path=str(shot))
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return {
        "address_s": round(address_s, 1),
        "first_chart_s": round(chart_s, 1),
        "model_loaded_s": round(model_s, 1),
        "page_errors": errors,
    }


def fast_tests(clone: Path, env: dict[str, str]) -> dict[str, Any]:
    """``uv run pytest -m "not slow"``: how many passed, in how many seconds."""
    done = subprocess.run(
        ["uv", "run", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    passed = re.search(r"(\d+) passed", tail)
    seconds = re.search(r"in ([\d.]+)s", tail)
    if done.returncode != 0 or not passed or not seconds:
        raise RuntimeError(f"the fast tests did not pass: {tail or done.stderr[-2000:]}")
    return {"fast_tests": int(passed.group(1)), "fast_tests_s": round(float(seconds.group(1)))}


def report_sizes(clone: Path, env: dict[str, str], out: Path) -> dict[str, Any]:
    """``hepfm report`` on the demo and on the upstream fixture: megabytes written."""
    sizes = {}
    for key, data, model in (
        ("report_demo_mb", "data/demo", "data/demo/model.keras"),
        ("report_upstream_mb", UPSTREAM_DATA, UPSTREAM_MODEL),
    ):
        target = out / f"{key}.html"
        subprocess.run(
            ["uv", "run", "hepfm", "report", "--data", data, "--model", model,
             "--out", str(target), "--quiet"],
            cwd=clone, env=env, check=True, capture_output=True,
        )  # fmt: skip
        sizes[key] = round(target.stat().st_size / 1e6, 1)
    return sizes


def demo_time(clone: Path, env: dict[str, str], out: Path) -> dict[str, Any]:
    """``uv run hepfm demo`` into a fresh folder: seconds."""
    t0 = time.perf_counter()
    subprocess.run(
        ["uv", "run", "hepfm", "demo", "--out", str(out / "demo")],
        cwd=clone, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return {"demo_s": round(time.perf_counter() - t0)}


def phrases(figures: dict[str, Any]) -> list[str]:
    """How the README quotes each figure (``tests/test_readme.py`` finds every one, with
    any run of white space as one space)."""
    return [
        f"printed the page's address after {figures['address_s']:.0f} s",
        f"first chart stood in Chromium {figures['first_chart_s']:.0f} s after the command",
        f"({figures['fast_tests']} tests in {figures['fast_tests_s']} s)",
        f"`hepfm report` on the demo writes {figures['report_demo_mb']} MB",
        f"on the upstream fixture {figures['report_upstream_mb']} MB",
        f"`uv run hepfm demo` (200k + 6 x 10k events and the model): {figures['demo_s']} s",
    ]


def _load() -> float:
    return os.getloadavg()[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--write", action="store_true", help=f"store the figures in {STORED.name}")
    p.add_argument("--screenshot", help="a PNG of the first screen")
    args = p.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="hepfm-fresh-"))
    try:
        clone = work / "hepfm"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = _env(work / "cache")
        figures: dict[str, Any] = {
            "commit": commit,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cores": os.cpu_count(),
            "load_at_start": round(_load(), 2),
        }
        shot = Path(args.screenshot) if args.screenshot else None
        for step, run in (
            ("dashboard", lambda: dashboard_start(clone, env, shot)),
            ("tests", lambda: fast_tests(clone, env)),
            ("reports", lambda: report_sizes(clone, env, work)),
            ("demo", lambda: demo_time(clone, env, work)),
        ):
            print(f"{step} ...", flush=True)
            figures |= run()
        figures["load_at_end"] = round(_load(), 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    print("\nThe README says:\n" + "\n".join(f"- {t!r}" for t in phrases(figures)))
    if args.write:
        STORED.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"stored in {STORED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
