"""What a comparison of several models gives: per signal and pair of models, the paired AUC
test, the efficiency differences and the seed spreads (:class:`ModelComparison`), and the
whole :class:`ComparisonResult` with every model's own evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
