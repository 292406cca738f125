"""Small hepfm sample files for the data tests: a two-branch, three-track layout, a
normalisation, raw events with non-finite values, and their bits."""

from __future__ import annotations

import numpy as np

from hepfm_core.data.normalisation import Normalisation
from hepfm_core.data.sample_writer import SampleWriter

BRANCHES = ("a", "b")
N_TRACKS = 3


def norm(clip=None) -> Normalisation:
    return Normalisation.per_branch([1.0, -2.0], [2.0, 0.5], N_TRACKS, fill=[0.5, 7.0], clip=clip)


def write(path, blocks, name="bkg", role="background", normalisation=None, compression="lz4"):
    with SampleWriter(
        path,
        name=name,
        role=role,
        branch_names=BRANCHES,
        units=("mm", "GeV"),
        n_tracks=N_TRACKS,
        normalisation=normalisation or norm(),
        compression=compression,
    ) as w:
        for b in blocks:
            w.write(b)
    return path


def raw_sample(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(n, 6)).astype(np.float32)
    raw[10, 1] = np.inf
    raw[20, 1] = np.nan
    raw[20, 4] = np.nan
    return raw


def bits(a):
    """The bytes of a float32 array: equal exactly where the values are equal bit for bit
    (NaN included)."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
