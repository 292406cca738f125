"""The dashboard measured as a user feels it: `marimo run` (or `marimo edit`) in Chromium.

Starts the app on a data folder (default: the seed's scale, 2,727,612 background events and
six signals of 9,506, made once under ``benchmarks/.data/seed``; ``--quick``: the 200k demo
under ``benchmarks/.data/demo200k``; ``--data/--model``: any folder), drives Debian's
Chromium through Playwright and reports:

- the first view, cold (an empty scoring cache: every event scored) and warm (a new server
  on the filled cache; ``--warm-views`` servers one after the other, the median reported:
  one first view moves by a second from run to run on two cores), from the page's
  navigation to its final state; both read the bytecode `uv sync` compiled at install
  (``compile-bytecode`` in pyproject.toml);
- each control, from the input event to the final state, ``--reps`` times (at least 5; each
  control is moved once before, so that one-off work such as a second model's scoring pass
  or the model's first load is not counted), as p50, p90 and max;
- the server's RSS (the server process and its children) with one viewer, and with ten more
  viewers open at once;
- the floor: the same slider step on ``floor_app.py`` (a bare page: one slider, three
  Altair charts, static tables), what marimo and Chromium alone cost on this machine.

All of that with one model (the data's ``model.keras``), as a physicist opens the dashboard.
Then, given a second model (made once beside the seed's data: latent dimension 4), a new
server with both, each model shown once until its model has loaded in the background (a
one-off per model and server): the shown-model control, and a clip step with both models
evaluated and compared (a paired DeLong test per signal over every background event: the
heaviest recompute there is). Both count in ``control_p50_s`` and ``control_p90_s``.

**What "final" means.** An init script in the page records, on one clock
(``performance.now()``): the time of the input event (the first pointer, key, input or
change event after the benchmark arms it); every message of marimo's kernel websocket, with
the cells it reports queued or running; and every DOM mutation (a MutationObserver over the
document, shadow roots included through the attached charts). The page is final when no cell
is queued or running, the kernel said ``completed-run`` after the event (or, for a control
that asks nothing of the kernel, nothing came) and neither a kernel message nor a DOM
mutation arrived for ``QUIET_S``; the latency is the last of those arrivals minus the input
event. A brush is a gesture: its input event is the release that ends it (the drag before
is the hand's, not the program's: about 0.07 s for the benchmark's four-step drag); the time
from the press is kept as ``from_press_s``. What follows the release is all counted,
marimo's own 100 ms wait for the last move of a chart selection included. Mutations inside
the document's ``<head>`` are not output and are left out: marimo swaps the tab's icon to
show a run's status, and back about a second after the run. Nor are those inside the page's
visually hidden live region for screen readers (``[data-live-announcer]``): it announces an
edit of a number field (beta, top-N's N) and removes the announcement 7 s later, in the
middle of whatever move is measured then (seen: a policy move "took" 0.82 s where the page
was final at 0.29 s). Vega draws into a canvas whose element is inserted (a mutation), so a
redrawn chart counts.

    uv run python benchmarks/bench_app.py --json bench-app.json   # the seed's scale
    uv run python benchmarks/bench_app.py --quick                  # the 200k demo

The benchmark measures; it asserts nothing. Other work on the machine moves the figures:
the summary prints the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP = REPO / "apps" / "anomaly.py"
FLOOR_APP = HERE / "floor_app.py"
"""A bare page (slider, three charts, tables): the floor the machine gives a page like ours."""
DATA_ROOT = HERE / ".data"
SEED_BACKGROUND = 2_727_612
SEED_SIGNAL = 9_506
QUICK_BACKGROUND = 200_000
QUICK_SIGNAL = 10_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUIET_S = 0.8
"""No kernel message and no DOM change for this long: the page is final."""
TIMEOUT_S = 300.0
VIEWPORT = {"width": 1500, "height": 2000}
GOALS = {
    "control_p50_s": 0.5,
    "control_p90_s": 1.0,
    "click_to_events_s": 1.0,
    "first_view_warm_s": 5.0,
    "first_view_cold_s": 20.0,
    "rss_one_viewer_bytes": 1.5 * 2**30,
    "rss_ten_viewers_extra_bytes": 1.0 * 2**30,
}

# Runs in the page before marimo's scripts: one clock for the input, the kernel and the DOM.
INIT_SCRIPT = r"""
(() => {
  const w = window;
  w.__bench = {armed: false, t0: null, lastMsg: 0, lastMut: 0, busy: {}, completed: 0,
               msgs: 0, runs: 0, released: null};
  const B = w.__bench;
  w.addEventListener("pointerup", (e) => {
    if (B.armed) { B.released = performance.now(); }
  }, true);
  for (const type of ["pointerdown", "mousedown", "keydown", "input", "change", "click"]) {
    w.addEventListener(type, (e) => {
      if (B.armed && B.t0 === null) { B.t0 = performance.now(); }
    }, true);
  }
  const Native = w.WebSocket;
  w.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", (ev) => {
      B.lastMsg = performance.now();
      B.msgs += 1;
      try {
        const m = JSON.parse(ev.data);
        const d = m.data || {};
        if (m.op === "cell-op" && d.status) {
          if (d.status === "queued" || d.status === "running") {
            B.busy[d.cell_id] = 1; B.runs += 1;
          }
          else { delete B.busy[d.cell_id]; }
        }
        if (m.op === "completed-run") { B.completed = performance.now(); }
      } catch (err) { /* not JSON */ }
    });
    return ws;
  };
  w.WebSocket.prototype = Native.prototype;
  Object.assign(w.WebSocket, Native);
  // the document's head is not output: marimo flashes the tab's icon (a <link rel=icon>)
  // for about a second after each run; nor is the visually hidden live region of screen
  // readers, whose announcement of a number field's edit is removed 7 s later (during
  // whatever move is measured then)
  const shown = (r) => !(r.target.closest && r.target.closest("head, [data-live-announcer]"));
  const observe = (root) => new MutationObserver((recs) => {
        if (recs.some(shown)) { B.lastMut = performance.now(); }
      })
      .observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
  const origAttach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = origAttach.call(this, init);
    observe(root);
    return root;
  };
  document.addEventListener("DOMContentLoaded", () => observe(document.documentElement));
})();
"""


# -- data -----------------------------------------------------------------------------------
def ensure_data(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    """The data folder and its models (the second for the shown-model control): given, or
    made once under benchmarks/.data/."""
    if args.data or args.model:
        if not (args.data and args.model):
            sys.exit("give both --data and --model, or neither")
        return Path(args.data).resolve(), [Path(m).resolve() for m in args.model]
    from hepfm_core.demo import demo_ready, make_demo

    n_bkg, n_sig = (
        (QUICK_BACKGROUND, QUICK_SIGNAL) if args.quick else (SEED_BACKGROUND, SEED_SIGNAL)
    )
    out = DATA_ROOT / ("demo200k" if args.quick else "seed")
    if not demo_ready(out):
        print(f"making the data and model under {out} ({n_bkg:,} background events) ...")
        make_demo(out, n_background=n_bkg, n_signal=n_sig)
    second = out / "model_latent4.keras"
    if not second.exists():
        print("training a second model (latent dimension 4) for the shown-model control ...")
        from hepfm_core.model.training import TrainingSettings, train_on_data
        from hepfm_core.model.vae import VAEConfig
        from hepfm_core.sources import open_data

        config = VAEConfig(input_dim=180, latent_dim=4)
        settings = TrainingSettings(epochs=3, max_events=200_000)
        train_on_data(open_data(out), second, config=config, settings=settings)
    return out.resolve(), [(out / "model.keras").resolve(), second.resolve()]


# -- server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`marimo run` (or `edit --headless`) of the app on ``data`` with ``models``, bound to
    127.0.0.1, in its own process group."""

    def __init__(
        self, data: Path, models: list[Path], cache: Path, edit: bool, log: Path, app: Path = APP
    ):
        self.port = free_port()
        mode = ["edit", "--headless", "--skip-update-check"] if edit else ["run", "--headless"]
        argv = [sys.executable, "-m", "marimo", *mode, str(app), "--host", "127.0.0.1",
                "--port", str(self.port), "--no-token", "--", "--data", str(data)]  # fmt: skip
        for m in models:
            argv += ["--model", str(m)]
        env = dict(
            os.environ,
            HEPFM_DATA_ROOT=str(data.parent),
            HEPFM_CACHE_DIR=str(cache),
        )
        # the install's bytecode (`uv sync` compiles every package: pyproject's
        # compile-bytecode), and hepfm's own written on its first import, as for a user
        # whatever this shell says about writing it; marimo's session snapshot goes to the
        # ignored apps/__marimo__
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("PYTHONPYCACHEPREFIX", None)
        self.edit = edit
        self.log = open(log, "w")  # closed in stop()
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        self.listening_s = time.perf_counter() - self.t_start
        self.url = f"http://127.0.0.1:{self.port}/"

    def rss(self) -> int:
        import psutil

        proc = psutil.Process(self.proc.pid)
        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=20)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        self.log.close()


# -- the page -------------------------------------------------------------------------------
def state(page: Any) -> dict[str, Any]:
    return page.evaluate(
        "() => ({...window.__bench, busyN: Object.keys(window.__bench.busy).length,"
        " now: performance.now()})"
    )


def arm(page: Any) -> None:
    page.evaluate(
        "() => { const B = window.__bench; B.armed = true; B.t0 = null; B.runs = 0;"
        " B.released = null; }"
    )


LAST: dict[str, float] = {}
"""The last wait's parts: seconds to the kernel's completed-run and to the last DOM change."""


def wait_final(page: Any, since: float, timeout_s: float = TIMEOUT_S) -> float:
    """Seconds from ``since`` (page clock, ms) to the page's final state (see the module's
    docstring), once it has been quiet for :data:`QUIET_S`."""
    deadline = time.monotonic() + timeout_s
    while True:
        page.wait_for_timeout(50)
        s = state(page)
        last = max(s["lastMsg"], s["lastMut"])
        # quiet for QUIET_S since the last arrival, and since the input event itself: the
        # kernel's first message may take longer than one poll to come
        quiet = s["now"] - max(last, since) >= QUIET_S * 1000
        if s["busyN"] == 0 and quiet and s["completed"] >= since:
            LAST["kernel_s"] = max(s["completed"] - since, 0.0) / 1000.0
            LAST["dom_s"] = max(s["lastMut"] - since, 0.0) / 1000.0
            return max(last - since, 0.0) / 1000.0
        if s["busyN"] == 0 and quiet and s["lastMsg"] < since:
            # nothing reached the kernel: what the page did by itself
            LAST["kernel_s"] = 0.0
            LAST["dom_s"] = max(s["lastMut"] - since, 0.0) / 1000.0
            return max(s["lastMut"] - since, 0.0) / 1000.0
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page did not settle in {timeout_s:.0f} s: {s}")


def open_page(browser: Any, url: str) -> tuple[Any, float]:
    """A new page on ``url``; seconds from navigation to its final state."""
    page = browser.new_page(viewport=VIEWPORT)
    page.add_init_script(INIT_SCRIPT)
    page.goto(url, wait_until="commit")
    page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=TIMEOUT_S * 1000)
    # the page's own clock starts at its navigation: final time from 0
    page.wait_for_function("() => window.__bench && window.__bench.completed > 0")
    return page, wait_final(page, 0.0)


def measure(
    page: Any,
    act: Callable[[], None],
    prepare: Callable[[], None] | None = None,
    from_release: bool = False,
) -> float:
    """Prepare (open a menu, type a number: not timed), wait until the page is quiet, arm,
    act (an input event), wait for the final state: seconds from the act's first event, or
    (``from_release``: a gesture) from its last pointer release; ``LAST["from_press_s"]``
    keeps the time from its first event."""
    if prepare is not None:
        prepare()
    wait_final(page, 0.0)  # the page is quiet before
    arm(page)
    act()
    deadline = time.monotonic() + 10
    while (t0 := state(page)["t0"]) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the action sent no input event")
        page.wait_for_timeout(10)
    start = float(t0)
    if from_release:
        released = state(page)["released"]
        if released is None:
            raise RuntimeError("the gesture was not released")
        start = float(released)
    final = wait_final(page, start)
    LAST["from_press_s"] = final + (start - float(t0)) / 1000.0
    return final


# -- the controls ---------------------------------------------------------------------------
def sidebar_select(page: Any, has_text: str) -> Any:
    return page.locator("select:visible").filter(has_text=has_text).first


@dataclass(frozen=True)
class Control:
    """A control as ``act(rep)`` (rep even moves it one way, odd back), after an untimed
    ``prepare(rep)`` where the control needs one (a menu opened, a number typed);
    ``from_release``: a gesture, timed from its release (see the module's docstring)."""

    act: Callable[[int], None]
    prepare: Callable[[int], None] | None = None
    from_release: bool = False


def controls(page: Any, two_models: bool) -> dict[str, Control]:
    """The controls the benchmark moves, by name."""
    from hepfm_core.vocabulary import CLIP_PRESETS, FILL_LABELS, POLICY_LABELS, SCORE_LABELS

    presets = list(CLIP_PRESETS)

    def slider_step(rep: int) -> None:
        thumb = page.locator("[role=slider]:visible").nth(0)
        thumb.focus()
        thumb.press("ArrowRight" if rep % 2 == 0 else "ArrowLeft")

    def preset(rep: int) -> None:
        sidebar_select(page, presets[1]).select_option(label=presets[2 if rep % 2 == 0 else 1])

    def switch(label: str) -> Callable[[int], None]:
        def act(rep: int) -> None:
            page.get_by_role("switch", name=label).first.click()

        return act

    def score(rep: int) -> None:
        label = SCORE_LABELS["kl" if rep % 2 == 0 else "reconstruction"]
        sidebar_select(page, SCORE_LABELS["kl"]).select_option(label=label)

    def beta(rep: int) -> None:
        box = page.get_by_label("β (total)").first
        box.fill("1.5" if rep % 2 == 0 else "1")
        box.press("Enter")

    def radio(labels: dict[str, str], a: str, b: str) -> Callable[[int], None]:
        def act(rep: int) -> None:
            page.get_by_text(labels[a if rep % 2 == 0 else b], exact=True).first.click()

        return act

    def open_signals(rep: int) -> None:
        # the multiselect is a button opening a list of options, each a toggle
        page.locator("button[aria-haspopup=dialog]:visible").filter(
            has_text="wprime_qq"
        ).first.click()
        page.get_by_role("listbox").get_by_role("option", name="zprime_mumu", exact=True).wait_for()

    def signal(rep: int) -> None:  # deselect zprime_mumu, then select it again
        page.get_by_role("listbox").get_by_role("option", name="zprime_mumu", exact=True).click()
        page.keyboard.press("Escape")

    def bins(rep: int) -> None:
        thumb = page.locator("[role=slider]:visible").nth(2)
        thumb.focus()
        thumb.press("ArrowRight" if rep % 2 == 0 else "ArrowLeft")

    def type_n(rep: int) -> None:
        # the number field's accessible name is marimo's label markup: found by its role
        box = page.locator("input[aria-roledescription='Number field'][aria-label*='>N<']")
        box.first.fill(str(20 + rep % 2))
        box.first.press("Tab")

    def top_n(rep: int) -> None:
        page.get_by_role("button", name="the N most anomalous").first.click()

    # the loss distributions: the first chart that takes a selection (a marimo widget)
    histogram = page.locator("marimo-vega .vega-embed").nth(0)

    def show_chart(rep: int) -> None:
        # the mouse works in the viewport: the loss distributions in view
        histogram.scroll_into_view_if_needed()

    def brush(rep: int) -> None:
        box = histogram.bounding_box()
        y = box["y"] + box["height"] * 0.5
        x0 = box["x"] + box["width"] * (0.35 + 0.02 * (rep % 3))
        page.mouse.move(x0, y)
        page.mouse.down()
        page.mouse.move(x0 + box["width"] * 0.15, y, steps=4)
        page.mouse.up()

    def shown_model(rep: int) -> None:
        # the dropdown of the model whose counts and distributions are shown (labels "name@fp")
        select = page.locator("select:visible").filter(has=page.locator("option", has_text="@"))
        options = select.first.locator("option").all_inner_texts()
        if len(options) < 2:
            raise RuntimeError(f"the shown-model dropdown offers {options}")
        select.first.select_option(label=options[(rep + 1) % len(options)])

    acts: dict[str, Control] = {
        "clip slider step": Control(slider_step),
        "preset": Control(preset),
        "no-clip switch": Control(switch("no clip")),
        "score": Control(score),
        "beta": Control(beta),
        "policy": Control(radio(POLICY_LABELS, "drop", "worst")),
        "fill": Control(radio(FILL_LABELS, "none", "median")),
        "signal deselect/reselect": Control(signal, open_signals),
        "bins": Control(bins),
        "log y": Control(switch("log y")),
        "top-N": Control(top_n, type_n),
        "histogram brush": Control(brush, show_chart, from_release=True),
    }
    if two_models:
        acts["shown model"] = Control(shown_model)
    return acts


def click_count(page: Any) -> float:
    """A click on the first count of a cause above zero (a button of the counts grid: a row
    per count, a column per sample); seconds until its events are listed (the events
    table's first row). Before it, untimed, a click on "the N most anomalous", so that every
    timed click selects its events anew."""
    from hepfm_core.vocabulary import Cause

    causes = [c.label for c in Cause if c != Cause.OK]
    grid = page.locator("table.hepfm-grid").first
    names = [t.strip() for t in grid.locator("tbody th").all_inner_texts()]
    for r, name in enumerate(names):
        buttons = grid.locator("tbody tr").nth(r).locator("td button")
        if name in causes and buttons.count():
            other = page.get_by_role("button", name="the N most anomalous").first
            return measure(page, buttons.first.click, other.click)
    raise RuntimeError("no count of a cause above zero to click: choose another score")


def load_every_model(page: Any, show: Callable[[int], None], n_models: int) -> None:
    """Each model shown once (``show(i)``), until its model has loaded in the background
    for the events view: a one-off per model and server, which a measured move must not
    meet half done (a second model's load, still running, once slowed a measured move of the
    shown model to 1.6 s), then back to the first."""
    for i in range(n_models):
        show(i)
        wait_final(page, 0.0)
        page.get_by_text("Model loaded in the background").first.wait_for(timeout=TIMEOUT_S * 1000)
        wait_final(page, 0.0)


def move_controls(page: Any, acts: dict[str, Control], reps: int) -> dict[str, dict[str, Any]]:
    """Each control moved twice unmeasured (the measured moves then start from rep 1's
    position, so that rep 0 is a change), then ``reps`` times: its times and diagnostics."""
    results: dict[str, dict[str, Any]] = {}
    for name, control in acts.items():

        def move(rep: int, c: Control = control) -> float:
            prep = None if c.prepare is None else (lambda: c.prepare(rep))  # type: ignore[misc]
            return measure(page, lambda: c.act(rep), prep, c.from_release)

        try:
            move(0)
            move(1)
            times, runs, kernel, pressed = [], [], [], []
            for r in range(reps):
                times.append(move(r))
                runs.append(state(page)["runs"])
                kernel.append(LAST["kernel_s"])
                pressed.append(LAST["from_press_s"])
        except Exception as exc:  # report it, go on with the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            print(f"  {name}: failed ({exc})")
            continue
        results[name] = {
            "p50_s": statistics.median(times),
            "p90_s": percentile(times, 0.9),
            "max_s": max(times),
            "times_s": times,
            "cell_reports": runs,  # cells' queued/running reports per move
            "kernel_s": kernel,  # from the input to the kernel's completed-run
        }
        if control.from_release:  # a gesture: also from its first event (the press)
            results[name]["from_press_s"] = pressed
        print(
            f"  {name}: p50 {results[name]['p50_s']:.3f} s, max {max(times):.3f} s,"
            f" kernel p50 {statistics.median(kernel):.3f} s, reports {runs}"
        )
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- the run --------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    data, models = ensure_data(args)
    work = Path(tempfile.mkdtemp(prefix="hepfm-bench-app-"))
    cache = work / "cache"
    cache.mkdir()
    out: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "data": str(data),
        "models": [str(m) for m in models],
        "mode": "edit" if args.edit else "run",
        "loadavg_start": os.getloadavg(),
        "quiet_s": QUIET_S,
        "reps": args.reps,
    }
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            # cold: an empty cache, every event scored
            server = Server(data, models[:1], cache, args.edit, work / "cold.log")
            try:
                page, cold = open_page(browser, server.url)
                out["first_view_cold_s"] = cold
                out["server_listening_s"] = server.listening_s
                page.close()
            finally:
                server.stop()
            print(f"first view, cold: {cold:.2f} s")
            # warm: new servers on the filled cache, the median of their first views; the
            # last one stays for the controls
            warm_runs = []
            for i in range(args.warm_views - 1):
                server = Server(data, models[:1], cache, args.edit, work / f"warm{i}.log")
                try:
                    page, warm = open_page(browser, server.url)
                    warm_runs.append(warm)
                    page.close()
                finally:
                    server.stop()
            server = Server(data, models[:1], cache, args.edit, work / "warm.log")
            try:
                page, warm = open_page(browser, server.url)
                warm_runs.append(warm)
                out["first_view_warm_s"] = statistics.median(warm_runs)
                out["first_view_warm_runs_s"] = warm_runs
                print(
                    f"first view, warm: {out['first_view_warm_s']:.2f} s (median of"
                    f" {', '.join(f'{w:.2f}' for w in warm_runs)})"
                )
                page.get_by_text("Model loaded in the background").first.wait_for(
                    timeout=TIMEOUT_S * 1000
                )
                wait_final(page, 0.0)
                out["rss_one_viewer_bytes"] = server.rss()
                results = move_controls(page, controls(page, two_models=False), args.reps)
                clicks = []
                for _ in range(args.reps):
                    clicks.append(click_count(page))
                results["count click to events"] = {
                    "p50_s": statistics.median(clicks),
                    "p90_s": percentile(clicks, 0.9),
                    "max_s": max(clicks),
                    "times_s": clicks,
                }
                out["click_to_events_s"] = statistics.median(clicks)
                print(f"  count click to events: p50 {out['click_to_events_s']:.3f} s")
                page.screenshot(path=str(work / "after-controls.png"), full_page=True)
                # ten more viewers at once
                extra = [browser.new_page(viewport=VIEWPORT) for _ in range(args.viewers)]
                for p in extra:
                    p.add_init_script(INIT_SCRIPT)
                    p.goto(server.url, wait_until="commit")
                for p in extra:
                    p.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(
                        timeout=TIMEOUT_S * 1000
                    )
                    wait_final(p, 0.0)
                out["rss_ten_viewers_bytes"] = server.rss()
                out["viewers"] = args.viewers
                for p in [page, *extra]:  # their pages would go on trying to reconnect
                    p.close()
            finally:
                server.stop()
            if len(models) > 1:
                # several models: the shown-model control, and a clip step with every model
                # evaluated and compared (a paired test per signal on every background event)
                server = Server(data, models, cache, args.edit, work / "models.log")
                try:
                    page, first = open_page(browser, server.url)
                    out["first_view_models_s"] = first
                    print(f"first view, {len(models)} models (new passes scored): {first:.2f} s")
                    acts = controls(page, two_models=True)
                    load_every_model(page, acts["shown model"].act, len(models))
                    several = {
                        "shown model": acts["shown model"],
                        f"clip slider step, {len(models)} models compared": acts[
                            "clip slider step"
                        ],
                    }
                    results |= move_controls(page, several, args.reps)
                finally:
                    server.stop()
            # the floor: the same slider step on a bare page, in this run
            server = Server(data, [], cache, args.edit, work / "floor.log", app=FLOOR_APP)
            try:
                page, _ = open_page(browser, server.url)
                acts = {"clip slider step": controls(page, two_models=False)["clip slider step"]}
                floor = move_controls(page, acts, args.reps)["clip slider step"]
                out["floor_control_p50_s"] = floor.get("p50_s")
                page.close()
            finally:
                server.stop()
            out["controls"] = results
            # the count click has its own key and goal (click_to_events_s)
            timed = [r for n, r in results.items() if "p50_s" in r and n != "count click to events"]
            out["control_p50_s"] = max(r["p50_s"] for r in timed)
            out["control_p90_s"] = max(r["p90_s"] for r in timed)
            out["controls_failed"] = sorted(n for n, r in results.items() if "error" in r)
            browser.close()
    finally:
        out["loadavg_end"] = os.getloadavg()
        out["work"] = str(work)
        if not args.keep:
            shutil.rmtree(cache, ignore_errors=True)
    extra_rss = out.get("rss_ten_viewers_bytes", 0) - out.get("rss_one_viewer_bytes", 0)
    out["rss_ten_viewers_extra_bytes"] = extra_rss
    out["goals"] = {
        k: {"goal": g, "value": out.get(k), "met": out.get(k) is not None and out[k] <= g}
        for k, g in GOALS.items()
    }
    return out


def summary(out: dict[str, Any]) -> str:
    lines = [
        f"`{out['command']}` ({out['mode']}, load average {out['loadavg_start'][0]:.2f} at the"
        f" start, {out['loadavg_end'][0]:.2f} at the end)",
        "",
        "| control | p50 (s) | p90 (s) | max (s) |",
        "|---|---|---|---|",
    ]
    for name, r in out.get("controls", {}).items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:60]} | | |")
        else:
            lines.append(f"| {name} | {r['p50_s']:.3f} | {r['p90_s']:.3f} | {r['max_s']:.3f} |")
    floor = out.get("floor_control_p50_s")
    if floor:
        lines.append(f"| floor: slider step on floor_app.py (a bare page) | {floor:.3f} | | |")
    lines += ["", "| figure | value | goal | met |", "|---|---|---|---|"]
    for key, g in out["goals"].items():
        v = g["value"]
        if key.endswith("bytes"):
            shown = "n/a" if v is None else f"{v / 2**30:.2f} GiB"
            goal = f"<= {g['goal'] / 2**30:.1f} GiB"
        else:
            shown = "n/a" if v is None else f"{v:.2f} s"
            goal = f"<= {g['goal']:g} s"
        lines.append(f"| {key} | {shown} | {goal} | {'yes' if g['met'] else 'no'} |")
    return "\n".join(lines)


def add_data_arguments(p: argparse.ArgumentParser, model_help: str) -> None:
    """``--quick``, ``--data`` and ``--model``: what :func:`ensure_data` reads."""
    p.add_argument("--quick", action="store_true", help="the 200k demo instead of the seed")
    p.add_argument("--data", help="a data folder (default: made under benchmarks/.data/)")
    p.add_argument("--model", action="append", help=model_help)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_data_arguments(p, "its model(s); twice: the shown-model control")
    p.add_argument("--edit", action="store_true", help="marimo edit --headless instead of run")
    p.add_argument("--reps", type=int, default=5, help="measured moves per control (>= 5)")
    p.add_argument("--viewers", type=int, default=10, help="concurrent viewers for the RSS")
    p.add_argument(
        "--warm-views", type=int, default=3, help="new servers whose first view is the warm one"
    )
    p.add_argument("--keep", action="store_true", help="keep the scoring cache and logs")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON to OUT")
    args = p.parse_args(argv)
    if args.reps < 5:
        p.error("--reps must be at least 5 (p90 needs them)")
    if args.warm_views < 1:
        p.error("--warm-views must be at least 1")
    return args


def report(out: dict[str, Any], text: str, json_path: str | None) -> int:
    """Print a run's summary ``text`` and write its figures ``out`` to ``json_path``."""
    print(text)
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = run(args)
    return report(out, summary(out), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
