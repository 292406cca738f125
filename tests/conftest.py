"""Shared test fixtures: the upstream fixture folder, and a small demo made once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

UPSTREAM_SMALL = (
    Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "upstream_small"
)


@pytest.fixture(scope="session")
def upstream_fixture() -> Path:
    """The upstream pipeline's own output files (``<repo>/../shared/fixtures/upstream_small``)."""
    if not (UPSTREAM_SMALL / "_processed_datasets").is_dir():
        pytest.skip(f"upstream fixture folder not found at {UPSTREAM_SMALL}")
    return UPSTREAM_SMALL


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, headless, as root, on a machine without outside network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep every test's scoring passes and scan memos out of the user's cache directory."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEPFM_CACHE_DIR", str(tmp_path_factory.mktemp("hepfm-cache")))
        yield


@pytest.fixture(scope="session")
def chromium_launch() -> dict:
    """Keyword arguments for playwright's ``chromium.launch``; skips without chromium."""
    from pathlib import Path as _Path

    if not _Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not installed at {CHROMIUM} (apt-get install chromium)")
    return {"executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


SMALL_BACKGROUND = 20_000
SMALL_SIGNAL = 2_000


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
