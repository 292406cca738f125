"""Where two models' kept scores are paired by event: in this process, or where they live.

A :class:`Pairing` answers, for one pair of models under one setting, how many events of a
sample both keep (:meth:`Pairing.counts`) and the paired test and efficiency differences of
some signals (:meth:`Pairing.tests`). :class:`LocalPairing` pairs the kept scores of two
in-process results; an evaluator whose scores stay elsewhere (a cluster's) offers its own
through :class:`PairsWhereScoresLive`, and ``models.ModelSet`` takes it: the comparison is
the same either way."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ...errors import SettingsError
from ..evaluate import BaseEvaluator, EvaluationResult, EvaluationSettings
from ..guards.policy import PolicyScores
from .efficiency import efficiency_differences_against
from .paired import (
    PairedBackground,
    PairedScores,
    delong_test_against,
    pair_events,
    paired_background,
)
from .partitioned import SignalTest
from .results import PairCounts

__all__ = [
    "COMPARISON_SCOPE_WHERE",
    "LocalPairing",
    "Pairing",
    "PairsWhereScoresLive",
    "SignalTest",
]


COMPARISON_SCOPE_WHERE = "--model (several) with --workers / --scheduler / --scheduler-file"


class Pairing(abc.ABC):
    """One pair of models (A, B) under one setting: the events both keep, and their tests."""

    @abc.abstractmethod
    def counts(self, name: str) -> PairCounts:
        """Of sample ``name``'s events, how many both keep and how many each drops."""

    @abc.abstractmethod
    def tests(self, names: Sequence[str], bkg_effs: Sequence[float]) -> dict[str, SignalTest]:
        """Per signal of ``names``, the paired DeLong test and the efficiency differences
        at ``bkg_effs`` on the events both keep (``paired``, ``efficiency``)."""


@runtime_checkable
class PairsWhereScoresLive(Protocol):
    """An evaluator whose kept scores stay where they were computed (a cluster's workers),
    and which pairs them there with another model's."""

    def pairing_with(self, other: BaseEvaluator, settings: EvaluationSettings) -> Pairing:
        """The pairing of this model (A) with ``other`` (B) under ``settings`` (as
        evaluated); ``SettingsError`` when ``other``'s scores are not where these are."""
        ...


class LocalPairing(Pairing):
    """Two in-process results' kept scores (``PolicyScores``), paired here; the background's
    pairs are checked and sorted once for every signal."""

    def __init__(self, ra: EvaluationResult, rb: EvaluationResult, a: str, b: str) -> None:
        self._results = (ra, rb)
        self._labels = (a, b)
        self._pairs: dict[str, PairedScores] = {}
        self._background: PairedBackground | None = None

    def pairs(self, name: str) -> PairedScores:
        """The events of sample ``name`` both models keep."""
        if name not in self._pairs:
            (ra, rb), (a, b) = self._results, self._labels
            ka, kb = _kept(ra, name, a), _kept(rb, name, b)
            self._pairs[name] = pair_events(ka.values, kb.values, ka.kept_mask, kb.kept_mask)
        return self._pairs[name]

    def counts(self, name: str) -> PairCounts:
        return PairCounts.of(self.pairs(name))

    def tests(self, names: Sequence[str], bkg_effs: Sequence[float]) -> dict[str, SignalTest]:
        if self._background is None:
            bkg = self.pairs("background")
            self._background = paired_background(bkg.a, bkg.b)
        out = {}
        for name in names:
            sig = self.pairs(name)
            test = delong_test_against(self._background, sig.a, sig.b)
            effs = efficiency_differences_against(self._background, sig.a, sig.b, bkg_effs=bkg_effs)
            out[name] = (test, effs)
        return out


def _kept(result: EvaluationResult, name: str, label: str) -> PolicyScores:
    policy = result.samples[name].policy
    if not isinstance(policy, PolicyScores):
        raise SettingsError(
            f"model {label}: the scores of {name!r} stayed on a cluster, and the model it is "
            "compared with was evaluated in this process",
            COMPARISON_SCOPE_WHERE,
            "compare models evaluated in one place: all on the same cluster, or all here",
        )
    return policy
