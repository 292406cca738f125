"""Tables of an evaluation, as shown by the dashboard and the report: event counts per sample,
metrics per signal, and the binned loss distributions with what fell outside the bins.

One highlight rule for the counts table (``highlighted``): a count of excluded, imputed or
otherwise notable events stands out when it is above zero; the app styles its cells by it
and the report shades them by it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from ..common.json_fields import shown_fields
from ..engine.compare.results import ComparisonResult
from ..engine.evaluate import EvaluationResult
from ..engine.investigate.events import IMPUTED
from ..engine.metrics.binning import (
    DEFAULT_BINS,
    histogram_table,
    histogram_table_from_tallies,
    overflow_table,
    overflow_table_from_tallies,
    shared_log_edges,
    tally,
    tally_sorted,
)
from ..engine.metrics.separation import EFF_INTERVAL, format_eff
from ..vocabulary import COLUMNS, Cause
from .text import (
    COMPARISON_COLUMNS,
    SEED_COLUMN,
    auc_text,
    comparison_row,
    format_interval,
    seed_verdict,
)

__all__ = [
    "COUNT_NAME_COLUMN",
    "DEFAULT_BINS",
    "EXCLUSION_CAUSES",
    "IMPUTED_COLUMN",
    "PLAIN_COUNT_COLUMNS",
    "background_working_points",
    "clickable_counts",
    "comparison_table",
    "count_tooltip",
    "counts_grid",
    "counts_table",
    "highlighted",
    "histogram_note",
    "histogram_tables",
    "metrics_table",
    "model_column",
    "model_metrics_table",
    "without_empty_causes",
]

EXCLUSION_CAUSES = [c.label for c in Cause if c != Cause.OK]
IMPUTED_COLUMN = COLUMNS["imputed"].title
COUNT_NAME_COLUMN = COLUMNS["count"].title
"""The counts grid's first column: what each row counts (the other columns are samples)."""
PLAIN_COUNT_COLUMNS = tuple(COLUMNS[k].title for k in ("sample", "total", "kept"))
"""Columns of the counts table that never stand out."""
_SAMPLE, _SIGNAL = COLUMNS["sample"].title, COLUMNS["signal"].title


def highlighted(column: str, value: object) -> bool:
    """Whether a cell of the counts table stands out: a count above zero outside the plain
    columns (sample, total, kept).

    >>> from hepfm_core.views.tables import highlighted
    >>> highlighted("kl_overflow", 3), highlighted("kl_overflow", 0), highlighted("kept", 3)
    (True, False, False)
    """
    return column not in PLAIN_COUNT_COLUMNS and isinstance(value, int) and value > 0


def counts_table(result: EvaluationResult) -> pl.DataFrame:
    """Per sample: total, kept, excluded, imputed (kept, beside excluded), each cause,
    outside clip, non-finite without guards.

    Nothing is lost silently: ``kept + excluded == total`` in every row, and the imputed
    events (scored on fill values) are counted beside the excluded ones.

    Parameters
    ----------
    result : EvaluationResult
        One setting's evaluation (``Evaluator.evaluate``).

    Returns
    -------
    pl.DataFrame
        One row per sample, the background first; integer counts. Cells that stand out are
        those :func:`highlighted` says.

    Examples
    --------
    With an evaluation of a tiny demo (a model trained for one epoch; TensorFlow, seconds):

    >>> import tempfile
    >>> from hepfm_core.demo import make_demo
    >>> from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator
    >>> from hepfm_core.model.training import TrainingSettings
    >>> folder = tempfile.mkdtemp()
    >>> data, model = make_demo(folder, n_background=2_000, n_signal=300, seed=3,
    ...                         progress=lambda *a: None, training=TrainingSettings(epochs=1))
    >>> result = Evaluator.open(data, model, cache=folder + "/c").evaluate(
    ...     EvaluationSettings(score="kl", signals=("wprime_qq",)))
    >>> table = counts_table(result)
    >>> table["sample"].to_list(), table["total"].to_list()
    (['background', 'wprime_qq'], [2000, 300])
    >>> (table["kept"] + table["excluded"] == table["total"]).all()
    True
    >>> metrics_table(result).columns[:2]
    ['signal', 'AUC']
    """
    rows = []
    for name, s in result.samples.items():
        row = {
            _SAMPLE: name,
            COLUMNS["total"].title: s.counts.total,
            COLUMNS["kept"].title: s.policy.kept,
            COLUMNS["excluded"].title: sum(s.policy.excluded.values()),
            IMPUTED_COLUMN: s.imputed,
        }
        row |= {cause: s.counts.by_cause[cause] for cause in EXCLUSION_CAUSES}
        # then every count the guard's counts show (outside clip, non-finite without guards)
        row |= {shown.column.title: shown.value for shown in shown_fields(s.counts)}
        rows.append(row)
    return pl.DataFrame(rows)


def counts_grid(result: EvaluationResult) -> pl.DataFrame:
    """:func:`counts_table` turned a quarter: one row per count (total, kept, excluded,
    imputed, each cause, outside clip, non-finite without guards), one column per sample,
    as a cutflow reads. Its first column, ``count``, names the rows. Why: fourteen count
    columns do not fit a page 1,280 px wide; seven sample columns do.

    >>> import polars as pl
    >>> table = pl.DataFrame({"sample": ["background", "zprime_tt"], "total": [10, 4]})
    >>> _grid(table).rows()
    [('total', 10, 4)]
    """
    return _grid(counts_table(result))


def clickable_counts(grid: pl.DataFrame) -> list[tuple[int, str, str, int]]:
    """The counts of :func:`counts_grid` that have events to show: ``(row, sample, cause,
    count)`` for each count above zero of a cause, or of the imputed events (cause
    ``"imputed"``); their events: ``Criterion.by_cause``.

    >>> import polars as pl
    >>> grid = pl.DataFrame(
    ...     {"count": ["total", "imputed (kept)", "kl_overflow", "outside clip"],
    ...      "background": [9, 0, 2, 5], "zprime_tt": [4, 3, 0, 1]}
    ... )
    >>> clickable_counts(grid)
    [(1, 'zprime_tt', 'imputed', 3), (2, 'background', 'kl_overflow', 2)]
    """
    out = []
    for i, row in enumerate(grid.iter_rows(named=True)):
        name = row[COUNT_NAME_COLUMN]
        if name == IMPUTED_COLUMN:
            cause = IMPUTED
        elif name in EXCLUSION_CAUSES:
            cause = name
        else:
            continue
        for sample in grid.columns[1:]:
            if row[sample]:
                out.append((i, sample, cause, int(row[sample])))
    return out


def count_tooltip(sample: str, cause: str, count: int) -> str:
    """What a count's button shows on hover.

    >>> count_tooltip("zprime_tt", "imputed", 1200)
    'the 1,200 zprime_tt events with filled raw values'
    >>> count_tooltip("background", "kl_overflow", 2)
    'the 2 background events of cause kl_overflow'
    """
    if cause == IMPUTED:
        return f"the {count:,} {sample} events with filled raw values"
    return f"the {count:,} {sample} events of cause {cause}"


def without_empty_causes(grid: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """:func:`counts_grid` less the rows of causes that no sample has an event of, and
    those causes' names (the page lists them in a line: nothing is lost, and the first
    screen keeps room for a chart). The other rows always stay.

    >>> import polars as pl
    >>> grid = pl.DataFrame(
    ...     {"count": ["total", "kl_overflow", "radius_overflow"], "background": [9, 0, 1],
    ...      "zprime_tt": [4, 0, 0]}
    ... )
    >>> kept, empty = without_empty_causes(grid)
    >>> kept["count"].to_list(), empty
    (['total', 'radius_overflow'], ['kl_overflow'])
    """
    counts = grid.select(pl.exclude(COUNT_NAME_COLUMN))
    names = grid[COUNT_NAME_COLUMN].to_list()
    totals = counts.sum_horizontal().to_list() if counts.width else [0] * len(names)
    empty = [n for n, t in zip(names, totals, strict=True) if n in EXCLUSION_CAUSES and not t]
    return grid.filter(~pl.col(COUNT_NAME_COLUMN).is_in(empty)), empty


def _grid(table: pl.DataFrame) -> pl.DataFrame:
    return table.transpose(include_header=True, header_name=COUNT_NAME_COLUMN, column_names=_SAMPLE)


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
    kept/total.

    Numbers are formatted for reading; a metric that does not exist says why (``n/a:`` and
    the status or reason), never a made-up value.

    Parameters
    ----------
    result : EvaluationResult
        One setting's evaluation (``Evaluator.evaluate``).

    Returns
    -------
    pl.DataFrame
        One row per signal; string cells. Columns ``signal``, ``AUC``, one ``ε_S at
        ε_B=<target>`` per working point, ``max SIC``, ``kept / total``.

    Examples
    --------
    See :func:`counts_table` for a runnable example on a tiny demo: ``metrics_table(result)``
    of the same result has the columns ``signal``, ``AUC``, one per working point, ``max SIC``
    and ``kept / total``.
    """
    rows = []
    for name, sep in result.signals.items():
        s = result.samples[name]
        row = {_SIGNAL: name}
        auc = COLUMNS["auc"].title
        row[auc] = auc_text(sep.auc, sep.auc_err) if sep.ok else f"n/a: {sep.reason}"
        for wp in sep.working_points:
            row[COLUMNS["eff_at_bkg_eff"].at(format_eff(wp.target_bkg_eff))] = _fmt_wp(wp)
        # then every metric the separation shows (max SIC)
        row |= {shown.column.title: shown.text() for shown in shown_fields(sep)}
        row[COLUMNS["kept_total"].title] = f"{s.policy.kept} / {s.counts.total}"
        rows.append(row)
    return pl.DataFrame(rows)


def model_column(column: str, label: str) -> str:
    """A column of the metrics table for one model: ``AUC · <label>``."""
    return f"{column} · {label}"


def model_metrics_table(results: Mapping[str, EvaluationResult]) -> pl.DataFrame:
    """The metrics table with one column per metric and model (:func:`model_column`).

    Per signal, each model's cells of :func:`metrics_table` (so each number is formatted in
    one place), grouped by metric so a row reads across models: ``AUC · A``, ``AUC · B``,
    then each working point, max SIC, kept / total.
    """
    per_model = {label: metrics_table(r) for label, r in results.items()}
    first = next(iter(per_model.values()))
    out = first.select(_SIGNAL)
    for column in first.columns[1:]:
        for label, table in per_model.items():
            out = out.with_columns(table[column].alias(model_column(column, label)))
    return out


def comparison_table(compared: ComparisonResult) -> pl.DataFrame:
    """Per signal and pair of models: events paired, ΔAUC ± its paired (DeLong) error, the
    p-value and its Holm correction over all rows, and Δε_S at each working point; a column
    on the seed spread when a seed group is compared. Text cells; one row per comparison."""
    grouped = any(c.grouped for c in compared.comparisons)
    rows = []
    for c in compared.comparisons:
        row = comparison_row(c)
        if grouped:
            row[SEED_COLUMN] = seed_verdict(c)
        rows.append(row)
    if not rows:
        return pl.DataFrame(schema=dict.fromkeys(COMPARISON_COLUMNS, pl.String))
    return pl.DataFrame(rows)


def histogram_tables(
    result: EvaluationResult, n_bins: int = DEFAULT_BINS, density: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Binned guarded scores of every sample (shared log bins) and what fell outside them.

    From the scores where the result holds them; from its tallies (``result.binned``) where
    the scores stayed on a cluster: the same bins and counts.
    """
    values = {n: s.guarded.scores for n, s in result.samples.items() if s.guarded is not None}
    if len(values) == len(result.samples):
        sorted_ok = _sorted_background_ok(result)
        if sorted_ok is None:
            edges = shared_log_edges(values, n_bins=n_bins)
            return histogram_table(values, edges, density=density), overflow_table(values, edges)
        # the background from its sorted scores: binary searches instead of a pass over them
        # (the edges depend on the extremes only, which the sorted array holds at its ends)
        ranges = dict(values, background=_extremes(sorted_ok))
        edges = shared_log_edges(ranges, n_bins=n_bins)
        total = result.samples["background"].counts.total
        tallies = {
            n: tally_sorted(sorted_ok, total, edges) if n == "background" else tally(v, edges)
            for n, v in values.items()
        }
        return (
            histogram_table_from_tallies(tallies, edges, density=density),
            overflow_table_from_tallies(tallies, edges),
        )
    binned = result.binned
    if binned is None or binned.n_bins != n_bins:
        have = "no histograms" if binned is None else f"{binned.n_bins} bins"
        raise ValueError(
            f"this result's scores stayed on a cluster and it holds {have}, not {n_bins} "
            "bins: evaluate with n_bins={n_bins}"
        )
    tallies = {n: binned.tallies[n] for n in result.samples}
    return (
        histogram_table_from_tallies(tallies, binned.edges, density=density),
        overflow_table_from_tallies(tallies, binned.edges),
    )


def _sorted_background_ok(result: EvaluationResult) -> np.ndarray | None:
    """The background's OK scores sorted (the finite head of the metrics' sorted kept
    scores: non-OK events are +inf under ``worst``, absent under ``drop``), or None where
    the result holds no sorted background or its counts do not match."""
    ref = result.sorted_background
    if ref is None:
        return None
    scores = ref.scores
    finite = scores[: int(np.searchsorted(scores, np.inf, side="left"))]
    if finite.size != result.samples["background"].counts.ok or (
        finite.size and not np.isfinite(finite[0])
    ):
        return None
    return finite


def _extremes(sorted_values: np.ndarray) -> np.ndarray:
    """The smallest positive and the largest value of a sorted finite array (what
    ``binning.shared_log_edges`` reads of a sample)."""
    if sorted_values.size == 0:
        return sorted_values
    positive = sorted_values[int(np.searchsorted(sorted_values, 0.0, side="right")) :]
    return np.array([positive[0], sorted_values[-1]]) if positive.size else sorted_values[-1:]


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
