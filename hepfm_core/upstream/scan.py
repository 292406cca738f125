"""Scanning an upstream sample once: content fingerprint, non-finite counts, column medians.

Upstream stores raw values without any summary, so opening a folder reads every event once
per sample. What the scan finds is memoised per file version (path, group, size, mtime) in
``upstream_scan.json`` under the cache directory, so a second opening reads no events.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.cache import cache_dir
from ..common.fingerprint import ArrayHasher
from ..data.h5io import H5Matrix

__all__ = [
    "MEDIAN_BUDGET_BYTES",
    "MEMO_FILE",
    "MEMO_MAX_ENTRIES",
    "SCAN_VALUES",
    "Scan",
    "scan",
]

# Raw values read per block while scanning (float64): bounds memory whatever the file size.
SCAN_VALUES = 1 << 23
MEDIAN_BUDGET_BYTES = 1 << 28
MEMO_FILE = "upstream_scan.json"
MEMO_MAX_ENTRIES = 512


@dataclass(frozen=True)
class Scan:
    """What one pass over a sample's raw values found."""

    content: str
    nonfinite: np.ndarray  # (D,) int64
    events_with_nonfinite: int
    medians: dict[int, float]  # only columns holding non-finite values; NaN if none finite


def _memo_key(file: Path, group: str) -> str | None:
    try:
        st = file.stat()
    except OSError:
        return None
    return f"{file.resolve()}|{group}|{st.st_size}|{st.st_mtime_ns}"


def _memo_path() -> Path:
    return cache_dir() / MEMO_FILE


def _memo_load() -> dict[str, Any]:
    try:
        with _memo_path().open() as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _memo_get(key: str | None, n_features: int) -> Scan | None:
    if key is None:
        return None
    entry = _memo_load().get(key)
    if not isinstance(entry, dict):
        return None
    try:
        nonfinite = np.zeros(n_features, dtype=np.int64)
        for col, count in entry["nonfinite"].items():
            nonfinite[int(col)] = int(count)
        medians = {
            int(c): (float("nan") if v is None else float(v)) for c, v in entry["medians"].items()
        }
        if int(entry["n_features"]) != n_features:
            return None
        return Scan(str(entry["content"]), nonfinite, int(entry["events_with_nonfinite"]), medians)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None


def _memo_put(key: str | None, found: Scan, n_features: int) -> None:
    """Best effort: a read-only or full cache directory only costs a rescan next time."""
    if key is None:
        return
    data = _memo_load()
    data.pop(key, None)
    data[key] = {
        "content": found.content,
        "n_features": n_features,
        "nonfinite": {str(i): int(c) for i, c in enumerate(found.nonfinite) if c},
        "events_with_nonfinite": found.events_with_nonfinite,
        "medians": {str(c): (None if np.isnan(v) else v) for c, v in found.medians.items()},
    }
    while len(data) > MEMO_MAX_ENTRIES:
        data.pop(next(iter(data)))
    path = _memo_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass


def _chunk_rows(n_features: int) -> int:
    return max(1024, SCAN_VALUES // max(n_features, 1))


def scan(raw: H5Matrix, group: str, *, medians: bool = True) -> Scan:
    """One chunked pass over the raw values of ``raw`` (a sample stored in ``raw.path``,
    group ``group``): content hash and non-finite counts; then the medians of the columns
    holding non-finite values, if ``medians``. Memoised per file version."""
    n_events, n_features = raw.shape
    key = _memo_key(raw.path, group)
    cached = _memo_get(key, n_features)
    if cached is not None and (cached.medians or not medians or not cached.nonfinite.any()):
        return cached
    step = _chunk_rows(n_features)
    hasher = ArrayHasher()
    nonfinite = np.zeros(n_features, dtype=np.int64)
    events_bad = 0
    for start in range(0, n_events, step):
        block = raw.raw(slice(start, start + step))
        hasher.update(block)
        bad = ~np.isfinite(block)
        if bad.any():
            nonfinite += bad.sum(axis=0)
            events_bad += int(bad.any(axis=1).sum())
    cols = np.flatnonzero(nonfinite)
    meds = _column_medians(raw, cols, n_events, step) if cols.size and medians else {}
    found = Scan(hasher.hexdigest(), nonfinite, events_bad, meds)
    if meds or not cols.size:  # a memo entry always carries the medians it needs
        _memo_put(key, found, n_features)
    return found


def _column_medians(raw: H5Matrix, cols: np.ndarray, n_events: int, step: int) -> dict[int, float]:
    """Exact medians over finite values of the given columns, a bounded batch at a time."""
    out: dict[int, float] = {}
    per_batch = max(1, MEDIAN_BUDGET_BYTES // max(8 * n_events, 1))
    for b0 in range(0, cols.size, per_batch):
        sel = cols[b0 : b0 + per_batch]
        block = np.concatenate(
            [raw.raw(slice(s, s + step))[:, sel] for s in range(0, n_events, step)], axis=0
        )
        for j, col in enumerate(sel):
            values = block[:, j]
            values = values[np.isfinite(values)]
            out[int(col)] = float(np.median(values)) if values.size else float("nan")
    return out
