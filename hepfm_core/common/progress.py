"""Progress reports: the callback type every long step takes, and a text bar for the terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = [
    "Progress",
    "TextProgress",
]

Progress = Callable[[str, int, int], None]
"""``(label, done, total)``: called as a long step (a sample's generation or scoring) advances."""


class TextProgress:
    """Callable ``(label, done, total)`` drawing one bar per label."""

    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self._label: str | None = None
        self._t0 = time.perf_counter()

    def __call__(self, label: str, done: int, total: int) -> None:
        if label != self._label:
            if self._label is not None:
                self.stream.write("\n")
            self._label = label
            self._t0 = time.perf_counter()
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        dt = time.perf_counter() - self._t0
        self.stream.write(f"\r{label:>14s} [{bar}] {done:>10,}/{total:,} {dt:6.1f}s")
        if done >= total:
            self.stream.write("\n")
            self._label = None
        self.stream.flush()
