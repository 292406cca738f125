"""How raw physical values become model inputs: fill, standardise, clip.

The same three steps upstream applies at load (upstream-format.md): non-finite raw values
are replaced by a fill value (upstream: the feature's median), each input is standardised
with a mean and a floored std, and the result is clipped to +-clip.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "STD_FLOOR",
    "Normalisation",
    "branch_statistics",
]

STD_FLOOR = 1e-8


@dataclass(frozen=True, eq=False)
class Normalisation:
    """Per-input means, stds, fill values (``(D,)`` float64) and a symmetric clip."""

    means: np.ndarray
    stds: np.ndarray
    fill: np.ndarray
    clip: float | None = 10.0
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("means", "stds", "fill"):
            arr = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if not (self.means.shape == self.stds.shape == self.fill.shape):
            raise ValueError("means, stds and fill must have the same length")

    @property
    def n_features(self) -> int:
        return int(self.means.shape[0])

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Raw ``(n, D)`` values -> float32 model inputs; NaN/inf are replaced by ``fill``."""
        x = np.array(raw, dtype=np.float64, copy=True)
        bad = ~np.isfinite(x)
        if bad.any():
            x[bad] = np.broadcast_to(self.fill, x.shape)[bad]
        with np.errstate(over="ignore", invalid="ignore"):
            x -= self.means
            x /= np.maximum(self.stds, STD_FLOOR)
        if self.clip is not None:
            np.clip(x, -self.clip, self.clip, out=x)
        return x.astype(np.float32)

    def apply_into(self, raw: np.ndarray, out: np.ndarray, *, step_rows: int = 256) -> None:
        """``out[...] = self.apply(raw)``, bit for bit, in steps of ``step_rows`` rows.

        The same float64 operations in the same order, on a few rows at a time: the float64
        temporaries stay in the CPU cache and nothing of the block's size is allocated, so
        each value is fetched once. Threads may call it at once (numpy releases the GIL in
        its loops). Fill values enter as ``(fill - mean) / std``, what ``apply`` computes
        for a filled value.
        """
        if raw.shape != out.shape or raw.ndim != 2 or raw.shape[1] != self.n_features:
            raise ValueError(f"raw {raw.shape} and out {out.shape} must be (n, {self.n_features})")
        scale = np.maximum(self.stds, STD_FLOOR)
        with np.errstate(over="ignore", invalid="ignore"):
            filled = (self.fill - self.means) / scale
        tmp = np.empty((min(step_rows, raw.shape[0]), raw.shape[1]), dtype=np.float64)
        for start in range(0, raw.shape[0], step_rows):
            r = raw[start : start + step_rows]
            t = tmp[: r.shape[0]]
            with np.errstate(over="ignore", invalid="ignore"):
                np.subtract(r, self.means, out=t, dtype=np.float64)
                np.divide(t, scale, out=t)
            finite = np.isfinite(r)
            if not finite.all():
                np.copyto(t, filled, where=~finite)
            if self.clip is not None:
                np.clip(t, -self.clip, self.clip, out=t)
            out[start : start + step_rows] = t

    def to_dict(self) -> dict[str, Any]:
        return {
            "means": [float(v) for v in self.means],
            "stds": [float(v) for v in self.stds],
            "fill": [float(v) for v in self.fill],
            "clip": self.clip,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalisation:
        return cls(
            means=np.asarray(d["means"], dtype=np.float64),
            stds=np.asarray(d["stds"], dtype=np.float64),
            fill=np.asarray(d["fill"], dtype=np.float64),
            clip=None if d.get("clip") is None else float(d["clip"]),
            source=str(d.get("source", "")),
        )

    def fingerprint(self) -> str:
        blob = json.dumps(self.to_dict() | {"source": ""}, sort_keys=True).encode()
        return hashlib.blake2b(blob, digest_size=12).hexdigest()

    @classmethod
    def per_branch(
        cls,
        means: np.ndarray,
        stds: np.ndarray,
        n_tracks: int,
        fill: np.ndarray | None = None,
        clip: float | None = 10.0,
        source: str = "",
    ) -> Normalisation:
        """Tile per-branch statistics (one per track feature) over ``n_tracks`` tracks."""
        means = np.tile(np.asarray(means, dtype=np.float64), n_tracks)
        stds = np.tile(np.asarray(stds, dtype=np.float64), n_tracks)
        fill_arr = means if fill is None else np.asarray(fill, dtype=np.float64)
        if fill_arr.shape != means.shape:
            fill_arr = np.tile(fill_arr, n_tracks)
        return cls(means, stds, fill_arr, clip=clip, source=source)


def branch_statistics(raw: np.ndarray, n_branches: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std per branch over all tracks, padding included (upstream's convention).

    ``raw`` is ``(n, tracks * n_branches)`` track-major; non-finite values are ignored.
    """
    per_track = np.asarray(raw, dtype=np.float64).reshape(-1, n_branches)
    finite = np.isfinite(per_track)
    counts = finite.sum(axis=0)
    safe = np.where(finite, per_track, 0.0)
    means = safe.sum(axis=0) / np.maximum(counts, 1)
    var = (np.where(finite, per_track - means, 0.0) ** 2).sum(axis=0) / np.maximum(counts, 1)
    return means, np.sqrt(var)
