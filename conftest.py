"""Root test configuration: it reaches the doctests in hepfm_core as well as tests/.

The examples in the docstrings that train a model (and so import TensorFlow) are marked
``slow``, like the tests that do, so that ``pytest -m "not slow"`` stays a fast loop.
"""

from __future__ import annotations

import pytest

# Calls that mean a docstring example trains a model.
TRAINING_CALLS = ("make_demo(", "train_vae(", "train_on_data(")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        examples = getattr(getattr(item, "dtest", None), "examples", ())
        if any(call in ex.source for ex in examples for call in TRAINING_CALLS):
            item.add_marker(pytest.mark.slow)
