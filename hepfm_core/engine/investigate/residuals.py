"""The residual profile of whole samples: the mean and median squared residual per track slot
and per feature, from the decoder run on (a bounded sample of) each sample's events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...common.json_fields import FLOATS, OPTIONAL_FLOATS, JsonFields, json_meta, optional_floats
from .events import TrackLayout

__all__ = [
    "ResidualProfile",
    "residual_profile",
]


def _sums_entries(p: ResidualProfile) -> dict[str, Any]:
    """What the layout gives: the mean's sums per track slot and per feature."""
    return {
        "per_track": optional_floats(p.per_track),
        "per_feature": optional_floats(p.per_feature),
    }


@dataclass(frozen=True, eq=False)
class ResidualProfile(JsonFields):
    """Mean squared residual ``(x - x_hat)^2`` of every input over a sample's events.

    ``mean``: ``(D,)``, over the ``n_used`` events whose residuals are all finite
    (``n_nonfinite`` others left out), of ``n_events`` read (``note``: all of the sample, or
    which sample of it); ``median``: the median instead (a few extreme events move the mean
    by orders of magnitude, not the median). With a track layout, ``per_slot`` ``(T, B)``
    is ``mean`` by track slot and feature, ``per_track`` / ``per_feature`` its sums over
    features / slots (each one's share of the mean reconstruction error), and
    ``median_per_track`` / ``median_per_feature`` the medians over events of each event's
    sums per track slot / per feature; ``real_fraction[t]`` is the fraction of events whose
    slot ``t`` holds a track (the rest is padding, which the loss sees too). Its JSON is
    strict (NaN and infinities are null), the sums by track and by feature after the medians.
    """

    sample: str
    n_events: int
    n_used: int
    n_nonfinite: int
    note: str
    mean: np.ndarray = field(metadata=FLOATS)
    median: np.ndarray = field(metadata=FLOATS)
    layout: TrackLayout | None = field(metadata=json_meta(entries=_sums_entries))
    real_fraction: np.ndarray | None = field(
        metadata=json_meta(convert=optional_floats, after="median_per_feature")
    )
    median_per_track: np.ndarray | None = field(metadata=OPTIONAL_FLOATS)
    median_per_feature: np.ndarray | None = field(metadata=OPTIONAL_FLOATS)

    @property
    def per_slot(self) -> np.ndarray | None:
        if self.layout is None:
            return None
        return self.mean.reshape(self.layout.n_tracks, self.layout.n_branches)

    @property
    def per_track(self) -> np.ndarray | None:
        grid = self.per_slot
        return None if grid is None else grid.sum(axis=1)

    @property
    def per_feature(self) -> np.ndarray | None:
        grid = self.per_slot
        return None if grid is None else grid.sum(axis=0)


def residual_profile(
    parts: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    layout: TrackLayout | None,
    *,
    sample: str = "",
    note: str = "",
) -> ResidualProfile:
    """Accumulate ``(inputs, x_hat, shown values)`` blocks (float32 ``(m, D)`` each; the
    shown values find the padding) into a :class:`ResidualProfile`. The medians keep every
    finite event's residuals: ``8 D`` bytes per event (the caller bounds the events).

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.residuals import residual_profile
    >>> x = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 0.0]])
    >>> p = residual_profile([(x, np.zeros_like(x), x)], None)
    >>> p.mean.tolist(), p.median.tolist(), p.n_used
    ([4.666666666666667, 0.0], [4.0, 0.0], 3)
    """
    kept: list[np.ndarray] = []
    real_sum = None
    bad = n = 0
    with np.errstate(all="ignore"):
        for x, x_hat, shown in parts:
            sq = (np.asarray(x, dtype=np.float64) - np.asarray(x_hat, dtype=np.float64)) ** 2
            ok = np.isfinite(sq).all(axis=1)
            kept.append(sq[ok])
            bad += int((~ok).sum())
            n += int(sq.shape[0])
            if layout is not None:
                r = layout.real(np.asarray(shown)).sum(axis=0)
                real_sum = r if real_sum is None else real_sum + r
        if not kept:
            raise ValueError("no events to profile")
        sq = np.concatenate(kept)
        used = int(sq.shape[0])
        width = sq.shape[1]
        mean = sq.mean(axis=0) if used else np.full(width, np.nan)
        median = np.median(sq, axis=0) if used else np.full(width, np.nan)
        med_track = med_feature = None
        if layout is not None:
            grid = layout.tracks(sq)
            nan_t, nan_b = np.full(layout.n_tracks, np.nan), np.full(layout.n_branches, np.nan)
            med_track = np.median(grid.sum(axis=2), axis=0) if used else nan_t
            med_feature = np.median(grid.sum(axis=1), axis=0) if used else nan_b
    return ResidualProfile(
        sample=sample,
        n_events=n,
        n_used=used,
        n_nonfinite=bad,
        note=note,
        mean=mean,
        median=median,
        layout=layout,
        real_fraction=None if real_sum is None else real_sum / max(n, 1),
        median_per_track=med_track,
        median_per_feature=med_feature,
    )
