"""Several models on one data folder: each evaluated under the same settings, then compared.

A :class:`ModelSet` holds, per label, the evaluators of one model or of a seed group (the
same variant trained with several seeds), all on one :class:`~hepfm_core.data.dataset.DataSet`;
each evaluator keeps its own cached scoring passes and guards. ``ModelSet.evaluate`` gives a
:class:`ComparisonResult`: every model's usual :class:`EvaluationResult`, and per signal and
pair of labels the paired comparison of ``compare.py`` on the events both models keep
(``PolicyScores.kept_mask``), Holm-corrected over all signals x pairs. A pair of seed groups
also says whether its difference exceeds the seed-to-seed spread (``compare.compare_groups``).

Why paired: both models score the very same events, so their AUCs are correlated and only a
paired test (DeLong) judges their difference fairly."""

from __future__ import annotations

import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from ...common.progress import Progress
from ...data.dataset import DataSet
from ...data.imputation import STATUS_IMPUTED
from ...errors import ModelInputMismatchError, SettingsError
from ...sources import open_data
from ...vocabulary import DEFAULT_BKG_EFFS, Fill, SignalNormalisation
from ..evaluate import BaseEvaluator, EvaluationResult, EvaluationSettings, Evaluator
from ..guards.policy import PolicyScores
from ..metrics.binning import DEFAULT_BINS
from ..metrics.working_points import check_effs, empty_working_point
from .efficiency import EfficiencyDifference, efficiency_differences_against
from .paired import (
    AucComparison,
    PairedBackground,
    PairedScores,
    delong_test_against,
    holm,
    pair_events,
    paired_background,
    withheld_comparison,
)
from .results import ComparisonResult, ModelComparison, PairCounts
from .seeds import GroupComparison, SeedGroup, compare_groups, seed_group
from .specs import ModelSpec, model_label

__all__ = [
    "COMPARISON_SCOPE_WHERE",
    "TESTS_KEPT",
    "ModelSet",
    "labelled_evaluators",
]


TESTS_KEPT = 64


"""Paired tests kept for reuse per model set (a few settings of every signal; small: the
signal pairs and a handful of numbers each)."""


_SignalTest = tuple[PairedScores, tuple[AucComparison, tuple[EfficiencyDifference, ...]]]


COMPARISON_SCOPE_WHERE = "--model (several) with --workers / --scheduler / --scheduler-file"


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
