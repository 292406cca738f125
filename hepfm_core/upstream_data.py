"""Read the upstream pipeline's processed dataset folders (``_processed_datasets/<id>/``).

``dataset.h5`` holds the background, ``signal_dataset.h5`` one group per signal; values are
stored raw. The model input is built at read time the way upstream builds it (see
upstream-format.md): flatten the feature datasets in sorted order, replace non-finite values
by the column's median, standardise with ``normalization_params`` (padding included, std
floored), clip to +-10. Upstream standardises each signal with its own parameters; hepfm
defaults to the background's (the model's training normalisation) and offers upstream's
choice as ``signal_normalisation="own"``.

Opening a folder reads every event once per sample (content fingerprint and non-finite
counts); the result is memoised per file version under the cache directory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from .datasets import DataSet, check_consistent
from .errors import (
    DataError,
    DataNotFoundError,
    EmptySampleError,
    FeatureMismatchError,
    MissingGroupError,
    NoSignalsError,
    TruncatedFileError,
)
from .fingerprint import ArrayHasher, combine
from .h5io import H5Matrix, open_h5
from .normalisation import STD_FLOOR, Normalisation
from .samples import InputAccounting, Provenance, Sample

BACKGROUND_FILE = "dataset.h5"
SIGNAL_FILE = "signal_dataset.h5"
DATASET_CONFIG = "_dataset_config.yaml"
EXPERIMENT_CONFIG = "_experiment_config.yaml"
PARAMS_ATTR = "normalization_params"
CLIP = 10.0
# Upstream's column order for its standard track aggregator (branch names sorted).
DEFAULT_BRANCHES = ("d0", "phi", "z0", "eta", "pt", "reducedChiSquared")
# Raw values read per block while scanning (float64): bounds memory whatever the file size.
SCAN_VALUES = 1 << 23
MEDIAN_BUDGET_BYTES = 1 << 28
MEMO_FILE = "upstream_scan.json"
MEMO_MAX_ENTRIES = 512

SignalNormalisation = Literal["background", "own"]


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
        cfg = _read_yaml(cfg_path)
        aggs = cfg["task"]["input"]["feature_array_aggregators"]
        out = []
        for agg in aggs:
            full = sorted(_branch(b) for b in agg["input_branches"])
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
    if not path.exists():
        raise DataNotFoundError(
            f"upstream dataset folder not found: {path}",
            path,
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


# -- scanning: fingerprint, non-finite counts, medians -----------------------------------------
@dataclass(frozen=True)
class _Scan:
    content: str
    nonfinite: np.ndarray  # (D,) int64
    events_with_nonfinite: int
    medians: dict[int, float]  # only columns holding non-finite values; NaN if none finite


def _memo_key(layout: _Layout) -> str | None:
    try:
        st = layout.file.stat()
    except OSError:
        return None
    return f"{layout.file.resolve()}|{layout.group}|{st.st_size}|{st.st_mtime_ns}"


def _memo_path() -> Path:
    from .cache import cache_dir

    return cache_dir() / MEMO_FILE


def _memo_load() -> dict[str, Any]:
    try:
        with _memo_path().open() as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _memo_get(key: str | None, n_features: int) -> _Scan | None:
    if key is None:
        return None
    entry = _memo_load().get(key)
    try:
        nonfinite = np.zeros(n_features, dtype=np.int64)
        for col, count in entry["nonfinite"].items():
            nonfinite[int(col)] = int(count)
        medians = {
            int(c): (float("nan") if v is None else float(v)) for c, v in entry["medians"].items()
        }
        if int(entry["n_features"]) != n_features:
            return None
        return _Scan(str(entry["content"]), nonfinite, int(entry["events_with_nonfinite"]), medians)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None


def _memo_put(key: str | None, scan: _Scan, n_features: int) -> None:
    """Best effort: a read-only or full cache directory only costs a rescan next time."""
    if key is None:
        return
    data = _memo_load()
    data.pop(key, None)
    data[key] = {
        "content": scan.content,
        "n_features": n_features,
        "nonfinite": {str(i): int(c) for i, c in enumerate(scan.nonfinite) if c},
        "events_with_nonfinite": scan.events_with_nonfinite,
        "medians": {str(c): (None if np.isnan(v) else v) for c, v in scan.medians.items()},
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


def _scan(layout: _Layout, *, medians: bool = True) -> _Scan:
    """One chunked pass: content hash and non-finite counts; then medians where needed."""
    key = _memo_key(layout)
    cached = _memo_get(key, layout.n_features)
    if cached is not None and (cached.medians or not medians or not cached.nonfinite.any()):
        return cached
    raw = layout.matrix(None)
    step = _chunk_rows(layout.n_features)
    hasher = ArrayHasher()
    nonfinite = np.zeros(layout.n_features, dtype=np.int64)
    events_bad = 0
    for start in range(0, layout.n_events, step):
        block = raw.raw(slice(start, start + step))
        hasher.update(block)
        bad = ~np.isfinite(block)
        if bad.any():
            nonfinite += bad.sum(axis=0)
            events_bad += int(bad.any(axis=1).sum())
    cols = np.flatnonzero(nonfinite)
    meds = _column_medians(raw, cols, layout.n_events, step) if cols.size and medians else {}
    scan = _Scan(hasher.hexdigest(), nonfinite, events_bad, meds)
    if meds or not cols.size:  # a memo entry always carries the medians it needs
        _memo_put(key, scan, layout.n_features)
    return scan


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


def _fill_values(means: np.ndarray, medians: dict[int, float]) -> np.ndarray:
    """Fill values: the column's median where it has non-finite values, else the mean."""
    fill = np.array(means, dtype=np.float64, copy=True)
    for col, value in medians.items():
        if np.isfinite(value):
            fill[col] = value
    return fill


# -- public ------------------------------------------------------------------------------------
def open_upstream_dataset(
    path: str | Path,
    *,
    signal_normalisation: SignalNormalisation = "background",
    fill: str = "median",
) -> DataSet:
    """Open an upstream ``_processed_datasets/<id>/`` folder as a hepfm ``DataSet``.

    Samples are lazy views producing upstream's model inputs on slicing. The background is
    standardised with its own parameters; signals with the background's parameters
    (``"background"``, default) or with their own (``"own"``, upstream's choice).
    ``fill="median"`` (upstream's behaviour) replaces non-finite raw values by the column's
    median in that sample; ``fill="none"`` leaves them so scoring flags those events. Either
    way they are counted in each sample's ``accounting``.
    """
    if signal_normalisation not in ("background", "own"):
        raise DataError(
            f"unknown signal normalisation {signal_normalisation!r}",
            None,
            "use 'background' (default) or 'own' (upstream's choice)",
        )
    if fill not in ("median", "none"):
        raise DataError(f"unknown fill mode {fill!r}", None, "use 'median' (default) or 'none'")
    folder = _check_folder(Path(path))
    bg_layout, sig_layouts = _read_layouts(folder)

    def fill_for(means: np.ndarray, medians: dict[int, float]) -> np.ndarray:
        return _fill_values(means, medians) if fill == "median" else np.full_like(means, np.nan)

    bg_scan = _scan(bg_layout, medians=fill == "median")
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
        scan = _scan(layout, medians=fill == "median")
        if signal_normalisation == "background":
            norm = Normalisation(
                bg_layout.means,
                bg_layout.stds,
                fill_for(bg_layout.means, scan.medians),
                clip=CLIP,
                source=bg_source,
            )
        else:
            norm = Normalisation(
                layout.means,
                layout.stds,
                fill_for(layout.means, scan.medians),
                clip=CLIP,
                source=f"own normalization_params of '{layout.name}' ({SIGNAL_FILE}; "
                "upstream's choice)",
            )
        signals[layout.name] = _sample(layout, "signal", norm, scan, fill)
    check_consistent(background, signals, folder)
    return DataSet("upstream", str(folder), background, signals, signal_normalisation)


def _sample(layout: _Layout, role: str, norm: Normalisation, scan: _Scan, fill: str) -> Sample:
    return Sample(
        name=layout.name,
        role=role,  # type: ignore[arg-type]
        x=layout.matrix(norm),  # type: ignore[arg-type]
        feature_names=layout.feature_names,
        provenance=Provenance(
            source=str(layout.file.resolve()),
            group=f"/{layout.group}",
            fingerprint=combine(scan.content, norm.fingerprint(), fill),
            content_fingerprint=scan.content,
            normalisation=norm.source,
        ),
        accounting=InputAccounting(
            per_feature=scan.nonfinite.copy(),
            events_with_nonfinite=scan.events_with_nonfinite,
            filled=fill,
        ),
    )


# -- experiment -> dataset -----------------------------------------------------------------
@dataclass(frozen=True)
class DatasetMatch:
    """The dataset folder found for an experiment, and how it was matched (shown to users)."""

    path: Path
    how: str

    def __fspath__(self) -> str:
        return str(self.path)


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"cannot read {path.name} ({exc})", path, "check the file") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path.name} is not a YAML mapping", path, "check the file")
    return data


def _branch(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("branch_name", entry.get("branch", "")))
    return str(entry)


def _run(value: Any) -> str:
    """Run numbers: ``00298967`` may come back as str or int depending on the YAML reader."""
    text = str(value).strip()
    return str(int(text)) if text.isdigit() else text


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _aggregator_key(agg: dict[str, Any]) -> dict[str, Any]:
    sort_by = agg.get("sort_by_branch")
    filters = sorted(
        (
            (
                _branch(f),
                _num(f.get("min_value", f.get("min"))),
                _num(f.get("max_value", f.get("max"))),
            )
            for f in (agg.get("filter_branches") or [])
            if isinstance(f, dict)
        ),
        key=repr,
    )
    return {
        "branches": sorted(_branch(b) for b in agg.get("input_branches") or []),
        "filters": [list(f) for f in filters],
        "sort_by": None if not sort_by else _branch(sort_by),
        "min_length": agg.get("min_length"),
        "max_length": agg.get("max_length"),
    }


def _data_keys(dataset: dict[str, Any], input_aggs: Any, scalars: Any) -> dict[str, Any]:
    """The parts of a config that define the stored data, in one comparable form."""
    out: dict[str, Any] = {}
    if dataset.get("run_numbers") is not None:
        out["run_numbers"] = sorted(_run(r) for r in dataset["run_numbers"])
    if dataset.get("signal_keys") is not None:
        out["signal_keys"] = sorted(str(s) for s in dataset["signal_keys"])
    for key in ("catalog_limit", "event_limit", "signal_event_limit"):
        if dataset.get(key) is not None:
            out[key] = int(dataset[key])
    if isinstance(input_aggs, list):
        out["input_aggregators"] = [_aggregator_key(a) for a in input_aggs if isinstance(a, dict)]
    if isinstance(scalars, list):
        out["scalar_features"] = sorted(_branch(s) for s in scalars)
    return out


def _experiment_keys(cfg: dict[str, Any]) -> dict[str, Any]:
    task = cfg.get("task") or {}
    return _data_keys(
        cfg.get("dataset") or {},
        task.get("input_array_aggregators"),
        task.get("input_features"),
    )


def _dataset_keys(cfg: dict[str, Any]) -> dict[str, Any]:
    task_input = (cfg.get("task") or {}).get("input") or {}
    return _data_keys(
        cfg.get("dataset") or {},
        task_input.get("feature_array_aggregators"),
        task_input.get("feature_selectors"),
    )


def _compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(keys that agree, keys that differ) among those both configs state."""
    same, differ = [], []
    for key in sorted(set(a) & set(b)):
        (same if a[key] == b[key] else differ).append(key)
    return same, differ


def experiment_root(path: str | Path) -> Path:
    """The experiment folder for itself, its ``models/`` or its ``models/foundation_model/``."""
    path = Path(path)
    if path.name == "foundation_model" and path.parent.name == "models":
        return path.parent.parent
    if path.name == "models" and (path / "foundation_model").is_dir():
        return path.parent
    return path


def find_dataset_for_experiment(experiment_dir: str | Path) -> DatasetMatch | None:
    """The ``_processed_datasets/<id>/`` folder an upstream experiment was trained on.

    Looks in ``<root>/_processed_datasets/*`` for an experiment at
    ``<root>/_foundation_experiments/<exp>``. Matches by the dataset id the experiment
    recorded, else by comparing the data-defining parts of both configs (runs, signals,
    event limits, input branches); a lone candidate is returned even when the comparison is
    inconclusive, and ``how`` says so. None when nothing fits.
    """
    exp = experiment_root(experiment_dir)
    candidates: list[Path] = []
    for root in (exp.parent.parent, exp.parent):
        base = root / "_processed_datasets"
        if base.is_dir():
            candidates += sorted(p.parent for p in base.glob(f"*/{DATASET_CONFIG}"))
    candidates = [c for c in dict.fromkeys(candidates) if (c / BACKGROUND_FILE).exists()]
    if not candidates:
        return None

    exp_keys: dict[str, Any] = {}
    if (exp / EXPERIMENT_CONFIG).is_file():
        try:
            exp_keys = _experiment_keys(_read_yaml(exp / EXPERIMENT_CONFIG))
        except (DataError, AttributeError, TypeError, ValueError):
            exp_keys = {}
    recorded_id = _recorded_dataset_id(exp)

    results = []
    for cand in candidates:
        try:
            same, differ = _compare(exp_keys, _dataset_keys(_read_yaml(cand / DATASET_CONFIG)))
        except (DataError, AttributeError, TypeError, ValueError):
            same, differ = [], ["unreadable _dataset_config.yaml"]
        results.append((cand, same, differ))

    if recorded_id:
        for cand, _same, differ in results:
            if cand.name == recorded_id:
                note = f"; configs also differ in {', '.join(differ)}" if differ else ""
                return DatasetMatch(
                    cand, f"dataset id {recorded_id} recorded in _experiment_info.json{note}"
                )
    full = [(c, s) for c, s, d in results if not d and {"run_numbers", "signal_keys"} <= set(s)]
    if len(full) == 1:
        cand, same = full[0]
        return DatasetMatch(cand, f"configs agree on {', '.join(same)}")
    if len(full) > 1:
        names = ", ".join(c.name for c, _ in full)
        return DatasetMatch(
            full[0][0],
            f"ambiguous: {len(full)} dataset folders match the config ({names}); took the first",
        )
    if len(results) == 1:
        cand, same, differ = results[0]
        detail = f"they differ in {', '.join(differ)}" if differ else "nothing to compare"
        return DatasetMatch(
            cand,
            f"the only dataset folder next to the experiment; config check inconclusive ({detail})",
        )
    return None


def _recorded_dataset_id(exp: Path) -> str | None:
    info = exp / "_experiment_info.json"
    try:
        value = json.loads(info.read_text()).get("dataset_id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if value else None


__all__ = [
    "DatasetMatch",
    "experiment_root",
    "find_dataset_for_experiment",
    "open_upstream_dataset",
    "upstream_feature_names",
]
