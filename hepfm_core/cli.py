"""The ``hepfm`` command: demo, train, evaluate, report, repack, cluster, dashboard.

Exit codes: 0 done, 2 a user error (the message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .cluster.arguments import add_cluster_arguments, spec_from_args
from .convert_cli import add_convert_parser, add_physlite_option
from .dashboard_cli import add_dashboard_parser
from .errors import HepfmError
from .events_cli import add_events_parser
from .vocabulary import (
    COMPRESSIONS,
    DEFAULT_CLIP,
    DEFAULT_COMPRESSION,
    FILLS,
    KL_FORMS,
    PARAMETERISATIONS,
    POLICIES,
    SCORES,
    SIGNAL_NORMALISATIONS,
)

__all__ = [
    "build_parser",
    "cmd_cluster",
    "cmd_demo",
    "cmd_evaluate",
    "cmd_repack",
    "cmd_report",
    "cmd_train",
    "main",
]


def _print_epoch(record: dict) -> None:
    print(
        f"epoch {record['epoch']:3d}  loss {record['loss']:10.4f}  "
        f"reconstruction {record['reconstruction']:10.4f}  KL {record['kl']:9.4f}  "
        f"beta {record['beta']:.4f}  val_loss {record['val_loss']:10.4f}  "
        f"val_objective {record['val_objective']:10.4f}  "
        f"({record['seconds']:.1f}s)",
        file=sys.stderr,
        flush=True,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import make_demo

    t0 = time.perf_counter()
    data_dir, model = make_demo(
        args.out,
        n_background=args.background,
        n_signal=args.signal,
        seed=args.seed,
        train=not args.no_train,
        on_epoch=_print_epoch,
        compression=args.compression,
    )
    print(f"demo data: {data_dir}")
    if model:
        print(f"demo model: {model}")
    if args.physlite:
        from .convert_cli import write_physlite_demo

        write_physlite_demo(data_dir, args.physlite, seed=args.seed)
    print(f"done in {time.perf_counter() - t0:.1f}s")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .demo import train_on_folder
    from .model.training import BetaSchedule, TrainingSettings
    from .model.vae import VAEConfig

    settings = TrainingSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_events=args.max_events,
        seed=args.seed,
        beta=BetaSchedule(cycle_low=args.beta_low, cycle_high=args.beta_high),
    )
    config = VAEConfig(
        input_dim=1,  # replaced by the data's feature count
        encoder_layers=tuple(args.encoder),
        decoder_layers=tuple(args.decoder),
        latent_dim=args.latent,
        activation=args.activation,
        parameterisation=args.parameterisation,
    )
    path = train_on_folder(
        args.data, args.out, config=config, settings=settings, on_epoch=_print_epoch
    )
    print(f"model: {path}")
    return 0


def _settings_from(args: argparse.Namespace):
    from .engine.evaluate import EvaluationSettings

    if args.no_clip:
        clip = None
    elif args.clip is None:
        clip = DEFAULT_CLIP  # the dashboard's too
    else:
        clip = (args.clip[0], args.clip[1])
    signals = (
        tuple(s.strip() for s in args.signals.split(",") if s.strip()) if args.signals else None
    )
    return EvaluationSettings(
        clip=clip,
        score=args.score,
        beta=args.beta,
        policy=args.policy,
        kl_form=args.kl_form,
        signals=signals,
    )


def _resolve_data(args: argparse.Namespace) -> str:
    if args.data:
        return args.data
    from .errors import SettingsError
    from .sources import dataset_for_model

    model = _first_model(args)
    found = dataset_for_model(model)
    if found is not None:
        return str(found)
    raise SettingsError(
        "no --data given and none found for the model",
        model,
        "pass --data DIR (a hepfm data folder or an upstream dataset folder)",
    )


def _first_model(args: argparse.Namespace) -> str:
    """The (first) model path of ``--model``: one string, or the first of several."""
    if isinstance(args.model, str):
        return args.model
    from .engine.compare.specs import parse_model_specs

    return str(parse_model_specs(args.model)[0].paths[0])


@contextlib.contextmanager
def _scored_evaluator(args: argparse.Namespace) -> Iterator[tuple[Any, Any]]:
    """Settings checked first, then the data and model opened and every sample scored: in
    this process, or on the Dask cluster the flags name (closed on the way out).

    Several models (``--model`` given more than once, or a seed group) give an
    ``engine.compare.models.ModelSet`` instead of one evaluator, always in this process: a
    comparison pairs the events each model keeps, which a cluster's result does not hold.
    """
    from .common.progress import TextProgress
    from .engine.compare.models import ModelSet
    from .engine.compare.specs import is_comparison, parse_model_specs
    from .engine.evaluate import Evaluator
    from .errors import SettingsError

    settings = _settings_from(args)
    specs = parse_model_specs(args.model)
    spec = spec_from_args(args)
    several = is_comparison(specs)
    if several and spec is not None:
        raise SettingsError(
            "a comparison of several models pairs every event each model keeps, and those "
            "stay on a cluster's workers",
            "--model (several) with --workers / --scheduler / --scheduler-file",
            "model comparison runs in one process; drop --workers/--scheduler",
        )
    data = _resolve_data(args)
    progress = None if args.quiet else TextProgress()
    with contextlib.ExitStack() as stack:
        if several:
            evaluator: Any = ModelSet.open(
                data,
                specs,
                signal_normalisation=args.signal_normalisation,
                fill=args.fill,
                cache=args.cache_dir,
            )
        elif spec is None:
            evaluator = Evaluator.open(
                data,
                specs[0].paths[0],
                signal_normalisation=args.signal_normalisation,
                fill=args.fill,
                cache=args.cache_dir,
            )
        else:
            from .cluster.connect import open_cluster
            from .cluster.evaluator import ClusterEvaluator

            cluster = stack.enter_context(open_cluster(spec))
            evaluator = ClusterEvaluator.open(
                data,
                specs[0].paths[0],
                cluster=cluster,
                signal_normalisation=args.signal_normalisation,
                fill=args.fill,
                cache=args.cache_dir,
                partition_events=args.partition_events,
            )
        evaluator.check_signals(settings.signals)
        evaluator.score_all(progress=progress)
        if not isinstance(evaluator, ModelSet):  # a model set says its own (with labels)
            for warning in evaluator.warnings():
                print(f"hepfm: warning: {warning}", file=sys.stderr)
        yield settings, evaluator


def _write_json(doc: dict[str, Any], target: str | None, summary: str) -> None:
    """The JSON to ``target`` (``-``: stdout, and no summary) and the summary to stdout."""
    import json

    from .common.atomic import atomic_write

    text = json.dumps(doc, indent=1, allow_nan=False)
    if target == "-":
        print(text)
        return
    if target:
        atomic_write(target, text, "the JSON")
    print(summary)


def _write_roc_csv(rows: list[dict[str, Any]], path: str, *, with_model: bool) -> None:
    import polars as pl

    from .common.atomic import atomic_write

    schema: dict[str, Any] = {"model": pl.String} if with_model else {}
    schema |= {"signal": pl.String, "threshold": pl.Float64, "fpr": pl.Float64, "tpr": pl.Float64}
    # formatted in memory (a few thousand rows), written whole: polars reports a failed
    # write as its own error, without the errno
    atomic_write(path, pl.DataFrame(rows, schema=schema).write_csv(), "the ROC CSV")


@contextlib.contextmanager
def _atomic_folder(out: str | Path, what: str = "the scores (--scores-out)") -> Iterator[Path]:
    """A temporary folder inside ``out`` to write into; each file is then renamed into
    ``out`` once every one is written: files appear whole or not at all (a full disk leaves
    none half-written, and none of this run), and a failed write leaves what ``out`` held
    before (a folder this call created is removed again). Temporaries of killed runs are
    swept."""
    from .common.atomic import PART_MARK, as_os_error, output_error
    from .common.leftovers import owner_tag, sweep

    out = Path(out)
    tmp = out / f".{out.name or 'out'}{PART_MARK}{owner_tag()}"
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        sweep(out, (PART_MARK,))
        tmp.mkdir()
        yield tmp
        for path in sorted(tmp.rglob("*")):
            if path.is_file():
                target = out / path.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty: nothing of ours was moved in
        if isinstance(exc, HepfmError) and str(exc.where or "").startswith(str(tmp)):
            # a writer's own error names the temporary, gone now: name the folder instead
            raise type(exc)(exc.what, out, exc.todo) from exc
        failure = as_os_error(exc)  # polars writes Parquet and says "os error 28"
        if failure is None:
            raise
        raise output_error(failure, out, what) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .engine.compare.models import ModelSet
    from .engine.evaluate import roc_rows, write_scores
    from .views.text import comparison_summary, summary_table

    with _scored_evaluator(args) as (settings, evaluator):
        if isinstance(evaluator, ModelSet):
            compared = evaluator.evaluate(settings)
            for warning in compared.warnings:
                print(f"hepfm: warning: {warning}", file=sys.stderr)
            _write_json(compared.to_json_dict(), args.json, comparison_summary(compared))
            members = compared.members()
            if args.roc_csv:
                rows = [{"model": name} | row for name, r in members for row in roc_rows(r)]
                _write_roc_csv(rows, args.roc_csv, with_model=True)
            if args.scores_out:
                with _atomic_folder(args.scores_out) as tmp:
                    for name, r in members:
                        write_scores(r, tmp / name)
            return 0
        result = evaluator.evaluate(settings)
        _write_json(result.to_json_dict(), args.json, summary_table(result))
        if args.roc_csv:
            _write_roc_csv(roc_rows(result), args.roc_csv, with_model=False)
        if args.scores_out:
            with _atomic_folder(args.scores_out) as tmp:
                evaluator.write_scores(result, tmp)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .engine.compare.models import ModelSet
    from .views.report import write_report

    with _scored_evaluator(args) as (settings, evaluator):
        if isinstance(evaluator, ModelSet):
            for warning in evaluator.warnings:
                print(f"hepfm: warning: {warning}", file=sys.stderr)
        if args.figures:
            # the figures all or none: a full disk halfway leaves no partial set
            with _atomic_folder(args.figures, "the figures (--figures)") as figures:
                path = write_report(evaluator, settings, args.out, figures=figures)
        else:
            path = write_report(evaluator, settings, args.out)
    print(f"report: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if args.figures:
        print(f"figures: {args.figures}")
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    """Start a batch-system Dask cluster, write its scheduler file, hold it until Ctrl-C."""
    from .cluster.jobqueue import BatchSettings, batch_cluster

    settings = BatchSettings(
        cores=args.cores,
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        interface=args.interface,
        job_directives=tuple(args.job_directive or ()),
        prologue=tuple(args.prologue or ()),
    )
    cluster = batch_cluster(args.system, settings)
    try:
        if args.print_job_script:
            print(cluster.job_script())
            return 0
        from distributed import Client

        client = Client(cluster)
        Path(args.scheduler_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
        client.write_scheduler_file(str(Path(args.scheduler_file).expanduser()))
        cluster.scale(jobs=args.jobs)
        print(
            f"scheduler {cluster.scheduler_address}, file {args.scheduler_file}: {args.jobs} "
            f"{args.system} jobs submitted. In another shell: hepfm evaluate ... "
            f"--scheduler-file {args.scheduler_file}. Ctrl-C stops the cluster.",
            flush=True,
        )
        while True:
            time.sleep(3600)
    finally:
        cluster.close()


def cmd_repack(args: argparse.Namespace) -> int:
    from .data.repack import repack_folder

    t0 = time.perf_counter()
    results = repack_folder(args.dir, args.compression)
    for r in results:
        if r.skipped:
            print(f"{r.path.name}: left as it is ({r.skipped})")
        else:
            print(
                f"{r.path.name}: format version {r.from_version} -> {r.to_version}, "
                f"{r.bytes_before / 1e6:.1f} -> {r.bytes_after / 1e6:.1f} MB"
            )
    print(f"{len(results)} files in {time.perf_counter() - t0:.1f}s")
    return 0


def _add_settings_arguments(p: argparse.ArgumentParser) -> None:
    clip = p.add_mutually_exclusive_group()
    clip.add_argument(
        "--clip",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help=f"clip z_log_var to [LO, HI] (default: {DEFAULT_CLIP[0]:g} {DEFAULT_CLIP[1]:g}, "
        "upstream's committed fix, as the dashboard starts)",
    )
    clip.add_argument("--no-clip", action="store_true", help="no clip: the float64 guards alone")
    p.add_argument("--score", choices=SCORES, default="reconstruction")
    p.add_argument("--beta", type=float, default=1.0, help="total = reconstruction + beta * KL")
    p.add_argument(
        "--policy",
        choices=POLICIES,
        default="worst",
        help="non-finite scores: drop them (upstream) or rank them most anomalous (default)",
    )
    p.add_argument("--kl-form", choices=KL_FORMS, default="true", help="KL for softplus models")
    p.add_argument("--signals", default=None, help="comma-separated signal samples (default: all)")
    p.add_argument(
        "--signal-normalisation",
        choices=SIGNAL_NORMALISATIONS,
        default="background",
        help="standardise signals with the background's parameters (default) or their own",
    )
    p.add_argument(
        "--fill",
        choices=FILLS,
        default="median",
        help="non-finite raw inputs: fill with the median (upstream's; counted as imputed, "
        "default) or none (exclude those events as input_nonfinite)",
    )
    p.add_argument("--cache-dir", default=None, help="where scoring passes are cached")
    add_cluster_arguments(p, partitions=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hepfm", description="Judge VAE anomaly detectors on collider track data."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="write the demo data and train the demo model")
    demo.add_argument(
        "--out",
        default=None,
        help="output folder (default: <data root>/demo; data root: $HEPFM_DATA_ROOT, else the"
        " checkout's data/, else ~/.local/share/hepfm)",
    )
    demo.add_argument(
        "--background",
        type=int,
        default=None,
        help="background events (default $HEPFM_DEMO_BACKGROUND or 200000)",
    )
    demo.add_argument(
        "--signal",
        type=int,
        default=None,
        help="events per signal sample (default $HEPFM_DEMO_SIGNAL or 10000)",
    )
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--no-train", action="store_true", help="write the data only")
    _add_compression_argument(demo)
    add_physlite_option(demo)
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train the VAE on a data folder's background")
    train.add_argument("--data", required=True, help="hepfm or upstream data folder")
    train.add_argument("--out", required=True, help="model file to write (.keras)")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=1024)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--max-events", type=int, default=None)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--encoder", type=int, nargs="+", default=[128, 64, 32])
    train.add_argument("--decoder", type=int, nargs="+", default=[32, 64, 128])
    train.add_argument("--latent", type=int, default=16)
    train.add_argument("--activation", default="relu")
    train.add_argument("--parameterisation", choices=PARAMETERISATIONS, default="exp")
    train.add_argument("--beta-low", type=float, default=0.01)
    train.add_argument("--beta-high", type=float, default=0.1)
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="guarded scores and separation metrics")
    ev.add_argument("--data", default=None, help="hepfm or upstream data folder")
    _add_model_argument(ev)
    _add_settings_arguments(ev)
    ev.add_argument("--json", default=None, help="write the JSON result here ('-': stdout)")
    ev.add_argument("--roc-csv", default=None, help="write every signal's exact ROC as CSV")
    ev.add_argument("--scores-out", default=None, help="folder for per-sample Parquet scores")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=cmd_evaluate)

    rep = sub.add_parser("report", help="write the offline, interactive meeting report (HTML)")
    rep.add_argument("--data", default=None, help="hepfm or upstream data folder")
    _add_model_argument(rep)
    rep.add_argument("--out", required=True, help="the HTML file to write")
    _add_settings_arguments(rep)
    rep.add_argument(
        "--figures", default=None, help="also write each figure as PNG and SVG to this folder"
    )
    rep.add_argument("--quiet", action="store_true", help="no progress bars")
    rep.set_defaults(func=cmd_report)

    add_convert_parser(sub)
    add_events_parser(
        sub, add_settings_arguments=_add_settings_arguments, settings_from=_settings_from
    )
    _add_cluster_parser(sub)
    add_dashboard_parser(sub)

    pack = sub.add_parser(
        "repack",
        help="rewrite a hepfm data folder's files with another compression (one file at a time,"
        " atomically; content and fingerprints unchanged)",
    )
    pack.add_argument("dir", help="hepfm data folder")
    _add_compression_argument(pack)
    pack.set_defaults(func=cmd_repack)
    return parser


def _add_cluster_parser(sub) -> None:
    systems = ("slurm", "pbs", "sge", "lsf", "htcondor")
    cl = sub.add_parser(
        "cluster",
        help="start a Dask cluster on a batch system (dask-jobqueue) for --scheduler-file",
    )
    cl.add_argument("system", choices=systems, help="the batch system")
    cl.add_argument("--jobs", type=int, default=1, help="worker jobs to submit")
    cl.add_argument("--cores", type=int, default=1, help="threads of each worker job")
    cl.add_argument("--memory", default="4GiB", help="memory of each worker job")
    cl.add_argument("--walltime", default="01:00:00", help="HH:MM:SS of each worker job")
    cl.add_argument("--queue", default=None, help="queue or partition")
    cl.add_argument("--account", default=None, help="project or account to charge")
    cl.add_argument("--interface", default=None, help="network interface, e.g. ib0")
    cl.add_argument(
        "--job-directive",
        action="append",
        help="an extra header line of the job script (repeatable), e.g. --gres=gpu:1",
    )
    cl.add_argument(
        "--prologue", action="append", help="a shell line run before the worker (repeatable)"
    )
    cl.add_argument(
        "--scheduler-file",
        default="hepfm-scheduler.json",
        help="where to write the scheduler's address (pass it to --scheduler-file)",
    )
    cl.add_argument(
        "--print-job-script",
        action="store_true",
        help="print the job script each worker job runs, submit nothing",
    )
    cl.set_defaults(func=cmd_cluster)


def _add_model_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        action="append",
        metavar="[LABEL=]PATH[,PATH...]",
        help="hepfm .keras file or upstream experiment folder; give --model several times to "
        "compare models on the same events (labels: the model's name and short fingerprint, "
        "or LABEL=PATH), LABEL=PATH1,PATH2,... for one variant trained with several seeds",
    )


def _add_compression_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=DEFAULT_COMPRESSION,
        help="of the data files: Blosc2 lz4 (default) or zstd, format version 2; gzip, version"
        " 1, for readers without hdf5plugin",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HepfmError as exc:
        print(f"hepfm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hepfm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
