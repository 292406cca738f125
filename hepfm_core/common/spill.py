"""Arrays paged out to disk: written once, memory-mapped, their pages let go after each use.

Why: a Dask worker keeps per-event arrays between tasks (a partition's prepared pass, its
guarded scores, its sorted background). Held in anonymous memory, they make the worker's
resident memory grow with every event it holds; at ``1e9`` events on 100 workers that is
most of a worker's memory before any work. Written to a file and mapped read-only instead,
they cost resident memory only while a task reads them: :func:`release` (``MADV_DONTNEED``)
drops their pages from the process after the task, and the next task pages them in again
from the page cache (or the disk).

Each process spills into its own folder ``<root>/<SPILL_NAME><SPILL_MARK><host>~<pid>~<rand>``
(``common.leftovers``). A spilled file is unlinked as soon as it is mapped: the mapping keeps
its data until the array is freed, and then the disk space comes back by itself, so nothing
is left behind by a task, a finished worker or a killed one but, for a killed one, an empty
folder (or a file caught between its writing and its mapping). The next process that spills
under the same root sweeps such folders of dead writers (:func:`spill_folder`).
"""

from __future__ import annotations

import atexit
import mmap
import os
import threading
import uuid
import weakref
from pathlib import Path

import numpy as np

from .leftovers import owner_tag, sweep

__all__ = [
    "MIN_SPILL_BYTES",
    "SPILL_MARK",
    "SPILL_NAME",
    "release",
    "release_all",
    "spill",
    "spill_folder",
]

SPILL_NAME = "worker"
SPILL_MARK = ".spill-"
"""Infix of a process's spill folder: ``worker.spill-<host>~<pid>~<random>``."""
MIN_SPILL_BYTES = 64 * 1024
"""Arrays smaller than this stay in memory (a page table entry and a file cost more)."""

_lock = threading.Lock()
_folders: dict[Path, Path] = {}
_maps: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()


def spill_folder(root: str | Path) -> Path:
    """This process's spill folder under ``root`` (made on first use, when the stale
    folders of dead processes beside it are removed)."""
    base = Path(root)
    with _lock:
        folder = _folders.get(base)
        if folder is None or not folder.is_dir():
            base.mkdir(parents=True, exist_ok=True)
            sweep(base, (SPILL_MARK,))
            folder = base / f"{SPILL_NAME}{SPILL_MARK}{owner_tag()}"
            folder.mkdir()
            _folders[base] = folder
        return folder


def spill(array: np.ndarray, root: str | Path) -> np.ndarray:
    """``array``'s values as a read-only array memory-mapped from a file of this process's
    spill folder under ``root`` (the file already unlinked: its space is freed with the
    array). Arrays under ``MIN_SPILL_BYTES`` come back as they are (marked read-only).

    An ``OSError`` (a full disk, no permission) propagates; the caller says where.
    """
    a = np.asarray(array)
    if a.nbytes < MIN_SPILL_BYTES:
        a.flags.writeable = False
        return a
    path = spill_folder(root) / f"{uuid.uuid4().hex}.npy"
    try:
        np.save(path, np.ascontiguousarray(a), allow_pickle=False)
        mapped = np.load(path, mmap_mode="r")
    finally:
        path.unlink(missing_ok=True)
    m = getattr(mapped, "_mmap", None)
    if m is not None:
        _maps.add(m)
    return mapped


def _mmap_of(a: object) -> mmap.mmap | None:
    """The ``mmap`` behind an array (a memmap, or a view of one), or None."""
    seen = 0
    while a is not None and seen < 16:
        m = getattr(a, "_mmap", None)
        if isinstance(m, mmap.mmap):
            return m
        if isinstance(a, mmap.mmap):
            return a
        a = getattr(a, "base", None)
        seen += 1
    return None


def release(*arrays: object) -> None:
    """Drop the resident pages of the memory-mapped ``arrays`` from this process (they are
    read again from the page cache or the file when touched); other arrays are left alone."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return
    for a in arrays:
        m = _mmap_of(a)
        if m is not None and not m.closed:
            m.madvise(mmap.MADV_DONTNEED)


def release_all() -> None:
    """:func:`release` every array :func:`spill` made in this process that is still alive."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return
    for m in list(_maps):
        if not m.closed:
            m.madvise(mmap.MADV_DONTNEED)


def _remove_folders() -> None:
    """At exit: this process's spill folders (their files are unlinked already)."""
    import shutil

    for folder in list(_folders.values()):
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_remove_folders)
if hasattr(os, "register_at_fork"):
    # a forked child must not remove (or write into) its parent's folder
    os.register_at_fork(after_in_child=_folders.clear)
