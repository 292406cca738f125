"""Fixtures of the view tests: one evaluator on the small demo, every pass scored."""

from __future__ import annotations

import pytest

from hepfm_core.engine.evaluate import Evaluator


@pytest.fixture(scope="session")
def evaluator(small_demo, tmp_path_factory):
    ev = Evaluator.open(*small_demo, cache=tmp_path_factory.mktemp("cache"))
    ev.score_all()
    return ev
