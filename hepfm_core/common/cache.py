"""Where hepfm keeps derived files (scoring passes): ``$HEPFM_CACHE_DIR`` or ~/.cache/hepfm.

Cache entries are folders published whole: written into a unique temporary folder beside
the target and renamed onto it in one step, so readers in any process see either no entry
or a complete one, and two processes filling the same entry at once never remove each
other's files (``publish_dir``). Temporary folders name their writer (``common.leftovers``):
those of killed writers are removed by the next publish beside them.

An entry records the CRC-32 of each of its files (``entry_checksums``); a reader checks them
once, when it opens the entry (``check_entry``), and a damaged, truncated or unverifiable
entry is discarded (``discard_entry``) and computed again rather than read. A cache that
cannot be written (a file where the folder should be, no permission, a full disk) is a
:class:`CacheError`, which says so, where, and what to do.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from ..errors import HepfmError
from .checksum import ALGORITHM, files_crc32
from .leftovers import owner_tag, sweep

__all__ = [
    "PUBLISH_ATTEMPTS",
    "TMP_MARK",
    "CacheError",
    "CacheRepairWarning",
    "DamagedEntryError",
    "StaleEntry",
    "cache_dir",
    "cache_error",
    "check_entry",
    "damaged",
    "discard_entry",
    "entry_checksums",
    "open_or_build",
    "publish_dir",
    "read_meta",
]

TMP_MARK = ".tmp-"
"""Infix of temporary and discarded folders: ``<entry name>.tmp-<host>~<pid>~<random>``."""
PUBLISH_ATTEMPTS = 3


class CacheError(HepfmError):
    """The cache folder cannot be used: not a folder, not writable, or its disk is full."""


class DamagedEntryError(CacheError):
    """A cache entry's files do not match the checksums it recorded (or it records none)."""


class CacheRepairWarning(UserWarning):
    """A damaged cache entry was discarded and computed again."""


def cache_error(exc: OSError, where: Path) -> CacheError:
    """``exc``, met while writing the cache at ``where``, as a :class:`CacheError`."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = f"the cache's disk is full ({reason})"
        todo = (
            "free space there, or point HEPFM_CACHE_DIR (or --cache-dir) at a disk with "
            "room for the scoring passes (about 150 bytes per event)"
        )
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = f"the cache folder cannot be written ({reason})"
        todo = "make it writable, or point HEPFM_CACHE_DIR (or --cache-dir) at a writable folder"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        what = f"the cache location is not a folder ({reason})"
        todo = (
            "remove or rename the file there, or point HEPFM_CACHE_DIR (or --cache-dir) elsewhere"
        )
    else:
        what = f"the cache cannot be written ({reason})"
        todo = "check the folder, or point HEPFM_CACHE_DIR (or --cache-dir) at another one"
    return CacheError(what, where, todo)


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
    with one atomic rename and replaced. Only folders this call created are removed, and
    stale temporaries of killed writers beside ``target``. An ``OSError`` (no space, no
    permission, a file in the way) becomes a :class:`CacheError`.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep(target.parent, (TMP_MARK,))
        tmp = _fresh_dir(target)
    except OSError as exc:
        raise cache_error(exc, target.parent) from exc
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
        raise CacheError(
            "a cache entry keeps being replaced by incomplete folders",
            target,
            "stop the other processes writing this cache, or use another cache folder",
        )
    except OSError as exc:
        raise cache_error(exc, target.parent) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # ours, unpublished: nobody else knows it


def _fresh_dir(target: Path) -> Path:
    """A new empty folder beside ``target`` whose name says who writes it."""
    path = target.parent / f"{target.name}{TMP_MARK}{owner_tag()}"
    path.mkdir()
    return path


def _move_aside(target: Path) -> None:
    """Rename an incomplete ``target`` to a fresh name of our own, then delete it there."""
    aside = _fresh_dir(target)
    try:
        os.rename(target, aside / "stale")
    except FileNotFoundError:  # another writer moved it first
        pass
    shutil.rmtree(aside, ignore_errors=True)


def discard_entry(target: Path) -> None:
    """Remove a damaged entry (moved aside first, so readers never see half of it); a
    :class:`CacheError` when the cache cannot be written."""
    try:
        _move_aside(target)
    except OSError as exc:
        raise cache_error(exc, target) from exc


def entry_checksums(folder: Path, names: Iterable[str]) -> dict[str, object]:
    """What an entry's ``meta.json`` records of its files ``names``: their CRC-32."""
    names = list(names)
    sums = files_crc32(folder / n for n in names)
    for found in sums:
        if isinstance(found, OSError):
            raise found
    return {"algorithm": ALGORITHM, "files": dict(zip(names, sums, strict=True))}


def check_entry(folder: Path, meta: dict, names: Iterable[str]) -> str | None:
    """Why the entry ``folder`` (its ``meta.json`` read as ``meta``) cannot be trusted, or
    None: every file in ``names`` is there with the CRC-32 its meta recorded."""
    sums = meta.get("checksums")
    if not isinstance(sums, dict) or sums.get("algorithm") != ALGORITHM:
        return "it records no checksums (written by an older hepfm)"
    files = sums.get("files") or {}
    names = list(names)
    for name in names:
        if files.get(name) is None:
            return f"it records no checksum of {name}"
    # every file at once (threads, outside the GIL): the first bad one in order is reported
    for name, found in zip(names, files_crc32(folder / n for n in names), strict=True):
        if isinstance(found, OSError):
            return f"{name} cannot be read ({found.strerror or found})"
        if found != files[name]:
            return f"{name} is damaged (CRC-32 {found:08x}, recorded {int(files[name]):08x})"
    return None


class StaleEntry(Exception):
    """A sound cache entry made for other inputs (another version, other settings): it is
    replaced without a warning."""


_T = TypeVar("_T")


def open_or_build(
    target: Path,
    marker: str,
    *,
    open_entry: Callable[[], _T],
    build: Callable[[], _T],
    write: Callable[[Path, _T], None],
    what: str,
) -> _T:
    """``open_entry()`` where the entry at ``target`` is complete (its ``marker`` written),
    else ``build()``, published there by ``write(folder, value)``.

    A damaged entry (``open_entry`` raises :class:`DamagedEntryError`) is discarded with a
    :class:`CacheRepairWarning` naming ``what`` and built again; a :class:`StaleEntry` is
    replaced quietly; a cache that cannot be written (read-only, full) leaves the value in
    memory: the numbers are the same.
    """
    if (target / marker).exists():
        try:
            return open_entry()
        except StaleEntry:
            pass
        except DamagedEntryError as exc:
            warnings.warn(
                f"the cached {what} was damaged and is built again ({exc.what}; {target})",
                CacheRepairWarning,
                stacklevel=3,
            )
        try:
            discard_entry(target)
        except CacheError:
            return build()
    value = build()
    try:
        publish_dir(target, lambda tmp: write(tmp, value), marker=marker)
    except CacheError:
        pass  # a cache we may read but not write: this process keeps it in memory
    return value


def damaged(entry: str, reason: str, target: Path) -> DamagedEntryError:
    """The error of a cached ``entry`` (its kind, in words) that cannot be used."""
    return DamagedEntryError(
        f"the cached {entry} cannot be used: {reason}",
        target,
        "it is built again (or delete the folder)",
    )


def read_meta(target: Path, marker: str, entry: str) -> dict:
    """The JSON object an entry's ``marker`` file holds; :func:`damaged` when it cannot be
    read or is not an object."""
    try:
        meta = json.loads((target / marker).read_text())
    except (OSError, ValueError) as exc:
        raise damaged(entry, f"its {marker} cannot be read ({exc})", target) from exc
    if not isinstance(meta, dict):
        raise damaged(entry, f"its {marker} is not an object", target)
    return meta
