"""Content fingerprints: short stable hashes of arrays and settings, for provenance and caches."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


class ArrayHasher:
    """Incremental hash of array blocks fed in order (dtype and shape are part of it)."""

    def __init__(self) -> None:
        self._h = hashlib.blake2b(digest_size=16)

    def update(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block)
        self._h.update(f"{block.dtype.str}{block.shape[1:]}".encode())
        self._h.update(memoryview(block).cast("B"))

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def combine(*parts: Any) -> str:
    """Fingerprint of several fingerprints or JSON-able settings."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()
