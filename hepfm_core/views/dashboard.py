"""The dashboard's view-model: what the app needs besides tables, text and charts.

Paths are confined to the data root of :func:`hepfm_core.common.paths.data_root` (the rule
the CLI uses too), so a shared dashboard cannot be pointed at arbitrary files. Evaluators are
shared by every viewer of one server process (marimo runs each viewer as a thread), so each
cached scoring pass is memory-mapped once; so are investigators (one per evaluator: the
model loaded once, in the background when the dashboard shows).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl

from ..cluster.connect import Cluster, ClusterSpec, open_cluster
from ..cluster.evaluator import ClusterEvaluator
from ..common import paths
from ..common.collector import freeze_long_lived
from ..engine.compare.models import ModelSet
from ..engine.compare.results import ComparisonResult
from ..engine.compare.specs import model_label
from ..engine.evaluate import (
    BaseEvaluator,
    EvaluationResult,
    EvaluationSettings,
    Evaluator,
    SampleResult,
)
from ..engine.investigate.events import Criterion, EventDetail, Selection
from ..engine.investigate.explain import SelectionSummary
from ..engine.investigate.investigator import Investigator, RemoteEvents
from ..engine.investigate.residuals import ResidualProfile
from ..engine.metrics.separation import Separation
from ..engine.scoring.run import prime_native_logs
from ..errors import HepfmError, PathNotAllowedError
from ..sources import dataset_for_model, describe_model, load_model, open_data
from ..upstream.files import EXPERIMENT_CONFIG
from ..vocabulary import Fill, KLForm, Policy, Score, SignalNormalisation
from .charts import model_curve_frame
from .investigation import BRUSH, empty_selection_sentence
from .page_state import EventRequest, brush_request

__all__ = [
    "DIAGNOSTICS",
    "INLINE_CHART_DATA",
    "LATENT_VIEW",
    "LOOK_HINT",
    "MAX_SHOWN_EVENTS",
    "MODEL_SEARCH_DEPTH",
    "PAGE_EVENTS",
    "PAGE_WAIT_S",
    "PROFILE_VIEW",
    "SCULPTING_VIEW",
    "TOP_DEFAULT",
    "WARM_NICENESS",
    "Looked",
    "attempt",
    "chosen_event",
    "confine",
    "confined_root",
    "curves",
    "data_for_model",
    "data_root",
    "find_models",
    "inline_chart_data",
    "look",
    "model_args",
    "model_choices",
    "on_brush",
    "on_count_button",
    "page_count",
    "page_drawn",
    "project_root",
    "residual_profiles",
    "sample_names",
    "sample_result",
    "select_events",
    "settings_for",
    "shared_cluster",
    "shared_evaluator",
    "shared_investigator",
    "shared_model",
    "shared_models",
    "warm_in_background",
    "warm_status",
    "yield_to_the_page",
]

MODEL_SEARCH_DEPTH = 4
"""How many folders deep under the data root the app looks for models."""

_evaluators: dict[tuple[str, str, str, str, str], BaseEvaluator] = {}
_clusters: dict[str, Cluster] = {}
_evaluators_lock = threading.RLock()
_investigators: dict[int, tuple[BaseEvaluator, Investigator]] = {}
_warming: dict[int, tuple[float | None, str]] = {}
_page_drawn: dict[int, threading.Event] = {}
_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()
PAGE_WAIT_S = 60.0
"""How long a warm-up started with ``after_page`` waits for :func:`page_drawn` at most."""
_profiles: dict[tuple[int, tuple[str, ...]], dict[str, ResidualProfile]] = {}

PAGE_EVENTS = 20
"""Events per page of the investigation."""
MAX_SHOWN_EVENTS = 200
"""Events of a selection the investigation pages through at most (the first ones)."""
TOP_DEFAULT = 20
"""How many of the most anomalous events the investigation offers at first."""
LATENT_VIEW = "latent space"
PROFILE_VIEW = "residual profile"
SCULPTING_VIEW = "sculpting check"
DIAGNOSTICS = (LATENT_VIEW, PROFILE_VIEW, SCULPTING_VIEW)
"""The whole-sample diagnostics the app offers, by name."""
LOOK_HINT = (
    "Click a count of the filtered-event counts table (a cause), brush the loss distributions "
    "(a score range), or ask for the most anomalous events of a sample."
)

_T = TypeVar("_T")


def project_root() -> Path:
    """The source checkout's root; the package's parent folder when hepfm is installed."""
    return paths.checkout_root() or paths.PACKAGE_DIR.parent


def data_root() -> Path:
    """The data root: see :func:`hepfm_core.common.paths.data_root` for the rule."""
    return paths.data_root()


def confined_root() -> Path:
    """The data root, with every search that walks beyond a chosen path (an experiment's
    folder above it, its dataset beside it) confined to it in this process
    (``paths.confine_reads``): what the dashboard reads stays inside its root."""
    root = data_root().resolve()
    paths.confine_reads(root)
    return root


def confine(path: str | Path, root: Path | None = None) -> Path:
    """``path`` resolved (relative to the root if relative); refused outside the root."""
    root = (root or data_root()).resolve()
    p = Path(path)
    p = (p if p.is_absolute() else root / p).resolve()
    if p != root and root not in p.parents:
        raise PathNotAllowedError(
            f"{p} is outside the dashboard's data root {root}",
            p,
            f"copy or link the data under {root}, or set {paths.DATA_ROOT_ENV} when starting "
            "the app",
        )
    return p


def data_for_model(model_path: Path, fallback: Path, root: Path | None = None) -> Path:
    """The data folder to show with a model when the user chose none.

    An upstream experiment names its dataset in its config (``sources.dataset_for_model``):
    use it when it lies under the data root; otherwise (and for hepfm models) the fallback,
    normally the demo.
    """
    try:
        found = dataset_for_model(model_path)
    except HepfmError:
        return fallback
    if found is None:
        return fallback
    try:
        return confine(found, root)
    except PathNotAllowedError:
        return fallback


def shared_cluster(scheduler: str) -> Cluster:
    """One connection per scheduler in this process (``tcp://host:port``, or the path of a
    scheduler file), checked like the CLI's (``cluster.connect.open_cluster``)."""
    with _evaluators_lock:
        cluster = _clusters.get(scheduler)
        if cluster is None:
            is_file = not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://"))
            spec = ClusterSpec(
                scheduler=None if is_file else scheduler,
                scheduler_file=scheduler if is_file else None,
            )
            cluster = _clusters[scheduler] = open_cluster(spec)
        return cluster


def sample_names(data_dir: str | Path) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The samples of the data folder and its signals, from the folder alone (headers, tens
    of milliseconds); None when it cannot be opened (the evaluator's cell says why).

    Why not the evaluator's: the app's controls and the link's state are built from these
    names, and the evaluator is a new object whenever the fill or the normalisation changes;
    controls built from it would be rebuilt at the link's values, and every cell redrawn.
    """
    try:
        data = open_data(data_dir)
    except HepfmError:
        return None
    return tuple(data.samples), tuple(data.signals)


def shared_evaluator(
    data_dir: Path,
    model_path: Path,
    normalisation: SignalNormalisation,
    cache: str | Path | None = None,
    fill: Fill = "median",
    scheduler: str | None = None,
) -> BaseEvaluator:
    """One evaluator per (data, model, signal normalisation, fill, scheduler) in this
    process; on the Dask cluster at ``scheduler`` when given (samples too large for this
    server's memory: a slider move then fans out to the workers)."""
    key = (str(data_dir), str(model_path), normalisation, fill, scheduler or "")
    cluster = shared_cluster(scheduler) if scheduler else None
    with _evaluators_lock:
        ev = _evaluators.get(key)
        if ev is None:
            if cluster is None:
                ev = Evaluator.open(
                    data_dir,
                    model_path,
                    signal_normalisation=normalisation,
                    fill=fill,
                    cache=cache,
                )
            else:
                ev = ClusterEvaluator.open(
                    data_dir,
                    model_path,
                    cluster=cluster,
                    signal_normalisation=normalisation,
                    fill=fill,
                    cache=cache,
                )
            _evaluators[key] = ev
        return ev


def model_args(value: object) -> list[str]:
    """The ``-- --model`` values of the app's command line: none, one, or several."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items]


def find_models(root: Path | None = None, depth: int = MODEL_SEARCH_DEPTH) -> list[Path]:
    """hepfm model files (``*.keras``) and upstream experiment folders under the root, at
    most ``depth`` folders deep, hidden folders skipped; sorted."""
    root = (root or data_root()).resolve()
    found: list[Path] = []
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        level = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        if level >= depth:
            dirs[:] = []
        if EXPERIMENT_CONFIG in files:
            found.append(here)
            dirs[:] = []  # an experiment's own files are not models of their own
            continue
        found += [here / f for f in sorted(files) if f.endswith(".keras")]
    return sorted(found)


def model_choices(
    primary: Path, given: Sequence[str] = (), root: Path | None = None
) -> tuple[dict[str, Path], list[str]]:
    """The app's model options, label -> path, and the labels selected at first.

    Options: the model shown (``primary``), the models of the command line (``given``),
    then those under the root (:func:`find_models`), each once; the first two are selected.
    Labels are :func:`engine.compare.models.model_label`'s (name and short fingerprint); a file
    that is no usable model is left out. Raises ``PathNotAllowedError`` for a given model
    outside the root.
    """
    chosen = [primary, *(confine(g, root) for g in given)]
    wanted = {str(p.resolve()) for p in chosen}
    out: dict[str, Path] = {}
    selected: list[str] = []
    seen: set[str] = set()
    for path in [*chosen, *find_models(root)]:
        key = str(path.resolve())
        if key in seen:
            continue
        seen.add(key)
        try:
            base = model_label(describe_model(path))
        except HepfmError:
            continue
        label, n = base, 1
        while label in out:  # the same model at two paths
            n += 1
            label = f"{base}#{n}"
        out[label] = path
        if key in wanted:
            selected.append(label)
    return out, selected


def shared_models(
    data_dir: Path,
    models: Mapping[str, Path],
    normalisation: SignalNormalisation,
    cache: str | Path | None = None,
    fill: Fill = "median",
    scheduler: str | None = None,
) -> ModelSet:
    """The models chosen (label -> path) on one data folder, each through
    :func:`shared_evaluator` (so a model's passes are opened once per server process)."""
    return ModelSet(
        {
            label: [shared_evaluator(data_dir, path, normalisation, cache, fill, scheduler)]
            for label, path in models.items()
        }
    )


def curves(compared: ComparisonResult) -> Mapping[str, Separation] | pl.DataFrame:
    """What the ROC and rejection charts draw: one model's separations, or several models'
    curves tagged with their labels (overlaid: colour = signal, dash = model)."""
    results = compared.first_results()
    if len(results) == 1:
        return compared.primary.signals
    return model_curve_frame({label: r.signals for label, r in results.items()})


def settings_for(
    *,
    clip: tuple[float, float] | None,
    score: Score,
    beta: float,
    policy: Policy,
    signals: list[str],
) -> EvaluationSettings:
    """The evaluation settings the sidebar's controls describe."""
    return EvaluationSettings(
        clip=clip, score=score, beta=beta, policy=policy, signals=tuple(signals)
    )


# -- the investigation --------------------------------------------------------------------
def shared_investigator(evaluator: BaseEvaluator) -> Investigator | None:
    """One investigator per evaluator in this process (its model loaded once). On a cluster
    (``RemoteEvents``: ``-- --scheduler``) its selections are computed on the workers and
    only the shown events' pass rows come here; None for any other evaluator."""
    if not (isinstance(evaluator, Evaluator) or isinstance(evaluator, RemoteEvents)):
        return None
    with _evaluators_lock:
        held = _investigators.get(id(evaluator))
        if held is None or held[0] is not evaluator:
            investigator = Investigator(evaluator, model_loader=lambda: shared_model(evaluator))
            held = _investigators[id(evaluator)] = (evaluator, investigator)
        return held[1]


def shared_model(evaluator: BaseEvaluator) -> Any:
    """The model of ``evaluator``, loaded once per file content in this process: evaluators
    of one model on other fills or normalisations share it, and its compiled forward
    function (``scoring.forward_for`` keeps one per model object). Changing the fill then
    loads no model again."""
    key = (str(evaluator.model_path), evaluator.model_info.fingerprint)
    with _models_lock:  # one load at a time: two investigators of one model wait for it
        model = _models.get(key)
        if model is None:
            model = _models[key] = load_model(evaluator.model_path)
        return model


_tallied_files: set[tuple[str, str]] = set()


def _first_of_its_files(investigator: Investigator) -> bool:
    """Whether ``investigator`` is the first warmed on its model and data files in this
    process. Another (the other fill, the other signal normalisation: a variant the page
    switches to) does not tally its latent space in its warm-up: seconds of NumPy holding
    the interpreter while the page answers that very switch (the fill control took 1.0-1.3 s
    in the kernel, against 0.3 s); its latent view tallies when first shown."""
    ev = investigator.evaluator
    key = (str(ev.model_path), str(ev.data.path))
    with _evaluators_lock:
        first = key not in _tallied_files
        _tallied_files.add(key)
    return first


def warm_in_background(
    investigator: Investigator,
    *,
    kl_form: KLForm = "true",
    thread: Callable[..., threading.Thread] = threading.Thread,
    on_done: Callable[[], object] | None = None,
    prime_in_thread: bool = False,
    after_page: bool = False,
    freeze_after: bool = False,
) -> threading.Thread | None:
    """Load the model, compile its decoder, tally the background's latent space (``kl_form``)
    and read each sample's reference events in a background ``thread``, once per
    investigator, so that the first click on a count answers at once; then call
    ``on_done``. None when it started before. A failure is kept for :func:`warm_status` and
    left for the click to report. It needs no result: the app's cell that starts it does not
    run again when a setting changes.

    ``prime_in_thread``: TensorFlow's import and its once-per-process native log lines
    (``scoring.prime_native_logs``, seconds) happen in the thread too, off the page's
    critical path. Only where file descriptor 2 is not redirected per cell: ``marimo run``
    (a kernel is a thread of the server), a script or a test. ``marimo edit`` redirects fd 2
    of its kernel process to the running cell, so there the caller primes first.

    ``after_page``: the thread waits (at most :data:`PAGE_WAIT_S`) until the page's last
    cell calls :func:`page_drawn`, so that the import and the reads do not compete with the
    first view for the interpreter; :func:`page_drawn` then primes where the caller would.

    ``freeze_after``: once warm, the process's objects are collected and frozen
    (:func:`~hepfm_core.common.collector.freeze_long_lived`), so that the collector's full
    passes no longer walk TensorFlow's and the model's millions of objects during a
    control's response. For a server; a test process keeps its collector as it is.
    """
    key = id(investigator)
    with _evaluators_lock:
        if key in _warming:
            return None
        _warming[key] = (None, "")
        drawn = _page_drawn.setdefault(key, threading.Event()) if after_page else None
    if not prime_in_thread and drawn is None:
        # here, in the caller's thread: the compilation in the thread then prints nothing
        # that a notebook cell would catch (see scoring.prime_native_logs)
        prime_native_logs()

    def warm() -> None:
        if drawn is not None:
            drawn.wait(PAGE_WAIT_S)
        t0 = time.perf_counter()
        error = ""
        try:
            prime_native_logs()  # at once where the caller primed
            forward = investigator.warm()
            here = isinstance(investigator.evaluator, Evaluator)  # else on a cluster
            if here:
                k = next(iter(investigator.passes("the warm-up").values())).latent_dim
            else:  # one event's pass row from the workers: the shards are there
                k = investigator.pass_rows("background", np.zeros(1, np.int64)).z_mean.shape[1]
            # the decoder compiled for its batch: the first page of events runs it
            forward.decode(np.zeros((1, k), dtype=np.float32))
            # the latent view's tallies of the background (its default sample): ticking it
            # then costs milliseconds. Seconds of NumPy over every event: at a lower
            # priority, after TensorFlow made its thread pools (they keep the one they got)
            yield_to_the_page()
            if here and _first_of_its_files(investigator):
                investigator.latent_tally("background", kl_form)
            for name in investigator.evaluator.data.samples:
                investigator.prefetch(name)
        except Exception as exc:  # the click that needs it shows the error
            error = str(exc) or type(exc).__name__
        if freeze_after:
            freeze_long_lived()
        with _evaluators_lock:
            _warming[key] = (time.perf_counter() - t0, error)
        if on_done is not None:
            on_done()

    started = thread(target=warm, name="hepfm-warm-investigator", daemon=True)
    started.start()
    return started


INLINE_CHART_DATA = "marimo_inline_csv"
"""marimo's Altair data transformer that writes a chart's rows into its spec (a data URL)."""


def inline_chart_data() -> bool:
    """Charts carry their rows inside their spec, not in a file the page fetches.

    By default marimo serves each dataset of a chart as a virtual file; the page fetches it
    (one round trip per layer) from a server whose kernel is still running the next cells,
    so a redrawn chart waits on the kernel. Our charts' rows are bounded by bins and
    vertices (a few thousand), so inline is both cheaper and sooner. False where marimo has
    not registered the transformer (Altair imported outside a marimo kernel)."""
    import altair as alt

    if INLINE_CHART_DATA not in alt.data_transformers.names():
        return False
    alt.data_transformers.enable(INLINE_CHART_DATA)
    return True


WARM_NICENESS = 10
"""How much lower than the server's the warm-up thread's scheduling priority is (Linux)."""


def yield_to_the_page() -> bool:
    """Lower this thread's scheduling priority by :data:`WARM_NICENESS`, so that a warm-up
    (seconds of NumPy over every event, mostly outside the interpreter's lock) gives the
    cores to the kernel and the browser while a control's response is being computed and
    drawn. Linux only (a thread's own niceness); False elsewhere or where refused."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WARM_NICENESS)
    except OSError:
        return False
    return True


def page_drawn(investigator: Investigator, *, prime: bool = False) -> None:
    """The page's cells have run: a warm-up of ``investigator`` started with ``after_page``
    may go on. ``prime``: TensorFlow's native log lines are primed here first, in the
    caller's thread (see :func:`warm_in_background`)."""
    if prime:
        prime_native_logs()
    with _evaluators_lock:
        drawn = _page_drawn.setdefault(id(investigator), threading.Event())
    drawn.set()


def warm_status(investigator: Investigator) -> str:
    """Where loading the model for the investigation stands, in words."""
    with _evaluators_lock:
        held = _warming.get(id(investigator))
    if held is None or held[0] is None:
        return "Loading the model in the background for the events view…"
    seconds, error = held
    if error:
        return f"The model could not be loaded in the background ({error}); a click says why."
    return f"Model loaded in the background ({seconds:.1f} s): a click shows its events at once."


def sample_result(
    investigator: Investigator, result: EvaluationResult, sample: str
) -> SampleResult:
    """``sample`` under ``result``'s settings: from ``result`` when it shows the sample, else
    evaluated alone (a signal not ticked)."""
    if sample in result.samples:
        return result.samples[sample]
    return investigator.evaluate_sample(result.settings, sample).samples[sample]


def select_events(
    investigator: Investigator, result: EvaluationResult, sample: str, criterion: Criterion
) -> Selection:
    """The events of ``sample`` that ``criterion`` picks under ``result``'s settings (the
    events ``hepfm events`` lists for the same settings)."""
    investigator.sample(sample)
    found = sample_result(investigator, result, sample)
    return investigator.select(found, criterion, result.settings)


def page_count(selection: Selection) -> int:
    """Pages of :data:`PAGE_EVENTS` over the first :data:`MAX_SHOWN_EVENTS` events."""
    return -(-min(selection.size, MAX_SHOWN_EVENTS) // PAGE_EVENTS)


def chosen_event(details: Sequence[EventDetail], rows: object) -> EventDetail | None:
    """The event of a page that the events table's selected row names (its ``event``
    column), else the page's first; None for an empty page."""
    if not details:
        return None
    events = rows.get_column("event").to_list() if isinstance(rows, pl.DataFrame) else []
    wanted = events[0] if events else None
    return next((d for d in details if d.event == wanted), details[0])


def residual_profiles(
    investigator: Investigator, names: Sequence[str]
) -> dict[str, ResidualProfile]:
    """:meth:`Investigator.residuals` of ``names``, computed once per investigator (they
    depend on the model and the data only, not on the settings)."""
    key = (id(investigator), tuple(names))
    with _evaluators_lock:
        held = _profiles.get(key)
    if held is None:
        held = investigator.residuals(names)
        with _evaluators_lock:
            _profiles[key] = held
    return held


def on_count_button(
    set_request: Callable[[Any], None], sample: str, cause: str
) -> Callable[[object], None]:
    """A count's button in the counts grid (``on_change``): asks for the events of
    ``sample`` whose cause is ``cause`` (the section below follows)."""
    request = EventRequest(sample, Criterion.by_cause(cause))

    def clicked(_value: object) -> None:
        set_request(request)

    return clicked


def on_brush(
    set_request: Callable[[Any], None], selections: Callable[[], Mapping[str, Any]]
) -> Callable[[object], None]:
    """The loss distributions' ``on_change``: a brush asks for the scores in its range, in
    the sample looked at before (else the background); a cleared brush changes nothing."""

    def brushed(_value: object) -> None:
        def update(old: object) -> object:
            previous = old if isinstance(old, EventRequest | str) else None
            return brush_request(previous, selections(), BRUSH, "background") or old

        set_request(update)

    return brushed


@dataclass(frozen=True)
class Looked:
    """What the investigation shows for a request: a selection and its summary, or a
    message (a callout of ``kind``)."""

    request: EventRequest | None = None
    selection: Selection | None = None
    summary: SelectionSummary | None = None
    message: str = ""
    kind: str = "info"


def look(investigator: Investigator | None, result: EvaluationResult, asked: object) -> Looked:
    """The events ``asked`` (an :class:`~hepfm_core.views.page_state.EventRequest`, a
    sentence refusing a click, or None) under ``result``'s settings, with their summary; a
    message instead when there is nothing to show (never an exception for a user's input)."""
    if investigator is None:
        return Looked(
            message="The events of these scores cannot be looked at here: this evaluator "
            "keeps no scoring pass in this process and cannot select on a cluster (use "
            "`hepfm events`).",
            kind="warn",
        )
    if asked is None:
        return Looked(message=LOOK_HINT)
    if not isinstance(asked, EventRequest):
        return Looked(message=str(asked), kind="warn")
    try:
        selection = select_events(investigator, result, asked.sample, asked.criterion)
        if selection.size == 0:
            counts = sample_result(investigator, result, asked.sample).counts.by_cause
            return Looked(
                request=asked,
                message=empty_selection_sentence(selection, counts),
                kind="warn",
            )
        summary = investigator.summary(selection)
    except HepfmError as exc:
        return Looked(
            request=asked, message=f"**Cannot look at these events.** {exc}", kind="danger"
        )
    return Looked(request=asked, selection=selection, summary=summary)


def attempt(compute: Callable[[], _T]) -> tuple[_T | None, HepfmError | None]:
    """``compute()`` and no error, or None and the user error it raised: what an app cell
    shows in a callout while the app stays alive."""
    try:
        return compute(), None
    except HepfmError as exc:
        return None, exc
