"""Finding the processed dataset an upstream experiment was trained on."""

from __future__ import annotations

import shutil
from pathlib import Path

from hepfm_core.upstream.matching import find_dataset_for_experiment

DATASET_ID = "dataset_runs_00298967-2-00311481_45222f19"
EXPERIMENT = "001_Foundation_VAE_Model"


def test_find_dataset_for_experiment(upstream_fixture: Path):
    exp = upstream_fixture / "_foundation_experiments" / EXPERIMENT
    dataset_dir = upstream_fixture / "_processed_datasets" / DATASET_ID
    for where in (exp, exp / "models" / "foundation_model"):
        match = find_dataset_for_experiment(where)
        assert match is not None
        assert match.path.resolve() == dataset_dir.resolve()
        assert Path(match) == match.path
        assert "_experiment_info.json" in match.how


def test_find_dataset_by_config_comparison(tmp_path: Path, upstream_fixture: Path):
    """Without the recorded id, the dataset/task sections decide (run numbers as str or int)."""
    src_exp = upstream_fixture / "_foundation_experiments" / EXPERIMENT
    src_ds = upstream_fixture / "_processed_datasets" / DATASET_ID
    exp = tmp_path / "_foundation_experiments" / EXPERIMENT
    exp.mkdir(parents=True)
    shutil.copyfile(src_exp / "_experiment_config.yaml", exp / "_experiment_config.yaml")
    good = tmp_path / "_processed_datasets" / "dataset_a"
    other = tmp_path / "_processed_datasets" / "dataset_b"
    for folder in (good, other):
        folder.mkdir(parents=True)
        (folder / "dataset.h5").write_bytes(b"")  # never opened by the matcher
    shutil.copyfile(src_ds / "_dataset_config.yaml", good / "_dataset_config.yaml")
    text = (src_ds / "_dataset_config.yaml").read_text()
    assert "event_limit: 1000" in text
    (other / "_dataset_config.yaml").write_text(text.replace("event_limit: 1000", "event_limit: 5"))
    match = find_dataset_for_experiment(exp)
    assert match is not None and match.path == good
    assert "run_numbers" in match.how and "input_aggregators" in match.how

    shutil.rmtree(good)
    match = find_dataset_for_experiment(exp)
    assert match is not None and match.path == other
    assert "inconclusive" in match.how and "event_limit" in match.how

    shutil.rmtree(other)
    assert find_dataset_for_experiment(exp) is None


def test_a_confined_search_stays_inside_the_root(upstream_fixture, tmp_path):
    """A shared dashboard confines searches to its data root: the walk up to the experiment
    folder stops at the root, and no dataset beside the root is looked at."""
    import shutil

    from hepfm_core.common import paths
    from hepfm_core.upstream.files import experiment_root

    outer = tmp_path / "outer"
    shutil.copytree(upstream_fixture, outer)
    exp = outer / "_foundation_experiments" / "001_Foundation_VAE_Model"
    inner = exp / "models" / "foundation_model"
    assert experiment_root(inner) == exp
    assert find_dataset_for_experiment(exp) is not None
    paths.confine_reads(exp / "models")  # a root below the experiment's folder
    assert experiment_root(inner) == inner  # neither the walk nor the folder names lead up
    paths.confine_reads(exp.parent)  # a root holding the experiment, not its datasets
    assert experiment_root(inner) == exp
    assert find_dataset_for_experiment(exp) is None
