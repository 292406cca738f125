"""An evaluation in words: numbers formatted to what they mean, the sentences on what the
guards and the fill did (dashboard and report), the provenance line, and the terminal's
summary table.
"""

from __future__ import annotations

from dataclasses import replace

from ..data.imputation import STATUS_IMPUTED
from ..engine.evaluate import BaseEvaluator, EvaluationResult
from ..engine.metrics import EFF_INTERVAL, format_eff
from ..vocabulary import DEFAULT_BKG_EFFS, Policy

__all__ = [
    "format_interval",
    "guard_summary",
    "imputation_sentence",
    "normalisation_note",
    "percent",
    "provenance_line",
    "short_number",
    "summary_table",
]


def short_number(x: float) -> str:
    """An efficiency for a table: 3 decimals, or 2 significant digits below 0.01."""
    if x == 0:
        return "0"
    return f"{x:.3f}" if abs(x) >= 0.01 else f"{x:.1e}"


def format_interval(value: float, lower: float | None, upper: float | None) -> str:
    """``value [lower, upper]``: an efficiency with its (asymmetric) interval.

    >>> from hepfm_core.views.text import format_interval
    >>> format_interval(0.25, 0.1832, 0.3279), format_interval(0.004, 0.0021, 0.0069)
    ('0.250 [0.183, 0.328]', '4.0e-03 [2.1e-03, 6.9e-03]')
    """
    if lower is None or upper is None:
        return short_number(value)
    return f"{short_number(value)} [{short_number(lower)}, {short_number(upper)}]"


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def imputation_sentence(result: EvaluationResult) -> str:
    """One sentence on what the reader filled in (empty when nothing was filled or excluded
    for non-finite input), for the terminal, the dashboard's guard callout and the report."""
    fill = result.provenance.get("fill", "median")
    if fill == "none":
        bad = [
            (n, r.counts.by_cause.get("input_nonfinite", 0), r.counts.total)
            for n, r in result.samples.items()
        ]
        bad = [b for b in bad if b[1]]
        if not bad:
            return ""
        listed = ", ".join(f"{n} {k} of {t}" for n, k, t in bad)
        return (
            f"Fill 'none': events with non-finite raw inputs are excluded as input_nonfinite "
            f"({listed}); nothing was imputed."
        )
    parts = []
    for name, r in result.samples.items():
        imp = r.imputation
        if not imp.events:
            continue
        feats = ", ".join(f"{f} {v}" for f, v in imp.values_per_feature.items())
        parts.append(
            f"{name} {imp.events} of {imp.total} ({percent(imp.events, imp.total)}; {feats})"
        )
    if not parts:
        return "No raw input needed a fill value."
    withheld = [n for n, sep in result.signals.items() if sep.status == STATUS_IMPUTED]
    text = "Imputed (kept, scored on median fill values, not data): " + "; ".join(parts) + "."
    if withheld:
        text += (
            f" Metrics withheld for {', '.join(withheld)}: their inputs are too much fill "
            "(see the reason; --fill none evaluates the events with complete inputs)."
        )
    return text


def percent(part: int, total: int) -> str:
    """A percentage with two significant digits, so 2 of 200,000 does not read as 0.00 %
    (whole percents from 10 % up, so that all of a sample reads 100 %, not 1e+02 %).

    >>> from hepfm_core.views.text import percent
    >>> percent(2, 200_000), percent(1, 3), percent(800, 800), percent(0, 0)
    ('0.001 %', '33 %', '100 %', 'n/a')
    """
    if not total:
        return "n/a"
    value = 100 * part / total
    return f"{value:.0f} %" if value >= 10 else f"{value:.2g} %"


def summary_table(result: EvaluationResult) -> str:
    """Counts per sample and metrics per signal, as aligned text."""
    s = result.settings
    clip = "no clip" if s.clip is None else f"clip [{s.clip[0]:g}, {s.clip[1]:g}]"
    lines = [
        f"score {s.score} ({result.parameterisation} variance), {clip}, policy {s.policy}, "
        f"fill {result.provenance.get('fill', 'median')}, "
        f"{result.provenance.get('signal_normalisation_description', '')}",
        "",
        f"{'sample':16s} {'total':>9s} {'kept':>9s} {'excluded':>9s} {'imputed':>9s} "
        f"{'outside clip':>12s} {'nonfinite f32':>13s} {'nonfinite f16':>13s}",
    ]
    for name, r in result.samples.items():
        lines.append(
            f"{name:16s} {r.counts.total:9d} {r.policy.kept:9d} "
            f"{sum(r.policy.excluded.values()):9d} {r.imputed:9d} {r.counts.outside_clip:12d} "
            f"{r.counts.unguarded_nonfinite_f32:13d} {r.counts.unguarded_nonfinite_f16:13d}"
        )
    imputed = imputation_sentence(result)
    if imputed:
        lines += ["", imputed]
    lines += [
        "",
        f"{'signal':16s} {'AUC':>15s} "
        + " ".join(f"{'eff@' + format_eff(e):>10s}" for e in DEFAULT_BKG_EFFS)
        + f" {'max SIC':>8s}",
    ]
    for name, sep in result.signals.items():
        if not sep.ok:
            lines.append(f"{name:16s} {sep.status}: {sep.reason}")
            continue
        auc = f"{sep.auc:.3f}+-{sep.auc_err:.3f}"
        effs = " ".join(f"{_num(wp.eff_sig, '.3f'):>10s}" for wp in sep.working_points)
        lines.append(f"{name:16s} {auc:>15s} {effs} {_num(sep.max_sic, '.2f'):>8s}")
    intervals = [
        f"  {name}: "
        + ", ".join(
            f"{format_eff(wp.target_bkg_eff)} {format_interval(wp.eff_sig, lo, hi)}"
            for wp in sep.working_points
            if wp.eff_sig is not None
            and (lo := wp.eff_sig_lower) is not None
            and (hi := wp.eff_sig_upper) is not None
        )
        for name, sep in result.signals.items()
        if sep.ok
    ]
    if intervals:
        lines += ["", f"eff_S [{EFF_INTERVAL} interval] at eff_B:", *intervals]
    return "\n".join(lines)


# -- plain language -----------------------------------------------------------------------
def guard_summary(result: EvaluationResult, evaluator: BaseEvaluator) -> str:
    """Two or three sentences on what the guards (and the reader's fill) did for these
    settings."""
    imputed = imputation_sentence(result)
    text = _guard_sentences(result, evaluator)
    return f"{text} {imputed}" if imputed else text


def _guard_sentences(result: EvaluationResult, evaluator: BaseEvaluator) -> str:
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
    other: Policy = "drop" if s.policy == "worst" else "worst"
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
    line = (
        f"model: {p['model_description']} [{fp['model'][:12]}] · data: {p['data']} "
        f"({p['data_kind']}) · {p['signal_normalisation_description']}"
    )
    cluster = p.get("cluster")
    if cluster:
        line += (
            f" · computed on the Dask cluster {cluster['scheduler']} ({cluster['workers']} "
            f"workers, {cluster['threads']} threads): every change is recomputed there"
        )
    return line
