"""Plain-text summaries of an evaluation for the terminal."""

from __future__ import annotations

from .evaluate import EvaluationResult
from .metrics import format_eff


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def summary_table(result: EvaluationResult) -> str:
    """Counts per sample and metrics per signal, as aligned text."""
    s = result.settings
    clip = "no clip" if s.clip is None else f"clip [{s.clip[0]:g}, {s.clip[1]:g}]"
    lines = [
        f"score {s.score} ({result.parameterisation} variance), {clip}, policy {s.policy}, "
        f"{result.provenance.get('signal_normalisation_description', '')}",
        "",
        f"{'sample':16s} {'total':>9s} {'kept':>9s} {'excluded':>9s} {'outside clip':>12s} "
        f"{'nonfinite f32':>13s} {'nonfinite f16':>13s}",
    ]
    for name, r in result.samples.items():
        lines.append(
            f"{name:16s} {r.counts.total:9d} {r.policy.kept:9d} "
            f"{sum(r.policy.excluded.values()):9d} {r.counts.outside_clip:12d} "
            f"{r.counts.unguarded_nonfinite_f32:13d} {r.counts.unguarded_nonfinite_f16:13d}"
        )
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
    return "\n".join(lines)
