"""Where hepfm's data lives: one rule for the app, the CLI and the demo.

The data root is, in order:

1. ``$HEPFM_DATA_ROOT`` when set (and not empty);
2. the checkout's ``data/`` folder when hepfm runs from a source checkout (the package's
   parent folder holds a ``pyproject.toml`` naming project ``hepfm`` and an ``apps/`` folder);
3. otherwise (an installed wheel) the per-user data folder ``$XDG_DATA_HOME/hepfm``, or
   ``~/.local/share/hepfm`` when ``$XDG_DATA_HOME`` is unset or not absolute.

The demo lives in ``<data root>/demo``. Every function reads the environment when called,
so a variable set after import still counts.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

__all__ = [
    "DATA_ROOT_ENV",
    "DEMO_FOLDER",
    "PACKAGE_DIR",
    "PROJECT_NAME",
    "checkout_root",
    "confine_reads",
    "data_root",
    "demo_dir",
    "readable",
    "user_data_dir",
]

DATA_ROOT_ENV = "HEPFM_DATA_ROOT"
PROJECT_NAME = "hepfm"
DEMO_FOLDER = "demo"
# The installed package's folder (hepfm_core/); tests point it elsewhere to fake a checkout
# or a wheel.
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def checkout_root() -> Path | None:
    """The source checkout hepfm is imported from, or None when it is installed."""
    root = PACKAGE_DIR.parent
    pyproject = root / "pyproject.toml"
    if not (root / "apps").is_dir() or not pyproject.is_file():
        return None
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return None
    return root if name == PROJECT_NAME else None


def user_data_dir() -> Path:
    """The per-user data folder: ``$XDG_DATA_HOME/hepfm`` or ``~/.local/share/hepfm``."""
    base = os.environ.get("XDG_DATA_HOME")
    # the XDG spec says relative paths are invalid and to be ignored
    if base and Path(base).is_absolute():
        return Path(base) / PROJECT_NAME
    return Path.home() / ".local" / "share" / PROJECT_NAME


def data_root() -> Path:
    """The data root (absolute): ``$HEPFM_DATA_ROOT``, else the checkout's ``data/``, else
    the per-user data folder. Not created here."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    checkout = checkout_root()
    return checkout / "data" if checkout is not None else user_data_dir()


def demo_dir() -> Path:
    """The demo's folder (data and model): ``<data root>/demo``."""
    return data_root() / DEMO_FOLDER


# -- a server's confinement ------------------------------------------------------------------
_reads_root: Path | None = None


def confine_reads(root: str | Path | None) -> None:
    """Confine the searches that walk beyond a chosen path (an upstream experiment's folder
    above a chosen subfolder, its dataset beside it) to ``root`` in this process; None lifts
    it. The dashboard sets its data root: a viewer chooses paths inside it, and no search
    may lead outside."""
    global _reads_root
    _reads_root = None if root is None else Path(root).resolve()


def readable(path: str | Path) -> bool:
    """Whether a search may look at ``path``: always, unless :func:`confine_reads` set a
    root and ``path`` lies outside it.

    >>> confine_reads("/srv/data"); readable("/srv/data/runs"), readable("/srv")
    (True, False)
    >>> confine_reads(None); readable("/srv")
    True
    """
    if _reads_root is None:
        return True
    p = Path(path).resolve()
    return p == _reads_root or _reads_root in p.parents
