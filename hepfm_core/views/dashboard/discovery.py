"""Where the dashboard's data and models come from: the data root every path is confined
to, the models found under it, and a model's own dataset."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ...common import paths
from ...engine.compare.specs import model_label
from ...errors import HepfmError, PathNotAllowedError
from ...sources import dataset_for_model, describe_model, open_data
from ...upstream.files import EXPERIMENT_CONFIG

__all__ = [
    "MODEL_SEARCH_DEPTH",
    "confine",
    "confined_root",
    "data_for_model",
    "data_root",
    "find_models",
    "model_args",
    "model_choices",
    "project_root",
    "sample_names",
]


MODEL_SEARCH_DEPTH = 4
"""How many folders deep under the data root the app looks for models."""


def project_root() -> Path:
    """The source checkout's root; the package's parent folder when hepfm is installed."""
    return paths.checkout_root() or paths.PACKAGE_DIR.parent


def data_root() -> Path:
    """The data root: see :func:`hepfm_core.common.paths.data_root` for the rule."""
    return paths.data_root()


def confined_root() -> Path:
    """The data root, with every search that walks beyond a chosen path (an experiment's
    folder above it, its dataset beside it) confined to it in this process
    (``paths.confine_reads``): what the dashboard reads stays inside its root."""
    root = data_root().resolve()
    paths.confine_reads(root)
    return root


def confine(path: str | Path, root: Path | None = None) -> Path:
    """``path`` resolved (relative to the root if relative); refused outside the root."""
    root = (root or data_root()).resolve()
    p = Path(path)
    p = (p if p.is_absolute() else root / p).resolve()
    if p != root and root not in p.parents:
        raise PathNotAllowedError(
            f"{p} is outside the dashboard's data root {root}",
            p,
            f"copy or link the data under {root}, or set {paths.DATA_ROOT_ENV} when starting "
            "the app",
        )
    return p


def data_for_model(model_path: Path, fallback: Path, root: Path | None = None) -> Path:
    """The data folder to show with a model when the user chose none.

    An upstream experiment names its dataset in its config (``sources.dataset_for_model``):
    use it when it lies under the data root; otherwise (and for hepfm models) the fallback,
    normally the demo.
    """
    try:
        found = dataset_for_model(model_path)
    except HepfmError:
        return fallback
    if found is None:
        return fallback
    try:
        return confine(found, root)
    except PathNotAllowedError:
        return fallback


def sample_names(data_dir: str | Path) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The samples of the data folder and its signals, from the folder alone (headers, tens
    of milliseconds); None when it cannot be opened (the evaluator's cell says why).

    Why not the evaluator's: the app's controls and the link's state are built from these
    names, and the evaluator is a new object whenever the fill or the normalisation changes;
    controls built from it would be rebuilt at the link's values, and every cell redrawn.
    """
    try:
        data = open_data(data_dir)
    except HepfmError:
        return None
    return tuple(data.samples), tuple(data.signals)


def model_args(value: object) -> list[str]:
    """The ``-- --model`` values of the app's command line: none, one, or several."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items]


def find_models(root: Path | None = None, depth: int = MODEL_SEARCH_DEPTH) -> list[Path]:
    """hepfm model files (``*.keras``) and upstream experiment folders under the root, at
    most ``depth`` folders deep, hidden folders skipped; sorted."""
    root = (root or data_root()).resolve()
    found: list[Path] = []
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        level = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        if level >= depth:
            dirs[:] = []
        if EXPERIMENT_CONFIG in files:
            found.append(here)
            dirs[:] = []  # an experiment's own files are not models of their own
            continue
        found += [here / f for f in sorted(files) if f.endswith(".keras")]
    return sorted(found)


def model_choices(
    primary: Path, given: Sequence[str] = (), root: Path | None = None
) -> tuple[dict[str, Path], list[str]]:
    """The app's model options, label -> path, and the labels selected at first.

    Options: the model shown (``primary``), the models of the command line (``given``),
    then those under the root (:func:`find_models`), each once; the first two are selected.
    Labels are :func:`engine.compare.models.model_label`'s (name and short fingerprint); a file
    that is no usable model is left out. Raises ``PathNotAllowedError`` for a given model
    outside the root.
    """
    chosen = [primary, *(confine(g, root) for g in given)]
    wanted = {str(p.resolve()) for p in chosen}
    out: dict[str, Path] = {}
    selected: list[str] = []
    seen: set[str] = set()
    for path in [*chosen, *find_models(root)]:
        key = str(path.resolve())
        if key in seen:
            continue
        seen.add(key)
        try:
            base = model_label(describe_model(path))
        except HepfmError:
            continue
        label, n = base, 1
        while label in out:  # the same model at two paths
            n += 1
            label = f"{base}#{n}"
        out[label] = path
        if key in wanted:
            selected.append(label)
    return out, selected
