"""The investigation view's engine: from an evaluation to the events behind a count.

:class:`Investigator` wires an :class:`~hepfm_core.engine.evaluate.Evaluator` (its cached
scoring passes and guarded scores), the data files (the rows looked at, read where they
lie: ``data.rows``) and the model, loaded once and run on demand on the selected events only
(the scoring pass's compiled decoder on their cached ``z_mean``; no per-event residual
cache). The computation is in ``investigate``, ``explain`` and ``diagnostics``.

Whole-sample views (the selection summary's "rest", the residual profile, the sculpting
check) read at most ``max_events`` events per sample: all of a smaller sample, else whole
blocks of :data:`BLOCK_EVENTS` consecutive events drawn at random with a fixed seed
(:func:`sample_rows`), which reads few compressed chunks; the views say which.

Event identity (run and event number, where the data files store it) comes in at one
place, :func:`identities_of`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np
import polars as pl

from ...data.h5io import H5Matrix
from ...data.hepfm_format import CHUNK_ROWS
from ...data.imputed_events import imputed_events
from ...data.rows import Rows, read_rows
from ...data.samples import Sample
from ...errors import SettingsError
from ...sources import load_model
from ...vocabulary import EVENTS_PER_PAGE
from ..evaluate import (
    BaseEvaluator,
    EvaluationResult,
    EvaluationSettings,
    Evaluator,
    SampleResult,
)
from ..guards.policy import policy_view
from ..metrics.roc import BackgroundRef
from ..scoring.passes import ScoringPass
from ..scoring.run import Forward, forward_for
from .detail import EventDetail, event_details
from .diagnostics import LatentDiagnostics, latent_diagnostics
from .events import (
    Criterion,
    PassRows,
    Selection,
    TrackLayout,
    ValuesKind,
    event_statistics,
    select_events,
    track_layout,
)
from .explain import (
    SelectionSummary,
    SortedStatistic,
    summarise_selection,
    summarise_statistics,
)
from .latent_tally import LatentTally, latent_from_tally
from .latent_tally_cache import cached_latent_tally
from .residuals import ResidualProfile, residual_profile
from .sampling import (
    ID_COLUMNS,
    MAX_EVENTS,
    SEED,
    identities_of,
    identity_columns,
    sample_rows,
    sampling_note,
    subsample_in_blocks,
)
from .sculpting import SculptingCheck, log_edges, multiplicity_edges, sculpting_check

__all__ = [
    "DECODE_EVENTS",
    "DEFAULT_LIMIT",
    "LATENT_MEDIAN_EVENTS",
    "MAX_SELECTION_BLOCKS",
    "SELECTION_BLOCK_EVENTS",
    "SHARED_REFERENCES",
    "Investigator",
    "RemoteEvents",
]

DEFAULT_LIMIT = EVENTS_PER_PAGE
SELECTION_BLOCK_EVENTS = CHUNK_ROWS
"""Consecutive events per block of a selection's summary: one compressed chunk of hepfm's
files, so a block read decodes one chunk and keeps every selected event in it."""
MAX_SELECTION_BLOCKS = 128
"""Blocks of :data:`SELECTION_BLOCK_EVENTS` a selection's summary reads at most: about 0.1 s
of decoding on the seed's machine, however sparse the selection (a narrow score range over
2.7 M events touched 5,000 blocks: 0.6 s; 512 blocks of 512 events, one chunk each, took
0.14-0.22 s for about as many selected events)."""
LATENT_MEDIAN_EVENTS = 65_536
"""Events per sample of the latent view's median KL term at most (the other latent
statistics read every event, through tallies made once: ``latent_tally``)."""
DECODE_EVENTS = 4096
"""Events decoded at a time by the residual profile (bounded memory)."""

_UPSTREAM_NOTE = (
    "values as the upstream pipeline stored them (physical units after its own derivation:"
    " pt clipped to [0, 100] GeV, eta to [-10, 10], reducedChiSquared to [0, 1000])"
)
_RAW_NOTE = "values as stored in the data file (physical units)"
_INPUT_NOTE = "model inputs (standardised units): this sample keeps no stored values"


@dataclass(frozen=True, eq=False)
class _Reference:
    """Per-event track statistics of the rows a whole-sample view reads of one sample (rows
    ascending), each also sorted once (``ranked``: a selection's rest is read off it)."""

    rows: np.ndarray
    stats: dict[str, np.ndarray]
    note: str
    ranked: dict[str, SortedStatistic]


SHARED_REFERENCES = 64
"""Samples whose reference statistics a process keeps for every investigator (about 2 MB
each): another model, or the other fill, on the same files reads none again."""
_shared_references: dict[tuple[str, ...], _Reference] = {}
_shared_lock = threading.Lock()


def _reference_key(sample: Sample, max_events: int, seed: int) -> tuple[str, ...]:
    """What a sample's reference statistics depend on: its stored values (a file's content,
    whatever the fill and normalisation: the statistics read the stored values), else the
    model inputs it holds; and which rows are read."""
    stored = isinstance(sample.x, H5Matrix) and sample.provenance.content_fingerprint
    content = sample.provenance.content_fingerprint if stored else sample.provenance.fingerprint
    features = ",".join(sample.feature_names)
    return (content, features, str(sample.n_events), str(max_events), str(seed))


@runtime_checkable
class RemoteEvents(Protocol):
    """An evaluator whose scores stay where they were computed (a cluster's workers): it
    selects events there and sends only the selected events' pass rows
    (``cluster.evaluator.ClusterEvaluator``)."""

    def select_events(
        self,
        settings: EvaluationSettings,
        name: str,
        criterion: Criterion,
        imputed: np.ndarray | None = None,
    ) -> Selection: ...

    def pass_rows(self, name: str, events: np.ndarray) -> PassRows: ...


class Investigator:
    """Select events, explain a selection, show events and whole-sample diagnostics.

    Thread-safe (dashboard viewers share one): the model is loaded once (:meth:`warm`,
    e.g. in the background when the dashboard shows), the sampled statistics of each
    sample once. Everything else is computed per call from the evaluator's cached passes.

    With a cluster's evaluator (:class:`RemoteEvents`), the selection is computed on the
    workers and only the selected events' pass rows come here; the whole-sample views
    (latent, residual profile, sculpting) need the passes in this process.

    Parameters
    ----------
    evaluator : Evaluator or RemoteEvents
        Its data, model and scoring passes (scored on first use).
    max_events, seed : int
        How many events per sample the whole-sample views read at most, and the seed of
        the blocks drawn beyond that (:func:`sample_rows`).
    model_loader : callable, optional
        Returns the loaded model; ``sources.load_model(evaluator.model_path)`` by default.
    """

    def __init__(
        self,
        evaluator: BaseEvaluator,
        *,
        max_events: int = MAX_EVENTS,
        seed: int = SEED,
        model_loader: Callable[[], Any] | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.max_events = int(max_events)
        self.seed = int(seed)
        self._loader = model_loader or (lambda: load_model(evaluator.model_path))
        self._lock = threading.RLock()
        self._forward: Forward | None = None
        self._references: dict[str, _Reference] = {}
        self._tallies: dict[tuple[str, str, str], LatentTally] = {}
        self._imputed: dict[str, np.ndarray] = {}
        self.layout: TrackLayout | None = track_layout(evaluator.data.feature_names)

    # -- setup ----------------------------------------------------------------------------
    def warm(self) -> Forward:
        """Load the model and compile its decoder, once (seconds; TensorFlow)."""
        with self._lock:
            if self._forward is None:
                model = self._loader()
                data = self.evaluator.data
                model.check_input(
                    data.background.n_features,
                    data.feature_names,
                    data.background.provenance.source,
                )
                self._forward = forward_for(model)
            return self._forward

    def sample(self, name: str) -> Sample:
        """The sample ``name``, or a ``SettingsError`` naming the samples there are."""
        samples = self.evaluator.data.samples
        if name not in samples:
            raise SettingsError(
                f"unknown sample {name!r}",
                self.evaluator.data.path,
                f"choose among: {', '.join(samples)}",
            )
        return samples[name]

    def values_kind(self, name: str) -> tuple[ValuesKind, str]:
        """Whether the events of ``name`` show stored values or model inputs, and a note."""
        sample = self.sample(name)
        if not isinstance(sample.x, H5Matrix):
            return "input", _INPUT_NOTE
        return "raw", _UPSTREAM_NOTE if self.evaluator.data.kind == "upstream" else _RAW_NOTE

    def evaluate_sample(self, settings: EvaluationSettings, name: str) -> EvaluationResult:
        """``settings`` evaluated on the background and ``name`` only (every sample is scored
        once, as ``hepfm evaluate`` does; the guards are the same per sample)."""
        sample = self.sample(name)
        signals: tuple[str, ...] = (name,) if sample.role == "signal" else ()
        return self.evaluator.evaluate(replace(settings, signals=signals))

    def passes(self, what: str = "this view") -> dict[str, ScoringPass]:
        """The evaluator's scoring passes, in this process (a ``SettingsError`` naming
        ``what`` needs them when they stay on a cluster)."""
        if not isinstance(self.evaluator, Evaluator):
            raise SettingsError(
                f"{what} reads every event's scoring pass, and those stay on the cluster",
                what,
                "run without --scheduler / --scheduler-file / --workers for this view",
            )
        return self.evaluator.score_all()

    def pass_rows(self, name: str, events: np.ndarray) -> PassRows:
        """The scoring pass's rows of ``events`` of sample ``name`` (in their order): from
        the cached pass in this process, or from the workers' shards on a cluster."""
        ev = np.asarray(events, dtype=np.int64)
        if isinstance(self.evaluator, RemoteEvents):
            return self.evaluator.pass_rows(name, ev)
        pass_ = self.passes("the event details")[name]
        return PassRows(
            z_mean=np.asarray(pass_.z_mean[ev]),
            z_log_var=np.asarray(pass_.z_log_var[ev]),
            recon=np.asarray(pass_.recon[ev]),
        )

    # -- selection ------------------------------------------------------------------------
    def select(
        self,
        result: SampleResult,
        criterion: Criterion,
        settings: EvaluationSettings | None = None,
        ranked: np.ndarray | None = None,
    ) -> Selection:
        """The events of ``result``'s sample (``EvaluationResult.samples[name]``) that
        ``criterion`` picks. On a cluster (the result holds counts only), the workers pick
        them under ``settings`` (the result's). ``ranked``: the sample's kept scores sorted,
        where the caller holds them (``EvaluationResult.sorted_background``): a top-N reads
        its cut there."""
        if result.guarded is None and isinstance(self.evaluator, RemoteEvents):
            if settings is None:
                raise SettingsError(
                    f"the scores of {result.name!r} stay on the cluster: the selection needs "
                    "the settings they were evaluated with",
                    "selection",
                    "pass settings=result.settings",
                )
            self.sample(result.name)
            imputed = self.imputed(result.name) if criterion.kind == "imputed" else None
            return self.evaluator.select_events(settings, result.name, criterion, imputed)
        if result.guarded is None or not hasattr(result.policy, "kept_mask"):
            raise SettingsError(
                f"the scores of {result.name!r} stayed on the cluster: no events to look at",
                "selection",
                "evaluate without a cluster (the scoring passes are cached) to look at events",
            )
        self.sample(result.name)
        imputed = self.imputed(result.name) if criterion.kind == "imputed" else None
        return select_events(
            result.guarded,
            result.policy,  # type: ignore[arg-type]
            criterion,
            result.name,
            imputed,
            ranked,
        )

    def imputed(self, name: str) -> np.ndarray:
        """The events of sample ``name`` whose raw values the reader filled: one scan of its
        file on the first call (stopped when the counted ones are found), kept after."""
        with self._lock:
            held = self._imputed.get(name)
        if held is None:
            held = imputed_events(self.sample(name))
            with self._lock:
                self._imputed[name] = held
        return held

    def _filled(self, name: str, got: Rows) -> np.ndarray | None:
        """``(n, D)``: which of the read raw values the reader filled (None: it filled none)."""
        if got.raw is None or self.sample(name).accounting.filled != "median":
            return None
        with np.errstate(all="ignore"):
            return ~np.isfinite(got.raw)

    def _rows(self, name: str, rows: np.ndarray) -> Rows:
        return read_rows(self.sample(name).x, rows)

    def _shown(self, got: Rows) -> np.ndarray:
        return got.inputs if got.raw is None else got.raw

    def details(
        self, selection: Selection, *, page: int = 0, limit: int = DEFAULT_LIMIT
    ) -> tuple[EventDetail, ...]:
        """Page ``page`` (0-based) of ``limit`` events of ``selection``, in its order: tracks,
        latent values against the clip, and residuals from the decoder run on them now."""
        pos = selection.page(page, limit)
        events = selection.events[pos]
        if events.size == 0:
            return ()
        name = selection.sample
        rows = self.pass_rows(name, events)
        got = self._rows(name, events)
        z_mean = rows.z_mean
        x_hat = self.warm().decode(z_mean)
        kind, _ = self.values_kind(name)
        return event_details(
            sample=name,
            events=events,
            values=self._shown(got),
            values_kind=kind,
            inputs=got.inputs,
            x_hat=x_hat,
            z_mean=z_mean,
            z_log_var=rows.z_log_var,
            scores=selection.scores[pos],
            causes=selection.causes[pos],
            recon=rows.recon,
            layout=self.layout,
            clip=selection.settings.clip,
            identities=identities_of(self.sample(name), events),
            filled=self._filled(name, got),
        )

    def ids(self, selection: Selection) -> pl.DataFrame:
        """The selection as an id list, one row per selected event in order: the data's
        run and event numbers (:data:`ID_COLUMNS` present) where they have them, else
        ``sample, event`` (the event's index in the sample)."""
        columns = identity_columns(self.sample(selection.sample), selection.events)
        if columns:
            chosen = [c for c in ID_COLUMNS if c in columns]
            if chosen:
                return pl.DataFrame({c: columns[c].astype(np.int64) for c in chosen})
        return pl.DataFrame(
            {
                "sample": [selection.sample] * selection.size,
                "event": selection.events.astype(np.int64),
            },
            schema={"sample": pl.String, "event": pl.Int64},
        )

    # -- the rest of a sample -------------------------------------------------------------
    def _reference(self, name: str) -> _Reference:
        with self._lock:
            ref = self._references.get(name)
            if ref is None:
                sample = self.sample(name)
                key = _reference_key(sample, self.max_events, self.seed)
                with _shared_lock:
                    ref = _shared_references.get(key)
                if ref is None:
                    rows = sample_rows(sample.n_events, self.max_events, self.seed)
                    stats: dict[str, np.ndarray] = {}
                    if self.layout is not None:
                        got = self._rows(name, rows)
                        stats = event_statistics(self._shown(got), self.layout)
                    note = sampling_note(sample.n_events, rows, self.seed)
                    ranked = {k: SortedStatistic.of(v) for k, v in stats.items()}
                    ref = _Reference(rows, stats, note, ranked)
                    with _shared_lock:
                        _shared_references[key] = ref
                        while len(_shared_references) > SHARED_REFERENCES:
                            _shared_references.pop(next(iter(_shared_references)))
                self._references[name] = ref
            return ref

    def prefetch(self, name: str) -> None:
        """Read sample ``name``'s reference events (what a selection is compared with) now,
        once, so that the first summary of that sample does not wait for them."""
        self._reference(name)

    def summary(self, selection: Selection) -> SelectionSummary:
        """The selection's track statistics against the rest of its sample's (a sample of at
        most ``max_events`` events of each side, the selection's in at most
        :data:`MAX_SELECTION_BLOCKS` blocks; the rest excludes the selection)."""
        name = selection.sample
        kind, note = self.values_kind(name)
        ref = self._reference(name)
        events = np.sort(selection.events)
        # the reference's rows (ascending) that are not selected: a binary search each
        found = np.searchsorted(events, ref.rows).clip(max=max(events.size - 1, 0))
        rest = events[found] != ref.rows if events.size else np.ones(ref.rows.size, bool)
        rest_note = f"the rest of {name}: {ref.note}, less the selected events"
        picked = subsample_in_blocks(
            events,
            self.max_events,
            self.seed,
            block=SELECTION_BLOCK_EVENTS,
            max_blocks=MAX_SELECTION_BLOCKS,
        )
        if picked.size < events.size:
            events = picked
            rest_note += (
                f"; the selection: {events.size} of its {selection.size} events, those in whole"
                f" blocks of {SELECTION_BLOCK_EVENTS} consecutive events drawn at random (seed"
                f" {self.seed})"
            )
        if self.layout is None:
            return summarise_selection(
                np.empty((events.size, 0)), np.empty((int(rest.sum()), 0)), None,
                values_kind=kind, rest_note=rest_note,
            )  # fmt: skip
        selected = event_statistics(self._shown(self._rows(name, events)), self.layout)
        rest_stats = {k: ranked.kept(rest) for k, ranked in ref.ranked.items()}
        return summarise_statistics(
            selected, rest_stats, self.layout, values_kind=f"{kind}: {note}",
            rest_note=rest_note, rest_sorted=True,
        )  # fmt: skip

    # -- whole samples --------------------------------------------------------------------
    def latent_tally(self, name: str, kl_form: str) -> LatentTally:
        """The clip-independent latent statistics of sample ``name``: one read of its pass,
        kept for the investigator's life (bounded by the grid, not the events) and in the
        pass's cache entry (``latent_tally_cache``): a later server reads it back."""
        sample = self.sample(name)
        key = (name, self.evaluator.parameterisation, kl_form)
        with self._lock:
            got = self._tallies.get(key)
            if got is None:
                pass_ = self.passes("the latent view")[name]
                got = self._tallies[key] = cached_latent_tally(
                    pass_,
                    parameterisation=key[1],
                    kl_form=kl_form,
                    sample=name,
                    median_rows=self._median_rows(sample.n_events),
                )
            return got

    def _median_rows(self, n_events: int) -> np.ndarray:
        return sample_rows(n_events, max(self.max_events, LATENT_MEDIAN_EVENTS), self.seed)

    def latent(self, settings: EvaluationSettings, name: str) -> LatentDiagnostics:
        """KL per latent dimension, active units and z_log_var distributions of a whole
        sample (every event; the clip and variance form of ``settings``).

        From the sample's tallies (``latent_tally``: made once, then milliseconds per clip);
        a clip bound off their grid reads every event again.
        """
        gs = settings.guard_settings(self.evaluator.parameterisation)
        got = latent_from_tally(self.latent_tally(name, gs.kl_form), gs.clip)
        if got is not None:
            return got
        pass_ = self.passes("the latent view")[self.sample(name).name]
        return latent_diagnostics(
            pass_.z_mean,
            pass_.z_log_var,
            clip=gs.clip,
            parameterisation=gs.parameterisation,
            kl_form=gs.kl_form,
            sample=name,
            median_rows=self._median_rows(pass_.z_mean.shape[0]),
        )

    def _blocks(
        self, name: str, rows: np.ndarray
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        pass_ = self.passes("the residual profile")[name]
        forward = self.warm()
        for start in range(0, rows.size, DECODE_EVENTS):
            part = rows[start : start + DECODE_EVENTS]
            got = self._rows(name, part)
            x_hat = forward.decode(np.asarray(pass_.z_mean[part]))
            yield got.inputs, x_hat, self._shown(got)

    def residuals(self, names: Sequence[str] | None = None) -> dict[str, ResidualProfile]:
        """Mean squared residual per input (track slot x feature) of each sample (default:
        every sample), from the decoder run on at most ``max_events`` events of each."""
        out = {}
        for name in names or tuple(self.evaluator.data.samples):
            sample = self.sample(name)
            rows = sample_rows(sample.n_events, self.max_events, self.seed)
            out[name] = residual_profile(
                self._blocks(name, rows),
                self.layout,
                sample=name,
                note=sampling_note(sample.n_events, rows, self.seed),
            )
        return out

    def sculpting(
        self, result: EvaluationResult, *, target_bkg_eff: float = 1e-2
    ) -> SculptingCheck:
        """Score and efficiency at the working point ``target_bkg_eff`` against track
        multiplicity and leading-track pt, for every sample of ``result`` (the threshold
        from all of the background's kept scores; the binned events are a sample of each)."""
        if self.layout is None or self.layout.branch("pt") is None:
            raise SettingsError(
                "the features are not tracks with a pt: no multiplicity or leading pt to bin",
                self.evaluator.data.path,
                "use track data (hepfm's layout or upstream's track aggregator)",
            )
        per_sample: dict[str, dict[str, np.ndarray]] = {}
        notes = []
        for name, res in result.samples.items():
            if not hasattr(res.policy, "kept_mask"):
                raise SettingsError(
                    f"the scores of {name!r} stayed on the cluster", "sculpting check",
                    "evaluate without a cluster to bin events",
                )  # fmt: skip
            ref = self._reference(name)
            per_sample[name] = {
                "scores": policy_view(res.guarded, res.policy, ref.rows),  # type: ignore[arg-type]
                "tracks": ref.stats["tracks"],
                "leading_pt": ref.stats["max pt"],
            }
            notes.append(f"{name}: {ref.note}")
        edges = {
            "tracks": multiplicity_edges(self.layout.n_tracks),
            "leading_pt": log_edges([a["leading_pt"] for a in per_sample.values()]),
        }
        kept_bkg = result.samples["background"].policy
        background: np.ndarray | BackgroundRef = (
            result.sorted_background
            if result.sorted_background is not None
            else np.asarray(kept_bkg.values)  # type: ignore[union-attr]
        )
        return sculpting_check(
            per_sample,
            background,
            target_bkg_eff=target_bkg_eff,
            edges=edges,
            note="; ".join(notes),
        )
