"""What a comparison of several models gives: per signal and pair of models, the paired AUC
test, the efficiency differences and the seed spreads (:class:`ModelComparison`), and the
whole :class:`ComparisonResult` with every model's own evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...common.json_fields import OMIT, JsonFields, json_meta, json_value
from ..evaluate import EvaluationResult, EvaluationSettings
from ..metrics.working_points import format_eff
from .efficiency import EfficiencyDifference
from .paired import (
    AucComparison,
    PairedScores,
)
from .seeds import GroupComparison, SeedGroup

__all__ = [
    "ComparisonResult",
    "ModelComparison",
    "PairCounts",
]


@dataclass(frozen=True)
class PairCounts(JsonFields):
    """Of one sample's events, how many both models keep and how many each drops alone."""

    both: int = field(metadata=json_meta(key="kept_by_both"))
    dropped_a_only: int = field(metadata=json_meta(key="dropped_by_a_only"))
    dropped_b_only: int = field(metadata=json_meta(key="dropped_by_b_only"))
    dropped_both: int = field(metadata=json_meta(key="dropped_by_both"))

    @classmethod
    def of(cls, p: PairedScores) -> PairCounts:
        return cls(p.n_both, p.n_dropped_a_only, p.n_dropped_b_only, p.n_dropped_both)


_CONTRACT = (
    "n_background",
    "n_signal",
    "delta_auc",
    "delta_auc_err",
    "p_value",
    "status",
    "reason",
    "auc_a",
    "auc_b",
    "auc_a_err",
    "auc_b_err",
    "z",
)
"""The paired test's keys in the order of the comparison contract (its JSON's first keys,
after the signal and the two models)."""


def _test_entries(c: ModelComparison) -> dict[str, Any]:
    test = c.test.to_json_dict()
    return {key: test[key] for key in _CONTRACT}


def _pairs_entries(c: ModelComparison) -> dict[str, Any]:
    return {"pairs": {"background": json_value(c.background), "signal": json_value(c.signal_pairs)}}


def _by_target(efficiencies: tuple[EfficiencyDifference, ...]) -> dict[str, Any]:
    return {format_eff(d.target_bkg_eff): d.to_json_dict() for d in efficiencies}


def _group_entries(c: ModelComparison) -> dict[str, Any]:
    """For seed groups only: the spread's comparison (None with its reason)."""
    if not c.grouped:
        return {}
    return {"seed_spread": json_value(c.group), "seed_spread_reason": c.group_reason}


@dataclass(frozen=True, eq=False)
class ModelComparison(JsonFields):
    """Models A and B on one signal: the paired test on the events both keep, the signal
    efficiency difference at each working point, and, for seed groups, the seed spread.

    ``test``: the paired DeLong test of the two labels' first models (a plain model is its
    own first); ``p_value_holm`` its Holm-corrected p-value over all signals x pairs.
    ``group``: for a pair where either label is a seed group, the difference of the mean AUCs
    against the sampling error and the seed spread (None with ``group_reason`` when a seed's
    AUC or test is missing). ``same_model``: A and B are one model (one fingerprint).
    Its JSON is strict: the keys of the comparison contract first, then the details.
    """

    signal: str
    model_a: str
    model_b: str
    test: AucComparison = field(metadata=json_meta(entries=_test_entries))
    background: PairCounts = field(metadata=json_meta(entries=_pairs_entries))
    signal_pairs: PairCounts = field(metadata=OMIT)  # in "pairs", beside the background's
    efficiencies: tuple[EfficiencyDifference, ...] = field(
        metadata=json_meta(key="eff_sig_differences", convert=_by_target)
    )
    p_value_holm: float | None = field(default=None, metadata=json_meta(after="p_value"))
    group: GroupComparison | None = field(default=None, metadata=json_meta(entries=_group_entries))
    group_reason: str | None = field(default=None, metadata=OMIT)  # in group's entries
    same_model: bool = field(default=False, metadata=json_meta(after="z"))

    @property
    def grouped(self) -> bool:
        """Whether either label is a seed group (the comparison then judges the spread)."""
        return self.group is not None or self.group_reason is not None


def _models_entries(r: ComparisonResult) -> dict[str, Any]:
    return {"models": {label: r._model_json(label) for label in r.labels}}


@dataclass(frozen=True, eq=False)
class ComparisonResult(JsonFields):
    """Every model's evaluation under one setting, and their comparisons.

    ``results``: per label, one :class:`EvaluationResult` per model of the label (one, or
    the seeds of a group, in the order given). ``seed_spread``: per group label and signal,
    the seeds' mean AUC and spread (None where a seed has no AUC). ``warnings``: what the
    user should know (the same model twice). ``provenance``: the data's, with every model.
    Its JSON (strict): ``settings`` and ``provenance`` at the top, every model's usual result
    under ``models`` (with its seeds' spread), then ``comparisons``.
    """

    settings: EvaluationSettings
    results: dict[str, tuple[EvaluationResult, ...]] = field(
        metadata=json_meta(entries=_models_entries)
    )
    comparisons: tuple[ModelComparison, ...]
    warnings: tuple[str, ...] = field(default=(), metadata=json_meta(after="provenance"))
    seed_spread: dict[str, dict[str, SeedGroup | None]] = field(
        default_factory=dict, metadata=OMIT
    )  # in models
    provenance: dict[str, Any] = field(default_factory=dict, metadata=json_meta(after="settings"))

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
            "samples": json_value(first.samples),
            "signals": json_value(first.signals),
        }
        if len(results) > 1:
            out["seeds"] = [
                {
                    "model": r.provenance.get("model"),
                    "fingerprint": r.provenance.get("fingerprints", {}).get("model"),
                    "samples": json_value(r.samples),
                    "signals": json_value(r.signals),
                }
                for r in results
            ]
            out["seed_spread"] = json_value(self.seed_spread.get(label, {}))
        return out
