"""apps/anomaly.py: static check, headless run against hepfm_core, export, bad-input callouts,
a link's state (query parameters) applied."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hepfm_core.common.paths import DATA_ROOT_ENV
from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
from hepfm_core.engine.investigate.events import Criterion
from hepfm_core.engine.investigate.investigator import Investigator
from hepfm_core.views import dashboard as db
from hepfm_core.views.investigation import BRUSH, selection_sentence
from hepfm_core.views.static_tables import static_table
from hepfm_core.views.tables import (
    clickable_counts,
    count_tooltip,
    counts_grid,
    counts_table,
    metrics_table,
    without_empty_causes,
)
from hepfm_core.views.text import guard_summary

APP = Path(__file__).resolve().parents[2] / "apps" / "anomaly.py"


def load_app():
    spec = importlib.util.spec_from_file_location("anomaly_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


@pytest.fixture(scope="module")
def data_root(small_demo, tmp_path_factory) -> Path:
    """A data root holding the small demo as its demo folder."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(small_demo[0], root / "demo")
    return root


def run_app(monkeypatch, root: Path, cache: Path, *args: str, link: dict | None = None):
    """Run the app headless with ``args`` after ``--``; ``link``: the query parameters of the
    page's URL (the app reads them in the cell that defines ``url_params``)."""
    monkeypatch.setenv(DATA_ROOT_ENV, str(root))
    monkeypatch.setenv("HEPFM_CACHE_DIR", str(cache))
    monkeypatch.setattr(sys, "argv", [str(APP), *args])
    return load_app().run(defs=None if link is None else {"url_params": link})


def output_text(output) -> str:
    """What marimo sends the page for one cell's output: its HTML, or the data of an object
    shown through the ``_mime_`` protocol (a chart spec's JSON)."""
    if hasattr(output, "_mime_"):
        return output._mime_()[1]
    return getattr(output, "text", "") or ""


def texts(outputs) -> str:
    """The HTML (or other data) of every cell output, entities undone."""
    return html.unescape("\n".join(output_text(o) for o in outputs if o is not None))


GRID_TABLE = re.compile(r'<table class="hepfm-static hepfm-grid">.*?</table>', re.S)
BUTTON = re.compile(r"<marimo-ui-element[^>]*>.*?data-label='([^']*)'.*?</marimo-ui-element>", re.S)


def shown_grid(outputs, header: str | None = None) -> list[list[str]]:
    """A grid the page shows (the first, else the one with a column ``header``: the counts
    grid, the events table), cell texts row by row (a button: its label)."""
    raw = "\n".join(output_text(o) for o in outputs if o is not None)
    found = next(
        (g for g in GRID_TABLE.finditer(raw) if header is None or f">{header}</th>" in g[0]),
        None,
    )
    assert found is not None, f"no grid with {header!r} on the page"
    table = BUTTON.sub(
        lambda m: re.sub("<[^>]+>", "", json.loads(html.unescape(m[1]))), found.group(0)
    )
    return [
        [
            html.unescape(re.sub("<[^>]+>", "", c)).strip()  # a count's title left out
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)
    ]


def grid_texts(grid) -> list[list[str]]:
    """``tables.counts_grid`` as the page writes it."""
    return [grid.columns] + [[row[0], *(f"{v:,}" for v in row[1:])] for row in grid.iter_rows()]


def shows_static(outputs, frame) -> bool:
    """Whether the page shows ``frame`` as a static table (read-only tables are not marimo
    tables: see hepfm_core.views.static_tables)."""
    raw = "\n".join(output_text(o) for o in outputs if o is not None)
    return static_table(frame) in raw


def test_marimo_check_strict():
    out = subprocess.run(
        [sys.executable, "-m", "marimo", "check", "--strict", str(APP.parent)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_headless_run_shows_what_hepfm_core_computes(monkeypatch, data_root, tmp_path):
    import gc

    import altair as alt

    transformer = alt.data_transformers.active
    outputs, defs = run_app(monkeypatch, data_root, tmp_path)
    # a script's process keeps its chart transformer and its collector (a page's server
    # inlines chart rows and freezes the warm-up's objects)
    assert alt.data_transformers.active == transformer and gc.get_freeze_count() == 0
    result = defs["result"]
    # the app's defaults: upstream's +-20 clip preset, reconstruction, worst, every signal
    assert result.settings == EvaluationSettings(
        clip=(-20.0, 20.0),
        score="reconstruction",
        beta=1.0,
        policy="worst",
        signals=result.settings.signals,
    )
    ref = Evaluator.open(data_root / "demo", data_root / "demo" / "model.keras", cache=tmp_path)
    expected = ref.evaluate(EvaluationSettings(clip=(-20.0, 20.0), signals=ref.signal_names))
    assert set(result.signals) == set(expected.signals)
    assert counts_table(result).equals(counts_table(expected))
    assert metrics_table(result).equals(metrics_table(expected))
    # what the page shows: the two tables, row for row, and the guard sentence
    grid, empty = without_empty_causes(counts_grid(expected))
    assert shown_grid(outputs) == grid_texts(grid)
    # each count's button says what it shows on hover (a title, not a tooltip per button)
    page = "\n".join(output_text(o) for o in outputs if o is not None)
    spots = clickable_counts(grid)
    assert spots and all(
        f'title="{html.escape(count_tooltip(sample, cause, n), quote=True)}"' in page
        for _, sample, cause, n in spots
    )
    # the causes no sample has an event of: named in a line, not lost
    assert not empty or f"No event of any sample: {', '.join(empty)}." in texts(outputs)
    assert shows_static(outputs, metrics_table(expected))
    assert guard_summary(expected, ref).split(".")[0] in texts(outputs)


def test_a_link_sets_the_controls_and_the_events_shown(monkeypatch, data_root, tmp_path):
    """A link's query parameters are the controls' first values and the events looked at: the
    page shows the evaluation at the link's settings, the engine's selection of the link's
    sample and cause, its summary and its first page of events."""
    link = {
        "score": "kl", "clip": "none", "beta": "0.5", "policy": "drop",
        "signals": "zprime_tt,wprime_qq", "sample": "background", "cause": "kl_overflow",
    }  # fmt: skip
    outputs, defs = run_app(monkeypatch, data_root, tmp_path, link=link)
    result = defs["result"]
    settings = result.settings
    assert (settings.score, settings.clip, settings.beta, settings.policy) == (
        "kl", None, 0.5, "drop"
    )  # fmt: skip
    assert set(settings.signals) == {"zprime_tt", "wprime_qq"}
    assert defs["preset"].value == "none (float64 guards)" and defs["no_clip"].value is True
    assert defs["url_state"].problems == ()

    inv = Investigator(Evaluator.open(data_root / "demo", data_root / "demo" / "model.keras",
                                      cache=tmp_path))  # fmt: skip
    expected = inv.select(
        inv.evaluator.evaluate(settings).samples["background"], Criterion.by_cause("kl_overflow")
    )
    looked = defs["looked"]
    assert expected.size > 0  # the demo's degenerate tracks overflow the KL
    assert looked.selection.events.tolist() == expected.events.tolist()
    assert [d.event for d in defs["details"]] == expected.events[: db.PAGE_EVENTS].tolist()
    shown = texts(outputs)
    assert selection_sentence(expected, inv.summary(expected)) in shown
    assert "track with pt" in shown  # the summary names the degenerate pt
    events_table = shown_grid(outputs, "largest residual")
    assert events_table[0][0] == "event"  # an event's number: the button that shows it
    assert [int(r[0]) for r in events_table[1:]] == [d.event for d in defs["details"]]
    assert "Link." not in shown
    assert re.search(rf'"name":\s*"{BRUSH}"', shown)  # the loss distributions can be brushed


def test_a_bad_link_gives_the_defaults_and_a_callout(monkeypatch, data_root, tmp_path):
    link = {"score": "loss", "clip": "5:-5", "sample": "nope", "cause": "kl_overflow"}
    outputs, defs = run_app(monkeypatch, data_root, tmp_path, link=link)
    settings = defs["result"].settings
    assert (settings.score, settings.clip) == ("reconstruction", (-20.0, 20.0))
    shown = texts(outputs)
    read = html.unescape(shown)  # the link's values are shown as text, character references
    assert "Link." in shown and "score='loss' ignored" in read and "clip='5:-5' ignored" in read
    assert "sample='nope' ignored" in read
    assert defs["looked"].selection is None and defs["looked"].message == db.LOOK_HINT
    assert db.LOOK_HINT in shown


def test_a_crafted_link_puts_no_markup_on_the_page(monkeypatch, data_root, tmp_path):
    """A link is anyone's: its bad values are shown as text, shortened, never as HTML or
    Markdown (an image from another host would be fetched by every viewer's browser)."""
    img = "<img src=http://example.invalid/x.png>"
    link = {
        "clip": "<h1>big</h1>",
        "score": img,
        "beta": "![seen](http://example.invalid/y.png)",
        "policy": "[click](http://example.invalid)" + "x" * 200,
    }
    outputs, _ = run_app(monkeypatch, data_root, tmp_path, link=link)
    shown = texts(outputs)
    for markup in ("<img", "<h1>big", '="http://example.invalid'):
        assert markup not in shown, markup
    read = html.unescape(shown)
    assert f"score={img!r} ignored" in read and "clip='<h1>big</h1>' ignored" in read
    assert "policy='[click](http://example.invalid)xxxxxxxxx…' ignored" in read  # 40 characters


def test_bad_data_folder_gives_a_callout(monkeypatch, data_root, tmp_path):
    bad = data_root / "broken"
    bad.mkdir()
    (bad / "background.h5").write_text("not an HDF5 file")
    outputs, defs = run_app(
        monkeypatch,
        data_root,
        tmp_path,
        "--data",
        str(bad),
        "--model",
        str(data_root / "demo" / "model.keras"),
    )
    shown = texts(outputs)
    assert "Cannot evaluate" in shown and "not an HDF5 file" in shown
    assert defs.get("result") is None


def test_path_outside_root_is_refused(monkeypatch, data_root, tmp_path):
    outputs, _ = run_app(monkeypatch, data_root, tmp_path, "--data", "/etc")
    shown = texts(outputs)
    assert "Path refused" in shown and "outside the dashboard's data root" in shown


def test_model_that_does_not_fit_the_data(monkeypatch, data_root, tmp_path, upstream_fixture):
    exp = data_root / "exp"
    if not exp.exists():
        shutil.copytree(
            upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model", exp
        )
    outputs, _ = run_app(monkeypatch, data_root, tmp_path, "--model", str(exp))
    shown = texts(outputs)
    assert "Cannot evaluate" in shown and "takes 120 inputs" in shown and "180 features" in shown


def test_dataset_without_signals(monkeypatch, data_root, tmp_path):
    lonely = data_root / "lonely"
    lonely.mkdir(exist_ok=True)
    shutil.copy(data_root / "demo" / "background.h5", lonely / "background.h5")
    outputs, _ = run_app(
        monkeypatch,
        data_root,
        tmp_path,
        "--data",
        str(lonely),
        "--model",
        str(data_root / "demo" / "model.keras"),
    )
    assert "no signal sample" in texts(outputs)


def test_export_html_carries_the_charts(data_root, tmp_path, marimo_env):
    out = tmp_path / "dashboard.html"
    env = dict(
        os.environ,
        HEPFM_DATA_ROOT=str(data_root),
        HEPFM_CACHE_DIR=str(tmp_path / "c"),
        **marimo_env,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "marimo", "export", "html", str(APP), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = out.read_text()
    assert "vega-lite" in html and "Loss distributions" in html and "Background rejection" in html
    # the export's session snapshot went to the temporary folder, not next to the notebook
    prefix = Path(marimo_env["PYTHONPYCACHEPREFIX"])
    assert list(prefix.rglob(f"__marimo__/session/{APP.name}.json"))


@pytest.mark.slow  # scores the upstream fixture with TensorFlow
def test_upstream_experiment_brings_its_dataset(monkeypatch, upstream_fixture, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(upstream_fixture, root)
    exp = root / "_foundation_experiments" / "001_Foundation_VAE_Model"
    outputs, defs = run_app(monkeypatch, root, tmp_path / "cache", "--model", str(exp))
    result = defs["result"]
    assert defs["data_kind"] == "upstream"
    assert set(result.signals) == {"wprime_taunu", "zprime_tt"}
    # FIXTURE.md: reconstruction AUC with the background's parameters (the default)
    assert result.signals["wprime_taunu"].auc == pytest.approx(0.9506, abs=0.002)
    assert "signals standardised with the background's parameters" in texts(outputs)


# -- several models -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compare_root(small_demo, second_model, tmp_path_factory) -> tuple[Path, Path, Path]:
    """(root, demo model, second model): the small demo and a second model under a root."""
    root = tmp_path_factory.mktemp("compare-root")
    shutil.copytree(small_demo[0], root / "demo")
    (root / "models").mkdir()
    shutil.copy(second_model, root / "models" / second_model.name)
    return root, root / "demo" / "model.keras", root / "models" / second_model.name


class _ComparisonTable(HTMLParser):
    """The rows (cell texts, the row's header first) of the report's comparison tables, per
    grid key."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._key: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "comparisons" in (a.get("class") or "").split():
            self._key = a["data-grid"]
            self.tables[self._key] = []
        elif self._key is not None and tag == "tr" and "data-sample" in a:
            self._row = []
            self.tables[self._key].append(self._row)
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._key = self._row = None


def test_two_models_agree_in_json_app_and_report(monkeypatch, compare_root, tmp_path, strict_json):
    """`hepfm evaluate` and `hepfm report` with two --model, and the app with the same two
    (`-- --model A --model B`), at the app's default settings: one comparison, three views."""
    from hepfm_core.cli import main
    from hepfm_core.views.tables import comparison_table
    from hepfm_core.views.text import format_difference, format_p

    root, model, second = compare_root
    cache = tmp_path / "cache"
    common = ["--data", str(root / "demo"), "--model", str(model), "--model", str(second)]
    common += ["--clip", "-20", "20", "--quiet", "--cache-dir", str(cache)]
    assert main(["evaluate", *common, "--json", str(tmp_path / "r.json")]) == 0
    doc = strict_json((tmp_path / "r.json").read_text())
    assert main(["report", *common, "--out", str(tmp_path / "report.html")]) == 0
    outputs, defs = run_app(monkeypatch, root, cache, "--model", str(model), "--model", str(second))

    # the app: the same models, labels and comparisons, number for number
    compared = defs["compared"]
    assert compared.labels == tuple(doc["models"]) and len(doc["comparisons"]) == 6
    app_json = json.loads(json.dumps(compared.to_json_dict(), allow_nan=False))
    assert app_json["comparisons"] == doc["comparisons"]
    for label in compared.labels:
        assert app_json["models"][label]["signals"] == doc["models"][label]["signals"]
    # the report: its embedded data holds the comparisons at its own settings
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="hepfm-report-data">(.*?)</script>', page,
                  re.S)  # fmt: skip
    embedded = strict_json(m.group(1))
    assert embedded["models"] == list(doc["models"])
    assert embedded["comparisons"] == doc["comparisons"]
    # what each shows: the one comparison table, with the JSON's numbers formatted
    table = comparison_table(compared)
    assert shows_static(outputs, table)
    parser = _ComparisonTable()
    parser.feed(page)
    assert parser.tables[embedded["current"]] == [list(r) for r in table.iter_rows()]
    for row, c in zip(table.iter_rows(named=True), doc["comparisons"], strict=True):
        assert row["ΔAUC (A − B)"] == format_difference(c["delta_auc"], c["delta_auc_err"])
        assert row["p-value"] == format_p(c["p_value"])
        assert row["p-value (Holm)"] == format_p(c["p_value_holm"])
    shown = texts(outputs)
    assert "Comparison of models" in shown and "Comparison of models" in page
    assert re.search(r'"field":\s*"model"', shown)  # the curves are dashed by model


def test_one_model_shows_no_comparison(monkeypatch, compare_root, tmp_path):
    """With one model (the second one lies under the root, not chosen), the page is the
    single-model page: no comparison, the ROC without a model legend."""
    root, _, _ = compare_root
    outputs, defs = run_app(monkeypatch, root, tmp_path)
    assert defs["model_choice"].value == [defs["compared"].labels[0]]
    assert len(defs["model_paths"]) == 2  # both models are offered
    assert defs["compared"].comparisons == ()
    shown = texts(outputs)
    assert "Comparison of models" not in shown
    assert not re.search(r'"field":\s*"model"', shown)  # no curve is dashed by model


def test_a_chosen_model_that_does_not_fit_gives_a_callout(
    monkeypatch, compare_root, tmp_path, upstream_fixture
):
    root, model, _ = compare_root
    exp = root / "exp"
    if not exp.exists():
        shutil.copytree(
            upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model", exp
        )
    outputs, defs = run_app(monkeypatch, root, tmp_path, "--model", str(model), "--model",
                            str(exp))  # fmt: skip
    shown = texts(outputs)
    assert "Cannot evaluate" in shown and "model exp@" in shown  # the label names the model
    assert "takes 120 inputs" in shown
    assert defs.get("result") is None


SEEDLIKE_BACKGROUND = 200_000
"""The equality test's background: the seed's is 2.7 M, CI's budget allows the quick size."""
SEEDLIKE_SIGNAL = 9_506


@pytest.fixture(scope="module")
def seedlike_root(small_demo, tmp_path_factory) -> Path:
    """A data root with a --quick-sized demo (200k background events, the seed's signal size)
    and the small demo's model beside it (same 180 features)."""
    from hepfm_core.demo import make_demo

    root = tmp_path_factory.mktemp("seedlike")
    data_dir, _ = make_demo(
        root / "demo",
        n_background=SEEDLIKE_BACKGROUND,
        n_signal=SEEDLIKE_SIGNAL,
        seed=23,
        train=False,
        progress=lambda *a: None,
    )
    shutil.copy(small_demo[1], data_dir / "model.keras")
    return root


@pytest.mark.parametrize(
    ("link", "cli_args"),
    [
        ({}, ["--clip", "-20", "20"]),  # the app's defaults
        (
            {"score": "kl", "clip": "none", "policy": "drop"},
            ["--score", "kl", "--no-clip", "--policy", "drop"],
        ),
        (
            {"score": "total", "beta": "0.5", "clip": "-5:5", "signals": "zprime_tt,wprime_qq"},
            [
                "--score",
                "total",
                "--beta",
                "0.5",
                "--clip",
                "-5",
                "5",
                "--signals",
                "zprime_tt,wprime_qq",
            ],
        ),
        ({"score": "radius", "clip": "-7.5:3"}, ["--score", "radius", "--clip", "-7.5", "3"]),
    ],
    ids=["defaults", "kl-noclip-drop", "total-beta-clip5", "radius-asymmetric"],
)
def test_app_numbers_equal_hepfm_evaluate(
    monkeypatch, seedlike_root, tmp_path_factory, link, cli_args, strict_json
):
    """At --quick scale the page's counts and metrics tables, and the result behind them, are
    what `hepfm evaluate --json` writes for the same settings: the app's incremental view
    layer (sorted backgrounds, tallies) changes no number."""
    from hepfm_core.cli import main as cli_main

    cache = tmp_path_factory.getbasetemp() / "seedlike-cache"  # scored once for all settings
    data = seedlike_root / "demo"
    outputs, defs = run_app(monkeypatch, seedlike_root, cache, link=link)
    result = defs["result"]
    out = tmp_path_factory.mktemp("cli") / "evaluate.json"
    code = cli_main(
        ["evaluate", "--data", str(data), "--model", str(data / "model.keras"),
         "--cache-dir", str(cache), "--quiet", "--json", str(out), *cli_args]
    )  # fmt: skip
    assert code == 0
    cli = strict_json(out.read_text())
    app = result.to_json_dict()
    assert app["settings"] == cli["settings"]
    assert app["samples"] == cli["samples"]
    assert app["signals"] == cli["signals"]
    assert result.samples["background"].counts.total == SEEDLIKE_BACKGROUND
    # and the page shows those numbers
    assert shown_grid(outputs) == grid_texts(without_empty_causes(counts_grid(result))[0])
    assert shows_static(outputs, metrics_table(result))
