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
from pathlib import Path
from typing import Any

from ...common.progress import Progress
from ...data.dataset import DataSet
from ...data.imputation import STATUS_IMPUTED
from ...errors import ModelInputMismatchError, SettingsError
from ...sources import open_data
from ...vocabulary import DEFAULT_BKG_EFFS, Fill, SignalNormalisation
from ..evaluate import BaseEvaluator, EvaluationResult, EvaluationSettings, Evaluator
from ..metrics.binning import DEFAULT_BINS
from ..metrics.working_points import check_effs, empty_working_point
from .efficiency import EfficiencyDifference
from .paired import AucComparison, holm, withheld_comparison
from .pairing import LocalPairing, Pairing, PairsWhereScoresLive, SignalTest
from .results import ComparisonResult, ModelComparison, PairCounts
from .seeds import GroupComparison, SeedGroup, compare_groups, seed_group
from .specs import ModelSpec, model_label

__all__ = [
    "TESTS_KEPT",
    "ModelSet",
    "Opener",
    "labelled_evaluators",
]


TESTS_KEPT = 64


"""Paired tests kept for reuse per model set (a few settings of every signal; small: the
signal pairs and a handful of numbers each)."""


Opener = Callable[[DataSet, Path], BaseEvaluator]
"""How a model file is opened on a data set (``ModelSet.open``'s ``opener``)."""


_SignalTest = tuple[PairCounts, PairCounts, SignalTest]
"""A signal's cached test: the background's and the signal's pair counts, and the test."""


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
        opener: Opener | None = None,
    ) -> ModelSet:
        """Every model of ``specs`` on the data folder ``data_dir``, opened once and shared.

        Labels: the ones given, else :func:`model_label` (a second model of the same label
        gets ``#2``, and so on: the same model named twice is compared with itself). Reads
        files only; nothing is scored yet. ``opener``: how a model is opened on the data
        (a cluster's evaluator, say); an in-process ``Evaluator`` without one.

        Raises
        ------
        SettingsError
            For a label given twice.
        """
        data = open_data(data_dir, signal_normalisation=signal_normalisation, fill=fill)
        return cls(labelled_evaluators(data, specs, cache=cache, opener=opener))

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
        # per seed pair (i-th seed of A with the i-th of B): the tests, cached or computed
        tests = [
            self._signal_tests(a, b, i, results_a[i], results_b[i], signals, effs)
            for i in range(n_pairs)
        ]
        same = self._same(a, b)
        out = []
        for name in signals:
            bkg0, sig0, (test0, effs0) = tests[0][name]
            group = reason = None
            if grouped:
                pair_tests = [t[name][2][0] for t in tests]
                group, reason = _group(results_a, results_b, name, pair_tests)
            out.append(
                ModelComparison(
                    signal=name,
                    model_a=a,
                    model_b=b,
                    test=test0,
                    background=bkg0,
                    signal_pairs=sig0,
                    efficiencies=effs0,
                    group=group,
                    group_reason=reason,
                    same_model=same,
                )
            )
        return out

    def _signal_tests(
        self,
        a: str,
        b: str,
        i: int,
        ra: EvaluationResult,
        rb: EvaluationResult,
        signals: Sequence[str],
        effs: Sequence[float],
    ) -> dict[str, _SignalTest]:
        """Per signal, the i-th seed pair's test: reused while its kept scores stay, else
        computed where the scores are (the signals missing asked of the pairing at once)."""
        keys = {n: (a, b, i, ra.settings.kept_scores_key(), n, tuple(effs)) for n in signals}
        found = {n: self._tests.pop(k) for n, k in keys.items() if k in self._tests}
        missing = [n for n in signals if n not in found]
        if missing:
            pairing = self._pairing(a, b, i, ra.settings)
            if pairing is None:
                pairing = LocalPairing(ra, rb, a, b)
            bkg = pairing.counts("background")
            counts = {n: pairing.counts(n) for n in missing}
            withheld = {n: _imputed(ra, rb, n) for n in missing}
            asked = [n for n in missing if withheld[n] is None]
            computed = pairing.tests(asked, effs) if asked else {}
            for n in missing:
                w = withheld[n]
                if w is not None:
                    computed[n] = _withheld(*w, bkg.both, counts[n].both, effs)
                found[n] = (bkg, counts[n], computed[n])
        for n in signals:
            self._tests[keys[n]] = found[n]
        while len(self._tests) > TESTS_KEPT:
            self._tests.popitem(last=False)
        return found

    def _pairing(self, a: str, b: str, i: int, settings: EvaluationSettings) -> Pairing | None:
        """The pairing of the i-th models of ``a`` and ``b`` where their scores live; None
        for scores in this process."""
        ev_a, ev_b = self.models[a][i], self.models[b][i]
        if isinstance(ev_a, PairsWhereScoresLive):
            return ev_a.pairing_with(ev_b, settings)
        return None

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
    data: DataSet,
    specs: Sequence[ModelSpec],
    *,
    cache: str | Path | None = None,
    opener: Opener | None = None,
) -> dict[str, list[BaseEvaluator]]:
    """Per label, the evaluators of ``specs`` on ``data`` (one model file opened once, even
    when named twice): in this process, or as ``opener`` opens them."""
    opened: dict[str, BaseEvaluator] = {}
    out: dict[str, list[BaseEvaluator]] = {}
    for spec in specs:
        evs: list[BaseEvaluator] = []
        for path in spec.paths:
            key = str(path.resolve())
            if key not in opened:
                opened[key] = (
                    Evaluator(data, path, cache=cache) if opener is None else opener(data, path)
                )
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


def _imputed(ra: EvaluationResult, rb: EvaluationResult, name: str) -> tuple[str, str] | None:
    """Status and reason when a model's metrics of signal ``name`` rest on fill values (the
    comparison is then withheld, like the metrics); None otherwise."""
    for sep in (ra.signals[name], rb.signals[name]):
        if sep.status == STATUS_IMPUTED:
            return sep.status, sep.reason or ""
    return None


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
