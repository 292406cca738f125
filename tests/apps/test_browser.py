"""The dashboard in a real browser: Debian's chromium driven by playwright, server on 127.0.0.1.

Moves the controls as a person would and checks that what the page shows is what
hepfm_core computes for the same settings; clicks a count and checks the events shown are
those `hepfm events` lists. Prints the slider-to-numbers latency, the click-to-events time
and the extra server RSS of a second viewer (figures, not assertions). Screenshots go to
``$HEPFM_SCREENSHOTS`` when set (else the test's tmp folder). ``$HEPFM_BROWSER_ROOT=data``
runs it on the full demo (``data/demo``) instead of the small test demo.

The editor test opens ``marimo edit apps/anomaly.py`` on an empty data root, as the README's
first command does, and waits, without clicking, for the notebook to make a tiny demo and
show the dashboard (the project's ``[tool.marimo.runtime] auto_instantiate = true``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import psutil
import pytest

from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
from hepfm_core.views.text import short_number

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "apps" / "anomaly.py"
# A tiny demo for the editor test (hepfm_core.demo reads these when it makes the demo).
TINY_DEMO_ENV = {
    "HEPFM_DEMO_BACKGROUND": "4000",
    "HEPFM_DEMO_SIGNAL": "500",
    "HEPFM_DEMO_EPOCHS": "2",
}

pytestmark = [
    pytest.mark.browser,
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


@pytest.fixture(scope="module")
def served(small_demo, tmp_path_factory, marimo_env):
    """(url, evaluator, server pid, screenshot dir): `marimo run` on the small demo."""
    # $HEPFM_BROWSER_ROOT: measure on an existing data root instead (e.g. the full demo)
    given = os.environ.get("HEPFM_BROWSER_ROOT")
    if given:
        root = Path(given).resolve()
    else:
        root = tmp_path_factory.mktemp("root")
        shutil.copytree(small_demo[0], root / "demo")
    cache = tmp_path_factory.mktemp("cache")
    evaluator = Evaluator.open(root / "demo", root / "demo" / "model.keras", cache=cache)
    evaluator.score_all()  # the server then finds every pass in the cache
    port = free_port()
    env = dict(os.environ, HEPFM_DATA_ROOT=str(root), HEPFM_CACHE_DIR=str(cache), **marimo_env)
    log = open(tmp_path_factory.mktemp("log") / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "marimo", "run", str(APP), "--headless", "--host", "127.0.0.1",
         "--port", str(port), "--no-token"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        shots = Path(os.environ.get("HEPFM_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
        shots.mkdir(parents=True, exist_ok=True)
        yield f"http://127.0.0.1:{port}/", evaluator, server.pid, shots
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def auc_text(sep) -> str:
    return f"{sep.auc:.3f} ± {short_number(sep.auc_err)}"


def wait_shown(page, result, timeout_s: float = 60.0) -> float:
    """Wait until the metrics table shows ``result``'s AUCs and kept counts; seconds taken."""
    t0 = time.perf_counter()
    wanted = []
    for name, sep in result.signals.items():
        s = result.samples[name]
        wanted.append(auc_text(sep))
        wanted.append(f"{s.policy.kept} / {s.counts.total}")
    deadline = t0 + timeout_s
    while True:
        missing = [w for w in wanted if page.get_by_text(w, exact=True).count() == 0]
        if not missing:
            return time.perf_counter() - t0
        if time.perf_counter() > deadline:
            raise AssertionError(f"page never showed {missing}")
        time.sleep(0.05)


def open_dashboard(pw, chromium_launch, url: str, height: int = 2400):
    """(browser, page, errors): the dashboard opened at 1500 x ``height`` px, its charts
    drawn (vega draws into canvas or svg). ``errors`` collects the page's errors and its
    console's (a clean console is part of the page)."""
    browser = pw.chromium.launch(**chromium_launch)
    page = browser.new_page(viewport={"width": 1500, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=120_000)
    return browser, page, errors


def test_dashboard_follows_the_controls(served, chromium_launch):
    from playwright.sync_api import sync_playwright

    url, evaluator, server_pid, shots = served
    names = evaluator.signal_names
    with sync_playwright() as pw:
        browser, page, errors = open_dashboard(pw, chromium_launch, url)
        s0 = EvaluationSettings(clip=(-20.0, 20.0), signals=names)
        wait_shown(page, evaluator.evaluate(s0))
        # loss distributions; the ROC, the log-x ROC (the working points' region) and the
        # rejection, one spec
        assert page.locator(".vega-embed").count() >= 2
        # their rows inline in the spec (no virtual file fetched from the busy kernel)
        assert "data:text/csv;base64" in page.content()
        page.screenshot(path=str(shots / "dashboard_initial.png"), full_page=True)
        # a shared dashboard names the data relative to its root, not the server's paths
        root = evaluator.model_path.parent.parent
        body = page.inner_text("body")
        assert "data: demo (hepfm)" in body and str(root) not in body
        # the model for the events view loads in the background once: not the second viewer's
        page.get_by_text("Model loaded in the background").first.wait_for(timeout=180_000)
        rss_one = tree_rss(server_pid)

        # score: KL divergence
        page.locator("select:visible").filter(has_text="KL divergence").select_option(
            label="KL divergence"
        )
        s1 = EvaluationSettings(clip=(-20.0, 20.0), score="kl", signals=names)
        r1 = evaluator.evaluate(s1)
        wait_shown(page, r1)

        # the clip slider: lower bound to its minimum, -150
        lower = page.locator("[role=slider]:visible").nth(0)
        lower.focus()
        lower.press("Home")
        s2 = EvaluationSettings(clip=(-150.0, 20.0), score="kl", signals=names)
        r2 = evaluator.evaluate(s2)
        latency = wait_shown(page, r2)
        outside = {n: s.counts.outside_clip for n, s in r2.samples.items()}
        assert outside != {n: s.counts.outside_clip for n, s in r1.samples.items()}
        print(f"\nslider release -> updated numbers in the browser: {latency * 1000:.0f} ms")

        # signal selection: drop wprime_taunu
        # (the multiselect is a button opening a list of options; the name is also a cell's
        # text in the tables)
        page.locator("button[aria-haspopup=dialog]:visible").filter(
            has_text="wprime_taunu"
        ).first.click()
        # (the multiselect's list; the sample dropdowns below hold the name as options too)
        page.get_by_role("listbox").get_by_role("option", name="wprime_taunu").click()
        page.keyboard.press("Escape")
        kept_names = tuple(n for n in names if n != "wprime_taunu")
        s3 = EvaluationSettings(clip=(-150.0, 20.0), score="kl", signals=kept_names)
        r3 = evaluator.evaluate(s3)
        wait_shown(page, r3)
        assert "wprime_taunu" not in r3.signals

        # policy: drop (upstream's) instead of worst
        page.get_by_text("drop: exclude (upstream)").filter(visible=True).first.click()
        s4 = EvaluationSettings(clip=(-150.0, 20.0), score="kl", policy="drop", signals=kept_names)
        r4 = evaluator.evaluate(s4)
        wait_shown(page, r4)
        bkg_kept = (r3.samples["background"].policy.kept, r4.samples["background"].policy.kept)
        assert bkg_kept[1] == bkg_kept[0] - r3.samples["background"].counts.by_cause["kl_overflow"]
        page.screenshot(path=str(shots / "dashboard_kl_drop.png"), full_page=True)

        # the fill: the data read again without imputation, every other control kept
        from hepfm_core.vocabulary import FILL_LABELS

        page.get_by_text(FILL_LABELS["none"], exact=True).filter(visible=True).first.click()
        unfilled = Evaluator.open(
            evaluator.model_path.parent, evaluator.model_path, fill="none", cache=evaluator.cache
        )
        r5 = unfilled.evaluate(s4)
        # unfilled inputs are non-finite: dropped under policy drop, so the numbers differ
        assert r5.samples["background"].counts.by_cause["input_nonfinite"] > 0
        assert r5.samples["background"].policy.kept < r4.samples["background"].policy.kept
        wait_shown(page, r5, timeout_s=180.0)  # the passes of the unfilled inputs are scored

        # a second viewer: its own session thread, the same memory-mapped passes
        second = browser.new_page(viewport={"width": 1500, "height": 2400})
        second.goto(url)
        second.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=120_000)
        wait_shown(second, evaluator.evaluate(s0))
        extra = tree_rss(server_pid) - rss_one
        print(f"extra server RSS of a second viewer: {extra / 2**20:.1f} MiB")
        assert not errors, errors
        browser.close()


def selected_text(select) -> str:
    return select.evaluate("s => s.options[s.selectedIndex].text")


def eventually(check, timeout_s: float = 30.0) -> None:
    """Wait until ``check()`` holds (the controls are redrawn after the numbers)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the page never reached the expected state")
        time.sleep(0.05)


def test_the_clip_controls_agree(served, chromium_launch):
    """The preset, the no-clip switch and the slider show one clip: a preset moves the
    slider, moving the slider makes the preset custom, no clip disables the slider."""
    from playwright.sync_api import sync_playwright

    from hepfm_core.vocabulary import CLIP_PRESETS

    url, evaluator, _, shots = served
    names = evaluator.signal_names
    labels = list(CLIP_PRESETS)
    with sync_playwright() as pw:
        browser, page, errors = open_dashboard(pw, chromium_launch, url)
        wait_shown(page, evaluator.evaluate(EvaluationSettings(clip=(-20.0, 20.0), signals=names)))
        preset = page.locator("select:visible").filter(has_text=labels[2])
        lower = page.locator("[role=slider]:visible").nth(0)
        assert selected_text(preset) == labels[1]  # ±20 (upstream's fix)

        # a preset moves the slider
        preset.select_option(label=labels[2])  # ±50
        wait_shown(page, evaluator.evaluate(EvaluationSettings(clip=(-50.0, 50.0), signals=names)))
        eventually(lambda: lower.get_attribute("aria-valuenow") == "-50")

        # the slider makes the preset custom
        lower.focus()
        lower.press("ArrowRight")
        wait_shown(page, evaluator.evaluate(EvaluationSettings(clip=(-49.9, 50.0), signals=names)))
        eventually(lambda: selected_text(preset) == "custom")

        # no clip: the slider is disabled and says the range is unbounded
        page.get_by_role("switch", name="no clip").first.click()
        wait_shown(page, evaluator.evaluate(EvaluationSettings(clip=None, signals=names)))
        eventually(lambda: selected_text(preset) == labels[0])  # none (float64 guards)
        eventually(lambda: page.get_by_text("none, unbounded").count() >= 1)
        slider = page.locator("[role=slider]").nth(0)
        assert slider.get_attribute("aria-disabled") == "true" or slider.is_disabled()
        page.screenshot(path=str(shots / "clip_controls_off.png"), full_page=False)

        # a preset turns clipping on again
        preset.select_option(label=labels[1])
        wait_shown(page, evaluator.evaluate(EvaluationSettings(clip=(-20.0, 20.0), signals=names)))
        switch = page.get_by_role("switch", name="no clip").first
        eventually(lambda: switch.get_attribute("aria-checked") in ("false", None))
        eventually(lambda: lower.get_attribute("aria-valuenow") == "-20")
        assert not errors, errors
        browser.close()


def show_every_diagnostic(page) -> None:
    """Tick every whole-sample diagnostic in the multiselect (the last one on the page)."""
    from hepfm_core.views.dashboard import DIAGNOSTICS

    picker = page.locator("button[aria-haspopup=dialog]:visible").filter(has_text="Select")
    picker.last.click()
    for view in DIAGNOSTICS:
        page.get_by_role("listbox").get_by_role("option", name=view, exact=True).click()
    page.keyboard.press("Escape")


def test_the_diagnostics_show_when_chosen(served, chromium_launch):
    """Each whole-sample diagnostic, chosen in the multiselect, shows its section (title and
    chart) in the diagnostics cell, and none shows before it is chosen."""
    from playwright.sync_api import sync_playwright

    from hepfm_core.views.dashboard import DIAGNOSTICS

    url, _, _, shots = served
    with sync_playwright() as pw:
        browser, page, errors = open_dashboard(pw, chromium_launch, url)
        page.get_by_text("Model loaded in the background").first.wait_for(timeout=180_000)
        titles = [view.capitalize() for view in DIAGNOSTICS]
        assert all(page.get_by_text(t, exact=True).count() == 0 for t in titles)
        charts_before = page.locator(".vega-embed").count()
        show_every_diagnostic(page)
        for title in titles:
            page.get_by_text(title, exact=True).first.wait_for(timeout=120_000)
        # each section draws its charts separately (they wrap): at least two a section
        eventually(lambda: page.locator(".vega-embed").count() >= charts_before + 6, 120.0)
        assert page.get_by_text("Cannot compute").count() == 0
        page.screenshot(path=str(shots / "diagnostics.png"), full_page=True)
        assert not errors, errors
        browser.close()


SCROLLED_SIDEWAYS = """() => {
  const found = [];
  const visit = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.shadowRoot) visit(el.shadowRoot);
    const x = getComputedStyle(el).overflowX;
    // a box that scrolls, or one that cuts off what it holds (text cut with an ellipsis on
    // purpose, a "truncate" box, aside)
    const cuts = x === 'hidden' && !String(el.className).includes('truncate');
    if ((x === 'auto' || x === 'scroll' || cuts) && el.clientWidth > 0
        && el.scrollWidth > el.clientWidth + 1) {
      found.push(`${el.tagName}.${String(el.className).slice(0, 40)}: ${el.scrollWidth}`
        + ` > ${el.clientWidth} (${(el.innerText || '').slice(0, 40)})`);
    }
  });
  visit(document);
  return found;
}"""
"""Every element of the page (shadow roots too) that scrolls sideways: its content wider
than its box."""


@pytest.mark.parametrize("width", [1280, 1500])
def test_the_page_fits_its_width(served, chromium_launch, width):
    """At 1,280 and 1,500 px (the sidebar open), no table, chart or text scrolls sideways or
    is cut off: the counts grid, the metrics table, the loss distributions and their
    legend, the ROC charts and every diagnostic's charts (which wrap below each other where
    they must). Under the KL divergence without a clip, where counts of causes are buttons
    and the loss chart carries a long note."""
    from playwright.sync_api import sync_playwright

    url, _, _, shots = served
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_launch)
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.goto(f"{url}?score=kl&clip=none")
        page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=180_000)
        page.locator("table.hepfm-grid").first.wait_for(timeout=60_000)
        eventually(lambda: page.locator(".vega-embed").count() >= 2, 120.0)
        page.get_by_text("Model loaded in the background").first.wait_for(timeout=180_000)
        charts = page.locator(".vega-embed").count()
        show_every_diagnostic(page)
        eventually(lambda: page.locator(".vega-embed").count() > charts + 3, 120.0)
        page.wait_for_timeout(1500)  # the charts' last layout
        page.screenshot(path=str(shots / f"fit_{width}.png"))
        assert page.evaluate(SCROLLED_SIDEWAYS) == []
        browser.close()


def table_with(page, header: str):
    """The marimo table whose header row has a column ``header`` (playwright's locators
    reach into marimo's shadow DOM)."""
    return page.locator("table").filter(has=page.get_by_role("columnheader", name=header))


def table_rows(table) -> list[dict[str, str]]:
    """A table's rows as column -> text (a selection table's checkbox column left out; a
    static table's row headers in)."""
    heads = [t.split("\n")[0].strip() for t in table.locator("thead th").all_inner_texts()]
    rows = []
    for tr in table.locator("tbody tr").all():
        cells = [t.strip() for t in tr.locator("th, td").all_inner_texts()]
        rows.append(dict(zip(heads[-len(cells) :], cells, strict=True)) if cells else {})
    return rows


def listed_events(table) -> list[int]:
    """The events a page of events lists: each row's button (an event's number shows it)."""
    return [int(t.strip()) for t in table.locator("tbody th button").all_inner_texts()]


def test_a_click_on_a_count_shows_its_events(served, chromium_launch, tmp_path):
    """Clicking a non-zero count (a sample and a cause) shows the events behind it: those
    `hepfm events --cause` lists for that sample and cause. Prints the time from the click to
    the events, the model warm (loaded in the background once the dashboard shows). The URL
    then holds the settings and the selection: opened in a new page, it shows the same."""
    from playwright.sync_api import sync_playwright

    from hepfm_core.cli import main
    from hepfm_core.views.dashboard import PAGE_EVENTS
    from hepfm_core.vocabulary import Cause

    url, evaluator, _, shots = served
    causes = [c.label for c in Cause if c != Cause.OK]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_launch)
        page = browser.new_page(viewport={"width": 1500, "height": 4000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}?score=kl&clip=none")  # a link: the KL divergence without a clip
        page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=180_000)
        shown_at = time.perf_counter()
        page.get_by_text("Model loaded in the background").first.wait_for(timeout=180_000)
        warm_s = time.perf_counter() - shown_at

        # the counts grid: a row per count, a column per sample; a count of a cause above
        # zero is a button
        counts = page.locator("table.hepfm-grid")
        samples = [t.strip() for t in counts.locator("thead th").all_inner_texts()][1:]
        names = [t.strip() for t in counts.locator("tbody th").all_inner_texts()]
        found = [
            (sample, name)
            for r, name in enumerate(names)
            if name in causes
            for c, sample in enumerate(samples)
            if counts.locator("tbody tr").nth(r).locator("td").nth(c).locator("button").count()
        ]
        rows = names
        assert found, rows  # the demo's degenerate tracks: some cause is not zero
        preferred = ("background", "kl_overflow")
        sample, cause = preferred if preferred in found else found[0]
        doc = tmp_path / "events.json"
        code = main(
            ["events", "--data", str(evaluator.data.path), "--model", str(evaluator.model_path),
             "--sample", sample, "--cause", cause, "--score", "kl", "--no-clip",
             "--limit", str(PAGE_EVENTS), "--json", str(doc), "--quiet",
             "--cache-dir", str(tmp_path / "cache")]
        )  # fmt: skip
        assert code == 0
        expected = [e["event"] for e in json.loads(doc.read_text())["events"]]

        row = names.index(cause)
        cell = counts.locator("tbody tr").nth(row).locator("td").nth(samples.index(sample))
        cell = cell.locator("button")
        t0 = time.perf_counter()
        cell.click()
        selected = re.compile(rf"^\d+ of \d+ {sample} events with cause {cause}")
        page.get_by_text(selected).first.wait_for(timeout=60_000)
        sentence_s = time.perf_counter() - t0
        # then the page of events, and the first one's caption (its tracks, heat map and
        # latent values beside)
        caption = re.compile(rf"^{sample} event {expected[0]}\b")
        page.get_by_text(caption).first.wait_for(timeout=60_000)
        events_s = time.perf_counter() - t0
        print(
            f"\nmodel loaded in the background {warm_s:.1f} s after the dashboard showed; "
            f"click on {sample}/{cause} ({len(expected)} events on the first page) -> its "
            f"selection and summary shown {sentence_s * 1000:.0f} ms, its events and the "
            f"first one's detail {events_s * 1000:.0f} ms"
        )
        events = table_with(page, "largest residual")
        assert listed_events(events) == expected
        assert table_with(page, "pt [GeV]").count() == 1
        if len(expected) > 1:  # an event's number shows that event in its place
            events.locator("tbody th button").nth(1).click()
            page.get_by_text(re.compile(rf"^{sample} event {expected[1]}\b")).first.wait_for(
                timeout=60_000
            )
            assert not page.get_by_text(caption).count()
        page.screenshot(path=str(shots / "dashboard_events.png"), full_page=True)

        # the link: the settings and the selection, opened again
        link = page.url
        for key in ("score=kl", "clip=none", f"sample={sample}", f"cause={cause}"):
            assert key in link.split("?", 1)[1].split("&"), link
        again = browser.new_page(viewport={"width": 1500, "height": 4000})
        again.goto(link)
        shared = table_with(again, "largest residual")
        shared.first.wait_for(timeout=180_000)
        assert listed_events(shared) == expected
        assert not errors, errors
        browser.close()


def test_an_events_charts_are_drawn_once_scrolled_to(served, chromium_launch):
    """The event shown (a link's selection, here) has its caption and tracks at once; its
    three charts (η-φ, residuals, latent values), far below the controls that choose the
    events, are drawn only once scrolled into view: a brush, count click or top-N does not
    pay for them (160 ms of the page's time each, at the seed's scale)."""
    from playwright.sync_api import sync_playwright

    url, _, _, _ = served
    with sync_playwright() as pw:
        link = f"{url}?sample=background&cause=imputed"
        browser, page, errors = open_dashboard(pw, chromium_launch, link, height=900)
        caption = re.compile(r"^background event \d+\b.*filled by the reader")
        page.get_by_text(caption).first.wait_for(timeout=180_000)
        eta_phi = "els => els.filter(e => (e.dataset.data || '').includes('tracks in η-φ')).length"
        page.wait_for_timeout(2_000)  # time enough to draw them, were they asked for
        assert page.locator("marimo-mime-renderer").evaluate_all(eta_phi) == 0
        page.locator("marimo-lazy").last.scroll_into_view_if_needed()
        eventually(lambda: page.locator("marimo-mime-renderer").evaluate_all(eta_phi) == 1, 60.0)
        drawn = page.locator("marimo-mime-renderer .vega-embed canvas")
        eventually(lambda: drawn.count() >= 3, 60.0)
        assert not errors, errors
        browser.close()


def test_a_click_on_the_imputed_count_shows_the_filled_events(served, chromium_launch):
    """The "imputed (kept)" count of the background is a button too: it lists the events whose
    stored raw values the reader filled (the file's rows with NaN or inf), and the chosen
    event's tracks name the filled values; an η-φ display of its tracks sits beside them."""
    from playwright.sync_api import sync_playwright

    from hepfm_core.views.dashboard import PAGE_EVENTS
    from hepfm_core.views.investigation import FILLED_TITLE
    from hepfm_core.views.tables import IMPUTED_COLUMN

    url, evaluator, _, shots = served
    with h5py.File(Path(evaluator.data.path) / "background.h5") as h5:
        bad = ~np.isfinite(h5["events"][:])
    expected = np.flatnonzero(bad.any(axis=1))
    assert expected.size  # the demo's NaN reducedChiSquared
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_launch)
        page = browser.new_page(viewport={"width": 1500, "height": 4000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        counts = page.locator("table.hepfm-grid")
        counts.first.wait_for(timeout=180_000)
        samples = [t.strip() for t in counts.locator("thead th").all_inner_texts()][1:]
        names = [t.strip() for t in counts.locator("tbody th").all_inner_texts()]
        row = counts.locator("tbody tr").nth(names.index(IMPUTED_COLUMN))
        button = row.locator("td").nth(samples.index("background")).locator("button")
        assert button.inner_text().replace(",", "") == str(expected.size)
        button.click()
        page.get_by_text(
            re.compile(rf"^{expected.size} of \d+ background events with imputed inputs")
        ).first.wait_for(timeout=120_000)
        events = table_with(page, "largest residual")
        events.first.wait_for(timeout=120_000)
        assert listed_events(events) == expected[:PAGE_EVENTS].tolist()
        first = int(expected[0])
        page.get_by_text(
            re.compile(rf"^background event {first}\b.*filled by the reader")
        ).first.wait_for(timeout=60_000)
        tracks = table_with(page, FILLED_TITLE)
        filled = [r[FILLED_TITLE] for r in table_rows(tracks) if r.get(FILLED_TITLE)]
        assert filled and all(f for f in filled)
        eventually(  # the η-φ display (a chart shown as its spec: its title is drawn)
            lambda: page.locator("marimo-mime-renderer").evaluate_all(
                "els => els.some(e => (e.dataset.data || '').includes('tracks in η-φ'))"
            ),
            60.0,
        )
        # and drawn, with the event's residuals and latent values beside it
        drawn = page.locator("marimo-mime-renderer .vega-embed canvas")
        eventually(lambda: drawn.count() >= 3, 60.0)
        page.screenshot(path=str(shots / "dashboard_imputed.png"), full_page=True)
        assert "cause=imputed" in page.url.split("?", 1)[1].split("&")
        assert not errors, errors
        browser.close()


def wait_listening(port: int, proc: subprocess.Popen, timeout_s: float) -> None:
    """Wait until something listens on ``port``; fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"nothing listened on port {port} after {timeout_s:.0f} s")


def stop_group(proc: subprocess.Popen) -> None:
    """Stop ``proc`` and its children (its own process group): SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
    # the kernel and any other child left in the group
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.mark.slow
def test_editor_runs_the_notebook_on_open(tmp_path, chromium_launch, marimo_env):
    """`marimo edit apps/anomaly.py` on an empty data root: the notebook runs by itself,
    makes the (tiny) demo and shows the charts and the metrics table; nothing is clicked."""
    from playwright.sync_api import sync_playwright

    root = tmp_path / "root"
    root.mkdir()
    env = dict(
        os.environ,
        HEPFM_DATA_ROOT=str(root),
        HEPFM_CACHE_DIR=str(tmp_path / "cache"),
        **TINY_DEMO_ENV,
        **marimo_env,
    )
    # the project's pyproject.toml must switch auto-instantiation on, not the environment
    env.pop("_MARIMO_CONFIG_OVERLOAD_RUNTIME_AUTO_INSTANTIATE", None)
    apps_before = {p.relative_to(APP.parent) for p in APP.parent.rglob("*")}
    shots = Path(os.environ.get("HEPFM_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = tmp_path / "editor.log"
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        # the README's command, from the repository root, so the project's config applies
        server = subprocess.Popen(
            [sys.executable, "-m", "marimo", "edit", str(APP.relative_to(REPO)), "--headless",
             "--no-token", "--host", "127.0.0.1", "--port", str(port), "--skip-update-check",
             "--no-sandbox"],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_listening(port, server, 120)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(**chromium_launch)
                page = browser.new_page(viewport={"width": 1500, "height": 2400})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"http://127.0.0.1:{port}/")
                try:
                    # vega draws into canvas or svg; the metrics table shows "AUC ± error"
                    page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(
                        timeout=240_000
                    )
                    auc = page.get_by_text(
                        re.compile(r"^\d\.\d{3} ± (\d\.\d{3}|\d\.\de-\d\d)$")
                    ).first
                    auc.wait_for(timeout=60_000)
                    page.get_by_text("AUC", exact=True).first.wait_for(timeout=10_000)
                finally:
                    try:
                        page.screenshot(path=str(shots / "editor_on_open.png"), full_page=True)
                    except Exception as exc:  # a screenshot must not hide the real failure
                        print(f"no screenshot: {exc}")
                shown_s = time.perf_counter() - t0
                # the loss distributions; the ROC views (one spec)
                assert page.locator(".vega-embed").count() >= 2
                assert not errors, errors
                browser.close()
            print(f"\nmarimo edit: dashboard shown {shown_s:.0f} s after the server started")
        except BaseException:
            print(log_path.read_text()[-6000:])
            raise
        finally:
            stop_group(server)
    # the tiny demo was made in the data root, not in the repository
    assert (root / "demo" / "model.keras").exists()
    # nothing written next to the notebook (session snapshots, caches)
    apps_after = {p.relative_to(APP.parent) for p in APP.parent.rglob("*")}
    assert apps_after <= apps_before, sorted(map(str, apps_after - apps_before))


def test_the_editor_opens_on_the_dashboard(small_demo, tmp_path, marimo_env, chromium_launch):
    """`hepfm dashboard` (marimo's editor, in its app view): the first 1500 x 1000 px show
    the title, the sidebar, the counts and a chart, no code and no empty output box; the
    code is one click away (the editor's pencil button)."""
    from playwright.sync_api import sync_playwright

    root = tmp_path / "root"
    shutil.copytree(small_demo[0], root / "demo")
    env = dict(os.environ, HEPFM_DATA_ROOT=str(root), HEPFM_CACHE_DIR=str(tmp_path / "c"))
    env |= marimo_env
    launcher = subprocess.Popen(
        [sys.executable, "-m", "hepfm_core.cli", "dashboard", "--no-browser", "--",
         "--data", str(root / "demo"), "--model", str(root / "demo" / "model.keras")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        line = launcher.stdout.readline()
        url = line.split(": ", 1)[1].strip()
        assert "view-as=present" in url and url.startswith("http://127.0.0.1:")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(**chromium_launch)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=240_000)
            # this session's outputs, not the editor's snapshot of an earlier one: the
            # provenance names this test's data folder
            page.get_by_text(str(root / "demo")).first.wait_for(timeout=240_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(tmp_path / "editor_first_screen.png"))

            def top(locator) -> float:
                box = locator.first.bounding_box()
                assert box is not None
                return box["y"]

            title = page.get_by_role("heading", name=re.compile("^Anomaly detection"))
            assert 0 <= top(title) < 200
            assert page.get_by_role("heading", name="hepfm").first.is_visible()  # the sidebar
            assert top(page.locator("table.hepfm-grid")) < 1000
            # the loss distributions (a widget: it takes a brush): its title and axis top
            assert top(page.locator("marimo-vega .vega-embed")) < 1000 - 100
            # no code before the dashboard: no editor shows, and no cell draws an empty box
            assert page.locator(".cm-editor:visible").count() == 0
            assert errors == []
            browser.close()
    finally:
        os.killpg(launcher.pid, signal.SIGTERM)
        launcher.wait(timeout=30)
