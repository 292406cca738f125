"""Read the upstream pipeline's processed dataset folders (``_processed_datasets/<id>/``).

``dataset.h5`` holds the background, ``signal_dataset.h5`` one group per signal; values are
stored raw. The model input is built at read time the way upstream builds it (see
upstream-format.md): flatten the feature datasets in sorted order, replace non-finite values
by the column's median, standardise with ``normalization_params`` (padding included, std
floored), clip to +-10. Upstream standardises each signal with its own parameters; hepfm
defaults to the background's (the model's training normalisation) and offers upstream's
choice as ``signal_normalisation="own"``.

Opening a folder reads every event once per sample (content fingerprint and non-finite
counts, ``scan.py``); the result is memoised per file version under the cache directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..common.fingerprint import combine
from ..data.dataset import DataSet, check_consistent, check_signal_normalisation
from ..data.h5io import H5Matrix, open_h5
from ..data.normalisation import STD_FLOOR, Normalisation
from ..data.samples import InputAccounting, Provenance, Sample
from ..errors import (
    DataError,
    DataNotFoundError,
    EmptySampleError,
    FeatureMismatchError,
    MissingGroupError,
    NoSignalsError,
    TruncatedFileError,
    check_exists,
)
from ..vocabulary import FILLS, Fill, Role, SignalNormalisation
from .files import BACKGROUND_FILE, DATASET_CONFIG, SIGNAL_FILE, branch_name, read_yaml
from .scan import Scan, scan

__all__ = [
    "CLIP",
    "DEFAULT_BRANCHES",
    "PARAMS_ATTR",
    "open_upstream_dataset",
    "upstream_feature_names",
]

PARAMS_ATTR = "normalization_params"
CLIP = 10.0
# Upstream's column order for its standard track aggregator (branch names sorted).
DEFAULT_BRANCHES = ("d0", "phi", "z0", "eta", "pt", "reducedChiSquared")


# -- layout -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Layout:
    """What one sample's group holds, read from metadata only (no events)."""

    name: str
    file: Path
    group: str  # "" for dataset.h5's root, else the signal key
    datasets: tuple[str, ...]  # full dataset paths inside ``file``, in flattening order
    n_events: int
    feature_names: tuple[str, ...]
    means: np.ndarray  # (D,) from the group's own normalization_params
    stds: np.ndarray  # (D,), floored

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def where(self) -> str:
        return f"{self.file}" + (f" (group /{self.group})" if self.group else "")

    def matrix(self, normalisation: Normalisation | None) -> H5Matrix:
        return H5Matrix(self.file, self.datasets, normalisation, self.n_events, self.n_features)


def _branch_names_from_config(folder: Path) -> list[list[str]] | None:
    """Per input aggregator, the short branch names in upstream's column order (sorted)."""
    cfg_path = folder / DATASET_CONFIG
    if not cfg_path.is_file():
        return None
    try:
        cfg = read_yaml(cfg_path)
        aggs = cfg["task"]["input"]["feature_array_aggregators"]
        out = []
        for agg in aggs:
            full = sorted(branch_name(b) for b in agg["input_branches"])
            out.append([name.rsplit(".", 1)[-1] for name in full])
        return out
    except (DataError, KeyError, TypeError, AttributeError):
        return None


def _aggregator_names(
    key: str, shape: tuple[int, ...], index: int, n_aggs: int, config_branches
) -> list[str]:
    per_event = shape[1:]
    if len(per_event) != 2:
        width = int(np.prod(per_event, dtype=np.int64))
        return [f"{key}_{i}" for i in range(width)]
    n_tracks, n_branches = per_event
    branches: list[str] | None = None
    if config_branches is not None and index < len(config_branches):
        if len(config_branches[index]) == n_branches:
            branches = list(config_branches[index])
    if branches is None and n_branches == len(DEFAULT_BRANCHES):
        branches = list(DEFAULT_BRANCHES)
    if branches is None:
        return [f"{key}_t{t:02d}_f{j}" for t in range(n_tracks) for j in range(n_branches)]
    prefix = "" if n_aggs == 1 else f"{key}_"
    return [f"{prefix}track{t:02d}_{b}" for t in range(n_tracks) for b in branches]


def _parse_params(attrs: h5py.AttributeManager, file: Path, group: str) -> dict[str, Any]:
    label = f"/{group}" if group else "the root group"
    if PARAMS_ATTR not in attrs:
        raise MissingGroupError(
            f"{file.name} lacks the attribute '{PARAMS_ATTR}' on {label}",
            file,
            "this file was not written by the upstream pipeline's dataset step; regenerate it",
        )
    raw = attrs[PARAMS_ATTR]
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        params = json.loads(str(raw))
        return params["features"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(
            f"the '{PARAMS_ATTR}' attribute on {label} of {file.name} is not the expected JSON "
            f"({type(exc).__name__}: {exc})",
            file,
            "regenerate the dataset with the upstream pipeline",
        ) from exc


def _stats(params: dict[str, Any], section: str, key: str, width: int, file: Path, group: str):
    """Per-column (mean, std) for one flattened dataset, tiled over tracks."""
    try:
        entry = params[section][key]
        if section == "aggregated":
            means = np.asarray(entry["means"], dtype=np.float64).reshape(-1)
            stds = np.asarray(entry["stds"], dtype=np.float64).reshape(-1)
        else:
            means = np.atleast_1d(np.asarray(entry["mean"], dtype=np.float64)).reshape(-1)
            stds = np.atleast_1d(np.asarray(entry["std"], dtype=np.float64)).reshape(-1)
    except (KeyError, TypeError, ValueError) as exc:
        raise MissingGroupError(
            f"'{PARAMS_ATTR}' of {file.name}{'/' + group if group else ''} has no usable entry "
            f"features/{section}/{key}",
            file,
            "regenerate the dataset with the upstream pipeline",
        ) from exc
    if means.size == 0 or width % means.size or means.shape != stds.shape:
        raise FeatureMismatchError(
            f"'{PARAMS_ATTR}' of {file.name} gives {means.size} means and {stds.size} stds for "
            f"features/{section}/{key}, which has {width} values per event",
            file,
            "the parameters do not belong to this data; regenerate the dataset",
        )
    if not (np.isfinite(means).all() and np.isfinite(stds).all()):
        raise DataError(
            f"'{PARAMS_ATTR}' of {file.name} holds NaN or inf for features/{section}/{key}",
            file,
            "upstream computed them from non-finite raw values; regenerate the dataset, or "
            "read the signals with the background's parameters",
        )
    reps = width // means.size
    return np.tile(means, reps), np.tile(np.maximum(stds, STD_FLOOR), reps)


def _read_layout(h5: h5py.File, file: Path, group: str, name: str, config_branches) -> _Layout:
    base = h5[group] if group else h5
    prefix = f"{group}/" if group else ""
    todo = "point at an upstream _processed_datasets/<id>/ folder written by the pipeline"
    feats = base.get("features")
    if not isinstance(feats, h5py.Group):
        raise MissingGroupError(f"missing group '{prefix}features' in {file.name}", file, todo)

    def keys(section: str) -> list[str]:
        sub = feats.get(section)
        return sorted(sub.keys()) if isinstance(sub, h5py.Group) else []

    agg_keys = keys("aggregated")
    entries = [("aggregated", k) for k in agg_keys] + [("scalar", k) for k in keys("scalar")]
    if not entries:
        raise MissingGroupError(
            f"missing '{prefix}features/aggregated/*' and '{prefix}features/scalar/*' in "
            f"{file.name}: no feature datasets",
            file,
            todo,
        )
    shapes: list[tuple[int, ...]] = []
    for section, key in entries:
        ds = feats[section][key]
        if not isinstance(ds, h5py.Dataset) or ds.ndim < 1:
            raise DataError(
                f"'{prefix}features/{section}/{key}' in {file.name} is not an event array",
                file,
                todo,
            )
        if shapes and ds.shape[0] != shapes[0][0]:
            raise FeatureMismatchError(
                f"'{prefix}features/{section}/{key}' in {file.name} has {ds.shape[0]} events "
                f"but the other feature datasets have {shapes[0][0]}",
                file,
                "the file is inconsistent; regenerate it",
            )
        shapes.append(tuple(int(d) for d in ds.shape))
    n_events = shapes[0][0]
    if n_events == 0:
        raise EmptySampleError(
            f"sample '{name}' in {file.name} holds zero events",
            file,
            "regenerate the dataset with a larger event limit, or remove that sample",
        )
    params = _parse_params(base.attrs, file, group)
    names: list[str] = []
    means: list[np.ndarray] = []
    stds: list[np.ndarray] = []
    for index, ((section, key), shape) in enumerate(zip(entries, shapes, strict=True)):
        width = int(np.prod(shape[1:], dtype=np.int64))
        if section == "aggregated":
            names += _aggregator_names(key, shape, index, len(agg_keys), config_branches)
        else:
            names += [key] if width == 1 else [f"{key}_{i}" for i in range(width)]
        m, s = _stats(params, section, key, width, file, group)
        means.append(m)
        stds.append(s)
    return _Layout(
        name=name,
        file=file,
        group=group,
        datasets=tuple(f"{prefix}features/{section}/{key}" for section, key in entries),
        n_events=n_events,
        feature_names=tuple(names),
        means=np.concatenate(means),
        stds=np.concatenate(stds),
    )


def _layout(h5: h5py.File, file: Path, group: str, name: str, config_branches) -> _Layout:
    """``_read_layout`` with HDF5 read failures (damaged metadata) turned into typed errors."""
    try:
        return _read_layout(h5, file, group, name, config_branches)
    except (OSError, RuntimeError) as exc:
        raise TruncatedFileError(
            f"{file.name} cannot be read{f' (group /{group})' if group else ''}: it looks "
            f"truncated or corrupt ({exc})",
            file,
            "copy or regenerate the file completely",
        ) from exc


def _check_folder(path: Path) -> Path:
    if path.is_file() and path.name in (BACKGROUND_FILE, SIGNAL_FILE):
        path = path.parent
    check_exists(
        path,
        DataNotFoundError,
        "upstream dataset folder",
        "point at an upstream _processed_datasets/<id>/ folder",
    )
    if not path.is_dir():
        raise DataError(
            f"{path.name} is a file; an upstream dataset is a folder",
            path,
            "point at the _processed_datasets/<id>/ folder holding dataset.h5",
        )
    if not (path / BACKGROUND_FILE).exists():
        raise DataNotFoundError(
            f"{BACKGROUND_FILE} not found in {path}",
            path / BACKGROUND_FILE,
            "point at an upstream _processed_datasets/<id>/ folder (it holds dataset.h5 and "
            "signal_dataset.h5)",
        )
    return path


def _read_layouts(folder: Path) -> tuple[_Layout, list[_Layout]]:
    branches = _branch_names_from_config(folder)
    bg_file = folder / BACKGROUND_FILE
    with open_h5(bg_file) as h5:
        background = _layout(h5, bg_file, "", "background", branches)
    sig_file = folder / SIGNAL_FILE
    if not sig_file.exists():
        raise NoSignalsError(
            f"{folder} holds a background ({BACKGROUND_FILE}) but no {SIGNAL_FILE}",
            sig_file,
            "run the upstream pipeline with signal_keys set, or copy signal_dataset.h5 next to "
            "dataset.h5",
        )
    signals: list[_Layout] = []
    with open_h5(sig_file) as h5:
        keys = sorted(k for k in h5 if isinstance(h5[k], h5py.Group))
        if not keys:
            raise NoSignalsError(
                f"{SIGNAL_FILE} in {folder} holds no signal groups",
                sig_file,
                "regenerate the signal dataset with signal_keys set",
            )
        for key in keys:
            layout = _layout(h5, sig_file, key, key, branches)
            if layout.n_features != background.n_features:
                raise FeatureMismatchError(
                    f"signal '{key}' in {SIGNAL_FILE} has {layout.n_features} features per "
                    f"event but the background in {BACKGROUND_FILE} has "
                    f"{background.n_features}",
                    sig_file,
                    "both files must come from the same task config; regenerate them together",
                )
            if layout.feature_names != background.feature_names:
                raise FeatureMismatchError(
                    f"signal '{key}' in {SIGNAL_FILE} stores other feature datasets than the "
                    f"background in {BACKGROUND_FILE}",
                    sig_file,
                    "both files must come from the same task config; regenerate them together",
                )
            signals.append(layout)
    return background, signals


def upstream_feature_names(path: str | Path) -> tuple[str, ...]:
    """Feature names of an upstream dataset folder, from metadata only (reads no events)."""
    folder = _check_folder(Path(path))
    branches = _branch_names_from_config(folder)
    bg_file = folder / BACKGROUND_FILE
    with open_h5(bg_file) as h5:
        return _layout(h5, bg_file, "", "background", branches).feature_names


def _fill_values(means: np.ndarray, medians: dict[int, float]) -> np.ndarray:
    """Fill values: the column's median where it has non-finite values, else the mean."""
    fill = np.array(means, dtype=np.float64, copy=True)
    for col, value in medians.items():
        if np.isfinite(value):
            fill[col] = value
    return fill


def open_upstream_dataset(
    path: str | Path,
    *,
    signal_normalisation: SignalNormalisation = "background",
    fill: Fill = "median",
) -> DataSet:
    """Open an upstream ``_processed_datasets/<id>/`` folder as a hepfm ``DataSet``.

    Samples are lazy views producing upstream's model inputs on slicing. The background is
    standardised with its own parameters; signals with the background's parameters
    (``"background"``, default) or with their own (``"own"``, upstream's choice).
    ``fill="median"`` (upstream's behaviour) replaces non-finite raw values by the column's
    median in that sample; ``fill="none"`` leaves them so scoring flags those events. Either
    way they are counted in each sample's ``accounting``.
    """
    check_signal_normalisation(signal_normalisation)
    if fill not in FILLS:
        raise DataError(f"unknown fill mode {fill!r}", None, "use 'median' (default) or 'none'")
    folder = _check_folder(Path(path))
    bg_layout, sig_layouts = _read_layouts(folder)

    def fill_for(means: np.ndarray, medians: dict[int, float]) -> np.ndarray:
        return _fill_values(means, medians) if fill == "median" else np.full_like(means, np.nan)

    bg_scan = scan(bg_layout.matrix(None), bg_layout.group, medians=fill == "median")
    bg_source = f"background normalization_params ({BACKGROUND_FILE})"
    bg_norm = Normalisation(
        bg_layout.means,
        bg_layout.stds,
        fill_for(bg_layout.means, bg_scan.medians),
        clip=CLIP,
        source=bg_source,
    )
    background = _sample(bg_layout, "background", bg_norm, bg_scan, fill)

    signals: dict[str, Sample] = {}
    for layout in sig_layouts:
        found = scan(layout.matrix(None), layout.group, medians=fill == "median")
        if signal_normalisation == "background":
            norm = Normalisation(
                bg_layout.means,
                bg_layout.stds,
                fill_for(bg_layout.means, found.medians),
                clip=CLIP,
                source=bg_source,
            )
        else:
            norm = Normalisation(
                layout.means,
                layout.stds,
                fill_for(layout.means, found.medians),
                clip=CLIP,
                source=f"own normalization_params of '{layout.name}' ({SIGNAL_FILE}; "
                "upstream's choice)",
            )
        signals[layout.name] = _sample(layout, "signal", norm, found, fill)
    check_consistent(background, signals, folder)
    return DataSet("upstream", str(folder), background, signals, signal_normalisation)


def _sample(layout: _Layout, role: Role, norm: Normalisation, found: Scan, fill: str) -> Sample:
    return Sample(
        name=layout.name,
        role=role,
        x=layout.matrix(norm),
        feature_names=layout.feature_names,
        provenance=Provenance(
            source=str(layout.file.resolve()),
            group=f"/{layout.group}",
            fingerprint=combine(found.content, norm.fingerprint(), fill),
            content_fingerprint=found.content,
            normalisation=norm.source,
        ),
        accounting=InputAccounting(
            per_feature=found.nonfinite.copy(),
            events_with_nonfinite=found.events_with_nonfinite,
            filled=fill,
        ),
    )
