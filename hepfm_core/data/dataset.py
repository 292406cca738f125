"""The DataSet: one background sample and its signal samples, whichever format they came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import DataError, FeatureMismatchError
from ..vocabulary import (
    SIGNAL_NORMALISATION_DESCRIPTIONS,
    SIGNAL_NORMALISATIONS,
    SignalNormalisation,
)
from .samples import Sample

__all__ = [
    "DataSet",
    "check_consistent",
    "check_signal_normalisation",
]


@dataclass(frozen=True, eq=False)
class DataSet:
    """A background sample and named signal samples that share their features."""

    kind: Literal["hepfm", "upstream"]
    path: str
    background: Sample
    signals: dict[str, Sample]
    signal_normalisation: SignalNormalisation = "background"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.background.feature_names

    @property
    def samples(self) -> dict[str, Sample]:
        return {"background": self.background, **self.signals}

    def describe_normalisation(self) -> str:
        return SIGNAL_NORMALISATION_DESCRIPTIONS[self.signal_normalisation]


def check_signal_normalisation(value: str) -> None:
    """DataError unless ``value`` names a signal normalisation a reader knows."""
    if value not in SIGNAL_NORMALISATIONS:
        raise DataError(
            f"unknown signal normalisation {value!r}",
            None,
            "use 'background' (default) or 'own' (upstream's choice)",
        )


def check_consistent(background: Sample, signals: dict[str, Sample], where: str | Path) -> None:
    """Every sample must have the background's features, in the same order."""
    for name, sample in signals.items():
        if sample.n_features != background.n_features:
            raise FeatureMismatchError(
                f"sample '{name}' has {sample.n_features} features but the background has "
                f"{background.n_features}",
                where,
                "all samples of a data folder must come from the same preprocessing",
            )
        if sample.feature_names != background.feature_names:
            raise FeatureMismatchError(
                f"sample '{name}' has other feature names than the background",
                where,
                "all samples of a data folder must come from the same preprocessing",
            )
