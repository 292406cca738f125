"""Shared test data: a small demo folder and model, made once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SMALL_BACKGROUND = 20_000
SMALL_SIGNAL = 2_000
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
UPSTREAM_FIXTURE = SHARED / "fixtures" / "upstream_small"


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, model path) of a small seeded demo trained for a few epochs."""
    from hepfm_core.demo import make_demo
    from hepfm_core.vae import TrainingSettings

    out = tmp_path_factory.mktemp("demo")
    data_dir, model = make_demo(
        out,
        n_background=SMALL_BACKGROUND,
        n_signal=SMALL_SIGNAL,
        seed=7,
        progress=lambda *a: None,
        training=TrainingSettings(epochs=4, batch_size=512, patience=4),
    )
    return data_dir, model


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """A small demo data folder without a model."""
    from hepfm_core.generator import GeneratorConfig, generate_dataset

    out = tmp_path_factory.mktemp("data")
    generate_dataset(out, 5_000, 1_000, GeneratorConfig(seed=3), None)
    return out
