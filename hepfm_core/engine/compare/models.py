"""Several models on one data folder: each evaluated under the same settings, then compared.

A :class:`ModelSet` holds, per label, the evaluators of one model or of a seed group (the
same variant trained with several seeds), all on one :class:`~hepfm_core.data.dataset.DataSet`;
each evaluator keeps its own cached scoring passes and guards. ``ModelSet.evaluate`` gives a
:class:`ComparisonResult`: every model's usual :class:`EvaluationResult`, and per signal and
pair of labels the paired comparison of ``compare.py`` on the events both models keep
(``PolicyScores.kept_mask``), Holm-corrected over all signals x pairs. A pair of seed groups
also says whether its difference exceeds the seed-to-seed spread (``compare.compare_groups``).

Why paired: both models score the very same events, so their AUCs are correlated and only a
paired test (DeLong) judges their difference fairly.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from ...common.progress import Progress
from ...data.dataset import DataSet
from ...data.imputation import STATUS_IMPUTED
from ...errors import ModelInputMismatchError, SettingsError
from ...sources import ModelInfo, open_data
from ...vocabulary import DEFAULT_BKG_EFFS, Fill, SignalNormalisation
from ..evaluate import BaseEvaluator, EvaluationResult, EvaluationSettings, Evaluator
from ..guards.policy import PolicyScores
from ..metrics.binning import DEFAULT_BINS
from ..metrics.working_points import check_effs, empty_working_point, format_eff
from .paired import (
    AucComparison,
    EfficiencyDifference,
    GroupComparison,
    PairedBackground,
    PairedScores,
    SeedGroup,
    compare_groups,
    delong_test_against,
    efficiency_differences_against,
    holm,
    pair_events,
    paired_background,
    seed_group,
    withheld_comparison,
)

__all__ = [
    "COMPARISON_SCOPE_WHERE",
    "LABEL_SEPARATOR",
    "MEMBER_SEPARATOR",
    "SHORT_FINGERPRINT",
    "TESTS_KEPT",
    "ComparisonResult",
    "ModelComparison",
    "ModelSet",
    "ModelSpec",
    "PairCounts",
    "is_comparison",
    "labelled_evaluators",
    "model_label",
    "parse_model_specs",
]

TESTS_KEPT = 64
"""Paired tests kept for reuse per model set (a few settings of every signal; small: the
signal pairs and a handful of numbers each)."""

_SignalTest = tuple[PairedScores, tuple[AucComparison, tuple[EfficiencyDifference, ...]]]

LABEL_SEPARATOR = "="
"""``--model LABEL=PATH``: what separates a label from its path."""
MEMBER_SEPARATOR = ","
"""``--model LABEL=PATH1,PATH2``: what separates the seeds of a model group."""
SHORT_FINGERPRINT = 8
"""Hex digits of a model's fingerprint in its automatic label."""
COMPARISON_SCOPE_WHERE = "--model (several) with --workers / --scheduler / --scheduler-file"


# -- what the user named ---------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """One ``--model`` argument: its model file(s) and an optional label.

    One path is one model; several (``LABEL=PATH1,PATH2,...``) are a seed group, which needs
    a label. Without a label, the model's name and short fingerprint label it
    (:func:`model_label`).
    """

    paths: tuple[Path, ...]
    label: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """``PATH``, ``LABEL=PATH`` or ``LABEL=PATH1,PATH2,...``.

        A text that names an existing file or folder is a path, whatever it holds (so a
        path with ``=`` or ``,`` in it still works).

        >>> from hepfm_core.engine.compare.models import ModelSpec
        >>> ModelSpec.parse("latent8=runs/l8/model.keras")
        ModelSpec(paths=(PosixPath('runs/l8/model.keras'),), label='latent8')
        >>> [p.name for p in ModelSpec.parse("l8=a/s1.keras,a/s2.keras").paths]
        ['s1.keras', 's2.keras']
        """
        raw = text.strip()
        if not raw:
            raise SettingsError("an empty --model argument", "--model", "give PATH or LABEL=PATH")
        if Path(raw).exists():
            return cls((Path(raw),))
        label: str | None = None
        rest = raw
        head, sep, tail = raw.partition(LABEL_SEPARATOR)
        if sep and head.strip() and "/" not in head and "\\" not in head:
            label, rest = head.strip(), tail
        paths = tuple(Path(p.strip()) for p in rest.split(MEMBER_SEPARATOR) if p.strip())
        if not paths:
            raise SettingsError(
                f"--model {text!r} names no model file", "--model", "give LABEL=PATH"
            )
        if label is not None and (label in (".", "..") or label.startswith(".")):
            raise SettingsError(
                f"the label {label!r} cannot name a folder of --scores-out",
                f"--model {text}",
                "start a label with a letter or digit",
            )
        if len(paths) > 1 and label is None:
            raise SettingsError(
                f"a model group ({len(paths)} files) needs a label",
                f"--model {text}",
                "write --model LABEL=PATH1,PATH2,... (one variant trained with several seeds)",
            )
        return cls(paths, label)


def parse_model_specs(texts: Sequence[str] | str) -> tuple[ModelSpec, ...]:
    """Every ``--model`` argument parsed (a single string is one argument)."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise SettingsError("no --model given", "--model", "give at least one --model PATH")
    return tuple(ModelSpec.parse(t) for t in items)


def is_comparison(specs: Sequence[ModelSpec]) -> bool:
    """Whether the models named make a comparison (more than one model file in all): one
    plain ``--model`` keeps ``hepfm evaluate``'s single-model output."""
    return sum(len(s.paths) for s in specs) > 1


def model_label(info: ModelInfo) -> str:
    """A model's automatic label: its name and short fingerprint, ``model@1a2b3c4d``.

    The name is the file's stem (a hepfm ``.keras`` file) or the experiment folder's name
    (upstream); the fingerprint tells apart two files of the same name.
    """
    path = Path(info.path)
    name = path.stem if info.kind == "hepfm" else path.name
    digest = info.fingerprint.rsplit("-", 1)[-1]
    return f"{name}@{digest[:SHORT_FINGERPRINT]}"


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairCounts:
    """Of one sample's events, how many both models keep and how many each drops alone."""

    both: int
    dropped_a_only: int
    dropped_b_only: int
    dropped_both: int

    @classmethod
    def of(cls, p: PairedScores) -> PairCounts:
        return cls(p.n_both, p.n_dropped_a_only, p.n_dropped_b_only, p.n_dropped_both)

    def to_json_dict(self) -> dict[str, int]:
        return {
            "kept_by_both": self.both,
            "dropped_by_a_only": self.dropped_a_only,
            "dropped_by_b_only": self.dropped_b_only,
            "dropped_by_both": self.dropped_both,
        }


@dataclass(frozen=True, eq=False)
class ModelComparison:
    """Models A and B on one signal: the paired test on the events both keep, the signal
    efficiency difference at each working point, and, for seed groups, the seed spread.

    ``test``: the paired DeLong test of the two labels' first models (a plain model is its
    own first); ``p_value_holm`` its Holm-corrected p-value over all signals x pairs.
    ``group``: for a pair where either label is a seed group, the difference of the mean AUCs
    against the sampling error and the seed spread (None with ``group_reason`` when a seed's
    AUC or test is missing). ``same_model``: A and B are one model (one fingerprint).
    """

    signal: str
    model_a: str
    model_b: str
    test: AucComparison
    background: PairCounts
    signal_pairs: PairCounts
    efficiencies: tuple[EfficiencyDifference, ...]
    p_value_holm: float | None = None
    group: GroupComparison | None = None
    group_reason: str | None = None
    same_model: bool = False

    @property
    def grouped(self) -> bool:
        """Whether either label is a seed group (the comparison then judges the spread)."""
        return self.group is not None or self.group_reason is not None

    def to_json_dict(self) -> dict[str, Any]:
        """Strict JSON: the keys of the comparison contract first, then the details."""
        t = self.test.to_json_dict()
        out: dict[str, Any] = {
            "signal": self.signal,
            "model_a": self.model_a,
            "model_b": self.model_b,
            "n_background": self.test.n_background,
            "n_signal": self.test.n_signal,
            "delta_auc": t["delta_auc"],
            "delta_auc_err": t["delta_auc_err"],
            "p_value": t["p_value"],
            "p_value_holm": self.p_value_holm,
            "status": t["status"],
            "reason": t["reason"],
            "auc_a": t["auc_a"],
            "auc_b": t["auc_b"],
            "auc_a_err": t["auc_a_err"],
            "auc_b_err": t["auc_b_err"],
            "z": t["z"],
            "same_model": self.same_model,
            "pairs": {
                "background": self.background.to_json_dict(),
                "signal": self.signal_pairs.to_json_dict(),
            },
            "eff_sig_differences": {
                format_eff(d.target_bkg_eff): d.to_json_dict() for d in self.efficiencies
            },
        }
        if self.grouped:
            out["seed_spread"] = None if self.group is None else self.group.to_json_dict()
            out["seed_spread_reason"] = self.group_reason
        return out


@dataclass(frozen=True, eq=False)
class ComparisonResult:
    """Every model's evaluation under one setting, and their comparisons.

    ``results``: per label, one :class:`EvaluationResult` per model of the label (one, or
    the seeds of a group, in the order given). ``seed_spread``: per group label and signal,
    the seeds' mean AUC and spread (None where a seed has no AUC). ``warnings``: what the
    user should know (the same model twice). ``provenance``: the data's, with every model.
    """

    settings: EvaluationSettings
    results: dict[str, tuple[EvaluationResult, ...]]
    comparisons: tuple[ModelComparison, ...]
    warnings: tuple[str, ...] = ()
    seed_spread: dict[str, dict[str, SeedGroup | None]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.results)

    @property
    def primary(self) -> EvaluationResult:
        """The first label's (first) model: the one the single-model views show."""
        return self.result(self.labels[0])

    def result(self, label: str) -> EvaluationResult:
        """The evaluation of ``label``'s first model (a plain model's only one)."""
        return self.results[label][0]

    def members(self) -> list[tuple[str, EvaluationResult]]:
        """Every model's evaluation with a name that is also a relative folder: its label,
        or ``<label>/seed-<i>`` (from 1) for the seeds of a group."""
        out = []
        for label, results in self.results.items():
            if len(results) == 1:
                out.append((label, results[0]))
            else:
                out += [(f"{label}/seed-{i}", r) for i, r in enumerate(results, start=1)]
        return out

    def first_results(self) -> dict[str, EvaluationResult]:
        """Per label, its first model's evaluation (what overlays and tables show)."""
        return {label: self.result(label) for label in self.labels}

    def to_json_dict(self) -> dict[str, Any]:
        """``settings`` and ``provenance`` at the top, every model's usual result under
        ``models``, then ``comparisons`` (strict JSON)."""
        return {
            "settings": self.settings.to_json_dict(),
            "provenance": self.provenance,
            "warnings": list(self.warnings),
            "models": {label: self._model_json(label) for label in self.labels},
            "comparisons": [c.to_json_dict() for c in self.comparisons],
        }

    def _model_json(self, label: str) -> dict[str, Any]:
        results = self.results[label]
        first = results[0]
        p = first.provenance
        out: dict[str, Any] = {
            "model": p.get("model"),
            "model_kind": p.get("model_kind"),
            "model_description": p.get("model_description"),
            "fingerprint": p.get("fingerprints", {}).get("model"),
            "parameterisation": first.parameterisation,
            "samples": {n: s.to_json_dict() for n, s in first.samples.items()},
            "signals": {n: s.to_json_dict() for n, s in first.signals.items()},
        }
        if len(results) > 1:
            out["seeds"] = [
                {
                    "model": r.provenance.get("model"),
                    "fingerprint": r.provenance.get("fingerprints", {}).get("model"),
                    "samples": {n: s.to_json_dict() for n, s in r.samples.items()},
                    "signals": {n: s.to_json_dict() for n, s in r.signals.items()},
                }
                for r in results
            ]
            out["seed_spread"] = {
                name: None if g is None else g.to_json_dict()
                for name, g in self.seed_spread.get(label, {}).items()
            }
        return out


# -- the models ------------------------------------------------------------------------------
class ModelSet:
    """Several models (or seed groups) on one data folder, labelled, evaluated alike.

    Parameters
    ----------
    models : mapping of str to sequence of BaseEvaluator
        Per label, the evaluators of its model (one) or seed group (several), in order. All
        must read the same data (folder, samples, signal normalisation, fill).

    Raises
    ------
    SettingsError
        Without a model, for an empty label, or for evaluators of different data.
    """

    def __init__(self, models: Mapping[str, Sequence[BaseEvaluator]]) -> None:
        if not models:
            raise SettingsError("no model to evaluate", "--model", "give at least one --model")
        self.models: dict[str, tuple[BaseEvaluator, ...]] = {}
        for label, evaluators in models.items():
            if not label or not evaluators:
                raise SettingsError(
                    f"model label {label!r} names no model", "--model", "give LABEL=PATH"
                )
            self.models[label] = tuple(evaluators)
        self._check_same_data()
        self.warnings: tuple[str, ...] = self._same_model_warnings()
        # per (pair, seed, kept scores, signal, targets): a signal's paired test, reused while
        # its kept scores stay (bins, signals shown, the shown model change nothing of it)
        self._tests: OrderedDict[tuple[Any, ...], _SignalTest] = OrderedDict()

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        specs: Sequence[ModelSpec],
        *,
        signal_normalisation: SignalNormalisation = "background",
        fill: Fill = "median",
        cache: str | Path | None = None,
    ) -> ModelSet:
        """Every model of ``specs`` on the data folder ``data_dir``, opened once and shared.

        Labels: the ones given, else :func:`model_label` (a second model of the same label
        gets ``#2``, and so on: the same model named twice is compared with itself). Reads
        files only; nothing is scored yet.

        Raises
        ------
        SettingsError
            For a label given twice.
        """
        data = open_data(data_dir, signal_normalisation=signal_normalisation, fill=fill)
        return cls(labelled_evaluators(data, specs, cache=cache))

    # -- what it holds ----------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def primary(self) -> BaseEvaluator:
        """The first label's first model: the data and its signals are read through it."""
        return self.models[self.labels[0]][0]

    @property
    def data(self) -> DataSet:
        return self.primary.data

    @property
    def signal_names(self) -> tuple[str, ...]:
        return self.primary.signal_names

    @property
    def is_comparison(self) -> bool:
        """More than one model in all (several labels, or a seed group)."""
        return sum(len(evs) for evs in self.models.values()) > 1

    def evaluator(self, label: str) -> BaseEvaluator:
        """The (first) evaluator of ``label``: what per-model views of that label use."""
        return self.models[label][0]

    def evaluators(self) -> Iterator[tuple[str, BaseEvaluator]]:
        """(label, evaluator) of every model, seeds of a group included."""
        for label, evs in self.models.items():
            for ev in evs:
                yield label, ev

    def check_signals(self, requested: tuple[str, ...] | None) -> tuple[str, ...]:
        return self.primary.check_signals(requested)

    # -- the work ---------------------------------------------------------------------------
    def score_all(self, progress: Progress | None = None) -> None:
        """Score every sample with every model once (or find the passes cached).

        Raises ``ModelInputMismatchError`` naming the model's label when its input does not
        fit the data.
        """
        for label, ev in self.evaluators():
            with _named(label):
                ev.score_all(progress=_labelled(progress, label, len(self.models) > 1))

    def evaluate(
        self,
        settings: EvaluationSettings,
        *,
        bkg_effs: Sequence[float] = DEFAULT_BKG_EFFS,
        n_bins: int = DEFAULT_BINS,
    ) -> ComparisonResult:
        """Every model under ``settings``; per signal and pair of labels, their comparison.

        Pairs are formed on the events both models keep; the p-values of all signals x pairs
        are Holm-corrected together. A model set of one plain model has no comparison.

        Raises
        ------
        SettingsError
            For an unknown signal, or when a comparison is asked of an evaluator whose
            scores stay on a cluster (a comparison needs every event's kept scores here).
        """
        signals = self.check_signals(settings.signals)
        settings = replace(settings, signals=signals)
        effs = check_effs(bkg_effs)
        results: dict[str, tuple[EvaluationResult, ...]] = {}
        for label, evs in self.models.items():
            with _named(label):
                results[label] = tuple(
                    ev.evaluate(settings, bkg_effs=effs, n_bins=n_bins) for ev in evs
                )
        spread = {
            label: {name: _seed_group(rs, name) for name in signals}
            for label, rs in results.items()
            if len(rs) > 1
        }
        comparisons: list[ModelComparison] = []
        if self.is_comparison:
            for a, b in itertools.combinations(self.labels, 2):
                comparisons += self._compare(a, b, results[a], results[b], signals, effs)
        corrected = holm([c.test.p_value for c in comparisons])
        comparisons = [
            replace(c, p_value_holm=p) for c, p in zip(comparisons, corrected, strict=True)
        ]
        return ComparisonResult(
            settings=settings,
            results=results,
            comparisons=tuple(comparisons),
            warnings=self.warnings,
            seed_spread=spread,
            provenance=self.provenance(),
        )

    def _compare(
        self,
        a: str,
        b: str,
        results_a: tuple[EvaluationResult, ...],
        results_b: tuple[EvaluationResult, ...],
        signals: Sequence[str],
        effs: Sequence[float],
    ) -> list[ModelComparison]:
        """Every signal's comparison of labels ``a`` and ``b``."""
        n_pairs = min(len(results_a), len(results_b))
        grouped = max(len(results_a), len(results_b)) > 1
        # per seed pair (i-th seed of A with the i-th of B), the background pairs: once
        bkg = [_pairs(results_a[i], results_b[i], "background", a, b) for i in range(n_pairs)]
        # each pair's background checked and sorted once for every signal, when one needs it
        sorted_bkg: dict[int, PairedBackground] = {}

        def background(i: int) -> PairedBackground:
            if i not in sorted_bkg:
                sorted_bkg[i] = paired_background(bkg[i].a, bkg[i].b)
            return sorted_bkg[i]

        same = self._same(a, b)
        out = []
        for name in signals:
            tests = []
            for i in range(n_pairs):
                key = (a, b, i, results_a[i].settings.kept_scores_key(), name, tuple(effs))
                found = self._tests.pop(key, None)
                if found is None:
                    sig = _pairs(results_a[i], results_b[i], name, a, b)
                    test = _test(
                        results_a[i], results_b[i], name, bkg[i], sig, effs, partial(background, i)
                    )
                    found = (sig, test)
                self._tests[key] = found
                while len(self._tests) > TESTS_KEPT:
                    self._tests.popitem(last=False)
                tests.append(found)
            sig0, (test0, effs0) = tests[0]
            group = reason = None
            if grouped:
                group, reason = _group(results_a, results_b, name, [t for _, (t, _) in tests])
            out.append(
                ModelComparison(
                    signal=name,
                    model_a=a,
                    model_b=b,
                    test=test0,
                    background=PairCounts.of(bkg[0]),
                    signal_pairs=PairCounts.of(sig0),
                    efficiencies=effs0,
                    group=group,
                    group_reason=reason,
                    same_model=same,
                )
            )
        return out

    def _fingerprints(self, label: str) -> tuple[str, ...]:
        return tuple(ev.model_info.fingerprint for ev in self.models[label])

    def _same(self, a: str, b: str) -> bool:
        return self._fingerprints(a) == self._fingerprints(b)

    def _same_model_warnings(self) -> tuple[str, ...]:
        out = []
        for a, b in itertools.combinations(self.labels, 2):
            if self._same(a, b):
                fp = self._fingerprints(a)[0]
                out.append(
                    f"{a} and {b} are the same model (fingerprint {fp}): their comparison is "
                    "delta AUC 0, p-value 1 by construction"
                )
        for label in self.labels:
            fps = self._fingerprints(label)
            if len(set(fps)) < len(fps):
                out.append(
                    f"the seed group {label} names one model more than once: its seed spread "
                    "is understated"
                )
        for label, ev in self.evaluators():
            out.extend(f"{label}: {w}" for w in ev.warnings())
        return tuple(dict.fromkeys(out))

    def _check_same_data(self) -> None:
        first = self.primary
        want = _data_identity(first)
        for label, ev in self.evaluators():
            if _data_identity(ev) != want:
                raise SettingsError(
                    f"model {label} is evaluated on other data than {self.labels[0]}",
                    str(ev.data.path),
                    "compare models on one data folder with the same signal normalisation and fill",
                )

    def provenance(self) -> dict[str, Any]:
        """The data's provenance (the first model's, without its model), with every model."""
        p = dict(self.primary.provenance())
        for key in ("model", "model_kind", "model_description"):
            p.pop(key, None)
        fps = dict(p.get("fingerprints", {}))
        fps.pop("model", None)
        fps["models"] = {label: list(self._fingerprints(label)) for label in self.labels}
        p["fingerprints"] = fps
        p["models"] = {
            label: [ev.model_info.path for ev in evs] for label, evs in self.models.items()
        }
        return p


def labelled_evaluators(
    data: DataSet, specs: Sequence[ModelSpec], *, cache: str | Path | None = None
) -> dict[str, list[BaseEvaluator]]:
    """Per label, the in-process evaluators of ``specs`` on ``data`` (one model file opened
    once, even when named twice)."""
    opened: dict[str, Evaluator] = {}
    out: dict[str, list[BaseEvaluator]] = {}
    for spec in specs:
        evs: list[BaseEvaluator] = []
        for path in spec.paths:
            key = str(path.resolve())
            if key not in opened:
                opened[key] = Evaluator(data, path, cache=cache)
            evs.append(opened[key])
        if spec.label is not None:
            if spec.label in out:
                raise SettingsError(
                    f"the label {spec.label} is given to two --model arguments",
                    "--model",
                    "give each model its own label",
                )
            out[spec.label] = evs
            continue
        base = model_label(evs[0].model_info)
        label, n = base, 1
        while label in out or any(s.label == label for s in specs):
            n += 1
            label = f"{base}#{n}"
        out[label] = evs
    return out


# -- helpers ---------------------------------------------------------------------------------
@contextlib.contextmanager
def _named(label: str) -> Iterator[None]:
    """A model that does not fit the data says which model it is."""
    try:
        yield
    except ModelInputMismatchError as exc:
        raise ModelInputMismatchError(f"model {label}: {exc.what}", exc.where, exc.todo) from exc


def _labelled(progress: Progress | None, label: str, several: bool) -> Progress | None:
    if progress is None or not several:
        return progress
    inner = progress

    def report(name: str, done: int, total: int) -> None:
        inner(f"{label}: {name}", done, total)

    return report


def _data_identity(ev: BaseEvaluator) -> tuple[Any, ...]:
    data = ev.data
    fps = tuple(sorted((n, s.provenance.fingerprint) for n, s in data.samples.items()))
    return (str(Path(data.path).resolve()), data.signal_normalisation, ev.fill, fps)


def _kept(result: EvaluationResult, name: str, label: str) -> PolicyScores:
    policy = result.samples[name].policy
    if not isinstance(policy, PolicyScores):
        raise SettingsError(
            f"model {label}: the scores of {name!r} stayed on a cluster, and a comparison "
            "needs every event's kept scores",
            COMPARISON_SCOPE_WHERE,
            "model comparison runs in one process; drop --workers/--scheduler",
        )
    return policy


def _pairs(ra: EvaluationResult, rb: EvaluationResult, name: str, a: str, b: str) -> PairedScores:
    """The events of sample ``name`` both models keep."""
    ka, kb = _kept(ra, name, a), _kept(rb, name, b)
    return pair_events(ka.values, kb.values, ka.kept_mask, kb.kept_mask)


def _test(
    ra: EvaluationResult,
    rb: EvaluationResult,
    name: str,
    bkg: PairedScores,
    sig: PairedScores,
    effs: Sequence[float],
    sorted_background: Callable[[], PairedBackground],
) -> tuple[AucComparison, tuple[EfficiencyDifference, ...]]:
    """The paired test and efficiency differences; withheld, like the metrics, where a
    model's metrics of this signal rest on fill values. ``sorted_background``: ``bkg``
    checked and sorted (shared by the signals)."""
    for sep in (ra.signals[name], rb.signals[name]):
        if sep.status == STATUS_IMPUTED:
            return _withheld(sep.status, sep.reason or "", bkg.n_both, sig.n_both, effs)
    background = sorted_background()
    test = delong_test_against(background, sig.a, sig.b)
    return test, efficiency_differences_against(background, sig.a, sig.b, bkg_effs=effs)


def _withheld(
    status: str, reason: str, n: int, m: int, effs: Sequence[float]
) -> tuple[AucComparison, tuple[EfficiencyDifference, ...]]:
    test = withheld_comparison(status, reason, n, m)
    diffs = []
    for e in effs:
        wp = empty_working_point(e, status, reason)
        diffs.append(EfficiencyDifference(e, status, reason, wp, wp, None, None))
    return test, tuple(diffs)


def _seed_group(results: Sequence[EvaluationResult], name: str) -> SeedGroup | None:
    aucs = [r.signals[name].auc for r in results]
    if any(a is None for a in aucs):
        return None
    return seed_group([a for a in aucs if a is not None])


def _group(
    results_a: Sequence[EvaluationResult],
    results_b: Sequence[EvaluationResult],
    name: str,
    tests: Sequence[AucComparison],
) -> tuple[GroupComparison | None, str | None]:
    """Whether the groups' difference on ``name`` exceeds the sampling and seed errors."""
    aucs_a = [r.signals[name].auc for r in results_a]
    aucs_b = [r.signals[name].auc for r in results_b]
    if any(a is None for a in [*aucs_a, *aucs_b]):
        return None, f"a seed has no AUC for {name} (see its metrics' status)"
    errs = [t.delta_auc_err for t in tests if t.delta_auc_err is not None]
    if not errs:
        return None, f"no seed pair has a DeLong error for {name} (see the test's status)"
    return (
        compare_groups(
            [a for a in aucs_a if a is not None], [b for b in aucs_b if b is not None], errs
        ),
        None,
    )
