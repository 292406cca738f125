"""The report's page and files: the five views wired to the widgets, the data inline, Vega,
Vega-Lite and vega-embed inline (nothing is fetched), the figures for slides, and
``write_report``."""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import Any

from ...engine.evaluate import EvaluationSettings, Evaluator
from ...engine.metrics import EFF_INTERVAL
from ...errors import SettingsError
from .grid import GRID_SCORES, ReportData, clip_label, collect
from .specs import (
    P_CLIP,
    P_SCORE,
    SLIDE,
    Style,
    histogram_spec,
    rejection_spec,
    roc_spec,
    widget_params,
)
from .table_specs import counts_spec, metrics_spec

FIGURE_SCALE = 2.0
FIGURE_NAMES = ("loss_distributions", "roc", "rejection")


# -- figures for slides ---------------------------------------------------------------------
def _datasets(data: ReportData, key: str | None = None) -> dict[str, list[dict[str, Any]]]:
    sets = {
        "histograms": data.histograms,
        "curves": data.curves,
        "counts": data.counts,
        "metrics": data.metrics,
    }
    if key is None:
        return sets
    return {name: [r for r in rows if r["g"] == key] for name, rows in sets.items()}


def figure_specs(data: ReportData, style: Style = SLIDE) -> dict[str, dict]:
    """Self-contained Vega-Lite specs of the three figures at the report's settings."""
    sets = _datasets(data, data.current_key)
    specs = {
        "loss_distributions": histogram_spec(data, style),
        "roc": roc_spec(data, style),
        "rejection": rejection_spec(data, style),
    }
    for spec in specs.values():
        spec["datasets"] = {"histograms": sets["histograms"], "curves": sets["curves"]}
    return specs


def write_figures(data: ReportData, out_dir: str | Path) -> list[Path]:
    """Each figure at the report's settings as PNG (slide size) and SVG."""
    import vl_convert as vlc

    out = Path(out_dir)
    _ensure_dir(out)
    paths = []
    for name, spec in figure_specs(data).items():
        png = out / f"{name}.png"
        svg = out / f"{name}.svg"
        _write(png, vlc.vegalite_to_png(spec, scale=FIGURE_SCALE))
        _write(svg, vlc.vegalite_to_svg(spec).encode())
        paths += [png, svg]
    return paths


# -- the page -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (from vl-convert, no network)."""
    import vl_convert as vlc

    return vlc.javascript_bundle()


VIEWS = ("counts", "hist", "roc", "rejection", "metrics")
CONTROLLER = "hist"


def page_specs(data: ReportData) -> dict[str, dict]:
    """The five views of the page; the controller's parameters are bound to the widgets."""
    specs = {
        "counts": counts_spec(data),
        "hist": histogram_spec(data, titled=False),
        "roc": roc_spec(data),
        "rejection": rejection_spec(data),
        "metrics": metrics_spec(data),
    }
    specs[CONTROLLER]["params"][: len(widget_params(data, bind=True))] = widget_params(
        data, bind=True
    )
    for spec in specs.values():
        spec["autosize"] = {"type": "pad", "resize": True}  # legends change with the widgets
    return specs


def _named_data(spec: Any) -> set[str]:
    """Names of the shared datasets a spec reads (``{"data": {"name": ...}}`` anywhere)."""
    found: set[str] = set()
    if isinstance(spec, list):
        for item in spec:
            found |= _named_data(item)
    elif isinstance(spec, dict):
        data = spec.get("data")
        if isinstance(data, dict) and "name" in data:
            found.add(data["name"])
        for key, value in spec.items():
            if key != "data":
                found |= _named_data(value)
    return found


def page_document(data: ReportData) -> dict[str, Any]:
    """The JSON the page's script reads: specs, shared datasets, what to keep in sync."""
    specs = page_specs(data)
    return {
        "views": list(VIEWS),
        "uses": {view: sorted(_named_data(spec)) for view, spec in specs.items()},
        "controller": CONTROLLER,
        "sync": [P_SCORE, P_CLIP, *(f"show_{i}" for i in range(len(data.signals)))],
        "specs": specs,
        "datasets": _datasets(data),
        "colours": data.colours,
        "count_columns": list(data.count_columns),
        "settings": data.settings.to_json_dict()
        | {"signals": list(data.shown), "parameterisation": data.parameterisation},
        "current": data.current_key,
        "provenance": data.provenance,
    }


_SCRIPT = """
(function () {
  const doc = JSON.parse(document.getElementById("hepfm-report-data").textContent);
  const options = {
    mode: "vega-lite",
    renderer: "svg",
    actions: {export: true, source: false, compiled: false, editor: false},
  };
  const embeds = doc.views.map((id) => {
    const spec = structuredClone(doc.specs[id]);
    spec.datasets = {};
    for (const name of doc.uses[id]) spec.datasets[name] = structuredClone(doc.datasets[name]);
    return vegaEmbed("#view-" + id, spec, options).then((r) => [id, r.view]);
  });
  Promise.all(embeds).then((pairs) => {
    const views = Object.fromEntries(pairs);
    const ctrl = views[doc.controller];
    const fit = () => {
      const shown = doc.sync.filter((n) => n.startsWith("show_") && ctrl.signal(n)).length;
      for (const [id, view] of pairs) {
        const table = (doc.specs[id].usermeta || {}).table;
        if (table) view.height(table.base + (table.fixed + shown) * table.row);
      }
    };
    for (const name of doc.sync) {
      ctrl.addSignalListener(name, (n, value) => {
        for (const [id, view] of pairs) if (id !== doc.controller) view.signal(n, value);
        fit();
        for (const [id, view] of pairs) if (id !== doc.controller) view.runAsync();
      });
    }
    for (const el of document.querySelectorAll("#controls-signals .vega-bind-name")) {
      const colour = doc.colours[el.textContent.trim()];
      if (colour) el.style.borderLeft = "14px solid " + colour;
    }
    window.hepfmReport = {views: views, doc: doc};
    document.body.dataset.ready = "1";
  }).catch((err) => {
    console.error(err);
    document.getElementById("report-error").textContent = "A chart failed to draw: " + err;
  });
})();
"""

_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0 auto;
  max-width: 1320px; padding: 0 24px 40px; color: #111; }
h1 { font-size: 24px; margin: 22px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
table.prov { border-collapse: collapse; font-size: 13px; margin-top: 10px; }
table.prov th { text-align: left; vertical-align: top; padding: 2px 14px 2px 0;
  font-weight: 600; white-space: nowrap; }
table.prov td { padding: 2px 0; }
code { font-size: 12px; }
.summary { background: #eef5fb; border-left: 4px solid #0072B2; padding: 8px 12px;
  font-size: 14px; }
.controls { position: sticky; top: 0; z-index: 10; background: #fafafa;
  border: 1px solid #ddd; padding: 8px 12px; font-size: 14px; display: flex;
  flex-direction: column; gap: 6px; }
.controls .vega-bind { display: inline-block; margin-right: 14px; }
.controls .vega-bind-name { font-weight: 600; margin-right: 6px; }
.controls .vega-bind-radio label { margin-right: 10px; }
#controls-signals .vega-bind-name { font-weight: normal; padding-left: 6px; }
.controls .group { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
.controls .group > b { min-width: 60px; }
.row { display: flex; gap: 24px; flex-wrap: wrap; }
.note { font-size: 13px; color: #444; }
.error { color: #b00020; font-weight: 600; }
footer { margin-top: 30px; font-size: 12px; color: #555; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _json_for_script(doc: Any) -> str:
    """Strict JSON that cannot end its ``<script>`` element early."""
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _safe_script(js: str) -> str:
    return js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _provenance_rows(data: ReportData) -> list[tuple[str, str]]:
    p = data.provenance
    s = data.settings
    fps = p.get("fingerprints", {})
    versions = p.get("versions", {}) | data.versions
    clip = "none (float64 guards)" if s.clip is None else clip_label(s.clip)
    shown = ", ".join(data.shown) if data.shown else "none"
    return [
        ("model", f"{p.get('model_description', '')} · <code>{_esc(p.get('model', ''))}</code>"),
        ("data", f"<code>{_esc(p.get('data', ''))}</code> ({_esc(p.get('data_kind', ''))})"),
        ("signal normalisation", _esc(p.get("signal_normalisation_description", ""))),
        ("fill", _esc(f"{p.get('fill', 'median')}: {p.get('fill_description', '')}")),
        (
            "settings",
            _esc(
                f"score {s.score}, clip z_log_var {clip}, β = {s.beta:g}, policy '{s.policy}', "
                f"KL form '{s.kl_form}', {data.parameterisation} variance; signals: {shown}"
            ),
        ),
        (
            "fingerprints",
            " · ".join(f"{_esc(k)} <code>{_esc(v)}</code>" for k, v in fps.items()),
        ),
        ("versions", _esc(", ".join(f"{k} {v}" for k, v in versions.items()))),
        ("date", _esc(p.get("date", ""))),
    ]


def render_html(data: ReportData, bundle: str) -> str:
    """The whole page: header, controls, the five views, the data and the libraries inline."""
    p = data.provenance
    s = data.settings
    rows = "\n".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in _provenance_rows(data))
    grid = (
        f"{len(GRID_SCORES)} scores × {len(data.clips)} clip settings, computed by hepfm at "
        f"β = {s.beta:g}, policy '{s.policy}', KL form '{s.kl_form}'"
    )
    title = f"hepfm report · {p.get('model_description', '')}"
    payload = _json_for_script(page_document(data))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title>
<style>{_CSS}</style>
<script id="hepfm-vega-bundle">{_safe_script(bundle)}</script>
</head>
<body>
<header>
<h1>Anomaly detection report</h1>
<table class="prov">
{rows}
</table>
</header>
<p class="summary">{_esc(data.summary)}</p>
<nav class="controls" aria-label="report settings">
<div class="group" id="controls-score"></div>
<div class="group" id="controls-clip"></div>
<div class="group" id="controls-signals"><b>signals</b></div>
</nav>
<p class="note">The controls switch between precomputed results ({_esc(grid)}); the summary
above is for the report's own settings. Every table and chart below follows the controls.
Hover a table cell for the reason behind an "n/a", or a counts header for what the cause
means.</p>
<p class="error" id="report-error"></p>
<section>
<h2>Filtered-event counts</h2>
<div id="view-counts" class="view"></div>
<p class="note">Shaded cells: events excluded or without a finite score under these settings
(for every sample, kept + excluded = total). "Non-finite without guards" counts the events
whose score would be NaN or inf if computed in float32 or float16 without hepfm's guards.</p>
</section>
<section>
<h2>Loss distributions</h2>
<div id="view-hist" class="view"></div>
</section>
<section>
<h2>Separation</h2>
<div class="row"><div id="view-roc" class="view"></div>
<div id="view-rejection" class="view"></div></div>
</section>
<section>
<h2>Metrics</h2>
<div id="view-metrics" class="view"></div>
<p class="note">ε_S at ε_B: signal efficiency of the loosest cut whose background efficiency
is at most ε_B, with its {_esc(EFF_INTERVAL)} interval [lower, upper] (exact, so still
meaningful when no signal event or every one passes); hover a cell for the background
efficiency the cut actually reached, with its interval and the number of background events it
rests on; "n/a" when too few background events would pass. AUC ± its Hanley-McNeil standard
error. SIC = ε_S / √ε_B.</p>
</section>
<footer>Written by hepfm {_esc(p.get("versions", {}).get("hepfm", ""))} on
{_esc(p.get("date", ""))}. Self-contained: this file needs no network.</footer>
<script type="application/json" id="hepfm-report-data">{payload}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


# -- files ----------------------------------------------------------------------------------
def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"cannot create the folder ({exc.strerror})", path, "choose a writable folder"
        ) from exc


def _write(path: Path, payload: bytes) -> None:
    try:
        path.write_bytes(payload)
    except OSError as exc:
        raise SettingsError(
            f"cannot write the file ({exc.strerror})", path, "choose a writable path"
        ) from exc


def write_report(
    evaluator: Evaluator,
    settings: EvaluationSettings,
    out: str | Path,
    *,
    figures: str | Path | None = None,
) -> Path:
    """Write the offline report for ``settings`` to ``out`` (and the figures to ``figures``).

    Scores every sample first if needed (cached). Returns the report's path.
    """
    out = Path(out)
    data = collect(evaluator, settings)
    page = render_html(data, javascript_bundle())
    _ensure_dir(out.parent)
    _write(out, page.encode("utf-8"))
    if figures is not None:
        write_figures(data, figures)
    return out
