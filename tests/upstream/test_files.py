"""The upstream pipeline's folders: one rule for an experiment's root, its fingerprint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hepfm_core.errors import UpstreamExperimentError
from hepfm_core.upstream.files import (
    EXPERIMENT_CONFIG,
    configured_experiment_root,
    experiment_fingerprint,
    experiment_root,
)

EXPERIMENT = ("_foundation_experiments", "001_Foundation_VAE_Model")


def test_experiment_root_from_the_folder_and_below(upstream_fixture: Path):
    exp = upstream_fixture.joinpath(*EXPERIMENT)
    models = exp / "models"
    parts = models / "foundation_model"
    for where in (exp, models, parts, parts / "encoder"):
        assert experiment_root(where) == exp
        assert configured_experiment_root(where) == exp


def test_experiment_root_by_name_without_a_config(tmp_path: Path):
    exp = tmp_path / "exp"
    (exp / "models" / "foundation_model").mkdir(parents=True)
    assert experiment_root(exp / "models" / "foundation_model") == exp
    assert experiment_root(exp / "models") == exp
    assert experiment_root(exp) == exp
    with pytest.raises(UpstreamExperimentError, match=re.escape(EXPERIMENT_CONFIG)):
        configured_experiment_root(exp / "models")


def test_fingerprint_is_the_same_from_any_subfolder(upstream_fixture: Path):
    exp = upstream_fixture.joinpath(*EXPERIMENT)
    fp = experiment_fingerprint(exp)
    assert fp.startswith("upstream-")
    assert experiment_fingerprint(configured_experiment_root(exp / "models")) == fp
