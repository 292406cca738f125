"""``.npy`` files written block by block, in row order: a pass's outputs as they come.

Why not a writable memory map: each page of a fresh mapping costs a page fault when first
written (and, on a sparse file, a full disk kills the process with SIGBUS there instead of
raising ``ENOSPC``). A scoring pass of the seed's background writes 400 MB; through memory
maps (reserved, then synced) that took 0.83-0.87 s, through the file and ``fsync`` 0.32-0.33
s (five files in chunks of 8,192 rows, a probe on the 2-core development machine). Written
through the file, a full disk is an ``OSError`` at the write that does not fit.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np

__all__ = ["NpyStream"]


class NpyStream:
    """One ``.npy`` file of a known shape and dtype, written in row order by :meth:`append`
    and made durable by :meth:`close` (``fsync``, as a memory map's ``flush`` was: a
    cache on a shared file system is then complete for every other machine too). A file
    closed with fewer or more rows than its shape says raises ``ValueError``."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype | type) -> None:
        self.path = Path(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._file = open(self.path, "wb")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_1_0(self._file, header)

    def append(self, block: np.ndarray) -> None:
        """Write the next rows (``block.shape[1:]`` must be the file's own; its dtype one
        that casts to the file's within its kind, as an assignment into an array would)."""
        if block.shape[1:] != self.shape[1:]:
            raise ValueError(
                f"{self.path.name}: rows of shape {block.shape[1:]}, the file's are "
                f"{self.shape[1:]}"
            )
        if self.rows + block.shape[0] > self.shape[0]:
            raise ValueError(
                f"{self.path.name}: {self.rows + block.shape[0]} rows written, it holds "
                f"{self.shape[0]}"
            )
        if not np.can_cast(block.dtype, self.dtype, casting="same_kind"):
            raise ValueError(f"{self.path.name}: {block.dtype} rows, the file holds {self.dtype}")
        self._file.write(np.ascontiguousarray(block.astype(self.dtype, copy=False)).data)
        self.rows += block.shape[0]

    def close(self) -> None:
        """Flush the file to the disk and close it; ``ValueError`` if rows are missing."""
        if self._file.closed:
            return
        try:
            if self.rows != self.shape[0]:
                raise ValueError(f"{self.path.name}: {self.rows} of its {self.shape[0]} rows")
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def abandon(self) -> None:
        """Close without the checks (the writer failed: the file is left to its folder's
        owner to remove)."""
        self._file.close()

    def __enter__(self) -> NpyStream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()
