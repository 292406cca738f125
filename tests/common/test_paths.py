"""The data-root rule: env var, checkout, per-user folder; the dashboard and the demo follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepfm_core import demo
from hepfm_core.common import paths
from hepfm_core.views import dashboard as db

REPO = Path(__file__).resolve().parents[2]


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
