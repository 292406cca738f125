"""The demo and training on a folder: ATLAS-like data and a VAE trained on its background.

The demo's folder defaults to :func:`hepfm_core.common.paths.demo_dir` (``<data root>/demo``).
Its size and training length can be set through the environment, read when the demo is made:

- ``HEPFM_DEMO_BACKGROUND``: background events (default 200 000, at least 1 000);
- ``HEPFM_DEMO_SIGNAL``: events per signal sample (default 10 000, at least 100);
- ``HEPFM_DEMO_EPOCHS``: training epochs (default 8, at least 1).

Arguments given to :func:`make_demo` win over the environment. :func:`train_on_folder` (also
what ``hepfm train`` runs) opens a data folder and trains the VAE on its background.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from .common.paths import demo_dir
from .common.progress import Progress, TextProgress
from .data.generator import DEFAULT_SIGNALS, GeneratorConfig, generate_dataset
from .errors import SettingsError
from .model.training import EpochCallback, TrainingSettings, train_on_data
from .model.vae import VAEConfig
from .sources import open_data
from .vocabulary import DEFAULT_COMPRESSION, Compression

__all__ = [
    "BACKGROUND_ENV",
    "DEFAULT_BACKGROUND",
    "DEFAULT_SIGNAL",
    "DEMO_TRAINING",
    "EPOCHS_ENV",
    "MIN_BACKGROUND",
    "MIN_SIGNAL",
    "MODEL_NAME",
    "SIGNAL_ENV",
    "demo_paths",
    "demo_ready",
    "demo_sizes",
    "demo_total_events",
    "demo_training",
    "make_demo",
    "train_on_folder",
]

DEFAULT_BACKGROUND = 200_000
DEFAULT_SIGNAL = 10_000
MIN_BACKGROUND = 1_000
MIN_SIGNAL = 100
BACKGROUND_ENV = "HEPFM_DEMO_BACKGROUND"
SIGNAL_ENV = "HEPFM_DEMO_SIGNAL"
EPOCHS_ENV = "HEPFM_DEMO_EPOCHS"
MODEL_NAME = "model.keras"
# Training budget of the demo model: it must be ready, with the data, in ~60 s on 2 cores.
DEMO_TRAINING = TrainingSettings(epochs=8, batch_size=1024, max_events=120_000, patience=3)


def _env_int(name: str, default: int, minimum: int) -> int:
    """The integer in ``$name`` (``default`` when unset or empty); SettingsError if invalid."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise SettingsError(
            f"{name}={raw!r} is not a whole number of at least {minimum:,}",
            name,
            f"set {name} to a whole number >= {minimum} (default {default}), or unset it",
        )
    return value


def demo_sizes() -> tuple[int, int]:
    """(background events, events per signal sample) of the demo, from the environment."""
    return (
        _env_int(BACKGROUND_ENV, DEFAULT_BACKGROUND, MIN_BACKGROUND),
        _env_int(SIGNAL_ENV, DEFAULT_SIGNAL, MIN_SIGNAL),
    )


def demo_total_events() -> int:
    """Events the demo generator writes in all (background plus every signal sample)."""
    n_background, n_signal = demo_sizes()
    return n_background + len(DEFAULT_SIGNALS) * n_signal


def demo_training() -> TrainingSettings:
    """The demo's training settings, with ``$HEPFM_DEMO_EPOCHS`` applied."""
    epochs = _env_int(EPOCHS_ENV, DEMO_TRAINING.epochs, 1)
    return replace(DEMO_TRAINING, epochs=epochs, patience=min(DEMO_TRAINING.patience, epochs))


def demo_paths(out: str | Path | None = None) -> tuple[Path, Path]:
    """(data folder, model file) of the demo in ``out`` (default: ``paths.demo_dir()``)."""
    out = Path(out) if out is not None else demo_dir()
    return out, out / MODEL_NAME


def demo_ready(out: str | Path | None = None) -> bool:
    """Whether ``out`` (default: ``paths.demo_dir()``) holds the demo's data and model."""
    data_dir, model = demo_paths(out)
    return model.exists() and (data_dir / "background.h5").exists()


def make_demo(
    out: str | Path | None = None,
    *,
    n_background: int | None = None,
    n_signal: int | None = None,
    seed: int = 42,
    train: bool = True,
    progress: Progress | None = None,
    on_epoch: EpochCallback | None = None,
    training: TrainingSettings | None = None,
    compression: Compression = DEFAULT_COMPRESSION,
) -> tuple[Path, Path | None]:
    """Write the demo data folder and (unless ``train`` is False) its model.

    None for ``out``, the sizes or ``training`` means the default, read from the
    environment (see the module docstring). ``compression``: of the data files (gzip writes
    format version 1, for readers without hdf5plugin).
    """
    data_dir, model_path = demo_paths(out)
    if n_background is None or n_signal is None:
        env_background, env_signal = demo_sizes()
        n_background = env_background if n_background is None else n_background
        n_signal = env_signal if n_signal is None else n_signal
    training = training if training is not None else demo_training()
    progress = progress or TextProgress()
    generate_dataset(
        data_dir, n_background, n_signal, GeneratorConfig(seed=seed), progress, compression
    )
    if not train:
        return data_dir, None
    train_on_folder(data_dir, model_path, settings=replace(training, seed=seed), on_epoch=on_epoch)
    return data_dir, model_path


def train_on_folder(
    data_dir: str | Path,
    out: str | Path,
    *,
    config: VAEConfig | None = None,
    settings: TrainingSettings | None = None,
    on_epoch: EpochCallback | None = None,
) -> Path:
    """Train on the background of the data folder ``data_dir`` (hepfm's or upstream's);
    write ``out`` (.keras) with hepfm's metadata."""
    data = open_data(data_dir)
    return train_on_data(data, out, config=config, settings=settings, on_epoch=on_epoch)
