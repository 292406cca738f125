"""A sample's latent tally cached beside its scoring pass: one read of every event per cache.

:func:`~hepfm_core.engine.investigate.latent_tally.build_latent_tally` reads a sample's whole latent
matrix (seconds: 7 s for the seed's 2.7 M background events on 2 cores), and every new
dashboard server, or evaluator of another fill, paid it again in its warm-up, competing with
the page for the interpreter. Its arrays are bounded by the grid (plus the median's fixed
rows), so they are written once into the pass's own cache entry
(``<pass>/latent-tally-<parameterisation>-<kl form>-v<version>/``), checked against their
CRC-32 like the pass, and read back in milliseconds. The entry lives inside the pass's
folder, so a pass computed again never meets a stale tally; a different set of median rows
(another ``max_events`` or seed) replaces it.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ...common.cache import (
    DamagedEntryError,
    StaleEntry,
    check_entry,
    damaged,
    entry_checksums,
    open_or_build,
    read_meta,
)
from ..scoring.passes import ScoringPass
from .diagnostics import LATENT_LEVELS
from .latent_tally import GRID_LIMITS, GRID_SCALE, LatentTally, build_latent_tally

__all__ = ["TALLY_VERSION", "cached_latent_tally", "tally_dir"]

TALLY_VERSION = 1
"""Bumped whenever :func:`build_latent_tally`'s arithmetic or layout changes."""

# name -> dtype, number of dimensions
_ARRAYS: dict[str, tuple[np.dtype, int]] = {
    "mu_mean": (np.dtype(np.float64), 1),
    "mu_var": (np.dtype(np.float64), 1),
    "quantiles": (np.dtype(np.float64), 2),
    "count": (np.dtype(np.int64), 2),
    "half_mu2": (np.dtype(np.float64), 2),
    "g_sum": (np.dtype(np.float64), 2),
    "bad": (np.dtype(np.int64), 2),
    "bad_sum": (np.dtype(np.float64), 2),
    "bad_half_mu2": (np.dtype(np.float64), 2),
    "edges": (np.dtype(np.int64), 1),  # the grid edges some values sit on ...
    "edge_hits": (np.dtype(np.int64), 2),  # ... and how many, per dimension
    "median_mu": (np.dtype(np.float64), 2),
    "median_s": (np.dtype(np.float64), 2),
}
_FILES = tuple(f"{name}.npy" for name in _ARRAYS)
_MARKER = "meta.json"


def tally_dir(pass_dir: Path, parameterisation: str, kl_form: str) -> Path:
    """Where the latent tally of the pass cached in ``pass_dir`` is kept."""
    return pass_dir / f"latent-tally-{parameterisation}-{kl_form}-v{TALLY_VERSION}"


def _rows_crc(median_rows: np.ndarray | None) -> int | None:
    if median_rows is None:
        return None
    return zlib.crc32(np.ascontiguousarray(median_rows, dtype=np.int64).tobytes())


def cached_latent_tally(
    pass_: ScoringPass,
    *,
    parameterisation: str = "exp",
    kl_form: str = "true",
    sample: str = "",
    median_rows: np.ndarray | None = None,
) -> LatentTally:
    """``build_latent_tally`` of the pass's latent arrays, read from the pass's cache entry
    when it was written before (for the same median rows), else built and written there.

    A pass not opened from a cache is tallied in memory. A damaged entry is discarded with a
    ``CacheRepairWarning`` and built again; a cache that cannot be written leaves the tally
    in memory: the numbers are the same.
    """

    def build() -> LatentTally:
        return build_latent_tally(
            pass_.z_mean,
            pass_.z_log_var,
            parameterisation=parameterisation,
            kl_form=kl_form,
            sample=sample,
            median_rows=median_rows,
        )

    if pass_.directory is None:
        return build()
    target = tally_dir(pass_.directory, parameterisation, kl_form)
    expected: dict[str, object] = {
        "tally_version": TALLY_VERSION,
        "parameterisation": parameterisation,
        "kl_form": kl_form,
        "n_events": pass_.n_events,
        "latent_dim": int(pass_.z_mean.shape[1]),
        "grid": [GRID_LIMITS[0], GRID_LIMITS[1], GRID_SCALE],
        "levels": list(LATENT_LEVELS),
        "median_rows_crc": _rows_crc(median_rows),
    }
    return open_or_build(
        target,
        _MARKER,
        open_entry=lambda: _open(target, expected, sample),
        build=build,
        write=lambda folder, tally: _write(folder, tally, expected),
        what="latent tally",
    )


def _write(folder: Path, tally: LatentTally, expected: dict[str, object]) -> None:
    k = tally.latent_dim
    edges = np.array(sorted(tally.at_edge), dtype=np.int64)
    hits = np.array([tally.at_edge[int(e)] for e in edges], dtype=np.int64).reshape(-1, k)
    arrays = {name: getattr(tally, name) for name in _ARRAYS if hasattr(tally, name)}
    arrays |= {"edges": edges, "edge_hits": hits}
    for name, (dtype, _) in _ARRAYS.items():
        np.save(folder / f"{name}.npy", np.asarray(arrays[name], dtype=dtype))
    meta: dict[str, Any] = dict(expected)
    meta |= {"n_used": tally.n_used, "first": tally.first}
    meta["checksums"] = entry_checksums(folder, _FILES)
    (folder / _MARKER).write_text(json.dumps(meta, indent=1))  # last: the entry is complete


def _damaged(reason: str, target: Path) -> DamagedEntryError:
    return damaged("latent tally", reason, target)


def _shapes(k: int, meta_columns: int, edges: int, medians: int) -> dict[str, tuple[int, ...]]:
    grid = (k, meta_columns)
    return {
        "mu_mean": (k,),
        "mu_var": (k,),
        "quantiles": (k, len(LATENT_LEVELS)),
        "count": grid,
        "half_mu2": grid,
        "g_sum": grid,
        "bad": grid,
        "bad_sum": grid,
        "bad_half_mu2": grid,
        "edges": (edges,),
        "edge_hits": (edges, k),
        "median_mu": (medians, k),
        "median_s": (medians, k),
    }


def _open(target: Path, expected: dict[str, object], sample: str) -> LatentTally:
    meta = read_meta(target, _MARKER, "latent tally")
    if any(meta.get(key) != value for key, value in expected.items()):
        raise StaleEntry  # other median rows, grid or version: replaced, no warning
    reason = check_entry(target, meta, _FILES)
    if reason is not None:
        raise _damaged(reason, target)
    n_used, first = meta.get("n_used"), meta.get("first")
    if not isinstance(n_used, int) or not isinstance(first, int):
        raise _damaged("its n_used or first is not an integer", target)
    arrays: dict[str, np.ndarray] = {}
    for name, (dtype, ndim) in _ARRAYS.items():
        try:
            a = np.load(target / f"{name}.npy")
        except (OSError, ValueError) as exc:
            raise _damaged(f"{name}.npy cannot be opened ({exc})", target) from exc
        if a.dtype != dtype or a.ndim != ndim:
            raise _damaged(f"{name}.npy holds {a.dtype} {a.shape}", target)
        a.setflags(write=False)
        arrays[name] = a
    k = int(str(expected["latent_dim"]))
    shapes = _shapes(
        k, arrays["count"].shape[1], arrays["edges"].shape[0], arrays["median_mu"].shape[0]
    )
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise _damaged(f"{name}.npy holds {arrays[name].shape}, not {shape}", target)
    return LatentTally(
        sample=sample,
        n_events=int(str(expected["n_events"])),
        n_used=n_used,
        parameterisation=str(expected["parameterisation"]),
        kl_form=str(expected["kl_form"]),
        mu_mean=arrays["mu_mean"],
        mu_var=arrays["mu_var"],
        quantiles=arrays["quantiles"],
        first=first,
        count=arrays["count"],
        half_mu2=arrays["half_mu2"],
        g_sum=arrays["g_sum"],
        bad=arrays["bad"],
        bad_sum=arrays["bad_sum"],
        bad_half_mu2=arrays["bad_half_mu2"],
        at_edge={int(e): h for e, h in zip(arrays["edges"], arrays["edge_hits"], strict=True)},
        median_mu=arrays["median_mu"],
        median_s=arrays["median_s"],
    )
