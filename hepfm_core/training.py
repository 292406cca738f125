"""Train the VAE on a data folder's background and save it as a hepfm model file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .datasets import open_data
from .vae import EpochCallback, TrainingSettings, VAEConfig


def load_background(
    data_dir: str | Path, max_events: int | None = None
) -> tuple[np.ndarray, object]:
    """The background's model inputs (float32, in memory) and its Sample."""
    data = open_data(data_dir)
    bg = data.background
    n = bg.n_events if max_events is None else min(max_events, bg.n_events)
    x = np.empty((n, bg.n_features), dtype=np.float32)
    for start, block in bg.chunks():
        if start >= n:
            break
        x[start : start + block.shape[0]] = block[: n - start]
    return x, bg


def train_on_folder(
    data_dir: str | Path,
    out: str | Path,
    *,
    config: VAEConfig | None = None,
    settings: TrainingSettings | None = None,
    on_epoch: EpochCallback | None = None,
) -> Path:
    """Train on the background of ``data_dir``; write ``out`` (.keras) with metadata."""
    from .model_io import save_model
    from .vae import train_vae

    settings = settings or TrainingSettings()
    x, bg = load_background(data_dir, settings.max_events)
    config = config or VAEConfig(input_dim=bg.n_features)
    if config.input_dim != bg.n_features:
        config = replace(config, input_dim=bg.n_features)
    encoder, decoder, history = train_vae(x, config, settings, on_epoch=on_epoch)
    return save_model(
        out,
        encoder,
        decoder,
        config,
        feature_names=bg.feature_names,
        normalisation=bg.x.normalisation,  # type: ignore[attr-defined]
        extra={
            "training": settings.to_dict(),
            "history": history.to_dict(),
            "data": {
                "path": str(Path(data_dir).resolve()),
                "background_fingerprint": bg.provenance.fingerprint,
                "events_used": int(x.shape[0]),
            },
        },
    )
