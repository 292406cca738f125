"""The report's page and files: the Jinja2 template (``templates/report.html.j2``) filled
with the report's data, its own CSS and script (``static/``) and Vega, Vega-Lite and
vega-embed inlined (nothing is fetched); the figures for slides; ``write_report``."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from ...common.atomic import atomic_write
from ...engine.compare.models import ModelSet
from ...engine.evaluate import BaseEvaluator, EvaluationSettings
from ...engine.metrics.separation import EFF_INTERVAL
from ...errors import SettingsError
from ...vocabulary import SCORE_LABELS
from ..text import COMPARISON_NOTE
from .figures import page_document, write_figures
from .grid import GRID_SCORES, ReportData, clip_label, collect

TEMPLATE = "report.html.j2"


@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (from vl-convert, no network)."""
    import vl_convert as vlc

    # the stub makes `snippet` required; vl-convert's own default snippet is what we want
    return vlc.javascript_bundle()  # type: ignore[call-arg]


def static_text(name: str) -> str:
    """One of the page's own files (``static/``), read from the installed package."""
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


_END_TAG = re.compile(r"</(script|style)", re.IGNORECASE)


def inline_script(code: str) -> Markup:
    """JavaScript that cannot end its ``<script>`` element early: every ``</script`` (in
    strings, comments or regular expressions of the bundle) is written ``<\\/script``, which
    JavaScript reads the same; ``<!--`` is split likewise. Trusted code, not escaped."""
    code = _END_TAG.sub(lambda m: "<\\/" + m.group(1), code)
    return Markup(code.replace("<!--", "<\\!--"))


def inline_style(css: str) -> Markup:
    """CSS that cannot end its ``<style>`` element early (our own file, trusted)."""
    return Markup(_END_TAG.sub(lambda m: "<\\/" + m.group(1), css))


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template's environment: autoescaped, strict about undefined names, strict JSON."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["inline_script"] = inline_script
    env.filters["inline_style"] = inline_style
    # `tojson` escapes <, >, & and ' for an inline <script>; NaN or infinity is an error
    env.policies["json.dumps_kwargs"] = {
        "allow_nan": False,
        "ensure_ascii": False,
        "separators": (",", ":"),
    }
    return env


@dataclass(frozen=True)
class Choice:
    """One option of a control."""

    value: str
    label: str
    checked: bool


def _controls(data: ReportData) -> dict[str, list[Choice]]:
    s = data.settings
    labels = dict(SCORE_LABELS) | {"total": f"total: reconstruction + β·KL (β = {s.beta:g})"}
    current = data.current
    return {
        "scores": [Choice(k, labels[k], k == s.score) for k in GRID_SCORES],
        "clips": [Choice(c.key, c.label, c.key == current.clip.key) for c in data.clips],
        "signals": [Choice(n, n, n in data.shown) for n in data.signals],
    }


def _provenance(data: ReportData) -> list[tuple[str, list[tuple[str, bool]]]]:
    """The header's rows: a label, then pieces of text (True: set as code)."""
    p = data.provenance
    s = data.settings
    versions = p.get("versions", {}) | data.versions
    clip = "none (float64 guards)" if s.clip is None else clip_label(s.clip)
    shown = ", ".join(data.shown) if data.shown else "none"
    fingerprints: list[tuple[str, bool]] = []
    for k, v in p.get("fingerprints", {}).items():
        fingerprints += [(f"{' · ' if fingerprints else ''}{k} ", False), (str(v), True)]
    models: list[tuple[str, list[tuple[str, bool]]]] = [
        ("model", [(f"{p.get('model_description', '')} · ", False), (p.get("model", ""), True)])
    ]
    if data.models:  # several: each with its fingerprint; the first's counts are shown
        models = [
            (
                f"model {label}",
                [
                    (f"{q.get('model_description', '')} · ", False),
                    (str(q.get("model", "")), True),
                    (" · fingerprint ", False),
                    (str(q.get("fingerprints", {}).get("model", "")), True),
                    (" · its counts and loss distributions are shown" if i == 0 else "", False),
                ],
            )
            for i, (label, q) in enumerate(data.model_provenance.items())
        ]
    if data.warnings:
        models.append(("warnings", [(" ".join(data.warnings), False)]))
    return [
        *models,
        ("data", [(str(p.get("data", "")), True), (f" ({p.get('data_kind', '')})", False)]),
        ("signal normalisation", [(data.normalisation, False)]),
        ("fill", [(f"{p.get('fill', 'median')}: {p.get('fill_description', '')}", False)]),
        (
            "settings",
            [
                (
                    f"score {s.score}, clip z_log_var {clip}, β = {s.beta:g}, policy "
                    f"'{s.policy}', KL form '{s.kl_form}', {data.parameterisation} variance; "
                    f"signals: {shown}",
                    False,
                )
            ],
        ),
        ("fingerprints", fingerprints),
        ("versions", [(", ".join(f"{k} {v}" for k, v in versions.items()), False)]),
        ("date", [(str(p.get("date", "")), False)]),
    ]


def render_html(data: ReportData, bundle: str) -> str:
    """The whole page: header, controls, tables and views, the data and the libraries inline."""
    s = data.settings
    p = data.provenance
    grid_text = (
        f"{len(GRID_SCORES)} scores × {len(data.clips)} clip settings, computed by hepfm at "
        f"β = {s.beta:g}, policy '{s.policy}', KL form '{s.kl_form}'"
    )
    template = environment().get_template(TEMPLATE)
    title = " vs ".join(data.models) if data.models else p.get("model_description", "")
    return template.render(
        title=f"hepfm report · {title}",
        comparison_note=COMPARISON_NOTE,
        data=data,
        provenance=_provenance(data),
        controls=_controls(data),
        grid_text=grid_text,
        scores=GRID_SCORES,
        eff_interval=EFF_INTERVAL,
        hepfm_version=p.get("versions", {}).get("hepfm", ""),
        document=page_document(data),
        css=static_text("report.css"),
        script=static_text("report.js"),
        bundle=bundle,
    )


# -- files ----------------------------------------------------------------------------------
def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(
            f"cannot create the folder ({exc.strerror})", path, "choose a writable folder"
        ) from exc


def _write(path: Path, payload: bytes) -> None:
    """The whole file or none (a temporary beside it, renamed): a full disk leaves no
    truncated report; an ``OutputError`` says why."""
    atomic_write(path, payload, "the report")


def write_report(
    evaluator: BaseEvaluator | ModelSet,
    settings: EvaluationSettings,
    out: str | Path,
    *,
    figures: str | Path | None = None,
) -> Path:
    """Write the offline report for ``settings`` to ``out`` (and the figures to ``figures``,
    first: figures that cannot be written leave no report behind).

    Scores every sample first if needed (cached). With several models (a ``ModelSet``), the
    separation views overlay them and a section compares them. Returns the report's path.
    """
    out = Path(out)
    data = collect(evaluator, settings)
    page = render_html(data, javascript_bundle())
    # the figures first: when they cannot be written, no report is (the previous one kept)
    if figures is not None:
        folder = Path(figures)
        _ensure_dir(folder)
        try:
            write_figures(data, folder)
        except OSError as exc:
            raise SettingsError(
                f"cannot write the figures ({exc.strerror})", folder, "choose a writable folder"
            ) from exc
    _ensure_dir(out.parent)
    _write(out, page.encode("utf-8"))
    return out
