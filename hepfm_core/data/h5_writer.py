"""Writing HDF5 files so that a failed write (a full disk, an I/O error) is a typed error, never
a crash: every write of HDF5's goes through a file object that absorbs the failure."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import h5py

__all__ = [
    "H5Writer",
]


class _AbsorbingFile:
    """A file for h5py's ``fileobj`` driver whose writes HDF5 never sees fail.

    The first failed write (no space, a quota, an I/O error) is recorded as ``failure``;
    that write and every later one are kept in memory instead (reads see them), so HDF5
    carries on and closes cleanly, and the writer raises the recorded error afterwards.
    """

    def __init__(self, path: Path, mode: str) -> None:
        self._fd = os.open(path, os.O_RDWR | (os.O_CREAT | os.O_TRUNC if mode == "w" else 0))
        self._pos = 0
        self._size = os.fstat(self._fd).st_size
        self._overlay: list[tuple[int, bytes]] = []  # writes after the failure
        self.failure: OSError | None = None

    def _fail(self, exc: OSError) -> None:
        if self.failure is None:
            self.failure = exc

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = base + pos
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        n = self._size - self._pos if n < 0 else n
        out = bytearray(n)  # what lies beyond the end reads as zeros, as HDF5's own driver
        try:
            got = os.pread(self._fd, n, self._pos)
            out[: len(got)] = got
        except OSError as exc:
            self._fail(exc)
        for at, data in self._overlay:
            lo, hi = max(at, self._pos), min(at + len(data), self._pos + n)
            if lo < hi:
                out[lo - self._pos : hi - self._pos] = data[lo - at : hi - at]
        self._pos += n
        return bytes(out)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        if self.failure is None:
            try:
                at = self._pos
                while view:
                    done = os.pwrite(self._fd, view, at)
                    if done == 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    at, view = at + done, view[done:]
            except OSError as exc:
                self._fail(exc)
        if self.failure is not None:
            self._overlay.append((self._pos, bytes(data)))
        self._pos += n
        self._size = max(self._size, self._pos)
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.failure is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self._fail(exc)
        self._size = size
        return size

    def flush(self) -> None:
        """Nothing: every write went to the file (``close`` syncs it)."""

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            if self.failure is None:
                os.fsync(self._fd)  # a full disk may say so only here (delayed allocation)
        except OSError as exc:
            self._fail(exc)
        finally:
            os.close(self._fd)
            self._fd = -1


class H5Writer:
    """An HDF5 file open for writing (``mode`` "w": created, or "r+") whose failed writes
    become one ``OSError`` raised by :meth:`check` and :meth:`close`, never a crash.

    Why: HDF5 (2.0, through h5py 3.16) does not survive a failed write of a compressed chunk:
    the dataset is left half-freed and the next flush or close, at the latest at the
    interpreter's exit, dies with SIGSEGV (``hepfm convert`` on a full disk ended with rc
    139). Written through :class:`_AbsorbingFile` (h5py's ``fileobj`` driver, as fast as
    its default one for hepfm's 1.4 MB chunks), HDF5 never sees a write fail: the failure
    is kept and raised here, and the caller removes the file.
    """

    def __init__(self, path: str | Path, mode: str = "w") -> None:
        if mode not in ("w", "r+"):
            raise ValueError(f"mode {mode!r}: 'w' or 'r+'")
        self.path = Path(path)
        self._file = _AbsorbingFile(self.path, mode)
        try:
            self.h5 = h5py.File(self._file, mode)
        except BaseException:
            self._file.close()
            raise
        self._open = True

    @property
    def failure(self) -> OSError | None:
        """The first write that failed, or None."""
        return self._file.failure

    def check(self) -> None:
        """Raise the first write failure so far (an ``OSError``), if any."""
        if self._file.failure is not None:
            raise self._file.failure

    def close(self) -> None:
        """Close the HDF5 file (it writes what it holds), then the file (synced); raise the
        first write failure, if any. Closing twice does nothing more."""
        if self._open:
            self._open = False
            try:
                self.h5.close()
            finally:
                self._file.close()
        self.check()

    def discard(self) -> None:
        """Close without raising (after a failure, before the file is removed)."""
        try:
            self.close()
        except (OSError, RuntimeError):
            pass

    def __enter__(self) -> H5Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()
