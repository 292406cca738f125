"""Fixture-path helpers shared by the test modules."""

from __future__ import annotations

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
