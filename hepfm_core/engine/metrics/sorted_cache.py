"""The background's sorted scores kept beside its scoring pass, for the next process.

Every signal's metrics read the background's kept scores sorted once
(:func:`~hepfm_core.engine.metrics.roc.prepare_background`): 0.2 s for the seed's 2.7 M
events, paid again by every new dashboard server before its first view and by every batch
run. The sort depends only on the pass and on what decides the kept scores (the evaluator's
``kept_scores_key``: score, beta, clip where it matters, KL form, policy), so it is written
once into the pass's own cache entry (``<pass>/sorted-<parameterisation>-v<version>/<key>``)
and read back memory-mapped (20 ms, its CRC-32 checked like every cache entry).

An evaluator writes the sort of its first evaluation only: what a new dashboard server
opens on (its defaults or a link's settings) and a batch run's one evaluation; the sorts a
control makes afterwards (each clip position of a KL score) stay in memory, so that moving
a slider writes nothing. The write happens in a background thread, after the result is
returned. Only the last :data:`ENTRIES_KEPT` settings are kept per pass (the entry read or
written last is kept longest), so the cache grows by a few sorts per pass. A
damaged entry is discarded with a ``CacheRepairWarning`` and the scores sorted again; a cache
that cannot be written is left alone: the numbers are the same either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Hashable
from pathlib import Path

import numpy as np

from ...common.cache import (
    TMP_MARK,
    CacheError,
    CacheRepairWarning,
    DamagedEntryError,
    check_entry,
    damaged,
    discard_entry,
    entry_checksums,
    publish_dir,
    read_meta,
)
from .roc import BackgroundRef

__all__ = ["ENTRIES_KEPT", "SORTED_VERSION", "SortedBackgrounds"]

SORTED_VERSION = 1
"""Bumped whenever the sorted scores' meaning or layout changes: older entries are ignored."""
ENTRIES_KEPT = 4
"""Sorted backgrounds kept per pass and parameterisation (22 MB each at the seed's scale)."""
_SCORES = "scores.npy"
_MARKER = "meta.json"


class SortedBackgrounds:
    """The sorted background scores of one cached pass, by setting key.

    Parameters
    ----------
    pass_dir : Path or None
        The background pass's cache entry; None (a pass held in memory only): nothing is
        read or written.
    parameterisation : str
        The model's latent parameterisation, which the key does not hold.
    """

    def __init__(self, pass_dir: Path | None, parameterisation: str) -> None:
        self.root = (
            None
            if pass_dir is None
            else Path(pass_dir) / f"sorted-{parameterisation}-v{SORTED_VERSION}"
        )
        self._writers: list[threading.Thread] = []

    def _entry(self, key: Hashable) -> tuple[Path, str]:
        assert self.root is not None
        text = repr(key)
        return self.root / hashlib.sha256(text.encode()).hexdigest()[:24], text

    def read(self, key: Hashable, n: int) -> BackgroundRef | None:
        """The sorted scores written for ``key`` (``n`` of them), memory-mapped and
        read-only; None when there are none (or they were damaged: then discarded)."""
        if self.root is None:
            return None
        target, text = self._entry(key)
        if not (target / _MARKER).exists():
            return None
        try:
            meta = read_meta(target, _MARKER, "sorted background")
            if meta.get("key") != text or meta.get("n") != n:
                raise damaged("sorted background", f"it records {meta.get('key')!r}", target)
            reason = check_entry(target, meta, (_SCORES,))
            if reason is not None:
                raise damaged("sorted background", reason, target)
            scores = np.load(target / _SCORES, mmap_mode="r")
            if scores.dtype != np.float64 or scores.shape != (n,):
                raise damaged(
                    "sorted background", f"it holds {scores.dtype} {scores.shape}", target
                )
        except (DamagedEntryError, OSError, ValueError) as exc:
            if not (target / _MARKER).exists():
                return None  # pruned by a writer while this read it: nothing was damaged
            what = exc.what if isinstance(exc, DamagedEntryError) else str(exc)
            warnings.warn(
                f"the cached sorted background was damaged and is sorted again ({what})",
                CacheRepairWarning,
                stacklevel=2,
            )
            _discard_quietly(target)
            return None
        _touch(target / _MARKER)  # read last: kept longest
        return BackgroundRef(scores=scores, n=n)

    def write_later(self, key: Hashable, ref: BackgroundRef) -> None:
        """Write ``ref`` for ``key`` in a background thread (see :meth:`wait`)."""
        if self.root is None:
            return
        writer = threading.Thread(
            target=self._write, args=(key, ref), name="hepfm-sorted-write", daemon=True
        )
        self._writers = [w for w in self._writers if w.is_alive()] + [writer]
        writer.start()

    def wait(self) -> None:
        """Until every write started so far has ended."""
        for writer in list(self._writers):
            writer.join()

    def _write(self, key: Hashable, ref: BackgroundRef) -> None:
        target, text = self._entry(key)

        def write(folder: Path) -> None:
            np.save(folder / _SCORES, np.asarray(ref.scores, dtype=np.float64))
            meta = {"sorted_version": SORTED_VERSION, "key": text, "n": ref.n}
            meta["checksums"] = entry_checksums(folder, (_SCORES,))
            (folder / _MARKER).write_text(json.dumps(meta, indent=1))

        try:
            publish_dir(target, write, marker=_MARKER)
            self._prune()
        except (CacheError, OSError):
            pass  # a cache we may read but not write: the next process sorts again

    def _prune(self) -> None:
        """Keep the :data:`ENTRIES_KEPT` entries read or written last."""
        assert self.root is not None
        entries = []
        for path in self.root.iterdir():
            if TMP_MARK in path.name:
                continue
            try:
                entries.append((os.stat(path / _MARKER).st_mtime_ns, path))
            except OSError:
                continue  # being published or removed by another writer
        entries.sort()
        for _, path in entries[: max(0, len(entries) - ENTRIES_KEPT)]:
            _discard_quietly(path)


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache: its entries stay as they are


def _discard_quietly(target: Path) -> None:
    try:
        discard_entry(target)
    except CacheError:
        pass  # a read-only cache: the entry stays, and is checked again next time
