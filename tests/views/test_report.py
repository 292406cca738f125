"""The meeting report: one offline HTML file, interactive, whose tables equal `hepfm evaluate`.

The browser test opens the file in Debian's chromium (playwright) with every non-file request
aborted and the context offline. Screenshots go to ``$HEPFM_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import json
import os
import re
import struct
import time
from pathlib import Path

import pytest

from hepfm_core.cli import main
from hepfm_core.views.report import grid
from hepfm_core.views.report.page import FIGURE_NAMES, FIGURE_SCALE, VIEWS
from hepfm_core.views.text import format_interval

# The report's settings: a grid clip, a non-default score and policy, three of six signals.
SETTINGS = ["--clip", "-20", "20", "--score", "kl", "--policy", "drop"]
SIGNALS = ["wprime_qq", "zprime_ee", "zprime_tt"]
# A second grid point the widgets reach (same policy: the grid keeps the report's policy).
OTHER = ["--no-clip", "--score", "reconstruction", "--policy", "drop"]


def strict(text: str):
    def refuse(token):
        raise ValueError(token)

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def written(small_demo, tmp_path_factory):
    """(report, figures folder, evaluate JSON at the report's settings, at OTHER, seconds)."""
    data_dir, model = small_demo
    tmp = tmp_path_factory.mktemp("report")
    common = ["--data", str(data_dir), "--model", str(model), "--cache-dir", str(tmp / "cache")]
    common += ["--quiet"]
    out, figures = tmp / "report.html", tmp / "figures"
    t0 = time.perf_counter()
    code = main(
        ["report", *common, *SETTINGS, "--signals", ",".join(SIGNALS), "--out", str(out),
         "--figures", str(figures)]
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    assert code == 0
    docs = []
    for settings in ([*SETTINGS, "--signals", ",".join(SIGNALS)], OTHER):
        path = tmp / f"evaluate{len(docs)}.json"
        assert main(["evaluate", *common, *settings, "--json", str(path)]) == 0
        docs.append(strict(path.read_text()))
    return out, figures, docs[0], docs[1], seconds


def embedded(path: Path) -> dict:
    """The report's data as the page's script reads it."""
    text = path.read_text(encoding="utf-8")
    m = re.search(
        r'<script type="application/json" id="hepfm-report-data">(.*?)</script>', text, re.S
    )
    assert m, "no embedded report data"
    return strict(m.group(1))


def scripts(text: str) -> list[tuple[str, str]]:
    return re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.S | re.I)


# -- expectations from `hepfm evaluate`'s JSON, formatted as the dashboard formats them ------
def expected_metrics(doc: dict) -> dict[str, list[str]]:
    rows = {}
    for name, s in doc["signals"].items():
        row = [name]
        if s["status"] == "ok":
            row.append(f"{s['auc']:.3f} ± {s['auc_err']:.3f}")
        else:
            row.append(f"n/a: {s['reason']}")
        for wp in s["working_points"]:
            if wp["eff_sig"] is None:
                row.append(f"n/a: {wp['status'].replace('_', ' ')}")
            else:
                lo, hi = wp["eff_sig_lower"], wp["eff_sig_upper"]
                assert lo <= wp["eff_sig"] <= hi
                row.append(format_interval(wp["eff_sig"], lo, hi))
        row.append("n/a" if s["max_sic"] is None else f"{s['max_sic']:.2f}")
        sample = doc["samples"][name]
        row.append(f"{sample['kept']} / {sample['total']}")
        rows[name] = row
    return rows


def expected_counts(doc: dict) -> dict[str, dict[str, int]]:
    out = {}
    for name, s in doc["samples"].items():
        out[name] = {
            "total": s["total"],
            "kept": s["kept"],
            "excluded": sum(s["excluded"].values()),
            "imputed (kept)": s["imputed"],
            **{k: v for k, v in s["causes"].items() if k != "ok"},
            "outside clip": s["outside_clip"],
            "non-finite without guards (float32)": s["nonfinite_unguarded_float32"],
            "non-finite without guards (float16)": s["nonfinite_unguarded_float16"],
        }
    return out


def table_rows(cells: list[dict]) -> dict[str, dict[int, dict]]:
    rows: dict[str, dict[int, dict]] = {}
    for cell in cells:
        rows.setdefault(cell["s"], {})[cell["c"]] = cell
    return rows


def check_metrics(cells: list[dict], doc: dict, signals: list[str]) -> None:
    rows = table_rows(cells)
    expected = expected_metrics(doc)
    assert sorted(rows) == sorted(signals)
    for name in signals:
        assert [rows[name][c]["t"] for c in sorted(rows[name])] == expected[name], name


def check_counts(cells: list[dict], doc: dict, columns: list[str], samples: list[str]) -> None:
    rows = table_rows(cells)
    expected = expected_counts(doc)
    assert sorted(rows) == sorted(samples)
    for name in samples:
        got = {columns[c]: cell["v"] for c, cell in rows[name].items() if c > 0}
        assert got == expected[name], name
        assert all(rows[name][c]["t"] == f"{got[columns[c]]:,}" for c in rows[name] if c > 0)


# -- the file -------------------------------------------------------------------------------
def test_no_external_references(written):
    """Nothing in the page points outside it: no script src, link href, image, CSS url(),
    @import or font; the data and the page's own script carry no URL at all. (Vega's bundled
    code holds URL strings in messages and the schema id: text, never fetched; the browser
    test checks that no request leaves the file.)"""
    text = written[0].read_text(encoding="utf-8")
    found = scripts(text)
    assert len(found) == 3
    for attrs, body in found:
        assert "src" not in attrs.lower()
        assert not re.search(r"""(import\s*\(|from)\s*["'](https?:)?//""", body)
        assert not re.search(r"sourceMappingURL\s*=", body)
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", text, flags=re.S | re.I)
    for pattern in (r"\bsrc\s*=", r"\bhref\s*=", r"\bsrcset\s*=", r"url\(", r"@import",
                    r"@font-face", r"<link\b", r"<img\b", r"<iframe\b", r"://"):  # fmt: skip
        assert not re.search(pattern, markup, re.I), pattern
    bundle = [body for attrs, body in found if "hepfm-vega-bundle" in attrs]
    assert len(bundle) == 1 and "vegaEmbed" in bundle[0]
    own = [body for attrs, body in found if "hepfm-vega-bundle" not in attrs]
    for body in own:
        assert "://" not in body and "http" not in body
        assert "fetch(" not in body and "XMLHttpRequest" not in body


def test_size_and_thin_data(written):
    out = written[0]
    assert out.stat().st_size < 5_000_000
    doc = embedded(out)
    sets = doc["datasets"]
    n_points = len(grid.GRID_SCORES) * len(grid.clip_choices((-20.0, 20.0)))
    assert len({r["g"] for r in sets["histograms"]}) == n_points
    assert all(len(r["x"]) == len(r["y"]) <= grid.HIST_BINS + 1 for r in sets["histograms"])
    assert all(len(r["fpr"]) <= grid.CURVE_POINTS for r in sets["curves"])


def test_tables_equal_evaluate_json(written):
    """The embedded tables at the report's settings hold `hepfm evaluate`'s numbers."""
    out, _, doc, other, _ = written
    page = embedded(out)
    assert page["settings"]["signals"] == SIGNALS
    assert page["settings"] | {"signals": None} == doc["settings"] | {"signals": None}
    key = page["current"]
    assert key == "kl|-20:20"
    metrics = [c for c in page["datasets"]["metrics"] if c["g"] == key and c["s"] in SIGNALS]
    check_metrics(metrics, doc, SIGNALS)
    for name, s in doc["signals"].items():
        cells = table_rows(metrics)[name]
        assert cells[1].get("v") == s["auc"] and cells[1].get("e") == s["auc_err"]
        effs = [cells[c].get("v") for c in range(2, 2 + len(s["working_points"]))]
        assert effs == [wp["eff_sig"] for wp in s["working_points"]]
    counts = [c for c in page["datasets"]["counts"] if c["g"] == key]
    samples = ["background", *SIGNALS]
    check_counts([c for c in counts if c["s"] in samples], doc, page["count_columns"], samples)
    # Every grid point is there for the widgets, e.g. the one `OTHER` evaluates.
    other_cells = [c for c in page["datasets"]["metrics"] if c["g"] == "reconstruction|none"]
    check_metrics(other_cells, other, list(other["signals"]))


def test_figures_png_and_svg(written):
    figures = written[1]
    for name in FIGURE_NAMES:
        png = (figures / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        svg = (figures / f"{name}.svg").read_text()
        m = re.search(r'<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"', svg)
        assert m, name
        w, h = float(m.group(1)), float(m.group(2))
        assert abs(width - FIGURE_SCALE * w) <= 1 and abs(height - FIGURE_SCALE * h) <= 1
        assert width >= 1200, (name, width)
        fonts = [float(x) for x in re.findall(r'font-size="([\d.]+)(?:px)?"', svg)]
        assert fonts and min(fonts) >= 14, (name, min(fonts))


def test_clip_choices_add_the_reports_own_bounds():
    keys = [c.key for c in grid.clip_choices(None)]
    assert keys == ["none", "-20:20", "-50:50", "-88.7:88.7"]
    assert [c.key for c in grid.clip_choices((-50.0, 50.0))] == keys
    extra = grid.clip_choices((-30.0, 12.5))
    assert [c.key for c in extra] == [*keys, "-30:12.5"]
    assert "report" in extra[-1].label


def test_report_errors_exit_2(small_demo, tmp_path, capsys):
    data_dir, model = small_demo
    common = ["report", "--data", str(data_dir), "--model", str(model), "--quiet"]
    common += ["--cache-dir", str(tmp_path / "cache")]
    assert main([*common, "--signals", "nope", "--out", str(tmp_path / "r.html")]) == 2
    assert "unknown signal" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([*common, "--out", str(blocker / "r.html")]) == 2
    assert "cannot" in capsys.readouterr().err


def test_report_on_upstream_fixture(upstream_fixture, tmp_path):
    """The data folder is found from the experiment; the page carries its samples."""
    experiment = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    out = tmp_path / "up.html"
    assert main(["report", "--model", str(experiment), "--out", str(out), "--quiet"]) == 0
    page = embedded(out)
    assert page["provenance"]["data_kind"] == "upstream"
    assert {c["s"] for c in page["datasets"]["counts"]} >= {"background"}
    assert out.stat().st_size < 5_000_000


# -- in the browser -------------------------------------------------------------------------
DRAWN = """(id) => {
  const names = new Set();
  const walk = (node) => {
    if (!node) return;
    if (node.datum && typeof node.datum.s === "string") names.add(node.datum.s);
    if (node.items) node.items.forEach(walk);
  };
  walk(window.hepfmReport.views[id].scenegraph().root);
  return [...names].sort();
}"""

CELLS = """(id) => {
  const cells = [];
  const walk = (node) => {
    if (!node) return;
    if (node.mark && node.mark.marktype === "text" && node.datum && node.datum.s !== undefined)
      cells.push({s: node.datum.s, c: node.datum.c, t: node.text, v: node.datum.v});
    if (node.items) node.items.forEach(walk);
  };
  walk(window.hepfmReport.views[id].scenegraph().root);
  return cells;
}"""


def wait_until(check, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("the page never reached the expected state")
        time.sleep(0.05)


@pytest.mark.browser
def test_page_offline_renders_and_follows_widgets(written, tmp_path, chromium_launch):
    from playwright.sync_api import sync_playwright

    out, _, doc, other, _ = written
    page_doc = embedded(out)
    signals = list(page_doc["settings"]["signals"])
    all_signals = [s for s in page_doc["colours"] if s != "background"]
    columns = list(page_doc["count_columns"])
    shots = Path(os.environ.get("HEPFM_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_launch)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_offline(True)
        requests: list[str] = []
        errors: list[str] = []

        def gate(route):
            requests.append(route.request.url)
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                route.abort()

        context.route("**/*", gate)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(out.resolve().as_uri())
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
        assert requests == [out.resolve().as_uri()]
        for view in VIEWS:
            assert page.locator(f"#view-{view} svg").count() >= 1, view
            assert page.evaluate(DRAWN, view), f"{view} draws nothing"
        assert page.evaluate(DRAWN, "roc") == sorted(signals)
        assert page.evaluate(DRAWN, "hist") == sorted(["background", *signals])
        check_metrics(page.evaluate(CELLS, "metrics"), doc, signals)
        check_counts(page.evaluate(CELLS, "counts"), doc, columns, ["background", *signals])
        page.screenshot(path=str(shots / "report.png"), full_page=True)

        # Unticking a signal removes it from every view; ticking another adds it.
        gone, added = signals[0], next(s for s in all_signals if s not in signals)
        page.locator(f"#controls-signals .vega-bind:has-text('{gone}') input").uncheck()
        page.locator(f"#controls-signals .vega-bind:has-text('{added}') input").check()
        now = sorted([*signals[1:], added])
        for view in ("roc", "rejection", "metrics"):
            wait_until(lambda v=view: page.evaluate(DRAWN, v) == now)
        for view in ("hist", "counts"):
            wait_until(lambda v=view: page.evaluate(DRAWN, v) == ["background", *now])

        # Another score and clip: the tables show `hepfm evaluate`'s numbers for them.
        page.locator("#controls-score input[value='reconstruction']").check()
        page.locator("#controls-clip input[value='none']").check()
        wanted = expected_metrics(other)
        wait_until(
            lambda: (
                {c["t"] for c in page.evaluate(CELLS, "metrics")}
                >= {t for s in now for t in wanted[s]}
            )
        )
        check_metrics(page.evaluate(CELLS, "metrics"), other, now)
        check_counts(page.evaluate(CELLS, "counts"), other, columns, ["background", *now])
        page.screenshot(path=str(shots / "report_switched.png"), full_page=True)
        browser.close()
    assert not errors, errors
