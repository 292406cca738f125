"""Chosen rows of a sample: the values stored in its file and the model inputs made from them.

What looking at single events needs (the investigation view, ``hepfm events``): a few
hundred scattered rows, not blocks. A lazy file-backed sample (``h5io.H5Matrix``) is read
with its file opened once: a Blosc2 dataset one Blosc2 block per block touched
(``h5io.blosc2_rows``), another nearby rows in one slice per dataset, one decode per
compressed chunk touched. The model inputs are made from the stored values
with the sample's own normalisation (``Normalisation.apply``): bit for bit what the scoring
pass saw. An in-memory sample keeps no stored values apart from its inputs: ``raw`` is None.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np

from ..errors import TruncatedFileError
from .chunk_codec import blosc2_rows
from .h5io import H5Matrix
from .samples import RowSource

__all__ = ["SPAN_GAP", "Rows", "read_rows", "spans"]

SPAN_GAP = 2048
"""Rows closer than this are read in one slice (hepfm's files compress 2048-row chunks)."""


@dataclass(frozen=True, eq=False)
class Rows:
    """``rows`` of a sample, in the order asked.

    ``inputs``: float32 ``(n, D)`` model inputs. ``raw``: float64 ``(n, D)`` values as the
    file stores them (physical units for hepfm's and upstream's files), or None when the
    source keeps none (an in-memory array: its values are the inputs).
    """

    rows: np.ndarray
    inputs: np.ndarray
    raw: np.ndarray | None


def spans(rows: np.ndarray, gap: int = SPAN_GAP) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` row ranges covering the sorted, distinct ``rows``; rows
    less than ``gap`` apart share a range.

    >>> from hepfm_core.data.rows import spans
    >>> import numpy as np
    >>> spans(np.array([3, 10, 5000, 5001]), gap=100)
    [(3, 11), (5000, 5002)]
    """
    r = np.asarray(rows, dtype=np.int64)
    if r.size == 0:
        return []
    cut = np.flatnonzero(np.diff(r) >= gap) + 1
    starts = np.r_[r[:1], r[cut]]
    stops = np.r_[r[cut - 1], r[-1:]] + 1
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def _checked(rows: np.ndarray, n: int) -> np.ndarray:
    r = np.asarray(rows, dtype=np.int64).reshape(-1)
    if r.size and (r.min() < 0 or r.max() >= n):
        raise IndexError(f"rows must lie in 0..{n - 1}, got {int(r.min())}..{int(r.max())}")
    return r


def _read_h5(matrix: H5Matrix, wanted: np.ndarray) -> np.ndarray:
    """Stored values of the sorted, distinct ``wanted`` rows, flattened per event, float64."""
    parts = []
    try:
        with h5py.File(matrix.path, "r") as h5:
            for name in matrix.datasets:
                ds = h5[name]
                width = int(np.prod(ds.shape[1:], dtype=np.int64))
                direct = blosc2_rows(matrix.path, ds, wanted)
                if direct is not None:  # Blosc2: only the blocks holding the rows decoded
                    parts.append(direct.astype(np.float64))
                    continue
                out = np.empty((wanted.size, width), dtype=np.float64)
                done = 0
                for start, stop in spans(wanted):
                    block = np.asarray(ds[start:stop]).reshape(stop - start, width)
                    inside = wanted[done : done + np.searchsorted(wanted[done:], stop)]
                    out[done : done + inside.size] = block[inside - start]
                    done += inside.size
                parts.append(out)
    except (OSError, KeyError, ValueError) as exc:
        raise TruncatedFileError(
            f"cannot read {wanted.size} rows of {matrix.path.name} ({exc})",
            matrix.path,
            "the file may be truncated or changed since it was opened; regenerate it",
        ) from exc
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def read_rows(source: RowSource, rows: np.ndarray) -> Rows:
    """The stored values and the model inputs of ``rows`` (any order; repeats allowed).

    Parameters
    ----------
    source : RowSource
        A sample's ``x``: a lazy ``H5Matrix`` (stored values read from its file) or an
        array (its values are the inputs; no stored values).
    rows : array of int
        Event indices in the sample.

    Returns
    -------
    Rows
        ``inputs`` float32 as the scoring pass saw them; ``raw`` float64 or None.

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.data.rows import read_rows
    >>> x = np.arange(12, dtype=np.float32).reshape(4, 3)
    >>> got = read_rows(x, np.array([3, 1]))
    >>> got.inputs.tolist(), got.raw is None
    ([[9.0, 10.0, 11.0], [3.0, 4.0, 5.0]], True)
    """
    n = int(source.shape[0])
    r = _checked(rows, n)
    if isinstance(source, H5Matrix):
        wanted, back = np.unique(r, return_inverse=True)
        raw = _read_h5(source, wanted)[back.reshape(-1)]
        norm = source.normalisation
        inputs = raw.astype(np.float32) if norm is None else norm.apply(raw)
        return Rows(rows=r, inputs=inputs, raw=raw)
    if isinstance(source, np.ndarray):
        inputs = np.asarray(source[r], dtype=np.float32)
    else:
        width = int(source.shape[1])
        inputs = np.empty((r.size, width), dtype=np.float32)
        for i, row in enumerate(r):
            inputs[i] = np.asarray(source[int(row) : int(row) + 1], dtype=np.float32)[0]
    return Rows(rows=r, inputs=inputs, raw=None)
