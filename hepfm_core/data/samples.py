"""The Sample: one named matrix of events with its features, role and provenance."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..vocabulary import Role
from .normalisation import Normalisation

__all__ = [
    "BlockRows",
    "InputAccounting",
    "NormalisedRows",
    "Provenance",
    "RowSource",
    "Sample",
    "row_blocks",
]


class RowSource(Protocol):
    """Rows of a ``(events, features)`` matrix, read by row slices: what ``Sample.x`` holds.

    An ``np.ndarray`` (or memory map) is one; so is a lazy matrix that reads and normalises
    the rows of a file only when sliced (``h5io.H5Matrix``), so that a 10^7-event sample
    need not sit in memory.
    """

    @property
    def shape(self) -> tuple[int, ...]:
        """``(events, features)``."""
        ...

    def __getitem__(self, rows: slice, /) -> np.ndarray:
        """The rows ``rows`` as a ``(k, features)`` array."""
        ...


@runtime_checkable
class NormalisedRows(RowSource, Protocol):
    """A row source that turns stored raw values into model inputs, and says how."""

    @property
    def normalisation(self) -> Normalisation | None:
        """Applied to the raw values on every slice; None when they are passed as read."""
        ...


@runtime_checkable
class BlockRows(RowSource, Protocol):
    """A row source that reads itself in consecutive blocks faster than by slicing
    (``h5io.H5Matrix``: compressed chunks decoded and normalised in a thread, ahead)."""

    def blocks(
        self,
        block_rows: int,
        *,
        pad: bool = False,
        stop: int | None = None,
        start: int = 0,
        threads: int = 1,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(row, block)`` pairs covering rows ``start:stop`` in order, as ``row_blocks``."""
        ...


def row_blocks(
    rows: RowSource,
    block_rows: int,
    *,
    pad: bool = False,
    stop: int | None = None,
    start: int = 0,
    threads: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(row, float32 block)`` pairs covering rows ``start:stop`` (default: all) in order.

    ``threads``: reading threads beside the consumer (None: the source's default; 0: read
    in the consumer's thread, as a Dask worker of one thread must).

    ``start``: where a partition of the sample begins (blocks then start there, so a
    partition on a multiple of ``block_rows`` sees the very blocks of a whole-sample pass).

    With ``pad`` every block has exactly ``block_rows`` rows: the last one is zero-padded
    (for a model compiled on one input shape). A block may be a view of ``rows`` or a buffer
    that is reused: it is valid until the next one is requested. A :class:`BlockRows` source
    reads its blocks itself; any other is sliced, a lazy one a block ahead in a thread.
    """
    n = rows.shape[0] if stop is None else min(int(stop), rows.shape[0])
    if isinstance(rows, BlockRows):
        extra = {} if threads is None else {"threads": threads}
        yield from rows.blocks(block_rows, pad=pad, stop=n, start=start, **extra)
        return
    width = int(rows.shape[1])
    tail = np.zeros((block_rows, width), dtype=np.float32) if pad else None

    def read(row: int) -> np.ndarray:
        return np.ascontiguousarray(rows[row : min(row + block_rows, n)], dtype=np.float32)

    def padded(block: np.ndarray) -> np.ndarray:
        if tail is None or block.shape[0] == block_rows:
            return block
        tail[: block.shape[0]] = block
        tail[block.shape[0] :] = 0.0
        return tail

    starts = range(max(0, int(start)), n, block_rows)
    if isinstance(rows, np.ndarray) or threads == 0:  # views, or read in this thread
        for row in starts:
            yield row, padded(read(row))
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[np.ndarray] | None = None
        for i, row in enumerate(starts):
            block = (pending or pool.submit(read, row)).result()
            pending = pool.submit(read, row + block_rows) if i + 1 < len(starts) else None
            yield row, padded(block)


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
        """Nothing found: no non-finite value in any of ``n_features`` inputs."""
        return cls(np.zeros(n_features, dtype=np.int64), 0)


# The default of ``Sample.accounting``, replaced by ``InputAccounting.empty(n_features)``.
_NOT_COUNTED = InputAccounting(np.zeros(0, dtype=np.int64), 0)


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

    ``x`` is a :class:`RowSource`: an ``np.ndarray``, or a lazy matrix read by row slices
    (``h5io.H5Matrix``), so a 10^7-event sample need not sit in memory. ``accounting``
    defaults to "no non-finite raw value found".
    """

    name: str
    role: Role
    x: RowSource
    feature_names: tuple[str, ...]
    provenance: Provenance
    accounting: InputAccounting = _NOT_COUNTED

    def __post_init__(self) -> None:
        if self.accounting is _NOT_COUNTED:
            object.__setattr__(self, "accounting", InputAccounting.empty(self.n_features))

    @property
    def n_events(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])

    @property
    def normalisation(self) -> Normalisation | None:
        """What turned the stored raw values into ``x``: the lazy matrix's normalisation;
        None for an in-memory array (its values are taken as they are)."""
        return self.x.normalisation if isinstance(self.x, NormalisedRows) else None

    def chunks(self, chunk_size: int = 65536) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, float32 block)`` pairs covering the sample in order."""
        for start in range(0, self.n_events, chunk_size):
            yield start, np.asarray(self.x[start : start + chunk_size], dtype=np.float32)
