"""Evaluation: wire data, model, cached scoring passes, guards and metrics together.

``Evaluator`` does the expensive part once (scoring passes, per-parameterisation
preparation) and then answers ``evaluate(settings)`` in milliseconds: this is what the
dashboard calls on every slider move and what ``hepfm evaluate`` calls once.
"""

from __future__ import annotations

import abc
import datetime as _dt
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..common.json_fields import OMIT, JsonFields, json_clip, json_dict, json_meta
from ..common.progress import Progress
from ..common.versions import library_versions
from ..data.dataset import DataSet
from ..data.hepfm_format import feature_definition_of, read_identity
from ..data.imputation import STATUS_IMPUTED, Imputation, imputation_of, imputed_verdict
from ..errors import SettingsError
from ..sources import (
    ModelInfo,
    describe_model,
    feature_definition_warning,
    load_model,
    open_data,
)
from ..vocabulary import (
    FILL_DESCRIPTIONS,
    POLICIES,
    Cause,
    Fill,
    KLForm,
    Parameterisation,
    Policy,
    Score,
    SignalNormalisation,
)
from .distributed.partitions import PolicyCounts
from .guards.guarded import GuardCounts, GuardedScores, GuardSettings, PreparedPass, guard
from .guards.policy import OTHER_POLICY, PolicyScores, apply_policy
from .guards.prepared_cache import cached_prepare
from .metrics.binning import DEFAULT_BINS, Tally
from .metrics.roc import resorted
from .metrics.separation import (
    DEFAULT_BKG_EFFS,
    BackgroundRef,
    Separation,
    prepare_background,
    separation,
    withheld_separation,
)
from .metrics.sorted_cache import SortedBackgrounds
from .scoring.passes import ScoringPass
from .scoring.run import cached_pass

__all__ = [
    "BACKGROUND_SORTS_KEPT",
    "BaseEvaluator",
    "BinnedScores",
    "EvaluationResult",
    "EvaluationSettings",
    "Evaluator",
    "SampleResult",
    "scores_frame",
    "write_scores",
]

BACKGROUND_SORTS_KEPT = 4
"""Sorted backgrounds an evaluator keeps (the last settings' that change the scores), 8
bytes per background event each (22 MB at the seed's 2.7 M): the dashboard's worst-vs-drop
sentence asks for the other policy after every change, so four keep two scores (or two
clips of the KL) under both policies, and switching back sorts nothing (0.1 s a sort at
the seed's scale)."""


@dataclass(frozen=True)
class EvaluationSettings(JsonFields):
    """Everything the cheap part depends on (the scoring pass depends on none of it).

    ``clip``: bounds on z_log_var, or None; ``score``: reconstruction, kl, total
    (reconstruction + ``beta`` * KL) or radius; ``policy``: what metrics do with non-finite
    scores (``worst`` ranks them most anomalous, ``drop`` excludes them); ``kl_form``: for
    softplus models, the true KL or upstream's; ``signals``: which signals (None: all).
    Validated at once, before any expensive work: a bad setting is a ``SettingsError``.

    Examples
    --------
    >>> from hepfm_core.engine.evaluate import EvaluationSettings
    >>> from hepfm_core.errors import SettingsError
    >>> EvaluationSettings(clip=(-20, 20), score="total", beta=0.5).to_json_dict()
    {'clip': [-20.0, 20.0], 'score': 'total', 'beta': 0.5, 'policy': 'worst', 'kl_form': 'true'}
    >>> try:
    ...     EvaluationSettings(clip=(5, -5))
    ... except SettingsError as exc:
    ...     print(exc.what)
    clip bounds are inverted: lo=5.0 > hi=-5.0
    """

    clip: tuple[float, float] | None = field(default=None, metadata=json_meta(convert=json_clip))
    score: Score = "reconstruction"
    beta: float = 1.0
    policy: Policy = "worst"
    kl_form: KLForm = "true"
    signals: tuple[str, ...] | None = field(default=None, metadata=OMIT)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise SettingsError(
                f"unknown non-finite policy {self.policy!r}",
                "policy",
                "use 'drop' (upstream's: exclude non-finite scores) or 'worst' (rank them as "
                "most anomalous)",
            )
        if self.signals is not None:
            object.__setattr__(self, "signals", tuple(self.signals))
        # Validate clip, score, beta and KL form now, before any expensive work.
        checked = self.guard_settings("exp")
        object.__setattr__(self, "clip", checked.clip)
        object.__setattr__(self, "beta", checked.beta)

    def guard_settings(self, parameterisation: Parameterisation) -> GuardSettings:
        return GuardSettings(
            clip=self.clip,
            score=self.score,
            beta=self.beta,
            parameterisation=parameterisation,
            kl_form=self.kl_form,
        )

    def kept_scores_key(self) -> tuple[Any, ...]:
        """What decides the kept scores of a sample (for one model and data): a clip change
        leaves the reconstruction score untouched, beta only moves the total score. Equal
        keys, equal kept scores: what depends on them alone may be reused."""
        return (
            self.score,
            self.beta if self.score == "total" else None,
            self.clip if self.score != "reconstruction" else None,
            self.kl_form,
            self.policy,
        )


def _policy_entries(s: SampleResult) -> dict[str, Any]:
    return {"kept": s.policy.kept, "excluded": dict(s.policy.excluded)}


@dataclass(frozen=True, eq=False)
class SampleResult(JsonFields):
    """One sample under one setting: guard counts, the policy's view, the scores, and what
    the reader filled in (``imputation``: imputed events are kept, counted beside ``excluded``).

    ``guarded`` (per-event scores and causes) and ``policy.values`` exist where the scores
    live in this process; a result merged from a cluster's partitions holds the counts only
    (``policy`` is then ``partitions.PolicyCounts``) and ``guarded`` is None.

    Its JSON: the guard's counts (the total first), the policy's kept and excluded after the
    total, then the imputation's; a count the guard adds follows.
    """

    name: str = field(metadata=OMIT)  # the key it is filed under
    role: str
    counts: GuardCounts = field(metadata=json_meta(entries=lambda s: json_dict(s.counts)))
    policy: PolicyScores | PolicyCounts = field(
        metadata=json_meta(entries=_policy_entries, after="total")
    )
    imputation: Imputation = field(
        metadata=json_meta(entries=lambda s: json_dict(s.imputation), after="excluded")
    )
    guarded: GuardedScores | None = field(default=None, metadata=OMIT)

    @property
    def imputed(self) -> int:
        return self.imputation.events


@dataclass(frozen=True)
class BinnedScores:
    """Every sample's guarded scores counted on shared log bins (``binning.Tally``): what a
    result merged from a cluster carries instead of the scores themselves."""

    edges: np.ndarray
    tallies: dict[str, Tally]

    @property
    def n_bins(self) -> int:
        return int(self.edges.size - 1)


def _settings_entries(r: EvaluationResult) -> dict[str, Any]:
    """The settings, with the model's parameterisation."""
    return {"settings": r.settings.to_json_dict() | {"parameterisation": r.parameterisation}}


@dataclass(frozen=True, eq=False)
class EvaluationResult(JsonFields):
    """Everything one setting gives: per-sample counts and per-signal separation.

    ``binned``: the histograms, for a result whose samples hold no per-event scores.
    ``sorted_background``: the background's kept scores sorted (the metrics' reference),
    where this process holds them: views read cuts and bin counts from it by binary search.
    Its JSON: the settings (with the parameterisation), the provenance, then every sample's
    and every signal's.
    """

    settings: EvaluationSettings = field(metadata=json_meta(entries=_settings_entries))
    parameterisation: str = field(metadata=OMIT)  # in the settings' entries
    samples: dict[str, SampleResult]
    signals: dict[str, Separation]
    provenance: dict[str, Any] = field(default_factory=dict, metadata=json_meta(after="settings"))
    binned: BinnedScores | None = field(default=None, metadata=OMIT)
    sorted_background: BackgroundRef | None = field(default=None, repr=False, metadata=OMIT)


class BaseEvaluator(abc.ABC):
    """What every evaluator of one data folder and one model has, wherever its scores live.

    :class:`Evaluator` keeps the scores in this process; ``cluster.ClusterEvaluator`` keeps
    them on a Dask cluster's workers. Views and the app take either.
    """

    def __init__(
        self,
        data: DataSet,
        model_path: str | Path,
        *,
        cache: str | Path | None = None,
    ) -> None:
        self.data = data
        self.model_path = Path(model_path)
        self.model_info: ModelInfo = describe_model(model_path)
        self.cache = cache
        self._lock = threading.RLock()
        self._file_prov: tuple[ModelInfo, dict[str, Any]] | None = None

    @property
    def fill(self) -> str:
        """How the reader treated non-finite raw values ("median" or "none")."""
        return self.data.background.accounting.filled

    @property
    def parameterisation(self) -> Parameterisation:
        return self.model_info.parameterisation

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(self.data.signals)

    @abc.abstractmethod
    def score_all(self, progress: Progress | None = None) -> Mapping[str, object]:
        """Score every sample once (or find its scores cached); per sample what was made."""

    @abc.abstractmethod
    def evaluate(
        self,
        settings: EvaluationSettings,
        *,
        bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
        n_bins: int = DEFAULT_BINS,
    ) -> EvaluationResult:
        """Guards, policy and metrics for ``settings``."""

    def write_scores(self, result: EvaluationResult, out_dir: str | Path) -> list[Path]:
        """Per sample of ``result``, its per-event scores as Parquet (:func:`write_scores`),
        with the events' identity where the data files store one."""
        ids = {name: read_identity(self.data.samples[name]) for name in result.samples}
        return write_scores(result, out_dir, ids)

    def warnings(self) -> list[str]:
        """What the user should know before trusting the numbers (e.g. a model trained on
        features derived otherwise than the data's)."""
        found = feature_definition_warning(self.model_info, self.data)
        return [] if found is None else [found]

    def check_signals(self, requested: tuple[str, ...] | None) -> tuple[str, ...]:
        if requested is None:
            return self.signal_names
        unknown = [s for s in requested if s not in self.data.signals]
        if unknown:
            raise SettingsError(
                f"unknown signal sample(s): {', '.join(unknown)}",
                self.data.path,
                f"choose among: {', '.join(self.signal_names)}",
            )
        return tuple(requested)

    def withheld(
        self, samples: Mapping[str, SampleResult], name: str, bkg_effs: Sequence[float]
    ) -> Separation | None:
        """The signal's metrics withheld (status ``imputed_input``) when they would rest on
        fill values; None when they can be computed."""
        why = imputed_verdict(samples["background"].imputation, samples[name].imputation, name)
        if why is None:
            return None
        return withheld_separation(
            STATUS_IMPUTED,
            why,
            samples["background"].policy.kept,
            samples[name].policy.kept,
            bkg_effs,
        )

    def provenance(self) -> dict[str, Any]:
        fps = {"model": self.model_info.fingerprint}
        fps |= {name: s.provenance.fingerprint for name, s in self.data.samples.items()}
        return {
            "model": self.model_info.path,
            "model_kind": self.model_info.kind,
            "model_description": self.model_info.description,
            "data": str(Path(self.data.path).resolve()),
            "data_kind": self.data.kind,
            "signal_normalisation": self.data.signal_normalisation,
            "signal_normalisation_description": self.data.describe_normalisation(),
            "fill": self.fill,
            "fill_description": FILL_DESCRIPTIONS[self.fill],
            **self._file_provenance(),
            "fingerprints": fps,
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }

    def _file_provenance(self) -> dict[str, Any]:
        """What the files' headers and the installed libraries say: read once per evaluator
        and model description (the files are fixed), not on every change of a setting."""
        held = self._file_prov
        if held is None or held[0] is not self.model_info:
            held = (
                self.model_info,
                {
                    "feature_definition": {
                        "model": self.model_info.feature_definition,
                        "data": feature_definition_of(self.data),
                    },
                    "warnings": self.warnings(),
                    "versions": library_versions(),
                },
            )
            self._file_prov = held
        return held[1]


class Evaluator(BaseEvaluator):
    """One data folder and one model; scoring passes computed once, settings applied fast.

    Thread-safe for the dashboard: viewers of one server process share one Evaluator per
    (data, model, normalisation), hence one memory-mapped copy of each pass.

    Parameters
    ----------
    data : DataSet
        The background and signals (``sources.open_data``).
    model_path : str or Path
        A hepfm ``.keras`` file or an upstream experiment folder.
    cache : str or Path, optional
        Where scoring passes are cached; ``$HEPFM_CACHE_DIR`` or ``~/.cache/hepfm`` when None.

    Examples
    --------
    A tiny demo (data and a model trained for one epoch; TensorFlow, some seconds)::

    >>> import tempfile
    >>> from hepfm_core.demo import make_demo
    >>> from hepfm_core.model.training import TrainingSettings
    >>> folder = tempfile.mkdtemp()
    >>> data, model = make_demo(folder, n_background=2_000, n_signal=300, seed=1,
    ...                         progress=lambda *a: None, training=TrainingSettings(epochs=1))
    >>> ev = Evaluator.open(data, model, cache=folder + "/cache")
    >>> _ = ev.score_all()  # once: every sample through the model, cached on disk
    >>> result = ev.evaluate(EvaluationSettings(score="kl", clip=(-20.0, 20.0)))
    >>> zp = result.samples["zprime_ee"]
    >>> zp.counts.total, zp.policy.kept + sum(zp.policy.excluded.values())
    (300, 300)
    >>> result.signals["zprime_ee"].status, 0.0 <= result.signals["zprime_ee"].auc <= 1.0
    ('ok', True)
    """

    def __init__(
        self,
        data: DataSet,
        model_path: str | Path,
        *,
        cache: str | Path | None = None,
    ) -> None:
        super().__init__(data, model_path, cache=cache)
        self._passes: dict[str, ScoringPass] = {}
        self._prepared: dict[tuple[str, str, str], PreparedPass] = {}
        self._bkg_refs: dict[tuple, BackgroundRef] = {}
        self._sorted: SortedBackgrounds | None = None
        self._last_guarded: dict[str, tuple[GuardSettings, GuardedScores]] = {}

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        model_path: str | Path,
        *,
        signal_normalisation: SignalNormalisation = "background",
        fill: Fill = "median",
        cache: str | Path | None = None,
    ) -> Evaluator:
        """An Evaluator of the data folder ``data_dir`` (``sources.open_data`` with
        ``signal_normalisation`` and ``fill``) and the model at ``model_path``.

        Opens the data lazily and describes the model from its files: no events are read,
        no TensorFlow is imported (that happens in :meth:`score_all`, once per sample).
        """
        data = open_data(data_dir, signal_normalisation=signal_normalisation, fill=fill)
        return cls(data, model_path, cache=cache)

    def score_all(self, progress: Progress | None = None) -> dict[str, ScoringPass]:
        """Run (or open from cache) the scoring pass of every sample.

        Parameters
        ----------
        progress : Progress, optional
            Called ``(sample, events scored, events)`` as each sample advances.

        Returns
        -------
        dict of str to ScoringPass
            Per sample name, the model's outputs for every event (memory-mapped from the
            cache). The model is loaded, and TensorFlow imported, only for a sample whose
            pass is not cached yet (``scoring.cached_pass``).
        """
        with self._lock:
            loaded = {}

            def loader():
                if "model" not in loaded:
                    loaded["model"] = load_model(self.model_path)
                return loaded["model"]

            for name, sample in self.data.samples.items():
                if name not in self._passes:
                    self._passes[name] = cached_pass(
                        self.model_path,
                        sample,
                        cache=self.cache,
                        progress=progress,
                        model_loader=loader,
                    )
            return dict(self._passes)

    def _prepared_pass(self, name: str, kl_form: KLForm) -> PreparedPass:
        key = (name, self.parameterisation, kl_form)
        if key not in self._prepared:
            # from the pass's cache entry after the first process that prepared it
            self._prepared[key] = cached_prepare(
                self.score_all()[name], self.parameterisation, kl_form
            )
        return self._prepared[key]

    def _sorted_backgrounds(self) -> SortedBackgrounds:
        """The background's sorted scores by setting, kept beside its cached pass."""
        if self._sorted is None:
            where = self.score_all()["background"].directory
            self._sorted = SortedBackgrounds(where, self.parameterisation)
        return self._sorted

    def _guarded(self, name: str, kl_form: KLForm, gs: GuardSettings) -> GuardedScores:
        """Guarded scores of one sample; the last setting is kept, so asking again with only
        the policy changed (the dashboard's worst-vs-drop sentence) costs no guard pass."""
        last = self._last_guarded.get(name)
        if last is not None and last[0] == gs:
            return last[1]
        guarded = guard(self._prepared_pass(name, kl_form), gs)
        self._last_guarded[name] = (gs, guarded)
        return guarded

    def evaluate(
        self,
        settings: EvaluationSettings,
        *,
        bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
        n_bins: int = DEFAULT_BINS,
    ) -> EvaluationResult:
        """Guards, policy and metrics for ``settings`` (milliseconds once passes exist).

        Scores every sample (:meth:`score_all`) if not done yet. Then per sample the guarded
        scores (``guards.guard``) and the policy's view (``policy.apply_policy``), and per
        signal the separation from the background (``metrics.separation``), withheld with
        status ``imputed_input`` when the inputs are too much fill (``data.imputation``).

        Parameters
        ----------
        settings : EvaluationSettings
            Clip, score, beta, policy, KL form and signals.
        bkg_effs : sequence of float
            Background efficiencies of the working points.
        n_bins : int
            Histogram bins, for an evaluator whose scores stay on a cluster (its result
            carries the histograms); here the scores themselves are in the result.

        Returns
        -------
        EvaluationResult
            Counts per sample (``kept + excluded == total``), separation per signal,
            provenance; ``to_json_dict()`` is strict JSON.

        Raises
        ------
        SettingsError
            For a signal the data does not hold.
        """
        signals = self.check_signals(settings.signals)
        gs = settings.guard_settings(self.parameterisation)
        with self._lock:
            samples: dict[str, SampleResult] = {}
            kept: dict[str, PolicyScores] = {}
            for name in ("background", *signals):
                sample = self.data.samples[name]
                guarded = self._guarded(name, settings.kl_form, gs)
                kept[name] = apply_policy(guarded, settings.policy)
                samples[name] = SampleResult(
                    name, sample.role, guarded.counts, kept[name], imputation_of(sample), guarded
                )
            # The sorted background depends only on what changes its scores: a clip change
            # leaves the reconstruction score untouched, so its sort is reused; the other
            # policy's sort of the same scores gives it by its +inf tail (the guard sentence)
            bkg_key, values = settings.kept_scores_key(), kept["background"].values
            opening = not self._bkg_refs  # this evaluator's first evaluation
            other = self._bkg_refs.get((*bkg_key[:-1], OTHER_POLICY[settings.policy]))
            ref = self._bkg_refs.pop(bkg_key, None) or (other and resorted(other, values))
            ref = ref or self._sorted_backgrounds().read(bkg_key, values.size)
            if ref is None:
                ref = prepare_background(values)
                # kept on disk for the next process: the sort of the first evaluation only,
                # what a new server opens on (its defaults or a link's) and a batch run's
                # one; a slider's positions would each write 8 bytes an event
                if opening:
                    self._sorted_backgrounds().write_later(bkg_key, ref)
            # keep the last few (see BACKGROUND_SORTS_KEPT), the latest last
            self._bkg_refs[bkg_key] = ref
            while len(self._bkg_refs) > BACKGROUND_SORTS_KEPT:
                del self._bkg_refs[next(iter(self._bkg_refs))]
            seps = {
                name: self.withheld(samples, name, bkg_effs)
                or separation(ref, kept[name].values, bkg_effs=bkg_effs)
                for name in signals
            }
        return EvaluationResult(
            settings, self.parameterisation, samples, seps, self.provenance(), sorted_background=ref
        )


def scores_frame(
    guarded: GuardedScores,
    kept: np.ndarray,
    first_event: int = 0,
    identity: Mapping[str, np.ndarray] | None = None,
):
    """The Parquet rows of events ``first_event...``: event index, the events' identity
    columns where the data have them (run and event number; source file and entry),
    guarded score (null if not OK), cause (code and label), and whether the policy kept
    the event."""
    import polars as pl

    labels = [c.label for c in Cause]
    scores = np.asarray(guarded.scores)
    causes = np.asarray(guarded.causes)
    columns: dict[str, Any] = {
        "event": np.arange(first_event, first_event + scores.size, dtype=np.int64)
    }
    for name, values in (identity or {}).items():
        columns[name] = np.asarray(values)
    columns |= {
        "score": scores,
        "cause": causes,
        "cause_label": pl.Series(np.asarray(labels)[causes]).cast(pl.Enum(labels)),
        "kept": np.asarray(kept),
    }
    return pl.DataFrame(columns).with_columns(pl.col("score").fill_nan(None))


def write_scores(
    result: EvaluationResult,
    out_dir: str | Path,
    identities: Mapping[str, Mapping[str, np.ndarray] | None] | None = None,
) -> list[Path]:
    """Per sample, one Parquet file of :func:`scores_frame` rows, ``<out_dir>/<sample>.parquet``
    (``identities``: per sample, its events' identity columns, or None)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, s in result.samples.items():
        if s.guarded is None or not isinstance(s.policy, PolicyScores):
            raise SettingsError(
                f"the scores of {name!r} stayed on the cluster: this result holds counts only",
                "--scores-out",
                "write them with the cluster evaluator's write_scores (hepfm evaluate "
                "--scores-out does), or evaluate without a cluster",
            )
        path = out / f"{name}.parquet"
        identity = (identities or {}).get(name)
        scores_frame(s.guarded, s.policy.kept_mask, 0, identity).write_parquet(path)
        paths.append(path)
    return paths
