"""The Sample: one named matrix of events with its features, role and provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..vocabulary import Role


@dataclass(frozen=True)
class InputAccounting:
    """Non-finite raw values found while reading a sample, counted before any fill.

    ``per_feature[i]`` counts non-finite raw values of flattened input ``i``;
    ``events_with_nonfinite`` counts events with at least one; ``filled`` says what the
    reader did with them (``"median"`` for upstream data, ``"none"`` when left as read).
    """

    per_feature: np.ndarray
    events_with_nonfinite: int
    filled: str = "none"

    @property
    def total(self) -> int:
        return int(self.per_feature.sum())

    @classmethod
    def empty(cls, n_features: int) -> InputAccounting:
        return cls(np.zeros(n_features, dtype=np.int64), 0)


@dataclass(frozen=True)
class Provenance:
    """Where a sample came from: file, group, and fingerprints.

    ``content_fingerprint`` hashes the raw stored values; ``fingerprint`` also covers the
    normalisation and fill applied, so it identifies the model inputs (the scoring cache key).
    """

    source: str
    group: str
    fingerprint: str
    content_fingerprint: str = ""
    normalisation: str = "raw"


@dataclass(frozen=True, eq=False)
class Sample:
    """A float32 matrix ``(events, features)`` with feature names, name, role, provenance.

    ``x`` may be an ``np.ndarray`` or any array-like with ``shape`` and slicing (an h5py
    dataset wrapper), so a 10^7-event sample need not sit in memory.
    """

    name: str
    role: Role
    x: np.ndarray
    feature_names: tuple[str, ...]
    provenance: Provenance
    accounting: InputAccounting = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.accounting is None:
            object.__setattr__(self, "accounting", InputAccounting.empty(self.n_features))

    @property
    def n_events(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])

    def chunks(self, chunk_size: int = 65536):
        """Yield ``(start, float32 block)`` pairs covering the sample in order."""
        for start in range(0, self.n_events, chunk_size):
            yield start, np.asarray(self.x[start : start + chunk_size], dtype=np.float32)
