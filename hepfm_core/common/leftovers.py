"""Temporary names that say who writes them, and the removal of those whose writer is dead.

A process killed while writing (a cache entry, a shard, a converted folder) leaves its
temporary file or folder behind. Every temporary name hepfm makes carries its writer:
``<name><marker><host>~<pid>~<random>``, so a later run can tell a stale leftover (its writer, a
process on this host, no longer runs) from one being written right now (by another process,
or on another host of a shared filesystem). :func:`sweep` removes the stale ones.

A leftover from another host cannot be checked: it is removed only once it is older than
``FOREIGN_AGE`` seconds (no writer takes that long); a name without a writer (written by an
older hepfm) likewise.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FOREIGN_AGE",
    "Owner",
    "owner_of",
    "owner_tag",
    "process_alive",
    "stale",
    "sweep",
]

FOREIGN_AGE = 24 * 3600.0
"""Seconds after which a leftover whose writer cannot be checked is removed anyway."""
_SEP = "~"


def _host() -> str:
    """This host's name, without the separator (names must parse back)."""
    return (platform.node() or "localhost").replace(_SEP, "-").replace("/", "-")


@dataclass(frozen=True)
class Owner:
    """The process that writes a temporary name: host and process id."""

    host: str
    pid: int


def owner_tag() -> str:
    """``<host>~<pid>~<random>``: the part of a temporary name that names its writer."""
    return f"{_host()}{_SEP}{os.getpid()}{_SEP}{uuid.uuid4().hex[:8]}"


def owner_of(name: str, marker: str) -> Owner | None:
    """The writer recorded in ``name`` after the (last) ``marker``; None when it records
    none."""
    at = name.rfind(marker)
    if at < 0:
        return None
    parts = name[at + len(marker) :].split(_SEP)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return Owner(parts[0], int(parts[1]))


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale(path: Path, marker: str, *, now: float | None = None) -> bool:
    """Whether the temporary ``path`` (its name holds ``marker``, then its writer) is left
    over: its writer on this host is dead, or its writer cannot be checked and it is older
    than ``FOREIGN_AGE``."""
    owner = owner_of(path.name, marker)
    if owner is not None and owner.host == _host():
        return owner.pid != os.getpid() and not process_alive(owner.pid)
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age > FOREIGN_AGE


def sweep(folder: Path, markers: tuple[str, ...]) -> list[Path]:
    """Remove the stale temporaries in ``folder`` whose names hold one of ``markers``
    (followed by their writer's tag); the paths removed. A folder that cannot be listed is
    left alone, and so is an entry that cannot be removed."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for path in entries:
        marker = next((m for m in markers if m in path.name), None)
        if marker is None or not stale(path, marker):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                path.unlink()
            except OSError:
                continue
        if not path.exists():
            removed.append(path)
    return removed
