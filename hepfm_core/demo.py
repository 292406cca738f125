"""The demo: ATLAS-like data and a VAE trained on its background, in one folder."""

from __future__ import annotations

from pathlib import Path

from .generator import GeneratorConfig, generate_dataset
from .progress import TextProgress
from .vae import EpochCallback, TrainingSettings

DEFAULT_DIR = Path("data") / "demo"
DEFAULT_BACKGROUND = 200_000
DEFAULT_SIGNAL = 10_000
MODEL_NAME = "model.keras"
# Training budget of the demo model: it must be ready, with the data, in ~60 s on 2 cores.
DEMO_TRAINING = TrainingSettings(epochs=8, batch_size=1024, max_events=120_000, patience=3)


def demo_paths(out: str | Path = DEFAULT_DIR) -> tuple[Path, Path]:
    out = Path(out)
    return out, out / MODEL_NAME


def demo_ready(out: str | Path = DEFAULT_DIR) -> bool:
    data_dir, model = demo_paths(out)
    return model.exists() and (data_dir / "background.h5").exists()


def make_demo(
    out: str | Path = DEFAULT_DIR,
    *,
    n_background: int = DEFAULT_BACKGROUND,
    n_signal: int = DEFAULT_SIGNAL,
    seed: int = 42,
    train: bool = True,
    progress=None,
    on_epoch: EpochCallback | None = None,
    training: TrainingSettings = DEMO_TRAINING,
) -> tuple[Path, Path | None]:
    """Write the demo data folder and (unless ``train`` is False) its model."""
    from dataclasses import replace

    data_dir, model_path = demo_paths(out)
    progress = progress or TextProgress()
    generate_dataset(data_dir, n_background, n_signal, GeneratorConfig(seed=seed), progress)
    if not train:
        return data_dir, None
    from .training import train_on_folder

    train_on_folder(data_dir, model_path, settings=replace(training, seed=seed), on_epoch=on_epoch)
    return data_dir, model_path
