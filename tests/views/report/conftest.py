"""Fixtures of the report's tests: the report's data at a grid clip, a non-default score and
policy, every signal, collected once from the views' evaluator."""

from __future__ import annotations

import pytest

from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.views.report import grid


@pytest.fixture(scope="session")
def report_settings(evaluator) -> EvaluationSettings:
    return EvaluationSettings(
        clip=(-20.0, 20.0), score="kl", policy="drop", signals=tuple(evaluator.signal_names)
    )


@pytest.fixture(scope="session")
def report_data(evaluator, report_settings):
    return grid.collect(evaluator, report_settings)
