"""Output files that appear whole or not at all, and write failures as typed errors.

Every file hepfm writes for a user (JSON, CSV, Parquet scores, the report, its figures) is
written to a temporary file in the target's own folder (``.<name>.part<owner tag>``, see
``common.leftovers``) and renamed onto the target once complete: a full disk or a kill leaves
the previous file (or none), never a truncated one, and the temporary is removed (or, after a
kill, swept by a later run). A whole output folder (``hepfm convert``'s) is written the same
way by :class:`AtomicFolder`: a temporary sibling renamed into place once complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

from ..errors import HepfmError, OutputExistsError
from .leftovers import owner_tag, stale, sweep

__all__ = [
    "PART_MARK",
    "AtomicFolder",
    "OutputError",
    "PartialFile",
    "as_os_error",
    "atomic_path",
    "atomic_write",
    "output_error",
]

PART_MARK = ".part-"
"""Infix of a temporary output: ``.<name>.part-<owner tag>``."""


class OutputError(HepfmError):
    """An output file or folder cannot be written (no space, no permission, not a folder)."""


def as_os_error(exc: BaseException) -> OSError | None:
    """``exc`` as the ``OSError`` it reports: itself, or the ``os error N`` a Rust-backed
    writer (polars) puts in its own exception's text; None when it is no I/O failure."""
    if isinstance(exc, OSError):
        return exc
    found = re.search(r"os error (\d+)", str(exc))
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code))


def output_error(exc: OSError, path: Path, what: str = "the output") -> OutputError:
    """``exc`` as an :class:`OutputError` that says what failed, where and what to do."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = "free disk space there (or choose another folder) and run again"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        todo = "choose a folder you can write to"
    else:
        todo = "choose a writable path (its folder must be a folder, not a file)"
    return OutputError(f"cannot write {what} ({reason}); nothing was written", path, todo)


@contextlib.contextmanager
def atomic_path(path: str | Path, what: str = "the output") -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed onto ``path`` when the block ends
    without an error, removed otherwise. An ``OSError`` becomes an :class:`OutputError`.

    The folder is created if needed, and stale temporaries of earlier killed runs beside
    ``path`` are removed first.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, path, what) from exc
    sweep(path.parent, (PART_MARK,))
    tmp = path.parent / f".{path.name}{PART_MARK}{owner_tag()}"
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise output_error(exc, path, what) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _fsync(path: Path) -> None:
    """Flush ``path`` to disk (a full disk may only say so here, on some filesystems)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, payload: bytes | str, what: str = "the output") -> Path:
    """Write ``payload`` (text is UTF-8) to ``path`` whole, or raise an ``OutputError``."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    with atomic_path(path, what) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


class PartialFile:
    """A file written as ``<name>.partial`` beside its target, renamed onto the target by
    :meth:`close` (so it appears only whole) and removed by :meth:`abort`; as a context
    manager, closed on success and aborted on an exception. Subclasses set ``path`` and
    ``tmp_path``, release their open file in :meth:`_release` and may complete it (write
    what they counted) in :meth:`_complete`, which runs on success only."""

    path: Path
    tmp_path: Path

    def _complete(self) -> None:
        """Write what only a complete file holds (before it is released); nothing here."""

    def _release(self) -> None:
        raise NotImplementedError

    def close(self) -> Path:
        self._complete()
        self._release()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        self._release()
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class AtomicFolder:
    """A temporary sibling of ``out`` that replaces it on :meth:`commit` (removed on failure).

    An existing ``out`` is replaced only if every entry in it passes ``replaceable`` (files
    this writer would write itself); otherwise an ``OutputExistsError``, before any work.

    The temporary (``.<out>.partial-<owner tag>``) and the previous folder while it is
    replaced (``.<out>.old-<owner tag>``) name their writer (``common.leftovers``): those of a
    killed writer are removed by the next one, and a previous folder that a writer killed
    between its two renames left without ``out`` is put back. A folder that cannot be
    created or renamed (a full disk, no permission) is an ``OutputError``.
    """

    def __init__(self, out: Path, replaceable: Callable[[Path], bool], what: str) -> None:
        self.out = out
        self._partial, self._old = f".{out.name}.partial-", f".{out.name}.old-"
        try:
            self._recover()
        except OSError as exc:
            raise output_error(exc, out, "the output folder") from exc
        if out.exists():
            if not out.is_dir():
                raise OutputExistsError(
                    f"{out} exists and is not a folder", out, "give a new or a data folder"
                )
            foreign = sorted(p.name for p in out.iterdir() if not replaceable(p))
            if foreign:
                shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
                raise OutputExistsError(
                    f"{out} exists and holds files that are not {what} ({shown}); it would be"
                    " replaced as a whole",
                    out,
                    "give a new folder with --out, or move those files away",
                )
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = out.parent / f"{self._partial}{owner_tag()}"
            self.tmp.mkdir()
        except OSError as exc:
            raise output_error(exc, out, "the output folder") from exc

    def _recover(self) -> None:
        """Undo what killed writers of ``out`` left: put back a previous folder they had
        moved aside without putting the new one in its place, remove the rest."""
        parent = self.out.parent
        if not parent.is_dir():
            return
        left = sorted(
            (p for p in parent.iterdir() if p.name.startswith(self._old)),
            key=lambda p: p.lstat().st_mtime,
            reverse=True,  # the newest first
        )
        for old in left:
            if stale(old, self._old) and not self.out.exists() and not self.out.is_symlink():
                os.rename(old, self.out)
        sweep(parent, (self._partial, self._old))

    def commit(self) -> Path:
        try:
            old = None
            if self.out.exists():
                old = self.out.parent / f"{self._old}{owner_tag()}"
                os.replace(self.out, old)
            os.replace(self.tmp, self.out)
        except OSError as exc:
            raise output_error(exc, self.out, "the output folder") from exc
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
