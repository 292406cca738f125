"""A prepared pass cached beside its scoring pass: computed once per cache, not per process.

:func:`hepfm_core.engine.guards.prepared.prepare` costs seconds on millions of events (``exp``
over the whole latent matrix, float64 KL and radius, the low-precision screens), and every
new dashboard server or ``hepfm`` run paid it again before its first number. Its arrays are
written once into the pass's own cache entry (``<pass>/prepared-<parameterisation>-<kl
form>-v<version>/``), checked against their CRC-32 like the pass, and opened memory-mapped
afterwards. The entry lives inside the pass's folder, so a pass computed again (a damaged
entry, a new model) never meets a stale one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...common.cache import (
    DamagedEntryError,
    check_entry,
    damaged,
    entry_checksums,
    open_or_build,
    read_meta,
)
from ...vocabulary import KLForm, Parameterisation
from ..scoring.passes import ScoringPass, read_only
from .prepared import PreparedPass, prepare

__all__ = ["PREPARED_VERSION", "cached_prepare", "entry_dir"]

PREPARED_VERSION = 1
"""Bumped whenever :func:`prepare`'s arithmetic changes: older entries are then ignored."""

# name -> (dtype, per event: True for (n,) arrays, False for index lists of any length)
_ARRAYS: dict[str, tuple[np.dtype, bool]] = {
    "kl": (np.dtype(np.float64), True),
    "radius": (np.dtype(np.float64), True),
    "s_min": (np.dtype(np.float32), True),
    "s_max": (np.dtype(np.float32), True),
    "kl_mag": (np.dtype(np.float32), True),
    "latent_cause": (np.dtype(np.uint8), True),
    "recon_cause": (np.dtype(np.uint8), True),
    "latent_bad": (np.dtype(np.intp), False),
    "recon_bad": (np.dtype(np.intp), False),
    "total_bad_f32": (np.dtype(np.intp), False),
    "total_bad_f16": (np.dtype(np.intp), False),
}
_COUNTS = ("latent_counts", "recon_counts", "unguarded_f32", "unguarded_f16")
_FILES = tuple(f"{name}.npy" for name in _ARRAYS)
_MARKER = "meta.json"


def entry_dir(pass_dir: Path, parameterisation: Parameterisation, kl_form: KLForm) -> Path:
    """Where the prepared pass of the pass cached in ``pass_dir`` is kept."""
    return pass_dir / f"prepared-{parameterisation}-{kl_form}-v{PREPARED_VERSION}"


def cached_prepare(
    pass_: ScoringPass, parameterisation: Parameterisation = "exp", kl_form: KLForm = "true"
) -> PreparedPass:
    """``prepare(pass_, parameterisation, kl_form)``, read from the pass's cache entry when it
    was written before, else computed and written there.

    A pass not opened from a cache (``pass_.directory`` None) is prepared in memory. A
    damaged entry (a flipped bit, a truncated file, a meta that does not match the pass) is
    discarded with a ``CacheRepairWarning`` and prepared again; a cache that cannot be
    written (read-only, full) leaves the result in memory: the numbers are the same.
    """
    if pass_.directory is None:
        return prepare(pass_, parameterisation, kl_form)
    target = entry_dir(pass_.directory, parameterisation, kl_form)
    return open_or_build(
        target,
        _MARKER,
        open_entry=lambda: _open(target, pass_, parameterisation, kl_form),
        build=lambda: prepare(pass_, parameterisation, kl_form),
        write=_write,
        what="prepared pass",
    )


def _write(folder: Path, prepared: PreparedPass) -> None:
    for name in _ARRAYS:
        np.save(folder / f"{name}.npy", np.asarray(getattr(prepared, name)))
    meta: dict[str, Any] = {
        "prepared_version": PREPARED_VERSION,
        "parameterisation": prepared.parameterisation,
        "kl_form": prepared.kl_form,
        "n_events": prepared.n_events,
    }
    meta |= {name: dict(getattr(prepared, name)) for name in _COUNTS}
    meta["checksums"] = entry_checksums(folder, _FILES)
    (folder / _MARKER).write_text(json.dumps(meta, indent=1))  # last: the entry is complete


def _damaged(reason: str, target: Path) -> DamagedEntryError:
    return damaged("prepared pass", reason, target)


def _open(
    target: Path, pass_: ScoringPass, parameterisation: Parameterisation, kl_form: KLForm
) -> PreparedPass:
    meta = read_meta(target, _MARKER, "prepared pass")
    n = pass_.n_events
    expected: dict[str, object] = {
        "prepared_version": PREPARED_VERSION,
        "parameterisation": parameterisation,
        "kl_form": kl_form,
        "n_events": n,
    }
    for key, value in expected.items():
        if meta.get(key) != value:
            raise _damaged(f"it records {key} {meta.get(key)!r}, not {value!r}", target)
    reason = check_entry(target, meta, _FILES)
    if reason is not None:
        raise _damaged(reason, target)
    counts: dict[str, dict[str, int]] = {}
    for name in _COUNTS:
        table = meta.get(name)
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in table.items()
        ):
            raise _damaged(f"its {name} is not a table of counts", target)
        counts[name] = table
    arrays: dict[str, np.ndarray] = {}
    for name, (dtype, per_event) in _ARRAYS.items():
        try:
            a = np.load(target / f"{name}.npy", mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise _damaged(f"{name}.npy cannot be opened ({exc})", target) from exc
        if a.dtype != dtype or a.ndim != 1 or (per_event and a.shape[0] != n):
            raise _damaged(f"{name}.npy holds {a.dtype} {a.shape}", target)
        arrays[name] = read_only(a)
    return PreparedPass(
        pass_=pass_,
        parameterisation=parameterisation,
        kl_form=kl_form,
        kl=arrays["kl"],
        radius=arrays["radius"],
        s_min=arrays["s_min"],
        s_max=arrays["s_max"],
        latent_cause=arrays["latent_cause"],
        recon_cause=arrays["recon_cause"],
        latent_bad=arrays["latent_bad"],
        recon_bad=arrays["recon_bad"],
        latent_counts=counts["latent_counts"],
        recon_counts=counts["recon_counts"],
        unguarded_f32=counts["unguarded_f32"],
        unguarded_f16=counts["unguarded_f16"],
        kl_mag=arrays["kl_mag"],
        total_bad_f32=arrays["total_bad_f32"],
        total_bad_f16=arrays["total_bad_f16"],
    )
