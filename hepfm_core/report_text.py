"""Plain-text summaries of an evaluation for the terminal."""

from __future__ import annotations

from .evaluate import EvaluationResult
from .imputation import STATUS_IMPUTED
from .metrics import EFF_INTERVAL, format_eff


def short_number(x: float) -> str:
    """An efficiency for a table: 3 decimals, or 2 significant digits below 0.01."""
    if x == 0:
        return "0"
    return f"{x:.3f}" if abs(x) >= 0.01 else f"{x:.1e}"


def format_interval(value: float, lower: float | None, upper: float | None) -> str:
    """``value [lower, upper]``: an efficiency with its (asymmetric) interval."""
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
    """A percentage with two significant digits, so 2 of 200,000 does not read as 0.00 %."""
    return f"{100 * part / total:.2g} %" if total else "n/a"


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
        + " ".join(f"{'eff@' + format_eff(e):>10s}" for e in (1e-2, 1e-3, 1e-4, 1e-5))
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
