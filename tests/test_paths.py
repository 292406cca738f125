"""The data-root rule (env var, checkout, per-user folder) and the demo's size from the env."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepfm_core import dashboard as db
from hepfm_core import demo, paths
from hepfm_core.errors import SettingsError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_env(monkeypatch) -> pytest.MonkeyPatch:
    """No data-root or demo variables set, and a fake home."""
    for name in (
        paths.DATA_ROOT_ENV,
        "XDG_DATA_HOME",
        demo.BACKGROUND_ENV,
        demo.SIGNAL_ENV,
        demo.EPOCHS_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def fake_package(tmp_path: Path, pyproject: str | None, apps: bool) -> Path:
    """A folder laid out like a checkout (or not) with a ``hepfm_core`` package in it."""
    root = tmp_path / "tree"
    (root / "hepfm_core").mkdir(parents=True)
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    if apps:
        (root / "apps").mkdir()
    return root / "hepfm_core"


def test_env_var_wins(no_env, tmp_path):
    no_env.setenv(paths.DATA_ROOT_ENV, str(tmp_path / "x" / ".." / "root"))
    assert paths.data_root() == (tmp_path / "root").resolve()
    assert paths.demo_dir() == (tmp_path / "root").resolve() / "demo"
    # the dashboard and the demo follow the same rule
    assert db.data_root() == paths.data_root()
    assert db.DATA_ROOT_ENV == paths.DATA_ROOT_ENV
    assert demo.demo_paths()[0] == paths.demo_dir()


def test_empty_env_var_is_unset(no_env):
    no_env.setenv(paths.DATA_ROOT_ENV, "")
    assert paths.data_root() == REPO / "data"


def test_this_checkout_uses_its_data_folder(no_env):
    assert paths.checkout_root() == REPO
    assert paths.data_root() == REPO / "data"
    assert db.project_root() == REPO
    assert db.data_root() == REPO / "data"


def test_fake_checkout(no_env, tmp_path):
    pkg = fake_package(tmp_path, '[project]\nname = "hepfm"\n', apps=True)
    no_env.setattr(paths, "PACKAGE_DIR", pkg)
    assert paths.checkout_root() == pkg.parent
    assert paths.data_root() == pkg.parent / "data"


@pytest.mark.parametrize(
    ("pyproject", "apps"),
    [
        (None, True),  # no pyproject.toml: e.g. site-packages next to an apps/ folder
        ('[project]\nname = "hepfm"\n', False),  # no apps/ folder
        ('[project]\nname = "other"\n', True),  # another project's checkout
        ("[project\nname = broken", True),  # unreadable pyproject.toml
        ("[tool.x]\na = 1\n", True),  # no [project] table
    ],
)
def test_not_a_checkout_uses_the_user_data_folder(no_env, tmp_path, pyproject, apps):
    pkg = fake_package(tmp_path, pyproject, apps)
    no_env.setattr(paths, "PACKAGE_DIR", pkg)
    home = tmp_path / "home"
    no_env.setenv("HOME", str(home))
    assert paths.checkout_root() is None
    assert paths.data_root() == home / ".local" / "share" / "hepfm"
    assert paths.demo_dir() == home / ".local" / "share" / "hepfm" / "demo"
    # $XDG_DATA_HOME when absolute; a relative one is ignored, as the XDG spec says
    no_env.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.data_root() == tmp_path / "xdg" / "hepfm"
    no_env.setenv("XDG_DATA_HOME", "relative/xdg")
    assert paths.data_root() == home / ".local" / "share" / "hepfm"
    # the env var still wins
    no_env.setenv(paths.DATA_ROOT_ENV, str(tmp_path / "root"))
    assert paths.data_root() == (tmp_path / "root").resolve()


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
    from hepfm_core.datasets import open_data

    data = open_data(data_dir)
    counts = {name: s.n_events for name, s in data.samples.items()}
    assert counts.pop("background") == 1000
    assert len(counts) == 6 and set(counts.values()) == {100}
    # explicit arguments win over the environment
    no_env.setenv(demo.BACKGROUND_ENV, "nonsense")
    demo.make_demo(tmp_path / "other", n_background=1200, n_signal=100, train=False,
                   progress=lambda *a: None)  # fmt: skip
    assert open_data(tmp_path / "other").samples["background"].n_events == 1200
