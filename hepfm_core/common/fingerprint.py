"""Content fingerprints: short stable hashes of arrays and settings, for provenance and caches."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

__all__ = [
    "ArrayHasher",
    "combine",
    "hash_stream",
]


class ArrayHasher:
    """Incremental hash of row blocks fed in order.

    The hash depends on the rows' bytes, dtype and row shape, not on how the rows were
    split into blocks.
    """

    def __init__(self) -> None:
        self._h = hashlib.blake2b(digest_size=16)
        self._layout: str | None = None

    def update(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block)
        layout = f"{block.dtype.str}{block.shape[1:]}"
        if self._layout is None:
            self._layout = layout
            self._h.update(layout.encode())
        elif layout != self._layout:
            self._h.update(layout.encode())
        if block.size:
            self._h.update(block.data.cast("B"))

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def hash_stream(h: Any, stream: Any, block: int = 1 << 20) -> None:
    """Feed a binary stream (an open file or zip member) to the hash ``h`` block by block."""
    while chunk := stream.read(block):
        h.update(chunk)


def combine(*parts: Any) -> str:
    """Fingerprint of several fingerprints or JSON-able settings."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()
