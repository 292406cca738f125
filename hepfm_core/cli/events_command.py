"""``hepfm events``: the events behind a count or a tail, as strict JSON.

::

    hepfm events --data DIR --model MODEL --sample NAME (--cause CAUSE|imputed | --top N |
                 --range LO HI)
                 [the settings flags of evaluate] [--limit N] [--page K] --json OUT|-
                 [--export-ids FILE.csv]

The JSON lists ``events`` (each with ``event``, its index in the sample, ``cause``,
``score`` (null if not finite), ``z_mean``, ``z_log_var``, ``tracks`` (one list of the
branches per real track), ``residuals`` (per input), ``filled_inputs`` (the inputs whose raw
value the reader filled) and ``identity`` where the data have one) and ``summary`` (what
sets the selection apart from the rest of the sample). The selection is paged;
``--export-ids`` writes all of it as an id list (CSV).

With ``--workers N``, ``--scheduler ADDRESS`` or ``--scheduler-file FILE`` the scores stay on
the Dask cluster: each partition selects its events on its worker (its matching events, or
its own top N), the client merges them into the single-process selection, and only the
shown events' pass rows travel; their tracks are read here from the data file and the
decoder runs here on them alone, so the JSON equals the single-process one (plus
``provenance.cluster``).

The command takes the evaluate command's settings flags (``options.add_settings_arguments``)
and reads them as evaluate does (``to_settings.evaluation_settings``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from .options import add_settings_arguments
from .scored_run import open_evaluator
from .to_settings import cluster_spec, evaluation_settings

__all__ = [
    "add_events_parser",
    "cmd_events",
    "events_document",
]


def add_events_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``events`` command to ``subparsers`` (``add_subparsers``' result), with the
    evaluate command's settings flags."""
    from ..vocabulary import EVENTS_PER_PAGE as DEFAULT_LIMIT

    p = subparsers.add_parser(
        "events",
        help="the events behind a count or a score range: tracks, latent values, residuals",
    )
    p.add_argument("--data", required=True, help="hepfm or upstream data folder")
    p.add_argument("--model", required=True, help="hepfm .keras file or upstream experiment folder")
    p.add_argument("--sample", required=True, help="background or a signal sample's name")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--cause",
        help="the events with this cause (e.g. kl_overflow), or 'imputed': those whose raw "
        "values the reader filled",
    )
    which.add_argument("--top", type=int, metavar="N", help="the N highest scores")
    which.add_argument(
        "--range",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="the scores in [LO, HI] (inf allowed)",
    )
    add_settings_arguments(p)
    p.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"events per page (default {DEFAULT_LIMIT})",
    )
    p.add_argument("--page", type=int, default=1, help="which page, from 1 (default 1)")
    p.add_argument("--json", required=True, help="write the JSON here ('-': stdout)")
    p.add_argument(
        "--export-ids",
        default=None,
        metavar="FILE.csv",
        help="write the whole selection as an id list: run,event where the data have them, "
        "else sample,event (index in the sample)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_events)
    return p


def _criterion(args: argparse.Namespace):
    from ..engine.investigate.events import Criterion

    if args.cause is not None:
        return Criterion.by_cause(args.cause)
    if args.top is not None:
        return Criterion.top(args.top)
    return Criterion.score_range(args.range[0], args.range[1])


def _check_flags(args: argparse.Namespace) -> None:
    if args.limit < 1:
        raise SettingsError(f"--limit must be >= 1, got {args.limit}", "--limit", "e.g. --limit 50")
    if args.page < 1:
        raise SettingsError(
            f"--page counts from 1, got {args.page}", "--page", "give --page 1 for the first page"
        )


def _empty_selection(result: Any, selection: Any, flag: str) -> SettingsError:
    name = selection.sample
    counts = result.samples[name].counts.by_cause
    present = ", ".join(f"{c} ({n})" for c, n in counts.items() if n)
    crit = selection.criterion
    if crit.kind == "range":
        lo, hi = selection.kept_span or (math.inf, -math.inf)
        span = f"[{lo:.6g}, {hi:.6g}]" if lo <= hi else "(no finite score)"
        todo = f"the kept finite scores of {name} lie in {span}; choose a range that meets them"
    elif crit.kind == "imputed":
        todo = (
            f"the reader filled no raw value of {name}; with --fill none such events are "
            "counted as input_nonfinite"
        )
    else:
        todo = f"the causes of {name} under these settings: {present}; pick a non-zero one"
    s = selection.settings
    return SettingsError(
        f"no event of {name} has {crit.describe()} under these settings (score {s.score}, "
        f"clip {s.clip}, policy {selection.policy})",
        flag,
        todo,
    )


def events_document(
    investigator: Any,
    settings: Any,
    result: Any,
    selection: Any,
    *,
    page: int,
    limit: int,
) -> dict[str, Any]:
    """The JSON document of one page of a selection (``page`` counts from 0)."""
    details = investigator.details(selection, page=page, limit=limit)
    summary = investigator.summary(selection)
    kind, note = investigator.values_kind(selection.sample)
    layout = investigator.layout
    doc_settings = settings.to_json_dict() | {"parameterisation": result.parameterisation}
    return {
        "settings": doc_settings,
        "provenance": result.provenance,
        "selection": selection.to_json_dict()
        | {
            "page": page + 1,
            "pages": selection.pages(limit),
            "limit": limit,
            "shown": len(details),
        },
        "values": {"kind": kind, "note": note},
        "layout": None
        if layout is None
        else {
            "n_tracks": layout.n_tracks,
            "branches": list(layout.branches),
            "units": list(layout.units),
        },
        "events": [d.to_json_dict() for d in details],
        "summary": summary.to_json_dict(),
    }


def cmd_events(args: argparse.Namespace) -> int:
    """Run ``hepfm events``; 0 when done (a user error raises a ``HepfmError``): in this
    process, or on the Dask cluster the flags name (closed on the way out)."""
    settings = evaluation_settings(args)
    _check_flags(args)
    criterion = _criterion(args)
    spec = cluster_spec(args)
    with contextlib.ExitStack() as stack:
        evaluator = open_evaluator(stack, args.data, args.model, args, spec)
        return _run_events(args, settings, criterion, evaluator)


def _run_events(args: argparse.Namespace, settings: Any, criterion: Any, evaluator: Any) -> int:
    from ..common.progress import TextProgress
    from ..engine.investigate.investigator import Investigator

    flag = {"cause": "--cause", "imputed": "--cause", "top": "--top", "range": "--range"}[
        criterion.kind
    ]
    investigator = Investigator(evaluator)
    investigator.sample(args.sample)
    evaluator.score_all(progress=None if args.quiet else TextProgress())
    result = investigator.evaluate_sample(settings, args.sample)
    selection = investigator.select(result.samples[args.sample], criterion, result.settings)
    if selection.size == 0:
        raise _empty_selection(result, selection, flag)
    pages = selection.pages(args.limit)
    if args.page > pages:
        raise SettingsError(
            f"page {args.page} is beyond the selection's {pages} page(s) of {args.limit} events",
            "--page",
            f"give --page 1 to {pages}",
        )
    doc = events_document(
        investigator, settings, result, selection, page=args.page - 1, limit=args.limit
    )
    text = json.dumps(doc, indent=1, allow_nan=False)
    if args.export_ids:
        out = Path(args.export_ids)
        out.parent.mkdir(parents=True, exist_ok=True)
        investigator.ids(selection).write_csv(out)
    if args.json == "-":
        print(text)
        return 0
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(text)
    print(
        f"{selection.size} events of {args.sample} with {criterion.describe()}; page "
        f"{args.page} of {pages} ({len(doc['events'])} events) in {args.json}"
    )
    for sentence in doc["summary"]["sentences"]:
        print(f"  {sentence}")
    sys.stdout.flush()
    return 0
