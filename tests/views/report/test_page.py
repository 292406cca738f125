"""The meeting report (views.report.page, ``write_report``): one offline HTML file,
interactive, whose tables equal `hepfm evaluate`, and whose figures come from the app's own
chart functions. The tests of the report's other modules are beside this one.

The browser test opens the file in Debian's chromium (playwright) with every non-file request
aborted and the context offline. Screenshots go to ``$HEPFM_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import polars as pl
import pytest

from hepfm_core.cli import main
from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.errors import SettingsError
from hepfm_core.views import charts, tables, text
from hepfm_core.views.report import figures, grid, page
from hepfm_core.views.report.figures import FIGURE_NAMES, FIGURE_SCALE
from hepfm_core.views.text import format_interval, short_number

# The report's settings: a grid clip, a non-default score and policy, three of six signals.
SETTINGS = ["--clip", "-20", "20", "--score", "kl", "--policy", "drop"]
SIGNALS = ["wprime_qq", "zprime_ee", "zprime_tt"]
KEY = "kl|-20:20"
# A second grid point the widgets reach (same policy: the grid keeps the report's policy).
OTHER = ["--no-clip", "--score", "reconstruction", "--policy", "drop"]
OTHER_KEY = "reconstruction|none"


@pytest.fixture(scope="module")
def written(small_demo, tmp_path_factory, strict_json):
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
        docs.append(strict_json(path.read_text()))
    return out, figures, docs[0], docs[1], seconds


def embedded(path: Path, strict_json) -> dict:
    """The report's data as the page's script reads it (strict JSON)."""
    text = path.read_text(encoding="utf-8")
    m = re.search(
        r'<script type="application/json" id="hepfm-report-data">(.*?)</script>', text, re.S
    )
    assert m, "no embedded report data"
    return strict_json(m.group(1))


def scripts(text: str) -> list[tuple[str, str]]:
    return re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.S | re.I)


class PageTables(HTMLParser):
    """The data tables of a page as the template wrote them: per table its attributes,
    caption, column names and rows (sample, hidden, cells with text, title and class)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, Any]] = []
        self._table: dict[str, Any] | None = None
        self._row: dict[str, Any] | None = None
        self._cell: dict[str, Any] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "data" in (a.get("class") or "").split():
            self._table = {"attrs": a, "caption": "", "columns": [], "rows": []}
            self.tables.append(self._table)
        elif self._table is None:
            return
        elif tag == "caption":
            self._caption = []
        elif tag == "th" and a.get("scope") == "col":
            self._table["columns"].append(a["data-column"])
        elif tag == "tr" and "data-sample" in a:
            self._row = {"sample": a["data-sample"], "hidden": "hidden" in a, "cells": []}
            self._table["rows"].append(self._row)
        elif tag == "td" or (tag == "th" and a.get("scope") == "row"):
            self._cell = {"tag": tag, "attrs": a, "text": []}

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"].append(data)
        elif self._caption is not None:
            self._caption.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._table is not None and self._caption is not None:
            self._table["caption"] = "".join(self._caption).strip()
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            a = self._cell["attrs"]
            self._row["cells"].append(
                {
                    "text": "".join(self._cell["text"]).strip(),
                    "title": a.get("title"),
                    "class": a.get("class") or "",
                }
            )
            self._cell = None
        elif tag == "table":
            self._table = self._row = None


def page_tables(path: Path) -> list[dict[str, Any]]:
    parser = PageTables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def find_table(found: list[dict[str, Any]], kind: str, key: str) -> dict[str, Any]:
    hits = [
        t for t in found if kind in t["attrs"]["class"].split() and t["attrs"]["data-grid"] == key
    ]
    assert len(hits) == 1, (kind, key)
    return hits[0]


# -- expectations from `hepfm evaluate`'s JSON, formatted as the dashboard formats them ------
def expected_metrics(doc: dict) -> dict[str, list[str]]:
    rows = {}
    for name, s in doc["signals"].items():
        row = [name]
        if s["status"] == "ok":
            row.append(f"{s['auc']:.3f} ± {short_number(s['auc_err'])}")
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


def check_metrics(rows: dict[str, list[str]], doc: dict, signals: list[str]) -> None:
    """``rows``: sample -> the texts of its row (its header cell first)."""
    expected = expected_metrics(doc)
    assert sorted(rows) == sorted(signals)
    for name in signals:
        assert rows[name] == expected[name], name


def check_counts(
    rows: dict[str, list[str]], doc: dict, columns: list[str], samples: list[str]
) -> None:
    expected = expected_counts(doc)
    assert sorted(rows) == sorted(samples)
    for name in samples:
        assert rows[name][0] == name
        assert rows[name][1:] == [f"{expected[name][c]:,}" for c in columns[1:]], name


def texts(table: dict[str, Any], shown_only: bool = True) -> dict[str, list[str]]:
    return {
        r["sample"]: [c["text"] for c in r["cells"]]
        for r in table["rows"]
        if not (shown_only and r["hidden"])
    }


# -- the file -------------------------------------------------------------------------------
def test_no_external_references(written):
    """Nothing in the page points outside it: no script src, link href, image, CSS url(),
    @import or font; the data and the page's own script carry no URL at all. (Vega's bundled
    code holds URL strings in messages and the schema id: text, never fetched; the browser
    test checks that no request leaves the file.)"""
    text = written[0].read_text(encoding="utf-8")
    found = scripts(text)
    assert len(found) == 3
    assert len(re.findall(r"</script", text, re.I)) == 3  # no script ends early
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


def test_inlined_code_cannot_end_its_element():
    code = 'const a = "</script>", b = "</SCRIPT >"; /* <!-- */'
    safe = str(page.inline_script(code))
    assert not re.search(r"</script|<!--", safe, re.I)
    assert safe == code.replace("</", "<\\/").replace("<!--", "<\\!--")
    assert "</style" not in str(page.inline_style("a::after { content: '</style>' }"))


def test_size_and_thin_data(written, strict_json):
    out = written[0]
    assert out.stat().st_size < 3_000_000
    doc = embedded(out, strict_json)
    n_points = len(grid.GRID_SCORES) * len(grid.clip_choices((-20.0, 20.0)))
    rows = {name: figures.unpack(packed) for name, packed in doc["datasets"].items()}
    hist = [r for data in rows.values() for r in data if "edge" in r]
    curves = [r for data in rows.values() for r in data if "fpr" in r and charts.GRID in r]
    assert len({r[charts.GRID] for r in hist}) == n_points
    per_sample = pl.DataFrame(hist).group_by(charts.GRID, "sample").len()
    assert per_sample["len"].max() <= grid.HIST_BINS + 1
    per_curve = pl.DataFrame(curves).group_by(charts.GRID, "sample").len()
    assert per_curve["len"].max() <= charts.CURVE_POINTS
    # the ROC and the rejection views read one dataset, stored once
    assert set(doc["uses"]["roc"]) & set(doc["uses"]["rejection"])


def test_tables_equal_evaluate_json(written, strict_json):
    """The HTML tables of the report's grid point hold `hepfm evaluate`'s numbers, with the
    unticked signals' rows hidden; every grid point is there for the widgets."""
    out, _, doc, other, _ = written
    page_doc = embedded(out, strict_json)
    assert page_doc["settings"]["signals"] == SIGNALS
    assert page_doc["settings"] | {"signals": None} == doc["settings"] | {"signals": None}
    assert page_doc["current"] == KEY
    found = page_tables(out)
    n_points = len(grid.GRID_SCORES) * len(grid.clip_choices((-20.0, 20.0)))
    assert len(found) == 2 * n_points
    assert [t["attrs"]["data-grid"] == KEY for t in found].count(True) == 2
    assert all(("hidden" in t["attrs"]) == (t["attrs"]["data-grid"] != KEY) for t in found)

    metrics = find_table(found, "metrics", KEY)
    assert (
        metrics["caption"]
        == "Metrics per signal: KL divergence, clip z_log_var ±20 (upstream's fix)"
    )
    check_metrics(texts(metrics), doc, SIGNALS)
    counts = find_table(found, "counts", KEY)
    samples = ["background", *SIGNALS]
    check_counts(texts(counts), doc, counts["columns"], samples)
    # the hidden rows hold the other signals (`OTHER` evaluates them all), ready for their box
    assert sorted(texts(counts, shown_only=False)) == sorted(["background", *other["signals"]])
    # Every grid point is there for the widgets, e.g. the one `OTHER` evaluates.
    other_metrics = find_table(found, "metrics", OTHER_KEY)
    check_metrics(texts(other_metrics, shown_only=False), other, list(other["signals"]))
    other_counts = find_table(found, "counts", OTHER_KEY)
    names = ["background", *other["signals"]]
    check_counts(texts(other_counts, shown_only=False), other, other_counts["columns"], names)


def test_cells_carry_highlights_reasons_and_intervals(written):
    """Shading follows `tables.highlighted`; every "n/a" says why in its title; efficiencies
    carry their Clopper-Pearson interval and, in the title, the ε_B their cut reached."""
    found = page_tables(written[0])
    seen_na = 0
    for table in found:
        kind = table["attrs"]["class"].split()
        for row in table["rows"]:
            for column, cell in zip(table["columns"][1:], row["cells"][1:], strict=True):
                if "counts" in kind:
                    value = int(cell["text"].replace(",", ""))
                    assert ("highlight" in cell["class"]) == tables.highlighted(column, value)
                elif cell["text"].startswith("n/a"):
                    seen_na += 1
                    assert cell["title"], (column, cell)
                elif column.startswith("ε_S at"):
                    assert re.fullmatch(r"\S+ \[\S+, \S+\]", cell["text"]), cell
    assert seen_na, "the small demo has working points without enough background"
    counts = find_table(found, "counts", KEY)
    assert tables.IMPUTED_COLUMN in counts["columns"]


def test_not_drawn_notes_per_grid_point_and_sample(written):
    """Under the histograms: per grid point, `tables.histogram_note` of each sample with
    values outside the bins (shown while its box is ticked), else that every event is drawn."""
    text = written[0].read_text(encoding="utf-8")
    lists = re.findall(
        r'<ul class="note not-drawn" data-grid="([^"]+)"([^>]*)>(.*?)</ul>', text, re.S
    )
    n_points = len(grid.GRID_SCORES) * len(grid.clip_choices((-20.0, 20.0)))
    assert len(lists) == n_points and len({key for key, _, _ in lists}) == n_points
    some = 0
    for key, attrs, body in lists:
        assert ("hidden" in attrs) == (key != KEY)
        assert body.strip().endswith(
            '<li class="all-drawn">every event is inside the drawn range</li>'
        )
        for sample, hidden, note in re.findall(
            r'<li data-sample="([^"]+)"( hidden)?>(.*?)</li>', body
        ):
            some += 1
            assert note.startswith(f"not drawn: {sample}: "), note
            assert bool(hidden) == (sample not in ["background", *SIGNALS])
    assert some, "the small demo has values outside the bins at some grid point"


def test_figures_png_and_svg(written):
    figures_dir = written[1]
    for name in FIGURE_NAMES:
        png = (figures_dir / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        svg = (figures_dir / f"{name}.svg").read_text()
        m = re.search(r'<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"', svg)
        assert m, name
        w, h = float(m.group(1)), float(m.group(2))
        assert abs(width - FIGURE_SCALE * w) <= 1 and abs(height - FIGURE_SCALE * h) <= 1
        assert 1200 <= width <= 4000 and 1000 <= height <= 2000, (name, width, height)
        fonts = [float(x) for x in re.findall(r'font-size="([\d.]+)(?:px)?"', svg)]
        assert fonts and min(fonts) >= 14, (name, min(fonts))
        assert "policy 'drop'" in svg and "[-20, 20]" in svg  # the settings under the title
        # the report's signals only, as on the page when it opens
        assert all(s in svg for s in SIGNALS) and "wprime_taunu" not in svg, name


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


def test_report_on_upstream_fixture(upstream_fixture, tmp_path, strict_json):
    """The data folder is found from the experiment; the page carries its samples."""
    experiment = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    out = tmp_path / "up.html"
    assert main(["report", "--model", str(experiment), "--out", str(out), "--quiet"]) == 0
    assert embedded(out, strict_json)["provenance"]["data_kind"] == "upstream"
    assert all(
        "background" in texts(t) for t in page_tables(out) if "counts" in t["attrs"]["class"]
    )
    assert out.stat().st_size < 3_000_000


# -- the template -------------------------------------------------------------------------


def test_template_escapes_what_it_is_given(report_data):
    """Autoescape: text from files and models is shown, never run."""
    evil = dataclasses.replace(report_data, summary='<img src=x onerror="alert(1)">')
    html = page.render_html(evil, "/* bundle */")
    assert "<img src=x" not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_the_environment_escapes_and_refuses():
    env = page.environment()
    assert env.from_string("{{ x }}").render(x="<b>&") == "&lt;b&gt;&amp;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    assert env.from_string("{{ x|tojson }}").render(x={"a": "</script>"}) == (
        '{"a":"\\u003c/script\\u003e"}'
    )
    with pytest.raises(ValueError, match="JSON compliant"):
        env.from_string("{{ x|tojson }}").render(x=float("nan"))
    assert str(page.inline_style("p{}</STYLE >")) == "p{}<\\/STYLE >"


def test_the_pages_own_files_are_in_the_package():
    for name in ("report.css", "report.js"):
        code = page.static_text(name)
        assert code.strip() and "://" not in code
    assert "function" in page.static_text("report.js")


def test_controls_and_header_at_the_reports_settings(report_data):
    controls = page._controls(report_data)
    assert [c.value for c in controls["scores"] if c.checked] == ["kl"]
    assert [c.value for c in controls["clips"] if c.checked] == ["-20:20"]
    assert [c.value for c in controls["signals"]] == list(report_data.signals)
    total = next(c for c in controls["scores"] if c.value == "total")
    assert total.label.endswith("(β = 1)")
    rows = dict(page._provenance(report_data))
    assert list(rows)[:2] == ["model", "data"]
    settings = "".join(text for text, _ in rows["settings"])
    assert "score kl, clip z_log_var [-20, 20], β = 1, policy 'drop'" in settings


def test_a_folder_that_cannot_be_made_says_so(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SettingsError, match="cannot create the folder") as info:
        page._ensure_dir(blocker / "sub")
    assert info.value.todo == "choose a writable folder"
    page._ensure_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


# -- in the browser -------------------------------------------------------------------------
DRAWN = """(id) => {
  const names = new Set();
  const walk = (node) => {
    if (!node) return;
    if (node.datum && typeof node.datum.sample === "string") names.add(node.datum.sample);
    if (node.items) node.items.forEach(walk);
  };
  walk(window.hepfmReport.views[id].scenegraph().root);
  return [...names].sort();
}"""

SHOWN_TABLE = """(kind) => {
  const shown = [...document.querySelectorAll("table." + kind)].filter((t) => t.checkVisibility());
  if (shown.length !== 1) return {count: shown.length};
  const columns = [...shown[0].querySelectorAll("thead th")].map((th) => th.dataset.column);
  const rows = {};
  for (const tr of shown[0].querySelectorAll("tbody tr")) {
    const cells = [...tr.cells].map((c) => c.textContent.trim());
    if (tr.checkVisibility()) rows[tr.dataset.sample] = cells;
  }
  return {count: 1, key: shown[0].dataset.grid, columns: columns, rows: rows};
}"""

SHOWN_VIEWS = """() => [...document.querySelectorAll(".view")]
  .filter((v) => v.checkVisibility()).map((v) => v.id)"""


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
def test_page_offline_renders_and_follows_widgets(written, tmp_path, chromium_launch, strict_json):
    from playwright.sync_api import sync_playwright

    out, _, doc, other, _ = written
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
        page_ = context.new_page()
        page_.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page_.on("pageerror", lambda e: errors.append(str(e)))
        page_.goto(out.resolve().as_uri())
        page_.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
        assert requests == [out.resolve().as_uri()]
        assert page_.evaluate(SHOWN_VIEWS) == [
            "view-hist-kl", "view-roc", "view-roc-log", "view-rejection"
        ]  # fmt: skip
        for view in ("hist-kl", "roc", "roc-log", "rejection"):
            assert page_.locator(f"#view-{view} svg").count() >= 1, view
        assert page_.evaluate(DRAWN, "roc") == sorted(SIGNALS)
        assert page_.evaluate(DRAWN, "roc-log") == sorted(SIGNALS)
        assert page_.evaluate(DRAWN, "rejection") == sorted(SIGNALS)
        assert page_.evaluate(DRAWN, "hist-kl") == sorted(["background", *SIGNALS])
        metrics = page_.evaluate(SHOWN_TABLE, "metrics")
        assert metrics["key"] == KEY
        check_metrics(metrics["rows"], doc, SIGNALS)
        counts = page_.evaluate(SHOWN_TABLE, "counts")
        check_counts(counts["rows"], doc, counts["columns"], ["background", *SIGNALS])
        # the events section's heat maps: static views, every one drawn
        n_events = len(embedded(out, strict_json)["events"]["specs"])
        assert page_.locator(".event-view svg.marks").count() == n_events > 0
        page_.screenshot(path=str(shots / "report.png"), full_page=True)

        # Unticking a signal removes it from every view and table; ticking another adds it.
        boxes = page_.locator("#controls input[name=signal]")
        names = [boxes.nth(i).get_attribute("value") for i in range(boxes.count())]
        assert sorted(names) == sorted(other["signals"])  # `OTHER` evaluates every signal
        gone, added = SIGNALS[0], next(s for s in names if s not in SIGNALS)
        page_.locator(f"#controls input[name=signal][value='{gone}']").uncheck()
        page_.locator(f"#controls input[name=signal][value='{added}']").check()
        now = sorted([*SIGNALS[1:], added])
        for view in ("roc", "roc-log", "rejection"):
            wait_until(lambda v=view: page_.evaluate(DRAWN, v) == now)
        wait_until(lambda: page_.evaluate(DRAWN, "hist-kl") == ["background", *now])
        assert sorted(page_.evaluate(SHOWN_TABLE, "metrics")["rows"]) == now

        # Another score and clip: the tables show `hepfm evaluate`'s numbers for them.
        page_.locator("#controls input[name=score][value='reconstruction']").check()
        page_.locator("#controls input[name=clip][value='none']").check()
        wait_until(lambda: page_.evaluate(SHOWN_TABLE, "metrics").get("key") == OTHER_KEY)
        check_metrics(page_.evaluate(SHOWN_TABLE, "metrics")["rows"], other, now)
        counts = page_.evaluate(SHOWN_TABLE, "counts")
        check_counts(counts["rows"], other, counts["columns"], ["background", *now])
        assert page_.evaluate(SHOWN_VIEWS) == [
            "view-hist-reconstruction", "view-roc", "view-roc-log", "view-rejection"
        ]  # fmt: skip
        wait_until(lambda: page_.evaluate(DRAWN, "hist-reconstruction") == ["background", *now])
        page_.screenshot(path=str(shots / "report_switched.png"), full_page=True)
        browser.close()
    assert not errors, errors


# -- several models -------------------------------------------------------------------------
def test_report_of_two_models(small_demo, second_model, tmp_path, strict_json):
    """Every grid point compares the models (a comparison table and the models' metrics side
    by side); the curves of both models are the page's and the slides'; the single-model
    report carries none of it."""
    from hepfm_core.engine.compare.models import ModelSet
    from hepfm_core.engine.compare.specs import parse_model_specs

    data_dir, model = small_demo
    out, figs = tmp_path / "two.html", tmp_path / "figures"
    common = ["--data", str(data_dir), "--model", str(model), "--model", f"small={second_model}"]
    common += ["--quiet", "--cache-dir", str(tmp_path / "cache"), *SETTINGS]
    shown = ["--signals", ",".join(SIGNALS)]  # the page shows these; Holm runs over all
    assert main(["report", *common, *shown, "--out", str(out), "--figures", str(figs)]) == 0
    assert main(["evaluate", *common, "--json", str(tmp_path / "r.json")]) == 0
    doc = strict_json((tmp_path / "r.json").read_text())
    found = page_tables(out)
    n_points = len(grid.GRID_SCORES) * len(grid.clip_choices((-20.0, 20.0)))
    comparisons = [t for t in found if "comparisons" in t["attrs"]["class"].split()]
    assert len(comparisons) == n_points
    first, second = doc["models"]
    current = find_table(found, "comparisons", KEY)
    assert current["caption"].startswith("Comparisons of models: KL divergence")
    assert [r["sample"] for r in current["rows"]] == list(doc["models"][first]["signals"])
    for row, c in zip(current["rows"], doc["comparisons"], strict=True):
        cells = [cell["text"] for cell in row["cells"]]
        assert cells[:4] == [c["signal"], first, second, f"{c['n_background']:,} / "
                             f"{c['n_signal']:,}"]  # fmt: skip
        assert cells[5:7] == [text.format_p(c["p_value"]), text.format_p(c["p_value_holm"])]
        assert row["hidden"] == (c["signal"] not in SIGNALS)  # the report's signals shown
    metrics = find_table(found, "metrics", KEY)
    assert metrics["columns"][1:3] == [f"AUC · {first}", f"AUC · {second}"]
    auc = {r["sample"]: r["cells"][1:3] for r in metrics["rows"]}
    for name in SIGNALS:
        want = [doc["models"][m]["signals"][name] for m in (first, second)]
        assert [c["text"] for c in auc[name]] == [f"{s['auc']:.3f} ± {short_number(s['auc_err'])}"
                                                  for s in want]  # fmt: skip
    embedded_doc = embedded(out, strict_json)
    assert embedded_doc["comparisons"] == doc["comparisons"]
    page_text = out.read_text(encoding="utf-8")
    assert f"model {first}" in page_text and f"model {second}" in page_text
    assert "hepfm report · " + f"{first} vs {second}" in page_text
    roc_svg = (figs / "roc.svg").read_text()
    assert first in roc_svg and second in roc_svg  # the model legend on the slide
    # one model: the same report as before, without the comparison
    data = grid.collect(ModelSet.open(data_dir, parse_model_specs([str(model)])),
                        EvaluationSettings(score="kl"))  # fmt: skip
    assert data.models == () and all(p.comparisons is None for p in data.points)
    assert "comparisons" not in figures.page_document(data)
    assert "Comparison of models" not in page.render_html(data, "")
