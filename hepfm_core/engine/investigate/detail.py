"""One event in detail: its tracks (padding left out), cause, score, latent means and
``z_log_var`` against the clip bounds, and the squared residuals of its reconstruction,
summed per track and per feature.

Pure computation, as ``events.py`` (which selects the events): the investigator reads the
rows and runs the decoder, then :func:`event_details` turns them into :class:`EventDetail`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...common.json_fields import (
    FINITE,
    FLOATS,
    OMIT,
    OPTIONAL_FLOATS,
    JsonFields,
    json_float,
    json_floats,
    json_meta,
    optional_floats,
)
from ...vocabulary import Cause
from .events import TrackLayout, ValuesKind

__all__ = ["EventDetail", "event_details"]


def _z_log_var_entries(d: EventDetail) -> dict[str, Any]:
    return {
        "z_log_var": json_floats(d.z_log_var),
        "z_log_var_outside_clip": [bool(b) for b in d.outside_clip],
    }


def _inputs_entries(d: EventDetail) -> dict[str, Any]:
    """The values as inputs, where they are not tracks."""
    return {"inputs": json_floats(d.values) if d.tracks is None else None}


def _per_feature_entries(d: EventDetail) -> dict[str, Any]:
    return {
        "residuals_per_feature": optional_floats(d.residuals_per_feature),
        "residual_sum": json_float(d.residual_sum),
    }


@dataclass(frozen=True, eq=False)
class EventDetail(JsonFields):
    """One event under one setting, as the investigation view and ``hepfm events`` show it.

    ``values``: its ``(D,)`` values, stored (``values_kind`` "raw": physical units) or the
    model inputs ("input"). ``tracks``: the real tracks' values ``(n_real, B)`` and
    ``track_slots`` their slots (None without a track layout). ``residuals``: the ``(D,)``
    squared residuals ``(x - x_hat)^2`` of the model inputs (standardised units), NaN where
    an input or its reconstruction is not finite; ``residuals_per_track`` ``(T,)`` and
    ``residuals_per_feature`` ``(B,)`` their sums (padding slots included: the loss sees
    them). ``reconstruction``: the scoring pass's float64 error of the event, which the
    residuals sum to within float32 rounding of the decoder. ``identity``: run and event
    number where the data have them. ``filled``: ``(D,)``, the raw values the reader replaced
    by its fill value (they were NaN or infinite; the model saw the fill), None when nothing
    was filled. Its JSON is strict (NaN and infinities are null); it gives ``identity``
    where there is one.
    """

    sample: str = field(metadata=json_meta(after="event"))
    event: int
    cause: str
    score: float | None = field(metadata=FINITE)
    reconstruction: float | None = field(metadata=FINITE)
    z_mean: np.ndarray = field(metadata=FLOATS)
    z_log_var: np.ndarray = field(metadata=json_meta(entries=_z_log_var_entries))
    clip: tuple[float, float] | None = field(metadata=OMIT)  # outside_clip in z_log_var's
    values: np.ndarray = field(metadata=json_meta(entries=_inputs_entries, after="track_slots"))
    values_kind: ValuesKind = field(metadata=OMIT)
    tracks: np.ndarray | None = field(metadata=OPTIONAL_FLOATS)
    track_slots: np.ndarray | None
    residuals: np.ndarray = field(metadata=FLOATS)
    residuals_per_track: np.ndarray | None = field(metadata=OPTIONAL_FLOATS)
    residuals_per_feature: np.ndarray | None = field(
        metadata=json_meta(entries=_per_feature_entries)
    )
    identity: dict[str, int] | None = field(
        default=None,
        metadata=json_meta(
            entries=lambda d: {} if d.identity is None else {"identity": dict(d.identity)}
        ),
    )
    filled: np.ndarray | None = field(
        default=None,
        metadata=json_meta(
            entries=lambda d: {"filled_inputs": d.filled_inputs.tolist()}, after="residual_sum"
        ),
    )

    @property
    def filled_inputs(self) -> np.ndarray:
        """Indices (into ``values``) of the raw values the reader filled."""
        if self.filled is None:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(self.filled)

    @property
    def residual_sum(self) -> float:
        with np.errstate(all="ignore"):
            return float(np.sum(self.residuals))

    @property
    def outside_clip(self) -> np.ndarray:
        """Per latent dimension: whether ``z_log_var`` lies outside the clip bounds."""
        if self.clip is None:
            return np.zeros(self.z_log_var.shape, dtype=bool)
        lo, hi = self.clip
        return (self.z_log_var < lo) | (self.z_log_var > hi)


def event_details(
    *,
    sample: str,
    events: np.ndarray,
    values: np.ndarray,
    values_kind: ValuesKind,
    inputs: np.ndarray,
    x_hat: np.ndarray,
    z_mean: np.ndarray,
    z_log_var: np.ndarray,
    scores: np.ndarray,
    causes: np.ndarray,
    recon: np.ndarray,
    layout: TrackLayout | None,
    clip: tuple[float, float] | None,
    identities: Sequence[dict[str, int] | None] | None = None,
    filled: np.ndarray | None = None,
) -> tuple[EventDetail, ...]:
    """The detail of each event; every array is aligned with ``events``.

    ``values``: what to show as tracks (stored values, or the inputs); padding is found on
    them. ``inputs`` and ``x_hat``: float32 model inputs and their reconstruction, from
    which the squared residuals are computed in float64. ``scores``: guarded (NaN: none);
    ``causes``: codes; ``recon``: the scoring pass's reconstruction error. ``filled``:
    ``(n, D)``, the raw values the reader filled (None: nothing was).

    >>> import numpy as np
    >>> from hepfm_core.engine.investigate.detail import event_details
    >>> from hepfm_core.engine.investigate.events import TrackLayout
    >>> layout = TrackLayout(2, ("d0", "pt"), ("mm", "GeV"))
    >>> x = np.array([[1.0, 2.0, 0.0, 0.0]], np.float32)
    >>> xh = np.array([[1.0, 1.0, 0.5, 0.0]], np.float32)
    >>> (d,) = event_details(sample="s", events=np.array([4]), values=x, values_kind="raw",
    ...     inputs=x, x_hat=xh, z_mean=np.zeros((1, 2)), z_log_var=np.zeros((1, 2)),
    ...     scores=np.array([1.25]), causes=np.array([0]), recon=np.array([1.25]),
    ...     layout=layout, clip=None)
    >>> d.tracks.tolist(), d.track_slots.tolist(), d.residuals_per_track.tolist()
    ([[1.0, 2.0]], [0], [1.0, 0.25])
    """
    ev = np.asarray(events, dtype=np.int64)
    n = ev.size
    with np.errstate(all="ignore"):
        diff = np.asarray(inputs, dtype=np.float64) - np.asarray(x_hat, dtype=np.float64)
        sq = diff * diff
        shown = np.asarray(values, dtype=np.float64)
        real = layout.real(shown) if layout is not None else None
        per_track = per_feature = None
        if layout is not None:
            grid = layout.tracks(sq)
            per_track = grid.sum(axis=2)
            per_feature = grid.sum(axis=1)
    out = []
    for i in range(n):
        tracks = slots = None
        if layout is not None and real is not None:
            slots = np.flatnonzero(real[i])
            tracks = layout.tracks(shown[i : i + 1])[0][slots]
        score = float(scores[i])
        out.append(
            EventDetail(
                sample=sample,
                event=int(ev[i]),
                cause=Cause(int(causes[i])).label,
                score=score if math.isfinite(score) else None,
                reconstruction=json_float(float(recon[i])),
                z_mean=np.asarray(z_mean[i], dtype=np.float64),
                z_log_var=np.asarray(z_log_var[i], dtype=np.float64),
                clip=clip,
                values=shown[i],
                values_kind=values_kind,
                tracks=tracks,
                track_slots=slots,
                residuals=sq[i],
                residuals_per_track=None if per_track is None else per_track[i],
                residuals_per_feature=None if per_feature is None else per_feature[i],
                identity=None if identities is None else identities[i],
                filled=None if filled is None or not filled[i].any() else filled[i].copy(),
            )
        )
    return tuple(out)
