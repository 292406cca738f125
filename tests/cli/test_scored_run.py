"""The evaluator evaluate, report and events open: the data found from an upstream
experiment, and a bad partition size refused before any cluster is reached."""

from __future__ import annotations

import contextlib

import pytest

from hepfm_core.cli import build_parser
from hepfm_core.cli.scored_run import first_model, open_evaluator, resolve_data
from hepfm_core.cli.to_settings import cluster_spec
from hepfm_core.errors import SettingsError


def test_the_data_from_the_flag_or_from_the_upstream_experiment(upstream_fixture):
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    (dataset,) = (upstream_fixture / "_processed_datasets").iterdir()
    args = build_parser().parse_args(["evaluate", "--model", f"up={exp}", "--model", "b.keras"])
    assert first_model(args) == str(exp)
    assert resolve_data(args) == str(dataset)
    args.data = "given"
    assert resolve_data(args) == "given"


def test_a_bad_partition_size_is_refused_before_the_cluster_is_reached():
    argv = ["evaluate", "--model", "m", "--scheduler", "tcp://192.0.2.1:1"]
    args = build_parser().parse_args([*argv, "--partition-events", "1000"])
    with contextlib.ExitStack() as stack, pytest.raises(SettingsError) as error:
        open_evaluator(stack, "d", "m", args, cluster_spec(args))
    assert error.value.where == "--partition-events"
    assert "not a multiple of the scoring chunk" in error.value.what
