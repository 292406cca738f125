"""The demo: its folder, its size from the environment, and making it."""

from __future__ import annotations

import pytest

from hepfm_core import demo
from hepfm_core.common import paths
from hepfm_core.errors import SettingsError
from hepfm_core.sources import open_data


def test_cli_demo_out_defaults_to_the_demo_dir(no_env, tmp_path):
    from hepfm_core.cli import build_parser

    args = build_parser().parse_args(["demo"])
    assert args.out is None  # resolved when the command runs, so the env var then counts
    no_env.setenv(paths.DATA_ROOT_ENV, str(tmp_path))
    assert demo.demo_paths(args.out) == (tmp_path / "demo", tmp_path / "demo" / "model.keras")


def test_demo_sizes_default(no_env):
    assert demo.demo_sizes() == (demo.DEFAULT_BACKGROUND, demo.DEFAULT_SIGNAL)
    assert demo.demo_total_events() == demo.DEFAULT_BACKGROUND + 6 * demo.DEFAULT_SIGNAL
    assert demo.demo_training() == demo.DEMO_TRAINING


def test_demo_sizes_from_env(no_env):
    no_env.setenv(demo.BACKGROUND_ENV, " 4000 ")
    no_env.setenv(demo.SIGNAL_ENV, "5_00")
    no_env.setenv(demo.EPOCHS_ENV, "2")
    assert demo.demo_sizes() == (4000, 500)
    assert demo.demo_total_events() == 4000 + 6 * 500
    training = demo.demo_training()
    assert (training.epochs, training.patience) == (2, 2)
    assert training.batch_size == demo.DEMO_TRAINING.batch_size
    no_env.setenv(demo.SIGNAL_ENV, "")  # empty means unset
    assert demo.demo_sizes() == (4000, demo.DEFAULT_SIGNAL)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (demo.BACKGROUND_ENV, "lots"),
        (demo.BACKGROUND_ENV, "999"),
        (demo.BACKGROUND_ENV, "4e3"),
        (demo.SIGNAL_ENV, "-5"),
        (demo.SIGNAL_ENV, "99"),
        (demo.EPOCHS_ENV, "0"),
        (demo.EPOCHS_ENV, "2.5"),
    ],
)
def test_demo_sizes_invalid(no_env, name, value):
    no_env.setenv(name, value)
    reader = demo.demo_training if name == demo.EPOCHS_ENV else demo.demo_sizes
    with pytest.raises(SettingsError, match=name) as info:
        reader()
    assert repr(value) in str(info.value) and "what to do" in str(info.value)


def test_make_demo_reads_the_env(no_env, tmp_path):
    no_env.setenv(paths.DATA_ROOT_ENV, str(tmp_path))
    no_env.setenv(demo.BACKGROUND_ENV, "1000")
    no_env.setenv(demo.SIGNAL_ENV, "100")
    data_dir, model = demo.make_demo(train=False, progress=lambda *a: None)
    assert (data_dir, model) == (tmp_path / "demo", None)
    data = open_data(data_dir)
    counts = {name: s.n_events for name, s in data.samples.items()}
    assert counts.pop("background") == 1000
    assert len(counts) == 6 and set(counts.values()) == {100}
    # explicit arguments win over the environment
    no_env.setenv(demo.BACKGROUND_ENV, "nonsense")
    demo.make_demo(tmp_path / "other", n_background=1200, n_signal=100, train=False,
                   progress=lambda *a: None)  # fmt: skip
    assert open_data(tmp_path / "other").samples["background"].n_events == 1200
