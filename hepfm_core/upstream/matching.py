"""Which processed dataset an upstream experiment was trained on.

An experiment at ``<root>/_foundation_experiments/<exp>`` is matched against the dataset
folders ``<root>/_processed_datasets/*``: by the dataset id it recorded, else by comparing
the parts of both configs that define the stored data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common import paths
from ..errors import DataError
from .files import (
    BACKGROUND_FILE,
    DATASET_CONFIG,
    EXPERIMENT_CONFIG,
    EXPERIMENT_INFO,
    branch_name,
    experiment_root,
    read_yaml,
)

__all__ = [
    "DatasetMatch",
    "find_dataset_for_experiment",
]


@dataclass(frozen=True)
class DatasetMatch:
    """The dataset folder found for an experiment, and how it was matched (shown to users)."""

    path: Path
    how: str

    def __fspath__(self) -> str:
        return str(self.path)


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
                branch_name(f),
                _num(f.get("min_value", f.get("min"))),
                _num(f.get("max_value", f.get("max"))),
            )
            for f in (agg.get("filter_branches") or [])
            if isinstance(f, dict)
        ),
        key=repr,
    )
    return {
        "branches": sorted(branch_name(b) for b in agg.get("input_branches") or []),
        "filters": [list(f) for f in filters],
        "sort_by": None if not sort_by else branch_name(sort_by),
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
        out["scalar_features"] = sorted(branch_name(s) for s in scalars)
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
    same: list[str] = []
    differ: list[str] = []
    for key in sorted(set(a) & set(b)):
        (same if a[key] == b[key] else differ).append(key)
    return same, differ


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
        if paths.readable(base) and base.is_dir():  # a server's data root: nothing beyond
            candidates += sorted(p.parent for p in base.glob(f"*/{DATASET_CONFIG}"))
    candidates = [c for c in dict.fromkeys(candidates) if (c / BACKGROUND_FILE).exists()]
    if not candidates:
        return None

    exp_keys: dict[str, Any] = {}
    if (exp / EXPERIMENT_CONFIG).is_file():
        try:
            exp_keys = _experiment_keys(read_yaml(exp / EXPERIMENT_CONFIG))
        except (DataError, AttributeError, TypeError, ValueError):
            exp_keys = {}
    recorded_id = _recorded_dataset_id(exp)

    results = []
    for cand in candidates:
        try:
            same, differ = _compare(exp_keys, _dataset_keys(read_yaml(cand / DATASET_CONFIG)))
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
    info = exp / EXPERIMENT_INFO
    try:
        value = json.loads(info.read_text()).get("dataset_id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if value else None
