"""What a Dask worker runs: score a partition into a shard, prepare it, guard it, summarise it.

Every function here is a task of the cluster evaluator (``cluster.evaluator``), shipped by
reference (the worker imports this module, hence needs hepfm: ``worker_facts`` says which
hepfm it has). A worker keeps what is costly to rebuild and the same for every task: the
opened data folder and the loaded model (TensorFlow limited to the worker's threads before
it starts). Everything else travels as task arguments or lives as Dask results on the
worker that computed them, so a lost worker's results are recomputed from their lineage.

Shards: the scoring pass of events ``start:stop`` of one sample, the same ``.npy`` files as a
whole pass (``engine.scoring.run.run_pass`` with ``rows``), under the cache folder the client
names (``shard_dir``): a worker started elsewhere does not inherit the client's
``HEPFM_CACHE_DIR``, and the folder must be on a filesystem every worker sees. A shard is
published with one rename (``common.cache.publish_dir``): a worker killed while writing
leaves no half shard, and a shard already there is opened, not recomputed, once its files
match the checksums its ``meta.json`` recorded (a damaged one is discarded and scored again).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.cache import DamagedEntryError, cache_error, discard_entry, publish_dir
from ..common.spill import release, spill
from ..engine.compare.paired import PairedBackground
from ..engine.compare.partitioned import (
    PartitionPairs,
)
from ..engine.distributed.order_statistics import Window, WindowScores, window_scores
from ..engine.distributed.partitions import (
    BackgroundSummary,
    PartitionCounts,
    partition_counts,
    summarize_background,
)
from ..engine.guards.guarded import (
    GuardedScores,
    GuardSettings,
    PreparedPass,
    guard,
    outside_clip,
    prepare,
)
from ..engine.guards.policy import PolicyScores, apply_policy, policy_view
from ..engine.investigate.events import Criterion, PartSelection, PassRows, select_in_partition
from ..engine.metrics.binning import Tally, tally, tally_sorted
from ..engine.metrics.roc import BackgroundRef, prepare_background
from ..engine.scoring.passes import ScoringPass
from ..engine.scoring.run import (
    SCORING_VERSION,
    open_cached,
    run_pass,
    write_meta,
)
from ..errors import HepfmError
from ..vocabulary import KLForm, Parameterisation, Policy
from .worker_state import DataRef, dataset_of, model_of, worker_name, worker_threads

__all__ = [
    "REMERGE_AT_MOST",
    "SHARD_MARKER",
    "SPILL_FOLDER",
    "GuardedPartition",
    "PartitionTask",
    "RoundOne",
    "ShardRef",
    "SortedBase",
    "background_summary",
    "background_window",
    "guard_partition",
    "held_bytes",
    "open_shard",
    "prepare_partition",
    "release_pages",
    "release_part",
    "round_one",
    "score_partition",
    "select_partition",
    "shard_dir",
    "shard_rows",
    "sorted_background",
    "sorted_base",
    "spill_root",
    "tally_partition",
    "tally_sorted_partition",
]

SHARD_MARKER = "meta.json"
SPILL_FOLDER = "spill"
"""The folder under the cache where each worker pages out what it keeps between tasks."""


@dataclass(frozen=True)
class PartitionTask:
    """One partition of one sample to score: rows ``start:stop``, a whole number of scoring
    chunks from a chunk boundary. The fingerprints let the worker check that it reads the
    very data and model the client described."""

    data: DataRef
    sample: str
    sample_fingerprint: str
    model_path: str
    model_fingerprint: str
    start: int
    stop: int
    cache: str
    pass_key: str

    @property
    def n_events(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ShardRef:
    """A published shard: where it lies and which rows of which sample it holds."""

    path: str
    sample: str
    start: int
    stop: int
    worker: str
    computed: bool  # False: found already published (a cache hit or a lost worker's shard)
    seconds: float


@dataclass(frozen=True, eq=False)
class GuardedPartition:
    """One partition under one setting, kept on its worker between the two rounds (its
    arrays paged out under ``spill``, where what follows from it is paged out too)."""

    sample: str
    index: int
    guarded: GuardedScores
    policy: PolicyScores
    spill: str | None = None


@dataclass(frozen=True, eq=False)
class SortedBase:
    """A background partition's kept scores without a clip, sorted (``scores``), and where
    each event sits among them (``rank``, -1 where the policy did not keep it): a clip
    changes the scores of the events outside it only, so the sorted scores under a clip
    are these with those events' entries taken out and their new scores merged in."""

    scores: np.ndarray
    rank: np.ndarray


@dataclass(frozen=True, eq=False)
class RoundOne:
    """What a partition ships first: its counts, and a signal's kept scores."""

    counts: PartitionCounts
    values: np.ndarray | None


# -- what moving a result costs ---------------------------------------------------------------
def held_bytes(obj: Any) -> int:
    """Bytes of the arrays a worker-held result carries (paged out or not, nested results
    included): what moving it to another worker costs. Registered as its ``dask.sizeof``:
    Dask's default, ``sys.getsizeof``, sees a few dozen bytes in any dataclass, so its
    scheduler would run a partition's next task on any worker and its work stealing move
    tasks freely, and each move copies (and pages in) the whole partition."""
    if isinstance(obj, ScoringPass) and obj.directory is not None:
        return 64  # travels as its folder (``_reduce_pass``)
    total = 64
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray):
            total += int(value.nbytes)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            total += held_bytes(value)
    return total


def _reopen_pass(directory: str) -> ScoringPass:
    return open_cached(Path(directory), verify=False)


def _reduce_pass(pass_: ScoringPass) -> Any:
    """A scoring pass opened from a shard travels as its folder (every worker sees the
    cache) and is opened again there: not its 145 bytes per event."""
    if pass_.directory is None:
        return pass_.__reduce_ex__(2)  # the arrays themselves, as without this reducer
    return _reopen_pass, (str(pass_.directory),)


def _register_sizes() -> None:
    import copyreg

    from dask.sizeof import sizeof

    for cls in (
        PreparedPass,
        GuardedPartition,
        SortedBase,
        BackgroundRef,
        ScoringPass,
        PolicyScores,
        PartitionPairs,
        PairedBackground,
    ):
        sizeof.register(cls)(held_bytes)
    copyreg.pickle(ScoringPass, _reduce_pass)


# -- scoring --------------------------------------------------------------------------------
def shard_dir(cache: str | Path, pass_key: str, start: int, stop: int) -> Path:
    """The folder of the shard of rows ``start:stop`` of the pass ``pass_key``."""
    return Path(cache) / "shards" / pass_key / f"{start:012d}-{stop:012d}"


def spill_root(shard_path: str | Path | None) -> Path | None:
    """The spill folder of the cache that holds the shard at ``shard_path`` (laid out by
    :func:`shard_dir`: ``<cache>/shards/<pass>/<rows>``); None for a pass not from a shard."""
    if shard_path is None:
        return None
    return Path(shard_path).parents[2] / SPILL_FOLDER


def _paged(obj: Any, root: Path | None, names: Sequence[str]) -> Any:
    """``obj`` (a frozen dataclass) with its arrays ``names`` paged out under ``root``
    (``common.spill``): the worker keeps them in files it maps, not in its memory. Small
    arrays stay as they are; ``root`` None leaves ``obj`` as it is."""
    if root is None:
        return obj
    try:
        return dataclasses.replace(obj, **{n: spill(getattr(obj, n), root) for n in names})
    except OSError as exc:
        raise cache_error(exc, root) from exc


_PREPARED_ARRAYS = (
    "kl",
    "radius",
    "s_min",
    "s_max",
    "kl_mag",
    "latent_cause",
    "recon_cause",
    "latent_bad",
    "recon_bad",
    "total_bad_f32",
    "total_bad_f16",
)


def _release_prepared(prepared: PreparedPass) -> None:
    """Let go of the pages of a prepared pass and of its scoring pass."""
    release(*(getattr(prepared, n) for n in _PREPARED_ARRAYS))
    release_pages(prepared.pass_)


def release_part(part: GuardedPartition) -> None:
    release(part.guarded.scores, part.guarded.causes, part.policy.values, part.policy.kept_mask)


def score_partition(task: PartitionTask) -> ShardRef:
    """The shard of ``task``: opened if published, else scored on this worker and published."""
    t0 = time.perf_counter()
    directory = shard_dir(task.cache, task.pass_key, task.start, task.stop)
    computed = False
    if (directory / SHARD_MARKER).exists():
        try:
            open_cached(directory)
        except DamagedEntryError:
            discard_entry(directory)
    if not (directory / SHARD_MARKER).exists():
        sample = dataset_of(task.data).samples[task.sample]
        if sample.provenance.fingerprint != task.sample_fingerprint:
            raise HepfmError(
                f"the worker {worker_name()} reads other events for {task.sample!r} than "
                "the client",
                task.data.path,
                "give the workers the same data folder as the client (a shared filesystem)",
            )
        model = model_of(task.model_path, task.model_fingerprint)
        meta = {
            "scoring_version": SCORING_VERSION,
            "pass_key": task.pass_key,
            "sample": task.sample,
            "start": task.start,
            "stop": task.stop,
            "worker": worker_name(),
        }

        threads = worker_threads()
        # a one-thread worker reads between model calls: no thread beside its own
        read_threads = 0 if threads == 1 else None

        def write(tmp: Path) -> None:
            run_pass(model, sample, tmp, rows=(task.start, task.stop), read_threads=read_threads)
            write_meta(tmp, meta)

        computed = publish_dir(directory, write, marker=SHARD_MARKER)
    return ShardRef(
        path=str(directory),
        sample=task.sample,
        start=task.start,
        stop=task.stop,
        worker=worker_name(),
        computed=computed,
        seconds=time.perf_counter() - t0,
    )


def open_shard(shard: ShardRef) -> ScoringPass:
    """The shard's arrays, memory-mapped, once its files match their checksums; a shard
    damaged since it was scored is removed and named in a ``DamagedEntryError`` (the next
    run scores it again)."""
    path = Path(shard.path)
    try:
        return open_cached(path)
    except DamagedEntryError as exc:
        discard_entry(path)
        raise DamagedEntryError(
            f"the shard of rows {shard.start}:{shard.stop} of {shard.sample!r} was damaged "
            f"after it was scored ({exc.what}); it was removed",
            path,
            "run again: the shard is scored again",
        ) from exc


# -- guards and summaries -----------------------------------------------------------------
def prepare_partition(
    shard: ShardRef, parameterisation: Parameterisation, kl_form: KLForm
) -> PreparedPass:
    """``guards.prepare`` of one shard (kept on the worker: every setting starts here), in
    the worker's own threads.

    Its arrays (about 30 bytes per event) are paged out to the cache's spill folder
    (``spill_root``), and the shard's pages that ``prepare`` read are let go
    (``MADV_DONTNEED`` on the read-only maps): the worker's memory does not grow with the
    events it holds; each task pages in what it reads.
    """
    pass_ = open_shard(shard)
    prepared = prepare(pass_, parameterisation, kl_form, threads=worker_threads())
    release_pages(pass_)
    return _paged(prepared, spill_root(shard.path), _PREPARED_ARRAYS)


def release_pages(pass_: ScoringPass) -> None:
    """Drop the resident pages of a memory-mapped pass from this process (they are read
    again from the file, or the page cache, when touched)."""
    import mmap

    for name in ("z_mean", "z_log_var", "sum_mu2", "recon", "finite"):
        m = getattr(getattr(pass_, name), "_mmap", None)
        if m is not None and hasattr(mmap, "MADV_DONTNEED"):
            m.madvise(mmap.MADV_DONTNEED)


def guard_partition(
    prepared: PreparedPass, settings: GuardSettings, policy: Policy, sample: str, index: int
) -> GuardedPartition:
    """Guarded scores and the policy's view of partition ``index`` of ``sample``, paged out
    beside the prepared pass (the pages the guard read are let go after)."""
    guarded = guard(prepared, settings)
    kept = apply_policy(guarded, policy)
    root = spill_root(prepared.pass_.directory)
    _release_prepared(prepared)
    paged = _paged(guarded, root, ("scores", "causes"))
    if kept.values is guarded.scores:  # shared, both read-only: paged out once
        kept = dataclasses.replace(kept, values=paged.scores)
        kept = _paged(kept, root, ("kept_mask",))
    else:
        kept = _paged(kept, root, ("values", "kept_mask"))
    return GuardedPartition(sample, index, paged, kept, None if root is None else str(root))


def round_one(part: GuardedPartition, ship_values: bool) -> RoundOne:
    """Counts and score range; the kept scores too for a signal (``ship_values``)."""
    values = np.array(part.policy.values, dtype=np.float64) if ship_values else None
    counts = partition_counts(part.guarded, part.policy)
    release_part(part)
    return RoundOne(counts, values)


def tally_partition(part: GuardedPartition, edges: np.ndarray) -> Tally:
    """The partition's guarded scores counted in the shared bins ``edges``."""
    counted = tally(np.asarray(part.guarded.scores), edges)
    release_part(part)
    return counted


def tally_sorted_partition(ref: BackgroundRef, edges: np.ndarray, total: int) -> Tally:
    """:func:`tally_partition` of a background partition from its sorted kept scores
    (``sorted_background``) and its ``total`` events: binary searches, no pass over them.

    The guarded scores are finite exactly where an event is OK and NaN elsewhere; the kept
    scores are those finite ones (and ``+inf`` for a kept event that is not OK, under
    ``worst``), so the finite head of the sorted kept scores is every finite guarded score
    and the rest of the ``total`` are NaN: ``binning.tally_sorted``, what one process
    tallies its sorted background with.
    """
    scores = ref.scores
    finite = scores[: int(np.searchsorted(scores, np.inf, side="left"))]
    counted = tally_sorted(finite, total, edges)
    release(scores)
    return counted


REMERGE_AT_MOST = 0.25
"""Above this share of a partition's events outside the clip, ``sorted_background`` sorts
the partition again instead of merging the changed events into its ``SortedBase``."""


def sorted_base(prepared: PreparedPass, settings: GuardSettings, policy: Policy) -> SortedBase:
    """The partition's :class:`SortedBase` for ``settings`` less their clip (kept on the
    worker, paged out beside the prepared pass; made once per score, beta and policy)."""
    guarded = guard(prepared, dataclasses.replace(settings, clip=None))
    kept = apply_policy(guarded, policy)
    values = np.asarray(kept.values)
    order = np.argsort(values, kind="stable")
    rank = np.full(prepared.n_events, -1, dtype=np.int64)
    rank[np.flatnonzero(kept.kept_mask)[order]] = np.arange(order.size)
    base = SortedBase(scores=prepare_background(values).scores, rank=rank)
    _release_prepared(prepared)
    return _paged(base, spill_root(prepared.pass_.directory), ("scores", "rank"))


def _merged(part: GuardedPartition, base: SortedBase, prepared: PreparedPass) -> np.ndarray | None:
    """``part``'s kept scores sorted, from ``base``: the entries of the events outside the
    clip taken out, their scores under it merged in (None when too many changed)."""
    rows = outside_clip(prepared, part.guarded.settings.clip)
    if rows.size > REMERGE_AT_MOST * max(prepared.n_events, 1):
        return None
    gone = np.asarray(base.rank[rows])
    keep = np.ones(base.scores.shape[0], dtype=bool)
    keep[gone[gone >= 0]] = False
    rest = np.asarray(base.scores)[keep]
    new = policy_view(part.guarded, part.policy, rows)
    new = np.sort(new[~np.isnan(new)])
    merged = np.insert(rest, np.searchsorted(rest, new), new)
    release(base.scores, base.rank)
    return merged if merged.size == part.policy.kept else None


def sorted_background(
    part: GuardedPartition,
    base: SortedBase | None = None,
    prepared: PreparedPass | None = None,
) -> BackgroundRef:
    """A background partition's kept scores, sorted once (kept on the worker, paged out
    beside its guarded scores): merged from its :class:`SortedBase` (the ``prepared``
    partition it was guarded from says which events the clip changed) where one is given
    and few events changed, else sorted. The same array either way: the same scores,
    in order."""
    merged = None if base is None or prepared is None else _merged(part, base, prepared)
    if prepared is not None:  # the merge read which events leave the clip: let them go
        _release_prepared(prepared)
    if merged is None:
        ref = prepare_background(part.policy.values)
    else:  # sorted already, of kept scores only (finite, or +inf): nothing to check
        merged.setflags(write=False)
        ref = BackgroundRef(scores=merged, n=int(merged.size))
    release_part(part)
    root = None if part.spill is None else Path(part.spill)
    return _paged(ref, root, ("scores",))


def background_summary(
    ref: BackgroundRef, signals: Mapping[str, np.ndarray], k: int, points: int | None
) -> BackgroundSummary:
    """``partitions.summarize_background``: top scores (or a sketch) and, per signal (its
    distinct kept scores), the counts below and tied."""
    summary = summarize_background(ref, signals, k=k, points=points)
    release(ref.scores)
    return summary


def background_window(ref: BackgroundRef, windows: Sequence[Window]) -> WindowScores:
    """After sketches: the partition's scores inside the planned windows."""
    scores = window_scores(ref, windows)
    release(ref.scores)
    return scores


# -- events ---------------------------------------------------------------------------------
def select_partition(
    part: GuardedPartition, criterion: Criterion, start: int, imputed: np.ndarray | None
) -> PartSelection:
    """The events of the partition (its first event ``start`` of the sample) that
    ``criterion`` picks (``investigate.events.select_in_partition``): global indices, scores
    and causes; for ``top`` the partition's own best ``n``."""
    selection = select_in_partition(part.guarded, part.policy, criterion, start, imputed)
    release_part(part)
    return selection


def shard_rows(shard: ShardRef, events: np.ndarray) -> PassRows:
    """The shard's pass rows of ``events`` (indices into the sample, inside the shard), in
    their order: what the details of the selected events need (a few rows, not the shard)."""
    pass_ = open_shard(shard)
    local = np.asarray(events, dtype=np.int64) - shard.start
    if local.size and not (0 <= local.min() and local.max() < shard.stop - shard.start):
        raise ValueError(f"events outside the shard of rows {shard.start}:{shard.stop}")
    rows = PassRows(
        z_mean=np.array(pass_.z_mean[local]),
        z_log_var=np.array(pass_.z_log_var[local]),
        recon=np.array(pass_.recon[local]),
    )
    release_pages(pass_)
    return rows


_register_sizes()
