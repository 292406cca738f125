"""The evaluator whose scores live on a Dask cluster: same settings in, same result out.

``ClusterEvaluator`` answers ``evaluate(settings)`` with the very ``EvaluationResult`` the
single-process ``engine.evaluate.Evaluator`` gives (counts equal, metrics from the same
integer counts, so AUCs agree to the last bit; JSON the same but for the provenance's
``cluster``), while no machine holds more than one partition's events:

1. ``score_all``: every sample cut into partitions of whole scoring chunks
   (``partition_bounds``), each scored into a shard on some worker (``tasks.score_partition``),
   then prepared there (``guards.prepare``, clip-independent, kept on the worker as a Dask
   result: a lost worker's are recomputed from their lineage, its shards found on disk).
2. ``evaluate``: per partition, guarded scores under the setting; round one ships counts
   (and a signal's kept scores), merged into the shared histogram bins and the ranks the
   working points read; round two ships tallies and each background partition's summary
   (top scores, or a sketch and a windows' round: ``engine.distributed.order_statistics``;
   Mann-Whitney counts against every signal), merged by the single-process metric code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..common.cache import cache_dir as default_cache_dir
from ..common.progress import Progress
from ..data.dataset import DataSet
from ..data.hepfm_format import read_identity
from ..data.imputation import imputation_of
from ..engine.compare.pairing import COMPARISON_SCOPE_WHERE, Pairing
from ..engine.distributed.order_statistics import merge_windows, plan_windows
from ..engine.distributed.partitions import (
    merge_background,
    merge_counts,
    merge_edges,
    merge_tallies,
    signal_values,
)
from ..engine.evaluate import (
    BACKGROUND_SORTS_KEPT,
    BaseEvaluator,
    BinnedScores,
    EvaluationResult,
    EvaluationSettings,
    SampleResult,
    scores_frame,
)
from ..engine.investigate.events import (
    Criterion,
    PassRows,
    Selection,
    check_imputed,
    merge_selections,
)
from ..engine.metrics.binning import DEFAULT_BINS
from ..engine.metrics.separation import DEFAULT_BKG_EFFS, Separation
from ..engine.metrics.working_points import needed_ranks
from ..engine.scoring.run import CHUNK_EVENTS, pass_key
from ..errors import SettingsError
from ..sources import open_data
from ..vocabulary import Fill, KLForm, SignalNormalisation
from . import tasks, watch, worker_state
from .compare import ClusterPairing
from .connect import Cluster
from .watch import cluster_errors as _cluster_errors

__all__ = [
    "DEFAULT_PARTITION_EVENTS",
    "MIN_BKG_PASS",
    "TOP_SCORES_BUDGET",
    "ClusterEvaluator",
    "check_partition_events",
    "partition_bounds",
]

DEFAULT_PARTITION_EVENTS = 32 * CHUNK_EVENTS
"""Events per partition (262,144; the command line's default): about a second of scoring on
one thread and 40 MB of shard: the work spreads evenly (the seed's background is 11
partitions), a lost worker costs little, the scheduler's millisecond per task nothing."""

TOP_SCORES_BUDGET = 4 * 2**20
"""Bytes of top background scores all partitions may ship in one round, else a sketch and a
second round (kB per partition). Small: each clip change pays it (27 M events in 26
partitions shipped 56 MB in one round, about a second of the client's and scheduler's CPU)."""

MIN_BKG_PASS = 10  # as metrics.separation's default


def partition_bounds(n_events: int, partition_events: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive partitions covering ``n_events`` (at least one, maybe
    empty). Every start is a multiple of ``partition_events``.

    >>> partition_bounds(10, 4)
    [(0, 4), (4, 8), (8, 10)]
    >>> partition_bounds(0, 4)
    [(0, 0)]
    """
    if partition_events < 1:
        raise ValueError(f"partitions need at least one event, not {partition_events}")
    starts = range(0, max(n_events, 1), partition_events)
    return [(a, min(a + partition_events, n_events)) for a in starts]


def check_partition_events(partition_events: int) -> int:
    """A partition size on the scoring chunk's grid: then every event of a partition meets
    the very chunk (hence arithmetic) it meets in the single-process pass."""
    if partition_events < CHUNK_EVENTS or partition_events % CHUNK_EVENTS:
        raise SettingsError(
            f"partition size {partition_events} is not a multiple of the scoring chunk "
            f"({CHUNK_EVENTS} events)",
            "--partition-events",
            f"use a multiple of {CHUNK_EVENTS}, e.g. {DEFAULT_PARTITION_EVENTS}",
        )
    return partition_events


class ClusterEvaluator(BaseEvaluator):
    """One data folder and one model, scored and evaluated on a Dask cluster.

    Parameters
    ----------
    data : DataSet
        Opened on the client (headers only: no events are read here).
    model_path : str or Path
        A hepfm ``.keras`` file or an upstream experiment folder, at a path the workers see.
    cluster : Cluster
        From ``connect.open_cluster``.
    data_ref : worker_state.DataRef
        How the workers open the same data.
    cache : str or Path, optional
        The cache folder, resolved here and passed to every task: it must be on a
        filesystem all workers see.
    partition_events : int
        Events per partition, a multiple of the scoring chunk.
    """

    def __init__(
        self,
        data: DataSet,
        model_path: str | Path,
        *,
        cluster: Cluster,
        data_ref: worker_state.DataRef,
        cache: str | Path | None = None,
        partition_events: int = DEFAULT_PARTITION_EVENTS,
    ) -> None:
        super().__init__(data, Path(model_path).resolve(), cache=cache)
        self.cluster = cluster
        self.data_ref = data_ref
        self.cache_root = default_cache_dir(cache).resolve()
        self.partition_events = check_partition_events(partition_events)
        self._shards: dict[str, list[Any]] = {}
        self._prepared: dict[tuple[str, KLForm], list[Any]] = {}
        self._sorted: dict[tuple[Any, ...], list[Any]] = {}

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        model_path: str | Path,
        *,
        cluster: Cluster,
        signal_normalisation: SignalNormalisation = "background",
        fill: Fill = "median",
        cache: str | Path | None = None,
        partition_events: int = DEFAULT_PARTITION_EVENTS,
    ) -> ClusterEvaluator:
        """The data folder ``data_dir`` and the model at ``model_path`` on ``cluster``."""
        data = open_data(
            str(Path(data_dir).resolve()), signal_normalisation=signal_normalisation, fill=fill
        )
        open_model = cls.opener(cluster, fill=fill, cache=cache, partition_events=partition_events)
        return open_model(data, Path(model_path))

    @property
    def client(self):
        return self.cluster.client

    # -- scoring ------------------------------------------------------------------------
    def partition_tasks(self, name: str) -> list[tasks.PartitionTask]:
        """The partitions of one sample, as the tasks that score them."""
        sample = self.data.samples[name]
        key = pass_key(self.model_info, sample)
        return [
            tasks.PartitionTask(
                data=self.data_ref,
                sample=name,
                sample_fingerprint=sample.provenance.fingerprint,
                model_path=str(self.model_path),
                model_fingerprint=self.model_info.fingerprint,
                start=a,
                stop=b,
                cache=str(self.cache_root),
                pass_key=key,
            )
            for a, b in partition_bounds(sample.n_events, self.partition_events)
        ]

    def score_all(self, progress: Progress | None = None) -> dict[str, list[tasks.ShardRef]]:
        """Every sample's shards, scored on the workers (or found published).

        Returns, per sample, its shards in row order. ``progress`` is called
        ``(sample, events scored, events)`` as shards complete.
        """
        with self._lock:
            todo = {n: self.partition_tasks(n) for n in self.data.samples if n not in self._shards}
            futures = {
                n: [
                    self.client.submit(tasks.score_partition, t, key=_key("score", t), pure=False)
                    for t in ts
                ]
                for n, ts in todo.items()
            }
            done = dict.fromkeys(todo, 0)
            owner = {
                f.key: (n, t) for n, fs in futures.items() for f, t in zip(fs, todo[n], strict=True)
            }
            with _cluster_errors(self.cluster):
                for f in watch.completed(self.cluster, [f for fs in futures.values() for f in fs]):
                    if f.status == "error":
                        f.result()  # raises the task's error here
                    name, task = owner[f.key]
                    done[name] += task.n_events
                    if progress:
                        progress(name, done[name], self.data.samples[name].n_events)
            self._shards.update(futures)
            with _cluster_errors(self.cluster):
                return {n: watch.gather(self.cluster, fs) for n, fs in self._shards.items()}

    def _prepared_parts(self, name: str, kl_form: KLForm) -> list[Any]:
        """Futures of the sample's prepared partitions (on the workers; made once)."""
        key = (name, kl_form)
        if key not in self._prepared:
            if name not in self._shards:
                self.score_all()
            self._prepared[key] = [
                self.client.submit(
                    tasks.prepare_partition,
                    shard,
                    self.parameterisation,
                    kl_form,
                    key=f"hepfm-prepare-{kl_form}-{shard.key}",
                )
                for shard in self._shards[name]
            ]
        return self._prepared[key]

    def _sorted_bases(self, settings: EvaluationSettings) -> list[Any]:
        """Futures of the background partitions' ``tasks.SortedBase`` for ``settings`` less
        their clip (on the workers, made once; the last ``BACKGROUND_SORTS_KEPT`` kept): a
        clip change then sorts only the events it changed."""
        key = replace(settings, clip=None, signals=None).kept_scores_key()
        parts = self._sorted.pop(key, None)
        if parts is None:
            gs = settings.guard_settings(self.parameterisation)
            parts = [
                self.client.submit(tasks.sorted_base, p, gs, settings.policy, pure=False)
                for p in self._prepared_parts("background", settings.kl_form)
            ]
        self._sorted[key] = parts  # the latest last
        while len(self._sorted) > BACKGROUND_SORTS_KEPT:
            del self._sorted[next(iter(self._sorted))]
        return parts

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(
        self,
        settings: EvaluationSettings,
        *,
        bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
        n_bins: int = DEFAULT_BINS,
    ) -> EvaluationResult:
        """Guards, policy and metrics for ``settings``, computed where the scores live.

        The same result as ``Evaluator.evaluate`` (counts equal, metrics from the same
        integer counts), but its samples hold counts only, and it carries the histograms
        on ``n_bins`` shared log bins (``result.binned``).
        """
        signals = self.check_signals(settings.signals)
        gs = settings.guard_settings(self.parameterisation)
        names = ("background", *signals)
        submit = self.client.submit
        with self._lock, _cluster_errors(self.cluster):
            guarded = {
                n: [
                    submit(tasks.guard_partition, p, gs, settings.policy, n, i, pure=False)
                    for i, p in enumerate(self._prepared_parts(n, settings.kl_form))
                ]
                for n in names
            }
            # round one: counts, score ranges, the signals' kept scores
            first = watch.gather(
                self.cluster,
                {
                    n: [submit(tasks.round_one, g, n != "background", pure=False) for g in parts]
                    for n, parts in guarded.items()
                },
            )
            merged = {n: merge_counts([r.counts for r in rs]) for n, rs in first.items()}
            edges = merge_edges([r.counts for rs in first.values() for r in rs], n_bins=n_bins)
            samples = {
                n: SampleResult(
                    n,
                    self.data.samples[n].role,
                    merged[n][0],
                    merged[n][1],
                    imputation_of(self.data.samples[n]),
                )
                for n in names
            }
            withheld = {n: self.withheld(samples, n, bkg_effs) for n in signals}
            kept_signal = {
                n: np.concatenate([r.values for r in first[n] if r.values is not None])
                for n in signals
                if withheld[n] is None
            }
            # round two: tallies on the shared bins, and the background's summaries; the
            # background partitions sorted once, for both (binary searches, not a pass)
            refs = [
                submit(tasks.sorted_background, g, b, p, pure=False)
                for g, b, p in zip(
                    guarded["background"],
                    self._sorted_bases(settings),
                    self._prepared_parts("background", settings.kl_form),
                    strict=True,
                )
            ]
            tally_futures = {
                n: [submit(tasks.tally_partition, g, edges, pure=False) for g in parts]
                for n, parts in guarded.items()
                if n != "background"
            }
            tally_futures["background"] = [
                submit(tasks.tally_sorted_partition, r, edges, one.counts.total, pure=False)
                for r, one in zip(refs, first["background"], strict=True)
            ]
            seps = self._separations(
                guarded["background"],
                kept_signal,
                merged["background"][1].kept,
                bkg_effs,
                refs=refs,
            )
            tallies = {
                n: merge_tallies(ts) for n, ts in watch.gather(self.cluster, tally_futures).items()
            }
        out: dict[str, Separation] = {}
        for n in signals:
            w = withheld[n]
            out[n] = w if w is not None else seps[n]
        provenance = self.provenance()
        return EvaluationResult(
            settings,
            self.parameterisation,
            samples,
            out,
            provenance,
            BinnedScores(edges, tallies),
        )

    def _separations(
        self,
        background: list[Any],
        signals: Mapping[str, np.ndarray],
        n_background: int,
        bkg_effs: Sequence[float],
        *,
        refs: list[Any] | None = None,
    ) -> dict[str, Separation]:
        """Per signal, the separation from the background partitions' summaries (``refs``:
        the partitions already sorted, ``tasks.sorted_background``)."""
        if not signals:
            return {}
        submit = self.client.submit

        def gather(futures: Any) -> Any:
            return watch.gather(self.cluster, futures)

        ranks = needed_ranks(n_background, bkg_effs, MIN_BKG_PASS)
        k = max(ranks, default=0)
        points = None
        if 8 * k * len(background) > TOP_SCORES_BUDGET:
            points = max(64, int(np.sqrt(2 * k)))
        shipped = watch.broadcast(self.cluster, {n: signal_values(v) for n, v in signals.items()})
        if refs is None:
            refs = [submit(tasks.sorted_background, g, pure=False) for g in background]
        summaries = gather(
            [submit(tasks.background_summary, r, shipped, k, points, pure=False) for r in refs]
        )
        tail = None
        if points is not None:
            windows = plan_windows([s.top for s in summaries], ranks)
            answers = gather(
                [submit(tasks.background_window, r, windows, pure=False) for r in refs]
            )
            tail = merge_windows(answers, windows)
        return merge_background(
            summaries, signals, bkg_effs=bkg_effs, min_bkg_pass=MIN_BKG_PASS, tail=tail
        )

    # -- events -------------------------------------------------------------------------
    def select_events(
        self,
        settings: EvaluationSettings,
        name: str,
        criterion: Criterion,
        imputed: np.ndarray | None = None,
    ) -> Selection:
        """The events of sample ``name`` that ``criterion`` picks under ``settings``: each
        partition guarded and selected on its worker (``tasks.select_partition``: its
        matching events, or its own top ``n``), merged here into the very selection
        ``investigate.events.select_events`` gives in one process. ``imputed``: the
        sample's imputed events (``data.imputed_events``), for an ``imputed`` criterion."""
        sample = self.data.samples[name]
        gs = settings.guard_settings(self.parameterisation)
        bounds = partition_bounds(sample.n_events, self.partition_events)
        wanted = None
        if criterion.kind == "imputed":
            wanted = check_imputed(imputed, sample.n_events)
        submit = self.client.submit
        with self._lock, _cluster_errors(self.cluster):
            parts = self._prepared_parts(name, settings.kl_form)
            futures = []
            for i, (prepared, (a, b)) in enumerate(zip(parts, bounds, strict=True)):
                g = submit(
                    tasks.guard_partition, prepared, gs, settings.policy, name, i, pure=False
                )
                mine = None if wanted is None else wanted[(wanted >= a) & (wanted < b)]
                futures.append(submit(tasks.select_partition, g, criterion, a, mine, pure=False))
            got = watch.gather(self.cluster, futures)
        return merge_selections(
            got,
            criterion,
            sample=name,
            settings=gs,
            policy=settings.policy,
            n_events=sample.n_events,
        )

    def pass_rows(self, name: str, events: np.ndarray) -> PassRows:
        """The scoring pass's rows of ``events`` of sample ``name``, in their order, read
        from the shards on the workers (``tasks.shard_rows``): only these events travel."""
        ev = np.asarray(events, dtype=np.int64).reshape(-1)
        n = self.data.samples[name].n_events
        if ev.size and not (0 <= ev.min() and ev.max() < n):
            raise ValueError(f"events outside the {n} events of {name!r}")
        with self._lock, _cluster_errors(self.cluster):
            shards = self.score_all()[name]
            starts = np.array([s.start for s in shards], dtype=np.int64)
            which = np.searchsorted(starts, ev, side="right") - 1
            groups = {int(i): np.flatnonzero(which == i) for i in np.unique(which)}
            if not groups:
                groups = {0: np.empty(0, dtype=np.int64)}
            futures = {
                i: self.client.submit(tasks.shard_rows, shards[i], ev[idx], pure=False)
                for i, idx in groups.items()
            }
            got = watch.gather(self.cluster, futures)
        first = next(iter(got.values()))
        z_mean = np.empty((ev.size, *first.z_mean.shape[1:]), dtype=first.z_mean.dtype)
        z_log_var = np.empty((ev.size, *first.z_log_var.shape[1:]), dtype=first.z_log_var.dtype)
        recon = np.empty(ev.size, dtype=first.recon.dtype)
        for i, idx in groups.items():
            z_mean[idx], z_log_var[idx], recon[idx] = got[i].z_mean, got[i].z_log_var, got[i].recon
        return PassRows(z_mean=z_mean, z_log_var=z_log_var, recon=recon)

    # -- comparison -------------------------------------------------------------------
    @classmethod
    def opener(
        cls,
        cluster: Cluster,
        *,
        fill: Fill = "median",
        cache: str | Path | None = None,
        partition_events: int = DEFAULT_PARTITION_EVENTS,
    ) -> Callable[[DataSet, Path], ClusterEvaluator]:
        """How ``ModelSet.open`` opens each model on ``cluster`` (the data set opened once,
        here; ``fill`` as it was opened with)."""

        def open_model(data: DataSet, model_path: Path) -> ClusterEvaluator:
            ref = worker_state.DataRef(
                str(Path(data.path).resolve()), data.signal_normalisation, fill
            )
            return cls(
                data,
                model_path,
                cluster=cluster,
                data_ref=ref,
                cache=cache,
                partition_events=partition_events,
            )

        return open_model

    def guarded_parts(self, settings: EvaluationSettings, name: str) -> list[Any]:
        """Futures of sample ``name``'s partitions guarded under ``settings`` (they stay on
        the workers that hold the prepared partitions)."""
        gs = settings.guard_settings(self.parameterisation)
        with self._lock, _cluster_errors(self.cluster):
            return [
                self.client.submit(
                    tasks.guard_partition, p, gs, settings.policy, name, i, pure=False
                )
                for i, p in enumerate(self._prepared_parts(name, settings.kl_form))
            ]

    def pairing_with(self, other: BaseEvaluator, settings: EvaluationSettings) -> Pairing:
        """This model (A) and ``other`` (B) under ``settings``, paired by event on the
        workers (``cluster.compare.ClusterPairing``): what ``ModelSet`` compares them with.

        Raises
        ------
        SettingsError
            When ``other``'s scores are not on this cluster, or are cut into other
            partitions.
        """
        if not isinstance(other, ClusterEvaluator) or other.cluster is not self.cluster:
            raise SettingsError(
                f"the model {other.model_path.name} was not scored on the cluster "
                f"{self.cluster.address} with {self.model_path.name}: a comparison pairs "
                "every event where both models' scores live",
                COMPARISON_SCOPE_WHERE,
                "compare models evaluated in one place: all on the same cluster, or all here",
            )
        if other.partition_events != self.partition_events:
            raise SettingsError(
                f"the models are cut into partitions of {self.partition_events} and "
                f"{other.partition_events} events: a comparison pairs partitions of the same "
                "events",
                "--partition-events",
                "score every model compared with the same --partition-events",
            )
        return ClusterPairing(
            self.cluster,
            partial(self.guarded_parts, settings),
            partial(other.guarded_parts, settings),
            min_bkg_pass=MIN_BKG_PASS,
            top_budget=TOP_SCORES_BUDGET,
        )

    def write_scores(self, result: EvaluationResult, out_dir: str | Path) -> list[Path]:
        """Per sample, ``<out_dir>/<sample>.parquet`` as the single-process evaluator writes
        it, streamed: the partitions' guarded scores come to this process one at a time
        (guarded again on the workers from their prepared passes: milliseconds)."""
        import pyarrow.parquet as pq

        settings = result.settings
        gs = settings.guard_settings(self.parameterisation)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        with self._lock, _cluster_errors(self.cluster):
            for name in result.samples:
                shards = watch.gather(self.cluster, self._shards[name])
                parts = [
                    self.client.submit(
                        tasks.guard_partition, p, gs, settings.policy, name, i, pure=False
                    )
                    for i, p in enumerate(self._prepared_parts(name, settings.kl_form))
                ]
                path = out / f"{name}.parquet"
                writer = None
                try:
                    for shard, future in zip(shards, parts, strict=True):
                        part = watch.gather(self.cluster, future)
                        ids = read_identity(self.data.samples[name], slice(shard.start, shard.stop))
                        frame = scores_frame(part.guarded, part.policy.kept_mask, shard.start, ids)
                        table = frame.to_arrow()
                        if writer is None:
                            writer = pq.ParquetWriter(path, table.schema)
                        writer.write_table(table)
                finally:
                    if writer is not None:
                        writer.close()
                paths.append(path)
        return paths

    def provenance(self) -> dict[str, Any]:
        """The single-process provenance, plus the cluster that computed the result."""
        doc = super().provenance()
        doc["cluster"] = self.cluster.provenance() | {
            "partition_events": self.partition_events,
            "cache": str(self.cache_root),
        }
        return doc


def _key(stage: str, task: tasks.PartitionTask) -> str:
    return f"hepfm-{stage}-{task.pass_key}-{task.start}-{task.stop}"
