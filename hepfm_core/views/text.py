"""An evaluation in words: numbers formatted to what they mean, the sentences on what the
guards and the fill did (dashboard and report), the provenance line, and the terminal's
summary table.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..common.json_fields import shown_columns, shown_fields
from ..data.imputation import STATUS_IMPUTED
from ..engine.compare.results import ComparisonResult, ModelComparison
from ..engine.compare.seeds import (
    VERDICT_EXCEEDS_BOTH,
    VERDICT_SEED_SPREAD_UNKNOWN,
    VERDICT_WITHIN_SAMPLING,
    VERDICT_WITHIN_SEED_SPREAD,
)
from ..engine.evaluate import BaseEvaluator, EvaluationResult
from ..engine.guards.policy import OTHER_POLICY
from ..engine.metrics.separation import EFF_INTERVAL, Separation, format_eff
from ..vocabulary import COLUMNS, DEFAULT_BKG_EFFS, DEFAULT_CLIP, Column, Policy

__all__ = [
    "COMPARISON_COLUMNS",
    "COMPARISON_NOTE",
    "SEED_COLUMN",
    "auc_text",
    "clip_words",
    "comparison_row",
    "comparison_summary",
    "eff_difference_column",
    "format_difference",
    "format_interval",
    "format_p",
    "guard_summary",
    "imputation_sentence",
    "literal",
    "models_line",
    "normalisation_note",
    "percent",
    "provenance_line",
    "seed_verdict",
    "short_number",
    "summary_table",
]


def literal(text: str) -> str:
    """``text`` for a Markdown cell, shown character for character: every character but
    letters, digits and spaces as an HTML character reference, so that nothing in it (a
    value from a link: ``<img src=...>``, ``![](...)``, ``[a](b)``) becomes markup.

    >>> literal("score='<img src=x>' ignored")
    'score&#61;&#39;&#60;img src&#61;x&#62;&#39; ignored'
    """
    return "".join(c if c.isalnum() or c == " " else f"&#{ord(c)};" for c in text)


def short_number(x: float) -> str:
    """An efficiency for a table: 3 decimals, or 2 significant digits below 0.01."""
    if x == 0:
        return "0"
    return f"{x:.3f}" if abs(x) >= 0.01 else f"{x:.1e}"


def auc_text(auc: float | None, err: float | None) -> str:
    """``AUC ± error``, the error with two significant digits when small (an AUC of 0.999
    has errors of 1e-4, which 3 decimals print as 0.000).

    >>> from hepfm_core.views.text import auc_text
    >>> auc_text(0.9994, 0.00021), auc_text(0.75, 0.012), auc_text(0.5, None)
    ('0.999 ± 2.1e-04', '0.750 ± 0.012', '0.500')
    """
    if auc is None:
        return "n/a"
    return f"{auc:.3f}" if err is None else f"{auc:.3f} ± {short_number(err)}"


def format_interval(value: float, lower: float | None, upper: float | None) -> str:
    """``value [lower, upper]``: an efficiency with its (asymmetric) interval.

    >>> from hepfm_core.views.text import format_interval
    >>> format_interval(0.25, 0.1832, 0.3279), format_interval(0.004, 0.0021, 0.0069)
    ('0.250 [0.183, 0.328]', '4.0e-03 [2.1e-03, 6.9e-03]')
    """
    if lower is None or upper is None:
        return short_number(value)
    return f"{short_number(value)} [{short_number(lower)}, {short_number(upper)}]"


def _head(column: Column, align: str = ">") -> str:
    """A column's header in the terminal, at its width."""
    return f"{column.terminal:{align}{column.terminal_width}s}"


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
    ]
    # the counts of each sample, then every count the guard's counts show
    counts = [COLUMNS[k] for k in ("total", "kept", "excluded", "imputed")]
    first = next(iter(result.samples.values()))
    sample = COLUMNS["sample"]
    lines.append(" ".join([_head(sample, "<"), *map(_head, counts + shown_columns(first.counts))]))
    for name, r in result.samples.items():
        values = (r.counts.total, r.policy.kept, sum(r.policy.excluded.values()), r.imputed)
        cells = [f"{v:{c.terminal_width}d}" for c, v in zip(counts, values, strict=True)]
        cells += [f.text("-").rjust(f.column.terminal_width) for f in shown_fields(r.counts)]
        lines.append(" ".join([f"{name:{sample.terminal_width}s}", *cells]))
    imputed = imputation_sentence(result)
    if imputed:
        lines += ["", imputed]
    # the metrics of each signal: AUC, eff_S at each eff_B, then every metric shown
    signal, eff = COLUMNS["signal"], COLUMNS["eff_at_bkg_eff"]
    shown = shown_columns(next(iter(result.signals.values()), Separation))
    effs_head = [
        f"{eff.at(format_eff(e), terminal=True):>{eff.terminal_width}s}" for e in DEFAULT_BKG_EFFS
    ]
    head = [_head(signal, "<"), _head(COLUMNS["auc"]), *effs_head, *map(_head, shown)]
    lines += ["", " ".join(head)]
    width, auc_width = signal.terminal_width, COLUMNS["auc"].terminal_width
    for name, sep in result.signals.items():
        if not sep.ok:
            lines.append(f"{name:{width}s} {sep.status}: {sep.reason}")
            continue
        # small efficiencies and uncertainties keep two significant digits (1.0e-04, not
        # 0.000); a true 0 reads 0
        err = "-" if sep.auc_err is None else short_number(sep.auc_err)
        auc = f"{sep.auc:.3f}+-{err}"
        effs = [
            f"{'-' if wp.eff_sig is None else short_number(wp.eff_sig):>{eff.terminal_width}s}"
            for wp in sep.working_points
        ]
        cells = [f.text("-").rjust(f.column.terminal_width) for f in shown_fields(sep)]
        lines.append(" ".join([f"{name:{width}s}", f"{auc:>{auc_width}s}", *effs, *cells]))
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
def guard_summary(
    result: EvaluationResult, evaluator: BaseEvaluator, *, imputed: bool = True
) -> str:
    """Two or three sentences on what the guards (and, with ``imputed``, the reader's fill)
    did for these settings. The dashboard shows the fill's sentence beside its counts."""
    imputed_text = imputation_sentence(result) if imputed else ""
    text = _guard_sentences(result, evaluator)
    return f"{text} {imputed_text}" if imputed_text else text


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
    other: Policy = OTHER_POLICY[s.policy]
    focus = worst[0] if worst and worst[0] in result.signals else next(iter(result.signals), None)
    if focus is None:
        return first
    # the other policy for the one signal named (the guarded scores are reused)
    alt = evaluator.evaluate(replace(s, policy=other, signals=(focus,)))
    a, b = result.signals[focus], alt.signals[focus]
    if a.ok and b.ok:
        clip = (
            "no clip" if s.clip is None else f"z_log_var clipped to [{s.clip[0]:g}, {s.clip[1]:g}]"
        )
        second = (
            f"With {clip}, the {focus} AUC is {auc_text(a.auc, a.auc_err)} under '{s.policy}' "
            f"and {b.auc:.3f} under '{other}' ({result.samples[focus].policy.kept} vs "
            f"{alt.samples[focus].policy.kept} of {result.samples[focus].counts.total} "
            "events kept)."
        )
        return f"{first} {second}"
    return first


def normalisation_note(result: EvaluationResult) -> str:
    """Which parameters standardised the signals: shown next to every AUC."""
    return result.provenance["signal_normalisation_description"]


def clip_words(clip: tuple[float, float] | None) -> str:
    """The clip on z_log_var in words, saying when it is the default every entry point starts
    from.

    >>> from hepfm_core.views.text import clip_words
    >>> clip_words((-20.0, 20.0))
    "clip z_log_var [-20, 20] (the default: upstream's fix)"
    >>> clip_words((-50.0, 50.0)), clip_words(None)
    ('clip z_log_var [-50, 50]', 'no clip')
    """
    if clip is None:
        return "no clip"
    words = f"clip z_log_var [{clip[0]:g}, {clip[1]:g}]"
    return words + " (the default: upstream's fix)" if tuple(clip) == DEFAULT_CLIP else words


def provenance_line(result: EvaluationResult, root: str | Path | None = None) -> str:
    """Which model and data the numbers come from, in one line. ``root``: the data root of a
    shared dashboard; a data folder inside it is named relative to it (viewers need which
    folder, not where the server keeps it).

    >>> from types import SimpleNamespace
    >>> from hepfm_core.views.text import provenance_line
    >>> r = SimpleNamespace(provenance={"fingerprints": {"model": "0123456789abcdef"},
    ...     "model_description": "hepfm VAE model.keras", "data": "/srv/hep/runs/seed",
    ...     "data_kind": "hepfm", "signal_normalisation_description": "background's"})
    >>> provenance_line(r, root="/srv/hep")
    "model: hepfm VAE model.keras [0123456789ab] · data: runs/seed (hepfm) · background's"
    """
    p = result.provenance
    fp = p["fingerprints"]
    data = str(p["data"])
    if root is not None:
        try:
            data = Path(data).resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:  # outside the root: the app refuses such a folder before
            data = Path(data).name
    line = (
        f"model: {p['model_description']} [{fp['model'][:12]}] · data: {data} "
        f"({p['data_kind']}) · {p['signal_normalisation_description']}"
    )
    settings = getattr(result, "settings", None)
    if settings is not None:
        line += f" · {clip_words(settings.clip)}"
    cluster = p.get("cluster")
    if cluster:
        line += (
            f" · computed on the Dask cluster {cluster['scheduler']} ({cluster['workers']} "
            f"workers, {cluster['threads']} threads): every change is recomputed there"
        )
    return line


# -- comparison of models -------------------------------------------------------------------
COMPARISON_COLUMNS = tuple(
    COLUMNS[k].title
    for k in ("signal", "model_a", "model_b", "pairs", "delta_auc", "p_value", "p_value_holm")
)
"""The comparison table's first columns; then Δε_S at each working point, and, when a seed
group is compared, :data:`SEED_COLUMN`."""
SEED_COLUMN = COLUMNS["seed_spread"].title
COMPARISON_NOTE = (
    "Pairs: the events both models keep. ΔAUC ± its paired DeLong error; p-value two-sided, "
    "Holm-corrected over every signal × pair of models shown together; Δε_S ± its paired "
    "binomial error, each model at its own cut. Sampling of events only: retraining with "
    "another seed can move an AUC by more (compare seed groups: --model LABEL=PATH1,PATH2)."
)
"""What the comparison table's numbers are, under the table (app, report, terminal)."""

_VERDICTS = {
    VERDICT_EXCEEDS_BOTH: "exceeds the sampling error and the seed spread",
    VERDICT_WITHIN_SAMPLING: "within the sampling error",
    VERDICT_WITHIN_SEED_SPREAD: "beyond the sampling error, within the seed spread",
    VERDICT_SEED_SPREAD_UNKNOWN: "beyond the sampling error; seed spread unknown (one seed)",
}


def format_p(p: float | None) -> str:
    """A p-value: 3 decimals, 2 significant digits below 0.01, "n/a" when there is none.

    >>> from hepfm_core.views.text import format_p
    >>> format_p(1.0), format_p(0.0312), format_p(2.3e-7), format_p(0.0), format_p(None)
    ('1.000', '0.031', '2.3e-07', '0', 'n/a')
    """
    if p is None:
        return "n/a"
    if p == 0:
        return "0"
    return f"{p:.3f}" if p >= 1e-2 else f"{p:.1e}"


def format_difference(delta: float, err: float | None) -> str:
    """A signed difference with its error: 3 decimals, 2 significant digits below 0.001.

    >>> from hepfm_core.views.text import format_difference
    >>> format_difference(0.0123, 0.0041), format_difference(0.0, 0.0)
    ('+0.012 ± 0.004', '+0.000 ± 0.000')
    >>> format_difference(-2e-5, 4e-6), format_difference(-0.0021, 0.00045)
    ('-2.0e-05 ± 4.0e-06', '-0.002 ± 4.5e-04')
    >>> format_difference(0.02, None)
    '+0.020'
    """
    value = f"{delta:+.1e}" if 0 < abs(delta) < 1e-3 else f"{delta:+.3f}"
    if err is None:
        return value
    return f"{value} ± {err:.1e}" if 0 < err < 1e-3 else f"{value} ± {err:.3f}"


def seed_verdict(c: ModelComparison) -> str:
    """Whether a difference of seed groups exceeds the sampling error and the seed spread."""
    g = c.group
    if g is None:
        return f"n/a: {c.group_reason}" if c.group_reason else ""
    seeds = "n/a" if g.delta_auc_seed_err is None else f"{g.delta_auc_seed_err:.2g}"
    return (
        f"{_VERDICTS.get(g.verdict, g.verdict)}: Δ of mean AUCs "
        f"{format_difference(g.delta_auc, None)} ({g.group_a.n_seeds} vs {g.group_b.n_seeds} "
        f"seeds; compared with {g.n_sigma:g}× the sampling error {g.delta_auc_err:.2g} and "
        f"the seed error {seeds})"
    )


def eff_difference_column(target_bkg_eff: float) -> str:
    """The comparison table's column of the signal efficiency difference at one ε_B."""
    return COLUMNS["eff_sig_differences"].at(format_eff(target_bkg_eff))


def comparison_row(c: ModelComparison) -> dict[str, str]:
    """One comparison as the app, the report and the terminal show it (text cells)."""
    t = c.test
    if t.delta_auc is None:
        delta = f"n/a: {t.reason}"
    else:
        delta = format_difference(t.delta_auc, t.delta_auc_err)
    values = (
        c.signal,
        c.model_a,
        c.model_b,
        f"{t.n_background:,} / {t.n_signal:,}",
        delta,
        format_p(t.p_value),
        format_p(c.p_value_holm),
    )
    row = dict(zip(COMPARISON_COLUMNS, values, strict=True))
    for d in c.efficiencies:
        row[eff_difference_column(d.target_bkg_eff)] = (
            f"n/a: {d.status.replace('_', ' ')}"
            if d.delta_eff_sig is None
            else format_difference(d.delta_eff_sig, d.delta_eff_sig_err)
        )
    return row


def models_line(compared: ComparisonResult) -> str:
    """The models compared, one phrase each: label, description, fingerprint (a provenance
    line's companion)."""
    parts = []
    for label, results in compared.results.items():
        p = results[0].provenance
        seeds = f", {len(results)} seeds" if len(results) > 1 else ""
        parts.append(f"{label}: {p['model_description']}{seeds}")
    return "models: " + " · ".join(parts)


def comparison_summary(compared: ComparisonResult) -> str:
    """Every model's :func:`summary_table`, then the comparisons as aligned text."""
    lines: list[str] = []
    for name, result in compared.members():
        lines += [f"== {name}: {result.provenance['model_description']} ==", summary_table(result)]
        lines.append("")
    for label, per_signal in compared.seed_spread.items():
        lines.append(f"seed spread of {label}:")
        for name, g in per_signal.items():
            if g is None:
                lines.append(f"  {name}: n/a (a seed has no AUC)")
                continue
            sd = "n/a" if g.sd_auc is None else f"{g.sd_auc:.3f}"
            lines.append(
                f"  {name}: mean AUC {g.mean_auc:.3f}, seed-to-seed sd {sd} ({g.n_seeds} seeds)"
            )
        lines.append("")
    rows = [comparison_row(c) for c in compared.comparisons]
    shown = COMPARISON_COLUMNS
    if rows:
        widths = [max(len(k), *(len(r[k]) for r in rows)) for k in shown]
        lines.append("  ".join(k.ljust(w) for k, w in zip(shown, widths, strict=True)))
        for r, c in zip(rows, compared.comparisons, strict=True):
            lines.append("  ".join(r[k].ljust(w) for k, w in zip(shown, widths, strict=True)))
            if c.grouped:
                lines.append(f"    {SEED_COLUMN}: {seed_verdict(c)}")
        lines += ["", COMPARISON_NOTE]
    for warning in compared.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines).rstrip()
