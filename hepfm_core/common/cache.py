"""Where hepfm keeps derived files (scoring passes): ``$HEPFM_CACHE_DIR`` or ~/.cache/hepfm.

Cache entries are folders published whole: written into a unique temporary folder beside
the target and renamed onto it in one step, so readers in any process see either no entry
or a complete one, and two processes filling the same entry at once never remove each
other's files (``publish_dir``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "PUBLISH_ATTEMPTS",
    "TMP_MARK",
    "cache_dir",
    "publish_dir",
]

TMP_MARK = ".tmp-"
"""Infix of temporary and discarded folders: ``<entry name>.tmp-<random>``."""
PUBLISH_ATTEMPTS = 3


def cache_dir(override: str | Path | None = None) -> Path:
    if override is not None:
        return Path(override)
    env = os.environ.get("HEPFM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hepfm"


def _complete(target: Path, marker: str | None) -> bool:
    return (target / marker).exists() if marker else target.exists()


def publish_dir(target: Path, write: Callable[[Path], None], *, marker: str | None = None) -> bool:
    """Create the folder ``target`` from ``write(folder)`` atomically; False if another won.

    ``write`` fills a fresh temporary folder beside ``target``, which is then renamed onto
    ``target``. When ``target`` already exists (another writer published first), ours is
    discarded and the caller opens theirs. ``marker`` names the file a complete entry holds:
    a ``target`` without it (left by something other than this function) is moved aside
    with one atomic rename and replaced. Only folders this call created are removed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + TMP_MARK, dir=target.parent))
    try:
        write(tmp)
        for _ in range(PUBLISH_ATTEMPTS):
            try:
                os.rename(tmp, target)  # fails if target exists (and is not empty on POSIX)
                return True
            except OSError:
                if not target.exists():
                    raise
            if _complete(target, marker):
                return False
            _move_aside(target)
        raise OSError(f"cannot publish {target}: it keeps being replaced by incomplete folders")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # ours, unpublished: nobody else knows it


def _move_aside(target: Path) -> None:
    """Rename an incomplete ``target`` to a fresh name of our own, then delete it there."""
    aside = Path(tempfile.mkdtemp(prefix=target.name + TMP_MARK, dir=target.parent))
    try:
        os.rename(target, aside / "stale")
    except FileNotFoundError:  # another writer moved it first
        pass
    shutil.rmtree(aside, ignore_errors=True)
