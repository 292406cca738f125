"""PhysLite tracks -> hepfm events: derivations, track filters, sort, truncation, padding.

Pure: flat per-track numpy arrays in (the raw ``InDetTrackParticlesAuxDyn`` branches of a
step of events, and the number of tracks of each event), float32 events and frozen counts
out. No file access; ``root_io`` reads the branches, ``convert`` writes the events.

Two feature definitions (``vocabulary.FeatureDefinition``):

* ``"physical"``: d0 [mm], phi, z0 [mm], eta = -ln tan(theta/2), pt [GeV] = sin(theta) /
  |qOverP| / 1000 (qOverP in 1/MeV), reducedChiSquared = chiSquared / numberDoF, nothing
  saturated or clipped. A value that cannot be derived is non-finite: theta outside
  (0, pi) makes eta and pt NaN, qOverP = 0 makes pt inf, numberDoF = 0 makes
  reducedChiSquared inf (NaN for 0/0), numberDoF < 0 makes it NaN, and a non-finite raw
  value propagates. Every such track is counted (:class:`ConversionCounts.pathologies`).
* ``"upstream-compatible"``: upstream's rules, so that hepfm's files match the processed
  datasets our users already have: theta clipped to [1e-6, pi - 1e-6] and tan(theta/2) to
  [1e-6, 1e6] before eta, eta clipped to [-10, 10]; |qOverP| below 1e-9 raised to 1e-9
  (0 stays 0, hence pt inf), pt clipped to [0, 100] GeV; numberDoF <= 1e-8 gives
  reducedChiSquared 0 when |chiSquared| < 1e-8, else 1000, and the result is clipped to
  [0, 1000]. NaN raw values stay NaN.

Per event, the tracks that pass every track filter are sorted by pt descending (tracks whose
pt is not finite last, ties in file order), the first ``n_tracks`` are kept and the rest of
the row is padded with all-zero tracks; columns in hepfm's order (d0, phi, z0, eta, pt,
reducedChiSquared), flattened track-major. Every event is kept unless it has fewer than
``min_tracks`` tracks after the filters. Nothing is dropped silently: events and tracks are
accounted for by reason, ``in == kept + dropped``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SettingsError, TrackFilterError
from ..vocabulary import FEATURE_DEFINITIONS, FeatureDefinition

__all__ = [
    "FEATURES",
    "FEATURE_UNITS",
    "IDENTITY_BRANCHES",
    "IDENTITY_DTYPES",
    "PATHOLOGIES",
    "RAW_NAMES",
    "TRACK_BRANCHES",
    "TRACK_CONTAINER",
    "ConversionCounts",
    "DerivedBlock",
    "Selection",
    "TrackFilter",
    "derive_block",
    "derive_features",
    "pathology_counts",
    "raw_from_features",
]

TRACK_CONTAINER = "InDetTrackParticlesAuxDyn"
RAW_NAMES = ("d0", "z0", "phi", "theta", "qOverP", "chiSquared", "numberDoF")
"""The raw per-track values the features are derived from (units: mm, mm, rad, rad, 1/MeV,
-, -)."""
TRACK_BRANCHES = tuple(f"{TRACK_CONTAINER}.{name}" for name in RAW_NAMES)
FEATURES = ("d0", "phi", "z0", "eta", "pt", "reducedChiSquared")
"""hepfm's per-track columns, upstream's order (its branch names sorted)."""
FEATURE_UNITS = ("mm", "rad", "mm", "", "GeV", "")

IDENTITY_BRANCHES = {
    "run_number": "EventInfoAuxDyn.runNumber",
    "event_number": "EventInfoAuxDyn.eventNumber",
    "mc_channel_number": "EventInfoAuxDyn.mcChannelNumber",
}
"""Event identity read from ``EventInfo`` where the tree has it (mcChannelNumber: simulation)."""
IDENTITY_DTYPES: dict[str, type[np.integer]] = {
    "run_number": np.uint32,
    "event_number": np.uint64,
    "mc_channel_number": np.uint32,
    "source_file": np.int32,
    "source_entry": np.int64,
}
"""The identity columns hepfm stores beside the events, and their types. ``source_file`` is
an index into the file's list of input files, ``source_entry`` the event's entry in it."""

PATHOLOGIES = (
    "nonfinite_raw",
    "number_dof_not_positive",
    "theta_out_of_range",
    "qoverp_zero",
)
"""Why a track's features cannot all be derived (counted per track over all tracks read):
a raw value NaN or inf; numberDoF <= 0; theta outside (0, pi); qOverP = 0."""

_ETA_EPS = 1e-6  # upstream's guards, reproduced by the upstream-compatible definition
_QOP_MIN = 1e-9
_CHI2_EPS = 1e-8
_PT_MAX = 100.0
_ETA_MAX = 10.0
_RCHI2_MAX = 1000.0


# -- selection settings -------------------------------------------------------------------
def _canonical_name(name: str) -> str | None:
    """``name`` as a raw or feature name (the container prefix optional), or None."""
    short = name.removeprefix("derived.").removeprefix(TRACK_CONTAINER + ".")
    return short if short in RAW_NAMES or short in FEATURES else None


@dataclass(frozen=True)
class TrackFilter:
    """Keep a track when ``low <= value <= high`` (None: open); NaN never passes.

    ``name`` is a raw branch (``z0``, ``theta``, ``numberDoF`` ..., with or without the
    ``InDetTrackParticlesAuxDyn.`` prefix) or a derived feature (``eta``, ``pt``,
    ``reducedChiSquared``) in the feature definition of the conversion.
    """

    name: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        canonical = _canonical_name(self.name)
        if canonical is None:
            raise TrackFilterError(
                f"track filter on unknown value {self.name!r}",
                self.label,
                f"filter on a raw branch ({', '.join(RAW_NAMES)}) or a feature "
                f"({', '.join(FEATURES)})",
            )
        object.__setattr__(self, "name", canonical)
        if self.low is None and self.high is None:
            raise TrackFilterError(
                f"track filter {self.label!r} sets neither a minimum nor a maximum",
                self.label,
                "give BRANCH:MIN:MAX with at least one bound, e.g. z0:-100:100 or pt:1:",
            )
        for bound in (self.low, self.high):
            if bound is not None and math.isnan(bound):
                raise TrackFilterError(
                    f"track filter {self.label!r} has a NaN bound", self.label, "give numbers"
                )
        if self.low is not None and self.high is not None and self.low > self.high:
            raise TrackFilterError(
                f"track filter {self.label!r}: minimum {self.low} above maximum {self.high}",
                self.label,
                "swap the bounds",
            )

    @property
    def label(self) -> str:
        """``name:low:high`` as given on the command line (empty for an open bound)."""

        def text(v: float | None) -> str:
            return "" if v is None else f"{v:g}"

        return f"{self.name}:{text(self.low)}:{text(self.high)}"

    @classmethod
    def parse(cls, text: str) -> TrackFilter:
        """``"z0:-100:100"``, ``"pt:1:"`` or ``"eta::2.5"`` -> a filter; else TrackFilterError."""
        parts = text.split(":")
        todo = "give BRANCH:MIN:MAX, e.g. z0:-100:100, pt:0.5: or eta:-2.5:2.5 (empty: open)"
        if len(parts) != 3 or not parts[0].strip():
            raise TrackFilterError(f"malformed track filter {text!r}", text, todo)
        bounds: list[float | None] = []
        for part in parts[1:]:
            part = part.strip()
            if not part:
                bounds.append(None)
                continue
            try:
                bounds.append(float(part))
            except ValueError:
                raise TrackFilterError(
                    f"track filter {text!r}: {part!r} is not a number", text, todo
                ) from None
        return cls(parts[0].strip(), bounds[0], bounds[1])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min": self.low, "max": self.high}


@dataclass(frozen=True)
class Selection:
    """What a conversion keeps: tracks per event, feature definition, filters, min tracks."""

    n_tracks: int = 30
    definition: FeatureDefinition = "physical"
    track_filters: tuple[TrackFilter, ...] = ()
    min_tracks: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "track_filters", tuple(self.track_filters))
        if int(self.n_tracks) < 1:
            raise SettingsError(
                f"--tracks {self.n_tracks}: an event keeps at least one track",
                "--tracks",
                "give a positive number of tracks (30 in production, 20 in upstream's test)",
            )
        if int(self.min_tracks) < 0:
            raise SettingsError(
                f"--min-tracks {self.min_tracks} is negative",
                "--min-tracks",
                "give 0 (keep every event, the default) or a positive number",
            )
        if self.definition not in FEATURE_DEFINITIONS:
            raise SettingsError(
                f"unknown feature definition {self.definition!r}",
                "feature definition",
                f"one of {', '.join(FEATURE_DEFINITIONS)}",
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_tracks": int(self.n_tracks),
            "feature_definition": self.definition,
            "track_filters": [f.to_dict() for f in self.track_filters],
            "min_tracks": int(self.min_tracks),
            "sort": "pt descending, non-finite pt last, ties in file order",
        }


# -- accounting ---------------------------------------------------------------------------
def _add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + int(value)
    return out


@dataclass(frozen=True)
class ConversionCounts:
    """Events and tracks of a conversion, by fate; add them up with ``+``.

    ``events_in == events_kept + sum(events_dropped.values())`` and ``tracks_in ==
    tracks_written + tracks_truncated + tracks_in_dropped_events +
    sum(tracks_filtered.values())`` hold by construction (:meth:`balanced`).
    ``pathologies`` counts tracks read (before any filter) per reason of
    :data:`PATHOLOGIES`, ``nonfinite_raw`` per raw branch, ``nonfinite_features`` the
    non-finite derived values per feature; ``events_without_tracks`` are kept events that
    are all padding.
    """

    events_in: int = 0
    events_kept: int = 0
    events_dropped: Mapping[str, int] = field(default_factory=dict)
    events_without_tracks: int = 0
    tracks_in: int = 0
    tracks_written: int = 0
    tracks_truncated: int = 0
    tracks_in_dropped_events: int = 0
    tracks_filtered: Mapping[str, int] = field(default_factory=dict)
    pathologies: Mapping[str, int] = field(default_factory=dict)
    nonfinite_raw: Mapping[str, int] = field(default_factory=dict)
    nonfinite_features: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: ConversionCounts) -> ConversionCounts:
        return ConversionCounts(
            events_in=self.events_in + other.events_in,
            events_kept=self.events_kept + other.events_kept,
            events_dropped=_add(self.events_dropped, other.events_dropped),
            events_without_tracks=self.events_without_tracks + other.events_without_tracks,
            tracks_in=self.tracks_in + other.tracks_in,
            tracks_written=self.tracks_written + other.tracks_written,
            tracks_truncated=self.tracks_truncated + other.tracks_truncated,
            tracks_in_dropped_events=self.tracks_in_dropped_events + other.tracks_in_dropped_events,
            tracks_filtered=_add(self.tracks_filtered, other.tracks_filtered),
            pathologies=_add(self.pathologies, other.pathologies),
            nonfinite_raw=_add(self.nonfinite_raw, other.nonfinite_raw),
            nonfinite_features=_add(self.nonfinite_features, other.nonfinite_features),
        )

    def balanced(self) -> bool:
        """Whether every event and every track read is accounted for."""
        events = self.events_kept + sum(self.events_dropped.values())
        tracks = (
            self.tracks_written
            + self.tracks_truncated
            + self.tracks_in_dropped_events
            + sum(self.tracks_filtered.values())
        )
        return events == self.events_in and tracks == self.tracks_in

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, every count an int."""
        return {
            "events_in": int(self.events_in),
            "events_kept": int(self.events_kept),
            "events_dropped": {k: int(v) for k, v in self.events_dropped.items()},
            "events_without_tracks": int(self.events_without_tracks),
            "tracks_in": int(self.tracks_in),
            "tracks_written": int(self.tracks_written),
            "tracks_truncated": int(self.tracks_truncated),
            "tracks_in_dropped_events": int(self.tracks_in_dropped_events),
            "tracks_filtered": {k: int(v) for k, v in self.tracks_filtered.items()},
            "pathologies": {k: int(v) for k, v in self.pathologies.items()},
            "nonfinite_raw": {k: int(v) for k, v in self.nonfinite_raw.items()},
            "nonfinite_features": {k: int(v) for k, v in self.nonfinite_features.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConversionCounts:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True, eq=False)
class DerivedBlock:
    """One step of events converted: ``events`` float32 ``(kept, n_tracks * 6)``,
    ``kept`` the indices of the kept events in the step (for their identity), ``counts``."""

    events: np.ndarray
    kept: np.ndarray
    counts: ConversionCounts


# -- derivations --------------------------------------------------------------------------
def _f64(raw: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(raw[name], dtype=np.float64)


def derive_features(
    raw: Mapping[str, np.ndarray], definition: FeatureDefinition = "physical"
) -> dict[str, np.ndarray]:
    """Per-track features (float64, flat like ``raw``) from the raw values by ``RAW_NAMES``.

    Examples
    --------
    A track at eta 0 (theta = pi/2) with q/p = -1e-4 / MeV (10 GeV), chi2 12 for 10 dof:

    >>> import numpy as np
    >>> values = [0.01, 5.0, 0.3, np.pi / 2, -1e-4, 12.0, 10.0]
    >>> raw = {name: np.array([v]) for name, v in zip(RAW_NAMES, values)}
    >>> f = derive_features(raw)
    >>> [round(float(f[name][0]), 9) for name in ("eta", "pt", "reducedChiSquared")]
    [0.0, 10.0, 1.2]

    At 1 TeV upstream's rules saturate pt at 100 GeV; numberDoF = 0 is inf, or 1000:

    >>> hard = raw | {"qOverP": np.array([-1e-6]), "numberDoF": np.array([0.0])}
    >>> phys, upstream = derive_features(hard), derive_features(hard, "upstream-compatible")
    >>> float(phys["pt"][0]), float(upstream["pt"][0])
    (1000.0, 100.0)
    >>> float(phys["reducedChiSquared"][0]), float(upstream["reducedChiSquared"][0])
    (inf, 1000.0)
    """
    if definition not in FEATURE_DEFINITIONS:
        raise ValueError(f"unknown feature definition {definition!r}")
    theta = _f64(raw, "theta")
    qop = _f64(raw, "qOverP")
    chi2 = _f64(raw, "chiSquared")
    ndf = _f64(raw, "numberDoF")
    out = {"d0": _f64(raw, "d0"), "phi": _f64(raw, "phi"), "z0": _f64(raw, "z0")}
    with np.errstate(all="ignore"):
        if definition == "physical":
            bad_theta = ~((theta > 0.0) & (theta < np.pi))
            eta = -np.log(np.tan(theta / 2.0))
            pt = np.sin(theta) / np.abs(qop) / 1000.0
            eta[bad_theta] = np.nan
            pt[bad_theta] = np.nan
            rchi2 = chi2 / ndf
            rchi2[ndf < 0.0] = np.nan
        else:
            th = np.clip(theta, _ETA_EPS, np.pi - _ETA_EPS)
            tan_half = np.clip(np.tan(th / 2.0), _ETA_EPS, 1.0 / _ETA_EPS)
            eta = np.clip(-np.log(tan_half), -_ETA_MAX, _ETA_MAX)
            small = np.abs(qop) < _QOP_MIN
            safe_qop = np.where(small, np.sign(qop) * _QOP_MIN, qop)
            pt = np.clip(np.abs(1.0 / safe_qop) / 1000.0 * np.sin(th), 0.0, _PT_MAX)
            invalid = ndf <= _CHI2_EPS
            mapped = np.where(np.abs(chi2) >= _CHI2_EPS, _RCHI2_MAX, 0.0)
            rchi2 = np.clip(np.where(invalid, mapped, chi2 / ndf), 0.0, _RCHI2_MAX)
    out["eta"] = eta
    out["pt"] = pt
    out["reducedChiSquared"] = rchi2
    return out


def pathology_counts(raw: Mapping[str, np.ndarray]) -> tuple[dict[str, int], dict[str, int]]:
    """(tracks per reason of :data:`PATHOLOGIES`, tracks with a non-finite value per raw
    branch) among the tracks of ``raw``; independent of the feature definition."""
    finite = {name: np.isfinite(np.asarray(raw[name])) for name in RAW_NAMES}
    any_bad = np.zeros(np.asarray(raw["d0"]).shape, dtype=bool)
    for f in finite.values():
        any_bad |= ~f
    theta = _f64(raw, "theta")
    with np.errstate(invalid="ignore"):
        reasons = {
            "nonfinite_raw": int(any_bad.sum()),
            "number_dof_not_positive": int((_f64(raw, "numberDoF") <= 0.0).sum()),
            "theta_out_of_range": int((finite["theta"] & ~((theta > 0) & (theta < np.pi))).sum()),
            "qoverp_zero": int((_f64(raw, "qOverP") == 0.0).sum()),
        }
    per_branch = {name: int((~f).sum()) for name, f in finite.items()}
    return reasons, per_branch


def derive_block(
    counts: np.ndarray, raw: Mapping[str, np.ndarray], selection: Selection
) -> DerivedBlock:
    """Convert one step of events: features, filters, sort, truncation, padding, counts.

    ``counts[i]`` is the number of tracks of event ``i``; ``raw[name]`` holds every track
    of the step in event order (``counts.sum()`` values) for each of :data:`RAW_NAMES`.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_events = int(counts.size)
    n_in = int(counts.sum())
    for name in RAW_NAMES:
        if np.asarray(raw[name]).shape != (n_in,):
            raise ValueError(f"raw {name!r} has shape {np.shape(raw[name])}, expected ({n_in},)")
    features = derive_features(raw, selection.definition)
    reasons, per_branch = pathology_counts(raw)
    nonfinite_features = {f: int((~np.isfinite(features[f])).sum()) for f in FEATURES}

    event_of = np.repeat(np.arange(n_events, dtype=np.int64), counts)
    passing = np.ones(n_in, dtype=bool)
    filtered: dict[str, int] = {}
    for flt in selection.track_filters:
        values = features[flt.name] if flt.name in features else _f64(raw, flt.name)
        with np.errstate(invalid="ignore"):
            ok = ~np.isnan(values)
            if flt.low is not None:
                ok &= values >= flt.low
            if flt.high is not None:
                ok &= values <= flt.high
        filtered[flt.label] = filtered.get(flt.label, 0) + int((passing & ~ok).sum())
        passing &= ok

    n_pass = np.bincount(event_of[passing], minlength=n_events).astype(np.int64)
    keep_event = n_pass >= selection.min_tracks
    kept = np.flatnonzero(keep_event)
    n_tracks = int(selection.n_tracks)

    # sort the passing tracks of each event by pt descending, non-finite last, stably
    idx = np.flatnonzero(passing)
    pt = features["pt"][idx]
    key = np.where(np.isfinite(pt), -pt, np.inf)
    order = idx[np.lexsort((key, event_of[idx]))]
    ev_sorted = event_of[order]
    starts = np.concatenate(([0], np.cumsum(n_pass)[:-1]))
    rank = np.arange(order.size, dtype=np.int64) - starts[ev_sorted]
    row_of = np.full(n_events, -1, dtype=np.int64)
    row_of[kept] = np.arange(kept.size)
    take = (rank < n_tracks) & keep_event[ev_sorted]
    out = np.zeros((kept.size, n_tracks, len(FEATURES)), dtype=np.float32)
    rows, slots, tracks = row_of[ev_sorted[take]], rank[take], order[take]
    for column, name in enumerate(FEATURES):
        out[rows, slots, column] = features[name][tracks]

    kept_pass = n_pass[kept]
    dropped = int(n_events - kept.size)
    block_counts = ConversionCounts(
        events_in=n_events,
        events_kept=int(kept.size),
        events_dropped={"below_min_tracks": dropped} if selection.min_tracks > 0 else {},
        events_without_tracks=int((kept_pass == 0).sum()),
        tracks_in=n_in,
        tracks_written=int(np.minimum(kept_pass, n_tracks).sum()),
        tracks_truncated=int(np.maximum(kept_pass - n_tracks, 0).sum()),
        tracks_in_dropped_events=int(n_pass[~keep_event].sum()),
        tracks_filtered=filtered,
        pathologies=reasons,
        nonfinite_raw=per_branch,
        nonfinite_features=nonfinite_features,
    )
    return DerivedBlock(out.reshape(kept.size, n_tracks * len(FEATURES)), kept, block_counts)


# -- the inverse, for writing PhysLite-like files of generated events ---------------------
def raw_from_features(
    events: np.ndarray,
    charge: np.ndarray,
    number_dof: np.ndarray,
    n_features: int = len(FEATURES),
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(tracks per event, flat float32 raw values by ``RAW_NAMES``) that derive, under the
    physical definition, to the real tracks of ``events`` within float32 rounding.

    ``events`` is ``(n, tracks * 6)`` in hepfm's columns; a real track is a row that is not
    all zero (padding). ``charge`` (+-1) and ``number_dof`` (> 0) are ``(n, tracks)``
    choices the features do not fix. theta = 2 atan(exp(-eta)) is rounded to float32
    first and qOverP computed from the rounded theta, so that sin(theta) / |qOverP| gives
    pt back up to one rounding of qOverP. Non-finite features are expressed in raw values
    where they can be: reducedChiSquared +inf as chiSquared > 0 over numberDoF = 0, NaN as
    0 / 0, -inf as -1 / 0; pt +inf as qOverP = 0; eta non-finite as theta NaN.
    """
    tracks = np.asarray(events).reshape(events.shape[0], -1, n_features)
    real = np.any(tracks != 0.0, axis=2)
    counts = real.sum(axis=1).astype(np.int64)
    t = tracks[real].astype(np.float64)
    q = np.asarray(charge, dtype=np.float64)[real]
    ndf = np.asarray(number_dof, dtype=np.float64)[real]
    d0, phi, z0, eta, pt, rchi2 = (t[:, i] for i in range(6))
    with np.errstate(all="ignore"):
        theta = (2.0 * np.arctan(np.exp(-eta))).astype(np.float32).astype(np.float64)
        qop = np.sign(q) * np.sin(theta) / (pt * 1000.0)
        qop = np.where(np.isposinf(pt), 0.0, qop)
        finite = np.isfinite(rchi2)
        chi2 = np.where(finite, (rchi2 * ndf).astype(np.float32), 0.0)
        chi2 = np.where(np.isposinf(rchi2), ndf, chi2)
        chi2 = np.where(np.isneginf(rchi2), -1.0, chi2)
        dof = np.where(finite, ndf, 0.0)
    raw = {
        "d0": d0,
        "z0": z0,
        "phi": phi,
        "theta": theta,
        "qOverP": qop,
        "chiSquared": chi2,
        "numberDoF": dof,
    }
    return counts, {name: np.asarray(v, dtype=np.float32) for name, v in raw.items()}
