"""What the dashboard shows, computed outside the notebook so the app stays thin.

Paths are confined to the data root of :func:`hepfm_core.paths.data_root` (the rule the CLI
uses too), so a shared dashboard cannot be pointed at arbitrary files. Evaluators are shared
by every viewer of one server process (marimo runs each viewer as a thread), so each cached
scoring pass is memory-mapped once.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import polars as pl

from .binning import histogram_table, overflow_table, shared_log_edges
from .errors import HepfmError, PathNotAllowedError
from .evaluate import EvaluationResult, EvaluationSettings, Evaluator
from .guards import Cause
from .metrics import EFF_INTERVAL, format_eff
from .report_text import format_interval, imputation_sentence, percent

DATA_ROOT_ENV = "HEPFM_DATA_ROOT"

SCORE_NAMES = {
    "reconstruction": "reconstruction error",
    "kl": "KL divergence",
    "total": "total loss (reconstruction + β·KL)",
    "radius": "latent radius",
}

CLIP_PRESETS: dict[str, tuple[float, float] | None] = {
    "none (float64 guards)": None,
    "±20 (upstream's fix)": (-20.0, 20.0),
    "±50 (proposed)": (-50.0, 50.0),
    "±88.7 (float32 exp limit)": (-88.7, 88.7),
}

_evaluators: dict[tuple[str, str, str, str], Evaluator] = {}
_evaluators_lock = threading.Lock()


def project_root() -> Path:
    """The source checkout's root; the package's parent folder when hepfm is installed."""
    from . import paths

    return paths.checkout_root() or paths.PACKAGE_DIR.parent


def data_root() -> Path:
    """The data root: see :func:`hepfm_core.paths.data_root` for the rule."""
    from . import paths

    return paths.data_root()


def confine(path: str | Path, root: Path | None = None) -> Path:
    """``path`` resolved (relative to the root if relative); refused outside the root."""
    root = (root or data_root()).resolve()
    p = Path(path)
    p = (p if p.is_absolute() else root / p).resolve()
    if p != root and root not in p.parents:
        raise PathNotAllowedError(
            f"{p} is outside the dashboard's data root {root}",
            p,
            f"copy or link the data under {root}, or set {DATA_ROOT_ENV} when starting the app",
        )
    return p


def data_for_model(model_path: Path, fallback: Path, root: Path | None = None) -> Path:
    """The data folder to show with a model when the user chose none.

    An upstream experiment names its dataset in its config: use it when it lies under the
    data root; otherwise (and for hepfm models) the fallback, normally the demo.
    """
    from .model_info import describe_model

    try:
        info = describe_model(model_path)
    except HepfmError:
        return fallback
    if info.kind != "upstream":
        return fallback
    from .upstream_data import find_dataset_for_experiment

    found = find_dataset_for_experiment(info.path)
    if found is None:
        return fallback
    try:
        return confine(Path(found), root)
    except PathNotAllowedError:
        return fallback


def shared_evaluator(
    data_dir: Path,
    model_path: Path,
    normalisation: str,
    cache: str | Path | None = None,
    fill: str = "median",
) -> Evaluator:
    """One Evaluator per (data, model, signal normalisation, fill) in this process."""
    key = (str(data_dir), str(model_path), normalisation, fill)
    with _evaluators_lock:
        ev = _evaluators.get(key)
        if ev is None:
            ev = Evaluator.open(
                data_dir,
                model_path,
                signal_normalisation=normalisation,  # type: ignore[arg-type]
                fill=fill,  # type: ignore[arg-type]
                cache=cache,
            )
            _evaluators[key] = ev
        return ev


# -- tables -------------------------------------------------------------------------------
EXCLUSION_CAUSES = [c.label for c in Cause if c != Cause.OK]
IMPUTED_COLUMN = "imputed (kept)"


def counts_table(result: EvaluationResult) -> pl.DataFrame:
    """Per sample: total, kept, excluded, imputed (kept, beside excluded), each cause,
    outside clip, non-finite without guards."""
    rows = []
    for name, s in result.samples.items():
        row = {
            "sample": name,
            "total": s.counts.total,
            "kept": s.policy.kept,
            "excluded": sum(s.policy.excluded.values()),
            IMPUTED_COLUMN: s.imputed,
        }
        row |= {cause: s.counts.by_cause[cause] for cause in EXCLUSION_CAUSES}
        row |= {
            "outside clip": s.counts.outside_clip,
            "non-finite without guards (float32)": s.counts.unguarded_nonfinite_f32,
            "non-finite without guards (float16)": s.counts.unguarded_nonfinite_f16,
        }
        rows.append(row)
    return pl.DataFrame(rows)


def _fmt_wp(wp) -> str:
    if wp.eff_sig is None:
        return f"n/a: {wp.status.replace('_', ' ')}"
    return format_interval(wp.eff_sig, wp.eff_sig_lower, wp.eff_sig_upper)


def background_working_points(result: EvaluationResult) -> str:
    """One line: the background efficiency each working point actually reached, with its
    interval and the number of background events the cut rests on (the same for every
    signal: the cut is a background quantile)."""
    wps = next((sep.working_points for sep in result.signals.values() if sep.ok), ())
    parts = []
    for wp in wps:
        if wp.achieved_bkg_eff is None or wp.n_bkg_pass is None:
            continue
        reached = format_interval(
            wp.achieved_bkg_eff, wp.achieved_bkg_eff_lower, wp.achieved_bkg_eff_upper
        )
        parts.append(f"{format_eff(wp.target_bkg_eff)}: {reached} ({wp.n_bkg_pass:,} events)")
    if not parts:
        return ""
    return f"ε_B reached ({EFF_INTERVAL} intervals): " + " · ".join(parts)


def metrics_table(result: EvaluationResult) -> pl.DataFrame:
    """Per signal: AUC ± error, eff_S [interval] at each eff_B (or why not), max SIC,
    kept/total."""
    rows = []
    for name, sep in result.signals.items():
        s = result.samples[name]
        row = {"signal": name}
        if sep.ok:
            row["AUC"] = f"{sep.auc:.3f} ± {sep.auc_err:.3f}"
        else:
            row["AUC"] = f"n/a: {sep.reason}"
        for wp in sep.working_points:
            row[f"ε_S at ε_B={format_eff(wp.target_bkg_eff)}"] = _fmt_wp(wp)
        row["max SIC"] = "n/a" if sep.max_sic is None else f"{sep.max_sic:.2f}"
        row["kept / total"] = f"{s.policy.kept} / {s.counts.total}"
        rows.append(row)
    return pl.DataFrame(rows)


def histogram_tables(
    result: EvaluationResult, n_bins: int = 60, density: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Binned guarded scores of every sample (shared log bins) and what fell outside them."""
    values = {name: s.guarded.scores for name, s in result.samples.items()}
    edges = shared_log_edges(values, n_bins=n_bins)
    return histogram_table(values, edges, density=density), overflow_table(values, edges)


def histogram_note(overflow: pl.DataFrame) -> str:
    """One line: per sample, the values not drawn (below range incl. <= 0, above, non-finite)."""
    parts = []
    for row in overflow.iter_rows(named=True):
        off = row["underflow"] + row["overflow"] + row["nonfinite"] + row["posinf"] + row["neginf"]
        if off:
            parts.append(
                f"{row['sample']}: {row['underflow']} below, {row['overflow']} above, "
                f"{row['nonfinite'] + row['posinf'] + row['neginf']} non-finite"
            )
    return "not drawn: " + "; ".join(parts) if parts else "every event is inside the drawn range"


# -- plain language -----------------------------------------------------------------------
def guard_summary(result: EvaluationResult, evaluator: Evaluator) -> str:
    """Two or three sentences on what the guards (and the reader's fill) did for these
    settings."""
    imputed = imputation_sentence(result)
    text = _guard_sentences(result, evaluator)
    return f"{text} {imputed}" if imputed else text


def _guard_sentences(result: EvaluationResult, evaluator: Evaluator) -> str:
    s = result.settings
    saved = [
        (name, r.counts.unguarded_nonfinite_f32, r.counts.unguarded_nonfinite_f16, r.counts.total)
        for name, r in result.samples.items()
    ]
    f16 = [(n, a16, t) for n, _, a16, t in saved if a16]
    f32 = [(n, a32, t) for n, a32, _, t in saved if a32]
    score = s.score if s.score != "total" else f"total (β = {s.beta:g})"
    if f32 or f16:
        worst = max(f16 or f32, key=lambda x: x[1] / x[2])
        bits = []
        if f32:
            bits.append("float32: " + ", ".join(f"{n} {a} ({percent(a, t)})" for n, a, t in f32))
        if f16:
            bits.append("float16: " + ", ".join(f"{n} {a} ({percent(a, t)})" for n, a, t in f16))
        first = (
            f"Without guards, the {score} score would be NaN or inf (and roc_curve would crash) "
            f"for {'; '.join(bits)}. The float64 guards score every one of them."
        )
    else:
        worst = None
        first = (
            f"No event's {score} score would overflow even without guards, in float32 or "
            "float16, for these samples."
        )
    other = "drop" if s.policy == "worst" else "worst"
    alt = evaluator.evaluate(replace(s, policy=other, signals=tuple(result.signals)))
    focus = worst[0] if worst and worst[0] in result.signals else next(iter(result.signals), None)
    if focus is None:
        return first
    a, b = result.signals[focus], alt.signals[focus]
    if a.ok and b.ok:
        clip = (
            "no clip" if s.clip is None else f"z_log_var clipped to [{s.clip[0]:g}, {s.clip[1]:g}]"
        )
        second = (
            f"With {clip}, the {focus} AUC is {a.auc:.3f} ± {a.auc_err:.3f} under '{s.policy}' "
            f"and {b.auc:.3f} under '{other}' ({result.samples[focus].policy.kept} vs "
            f"{alt.samples[focus].policy.kept} of {result.samples[focus].counts.total} "
            "events kept)."
        )
        return f"{first} {second}"
    return first


def normalisation_note(result: EvaluationResult) -> str:
    """Which parameters standardised the signals: shown next to every AUC."""
    return result.provenance["signal_normalisation_description"]


def provenance_line(result: EvaluationResult) -> str:
    p = result.provenance
    fp = p["fingerprints"]
    return (
        f"model: {p['model_description']} [{fp['model'][:12]}] · data: {p['data']} "
        f"({p['data_kind']}) · {p['signal_normalisation_description']}"
    )


def write_meeting_report(
    evaluator: Evaluator, settings: EvaluationSettings, root: Path | None = None
) -> Path:
    """The app's report button: ``hepfm report`` for the current settings, under the root."""
    import datetime as _dt

    from .report import write_report

    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = (root or data_root()) / "reports" / f"hepfm-report-{stamp}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_report(evaluator, settings, out)


def settings_for(
    *,
    clip: tuple[float, float] | None,
    score: str,
    beta: float,
    policy: str,
    signals: list[str],
) -> EvaluationSettings:
    return EvaluationSettings(
        clip=clip,
        score=score,
        beta=beta,
        policy=policy,
        signals=tuple(signals),  # type: ignore[arg-type]
    )
