"""``hepfm evaluate``: guarded scores and separation metrics of one model, or of several
compared on the same events, as a summary, strict JSON, ROC CSV and per-sample Parquet."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .options import add_model_argument, add_settings_arguments
from .outputs import atomic_folder, warn
from .scored_run import scored_evaluator

if TYPE_CHECKING:
    from ..engine.evaluate import EvaluationResult

__all__ = ["add_evaluate_parser", "cmd_evaluate"]


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``evaluate`` to the ``hepfm`` subcommands (``subparsers`` of ``add_subparsers``)."""
    ev = subparsers.add_parser("evaluate", help="guarded scores and separation metrics")
    ev.add_argument("--data", default=None, help="hepfm or upstream data folder")
    add_model_argument(ev)
    add_settings_arguments(ev)
    ev.add_argument("--json", default=None, help="write the JSON result here ('-': stdout)")
    ev.add_argument("--roc-csv", default=None, help="write every signal's exact ROC as CSV")
    ev.add_argument("--scores-out", default=None, help="folder for per-sample Parquet scores")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=cmd_evaluate)
    return ev


def _write_json(doc: dict[str, Any], target: str | None, summary: str) -> None:
    """The JSON to ``target`` (``-``: stdout, and no summary) and the summary to stdout."""
    import json

    from ..common.atomic import atomic_write

    text = json.dumps(doc, indent=1, allow_nan=False)
    if target == "-":
        print(text)
        return
    if target:
        atomic_write(target, text, "the JSON")
    print(summary)


def _write_roc_csv(rows: list[dict[str, Any]], path: str, *, with_model: bool) -> None:
    import polars as pl

    from ..common.atomic import atomic_write

    schema: dict[str, Any] = {"model": pl.String} if with_model else {}
    schema |= {"signal": pl.String, "threshold": pl.Float64, "fpr": pl.Float64, "tpr": pl.Float64}
    # formatted in memory (a few thousand rows), written whole: polars reports a failed
    # write as its own error, without the errno
    atomic_write(path, pl.DataFrame(rows, schema=schema).write_csv(), "the ROC CSV")


def _roc_rows(result: EvaluationResult) -> list[dict[str, Any]]:
    """The exact ROC of every signal as rows (signal, threshold, fpr, tpr) for CSV."""
    rows = []
    for name, sep in result.signals.items():
        if sep.roc is None:
            continue
        for t, f, p in zip(sep.roc.thresholds, sep.roc.fpr, sep.roc.tpr, strict=True):
            rows.append({"signal": name, "threshold": float(t), "fpr": float(f), "tpr": float(p)})
    return rows


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run ``hepfm evaluate``: the summary on stdout, the files the flags ask for; 0."""
    from ..engine.compare.models import ModelSet
    from ..views.text import comparison_summary, summary_table

    with scored_evaluator(args) as (settings, evaluator):
        if isinstance(evaluator, ModelSet):
            compared = evaluator.evaluate(settings)
            warn(compared.warnings)
            _write_json(compared.to_json_dict(), args.json, comparison_summary(compared))
            members = compared.members()
            if args.roc_csv:
                rows = [{"model": name} | row for name, r in members for row in _roc_rows(r)]
                _write_roc_csv(rows, args.roc_csv, with_model=True)
            if args.scores_out:
                with atomic_folder(args.scores_out) as tmp:
                    for (name, r), (_, ev) in zip(members, evaluator.evaluators(), strict=True):
                        ev.write_scores(r, tmp / name)
            return 0
        result = evaluator.evaluate(settings)
        _write_json(result.to_json_dict(), args.json, summary_table(result))
        if args.roc_csv:
            _write_roc_csv(_roc_rows(result), args.roc_csv, with_model=False)
        if args.scores_out:
            with atomic_folder(args.scores_out) as tmp:
                evaluator.write_scores(result, tmp)
    return 0
