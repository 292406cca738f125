"""ATLAS-like synthetic inner-detector events: background and signal samples.

Each event is a list of tracks with the six upstream features (d0, phi, z0, eta, pt,
reducedChiSquared) in physical units, sorted by pt, truncated to ``n_tracks`` and padded
with zero rows. The samples follow the characters in physics.md (soft QCD background, hard
collimated jets, displaced b-jet tracks, 1/3-prong taus, isolated TeV leptons) and carry the
pathologies seen in real data at configurable rates:

* a track with numberDoF = 0, so reducedChiSquared = chi2/0 is +inf (or NaN for 0/0);
* in signal samples, extreme tracks (TeV-scale pt, d0 of tens of mm) that drive a
  background-trained VAE to very large z_log_var;
* in every sample, rarely, a degenerate fit with q/p ~ 0: a "straight" track whose pt is
  1e5 to 1e8 GeV. Such inputs push z_log_var beyond what even float64 exp() can take, so
  the guards must name the overflow rather than hide it.

Generation is chunked (memory independent of the event count) and deterministic for a seed:
chunk ``i`` of sample ``name`` draws from ``default_rng([seed, crc32(name), i])``.

Each event gets a synthetic identity, stored beside the events (:func:`demo_identity`): the
background is data-like (run :data:`DEMO_DATA_RUN`, event numbers 1, 2, ...), each signal
simulation-like (run :data:`DEMO_MC_RUN`, its own mcChannelNumber from
:data:`DEMO_CHANNEL_BASE`). The numbers lie outside ATLAS's ranges so they cannot be mistaken
for real ones.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.progress import Progress
from ..vocabulary import DEFAULT_COMPRESSION, Compression
from .normalisation import Normalisation, branch_statistics
from .sample_writer import SampleWriter

__all__ = [
    "BRANCHES",
    "CHI2",
    "CHUNK_EVENTS",
    "D0",
    "DEFAULT_SIGNALS",
    "DEMO_CHANNEL_BASE",
    "DEMO_DATA_RUN",
    "DEMO_MC_RUN",
    "ETA",
    "PHI",
    "PT",
    "SIGNALS",
    "UNITS",
    "Z0",
    "GeneratorConfig",
    "demo_identity",
    "estimate_normalisation",
    "generate_block",
    "generate_dataset",
    "write_sample",
]

BRANCHES = ("d0", "phi", "z0", "eta", "pt", "reducedChiSquared")
UNITS = ("mm", "rad", "mm", "", "GeV", "")
D0, PHI, Z0, ETA, PT, CHI2 = range(6)
CHUNK_EVENTS = 16384

SIGNALS = (
    "wprime_qq",
    "zprime_tt",
    "zprime_bb",
    "wprime_taunu",
    "zprime_tautau",
    "zprime_ee",
    "zprime_mumu",
    "wprime_enu",
    "wprime_munu",
)
DEMO_DATA_RUN = 999_001
"""The demo background's synthetic run number."""
DEMO_MC_RUN = 999_000
"""The synthetic run number of the demo's simulated signal samples."""
DEMO_CHANNEL_BASE = 990_000
"""Signal ``SIGNALS[i]`` gets mcChannelNumber ``DEMO_CHANNEL_BASE + 1 + i``."""

DEFAULT_SIGNALS = (
    "wprime_qq",
    "zprime_tt",
    "zprime_bb",
    "wprime_taunu",
    "zprime_ee",
    "zprime_mumu",
)


@dataclass(frozen=True)
class GeneratorConfig:
    """What the generator draws; rates are per event.

    ``input_clip`` is the symmetric clip of the standardised inputs stored with the data.
    None (the default) lets the model see how extreme the pathological tracks are; use 10
    to apply upstream's clip.
    """

    n_tracks: int = 30
    dof0_rate: float = 1e-3
    extreme_rate: float = 5e-3
    degenerate_rate: float = 2e-4
    input_clip: float | None = None
    seed: int = 42
    signals: Sequence[str] = field(default=DEFAULT_SIGNALS)


# -- components: each returns (n, K, 6) tracks and an (n, K) validity mask -----------------
def _empty(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, k, 6)), np.zeros((n, k), dtype=bool)


def _multiplicity_mask(counts: np.ndarray, k: int) -> np.ndarray:
    return np.arange(k)[None, :] < np.minimum(counts, k)[:, None]


def _d0_prompt(rng: np.random.Generator, pt: np.ndarray) -> np.ndarray:
    """Prompt d0: resolution core 12 um + 20 um/pt, 4 % Laplace tails, 0.5 % fakes in +-4 mm."""
    d0 = rng.normal(0.0, 0.012 + 0.02 / pt)
    u = rng.random(pt.shape)
    tails = u < 0.04
    d0[tails] = rng.laplace(0.0, 0.15, tails.sum())
    fakes = u > 0.995
    d0[fakes] = rng.uniform(-4.0, 4.0, fakes.sum())
    return d0


def _chi2(rng: np.random.Generator, shape: tuple[int, ...], bad_scale: float = 1.0) -> np.ndarray:
    ndf = rng.integers(8, 32, shape)
    chi2 = rng.chisquare(ndf) / ndf
    outliers = rng.random(shape) < 0.02
    chi2[outliers] *= rng.uniform(2.0, 8.0, outliers.sum())
    return chi2 * bad_scale


def _soft(rng, n: int, z_pv: np.ndarray, mean: float, k: int = 48):
    """Soft QCD / pile-up: negative-binomial multiplicity, pt Pareto from 0.5 GeV (index 2.6)."""
    r = 4.0
    counts = rng.negative_binomial(r, r / (r + mean), n)
    t, valid = _empty(n, k)
    valid[:] = _multiplicity_mask(counts, k)
    pt = 0.5 * rng.random((n, k)) ** (-1.0 / 1.6)
    t[..., PT] = pt
    t[..., ETA] = rng.uniform(-2.5, 2.5, (n, k))
    t[..., PHI] = rng.uniform(-np.pi, np.pi, (n, k))
    pileup = rng.random((n, k)) < 0.3
    t[..., Z0] = np.where(pileup, rng.normal(0.0, 40.0, (n, k)), z_pv[:, None])
    t[..., Z0] += rng.normal(0.0, 0.1, (n, k))
    t[..., D0] = _d0_prompt(rng, pt)
    t[..., CHI2] = _chi2(rng, (n, k))
    return t, valid


def _axes(rng, n: int, n_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """Directions of back-to-back objects (jets, taus, leptons) of a heavy resonance."""
    eta = np.empty((n, n_objects))
    phi = np.empty((n, n_objects))
    eta[:, 0] = rng.uniform(-2.0, 2.0, n)
    phi[:, 0] = rng.uniform(-np.pi, np.pi, n)
    for j in range(1, n_objects):
        eta[:, j] = np.clip(-eta[:, 0] + rng.normal(0, 0.6, n), -2.4, 2.4)
        phi[:, j] = phi[:, 0] + np.pi + rng.normal(0, 0.3 * j, n)
    phi = (phi + np.pi) % (2 * np.pi) - np.pi
    return eta, phi


def _collimated(rng, n, z_pv, eta_axis, phi_axis, counts, k, pt_min, pt_scale, width):
    t, valid = _empty(n, k)
    valid[:] = _multiplicity_mask(counts, k)
    pt = pt_min + rng.exponential(pt_scale, (n, k))
    t[..., PT] = pt
    t[..., ETA] = np.clip(eta_axis[:, None] + rng.normal(0, width, (n, k)), -2.5, 2.5)
    phi = phi_axis[:, None] + rng.normal(0, width, (n, k))
    t[..., PHI] = (phi + np.pi) % (2 * np.pi) - np.pi
    t[..., Z0] = z_pv[:, None] + rng.normal(0.0, 0.05, (n, k))
    t[..., D0] = _d0_prompt(rng, pt)
    t[..., CHI2] = _chi2(rng, (n, k))
    return t, valid


def _displace(rng, t, valid, fraction: float, scale: float) -> None:
    """Heavy-flavour / tau decays: a fraction of tracks gets |d0| ~ Exp(scale) mm."""
    moved = valid & (rng.random(valid.shape) < fraction)
    sign = rng.choice([-1.0, 1.0], moved.sum())
    t[..., D0][moved] = sign * rng.exponential(scale, moved.sum())


def _jets(rng, n, z_pv, n_jets, mult, pt_min, pt_scale, displaced=0.0, d0_scale=0.8, k=40):
    eta, phi = _axes(rng, n, n_jets)
    parts = []
    for j in range(n_jets):
        counts = 5 + rng.poisson(mult, n)
        t, valid = _collimated(rng, n, z_pv, eta[:, j], phi[:, j], counts, k, pt_min, pt_scale, 0.1)
        if displaced:
            _displace(rng, t, valid, displaced, d0_scale)
        parts.append((t, valid))
    return parts


def _taus(rng, n, z_pv, n_taus):
    eta, phi = _axes(rng, n, n_taus)
    parts = []
    for j in range(n_taus):
        prongs = np.where(rng.random(n) < 0.72, 1, 3)
        t, valid = _collimated(rng, n, z_pv, eta[:, j], phi[:, j], prongs, 3, 40.0, 150.0, 0.02)
        _displace(rng, t, valid, 1.0, 0.12)
        parts.append((t, valid))
    return parts


def _leptons(rng, n, z_pv, n_leptons, electron: bool):
    """Isolated leptons of a 3 TeV resonance: pt of several hundred GeV to TeV."""
    eta, phi = _axes(rng, n, n_leptons)
    parts = []
    for j in range(n_leptons):
        t, valid = _collimated(
            rng, n, z_pv, eta[:, j], phi[:, j], np.ones(n, int), 1, 300.0, 1000.0, 0.0
        )
        t[..., D0] = rng.normal(0.0, 0.01, (n, 1))
        if electron:  # bremsstrahlung degrades the track fit
            t[..., CHI2] *= 1.0 + rng.exponential(0.7, (n, 1))
        parts.append((t, valid))
    return parts


def _components(rng, name: str, n: int, z_pv: np.ndarray):
    if name == "background":
        return [_soft(rng, n, z_pv, 21.0)]
    if name == "wprime_qq":
        return [_soft(rng, n, z_pv, 10.0), *_jets(rng, n, z_pv, 2, 14.0, 3.0, 40.0, 0.03, 0.3)]
    if name == "zprime_tt":
        return [
            _soft(rng, n, z_pv, 12.0),
            *_jets(rng, n, z_pv, 2, 12.0, 1.0, 15.0, 0.25, 0.8),
            *_jets(rng, n, z_pv, 2, 5.0, 1.0, 8.0, 0.20, 0.8, k=24),
        ]
    if name == "zprime_bb":
        return [_soft(rng, n, z_pv, 10.0), *_jets(rng, n, z_pv, 2, 8.0, 2.0, 30.0, 0.30, 1.0)]
    if name == "wprime_taunu":
        return [_soft(rng, n, z_pv, 9.0), *_taus(rng, n, z_pv, 1)]
    if name == "zprime_tautau":
        return [_soft(rng, n, z_pv, 9.0), *_taus(rng, n, z_pv, 2)]
    if name in ("zprime_ee", "zprime_mumu"):
        return [_soft(rng, n, z_pv, 12.0), *_leptons(rng, n, z_pv, 2, name.endswith("ee"))]
    if name in ("wprime_enu", "wprime_munu"):
        return [_soft(rng, n, z_pv, 10.0), *_leptons(rng, n, z_pv, 1, "enu" in name)]
    raise ValueError(f"unknown sample {name!r}; known: background, {', '.join(SIGNALS)}")


def generate_block(name: str, n: int, config: GeneratorConfig, chunk_index: int = 0) -> np.ndarray:
    """``n`` raw events of sample ``name``, ``(n, n_tracks * 6)`` float32, track-major."""
    rng = np.random.default_rng([config.seed, zlib.crc32(name.encode()), chunk_index])
    z_pv = rng.normal(0.0, 40.0, n)
    parts = _components(rng, name, n, z_pv)
    tracks = np.concatenate([t for t, _ in parts], axis=1)
    valid = np.concatenate([v for _, v in parts], axis=1)
    order = np.argsort(np.where(valid, -tracks[..., PT], np.inf), axis=1, kind="stable")
    order = order[:, : config.n_tracks]
    tracks = np.take_along_axis(tracks, order[..., None], axis=1)
    valid = np.take_along_axis(valid, order, axis=1)
    if tracks.shape[1] < config.n_tracks:
        pad = config.n_tracks - tracks.shape[1]
        tracks = np.pad(tracks, ((0, 0), (0, pad), (0, 0)))
        valid = np.pad(valid, ((0, 0), (0, pad)))
    tracks[~valid] = 0.0
    _inject_pathologies(rng, tracks, valid, name != "background", config)
    # pathologies change pt: sort the kept tracks again (padding stays last)
    order = np.argsort(np.where(valid, -tracks[..., PT], np.inf), axis=1, kind="stable")
    tracks = np.take_along_axis(tracks, order[..., None], axis=1)
    return tracks.reshape(n, -1).astype(np.float32)


def _pick_track(rng, valid: np.ndarray, events: np.ndarray) -> np.ndarray:
    """One random real track index in each of ``events`` (every event has >= 1 track)."""
    counts = valid[events].sum(axis=1)
    return (rng.random(events.size) * np.maximum(counts, 1)).astype(int)


def _inject_pathologies(rng, tracks, valid, is_signal: bool, config: GeneratorConfig) -> None:
    n = tracks.shape[0]
    has_track = valid.any(axis=1)
    degenerate = np.flatnonzero((rng.random(n) < config.degenerate_rate) & has_track)
    idx = _pick_track(rng, valid, degenerate)
    tracks[degenerate, idx, PT] = 10.0 ** rng.uniform(5.0, 8.0, degenerate.size)
    dof0 = np.flatnonzero((rng.random(n) < config.dof0_rate) & has_track)
    idx = _pick_track(rng, valid, dof0)
    tracks[dof0, idx, CHI2] = np.where(rng.random(dof0.size) < 0.5, np.inf, np.nan)
    if is_signal:
        # A burst of 1-3 mis-reconstructed tracks: TeV-scale pt and d0 of tens of mm.
        extreme = np.flatnonzero((rng.random(n) < config.extreme_rate) & has_track)
        n_bad = rng.integers(1, 4, extreme.size)
        for k in range(3):
            events = extreme[n_bad > k]
            idx = _pick_track(rng, valid, events)
            tracks[events, idx, PT] = rng.uniform(1000.0, 5000.0, events.size)
            sign = rng.choice([-1.0, 1.0], events.size)
            tracks[events, idx, D0] = sign * rng.uniform(10.0, 50.0, events.size)


def demo_identity(name: str, start: int, n: int) -> dict[str, np.ndarray]:
    """The synthetic identity of events ``start .. start + n - 1`` of sample ``name``.

    >>> ids = demo_identity("zprime_ee", 0, 2)
    >>> {k: v.tolist() for k, v in ids.items()}
    {'run_number': [999000, 999000], 'event_number': [1, 2], 'mc_channel_number': [990006, 990006]}
    """
    events = np.arange(start + 1, start + n + 1, dtype=np.uint64)
    if name == "background":
        run = np.full(n, DEMO_DATA_RUN, dtype=np.uint32)
        return {"run_number": run, "event_number": events}
    if name not in SIGNALS:
        raise ValueError(f"unknown sample {name!r}; known: background, {', '.join(SIGNALS)}")
    channel = DEMO_CHANNEL_BASE + 1 + SIGNALS.index(name)
    return {
        "run_number": np.full(n, DEMO_MC_RUN, dtype=np.uint32),
        "event_number": events,
        "mc_channel_number": np.full(n, channel, dtype=np.uint32),
    }


def estimate_normalisation(raw: np.ndarray, config: GeneratorConfig) -> Normalisation:
    """Per-branch mean/std (padding included, as upstream) and median fill of real tracks.

    The statistics are trimmed: values outside each branch's 0.01 % / 99.99 % quantiles
    (the rare degenerate fits, pt up to 1e8 GeV) are left out, so a handful of broken
    tracks cannot set the scale of a whole feature.
    """
    per_track = raw.reshape(-1, len(BRANCHES)).astype(np.float64)
    trimmed = per_track.copy()
    for b in range(len(BRANCHES)):
        col = trimmed[:, b]
        finite = np.isfinite(col)
        lo, hi = np.quantile(col[finite], [1e-4, 1 - 1e-4])
        col[finite & ((col < lo) | (col > hi))] = np.nan
    means, stds = branch_statistics(trimmed, len(BRANCHES))
    real = np.any(per_track != 0.0, axis=1)
    fill = np.array(
        [
            np.median(col[np.isfinite(col)]) if np.isfinite(col).any() else 0.0
            for col in per_track[real].T
        ]
    )
    return Normalisation.per_branch(
        means,
        stds,
        config.n_tracks,
        fill=fill,
        clip=config.input_clip,
        source=f"background (first {raw.shape[0]} events)",
    )


def write_sample(
    path: Path,
    name: str,
    n_events: int,
    config: GeneratorConfig,
    normalisation: Normalisation | None = None,
    progress: Progress | None = None,
    first_block: np.ndarray | None = None,
    compression: Compression = DEFAULT_COMPRESSION,
) -> Path:
    """Generate and write one sample chunk by chunk; returns the file path."""
    n_chunks = -(-n_events // CHUNK_EVENTS)
    blocks_done = 0
    writer = None
    try:
        for i in range(n_chunks):
            n = min(CHUNK_EVENTS, n_events - i * CHUNK_EVENTS)
            block = (
                first_block
                if (i == 0 and first_block is not None)
                else generate_block(name, n, config, i)
            )
            if writer is None:
                assert normalisation is not None
                writer = SampleWriter(
                    path,
                    name=name,
                    role="background" if name == "background" else "signal",
                    branch_names=BRANCHES,
                    units=UNITS,
                    n_tracks=config.n_tracks,
                    normalisation=normalisation,
                    metadata={
                        "generator": "hepfm ATLAS-like",
                        "seed": config.seed,
                        "dof0_rate": config.dof0_rate,
                        "extreme_rate": config.extreme_rate,
                        "degenerate_rate": config.degenerate_rate,
                        "identity": "synthetic run and event numbers (see the generator)",
                    },
                    compression=compression,
                    feature_definition="physical",
                )
            writer.write(block, demo_identity(name, i * CHUNK_EVENTS, block.shape[0]))
            blocks_done += n
            if progress:
                progress(name, blocks_done, n_events)
        assert writer is not None
        return writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def generate_dataset(
    out_dir: str | Path,
    n_background: int,
    n_signal: int,
    config: GeneratorConfig | None = None,
    progress: Progress | None = None,
    compression: Compression = DEFAULT_COMPRESSION,
) -> dict[str, Path]:
    """Write a hepfm data folder: background.h5 and one file per signal.

    The normalisation is estimated on the first background chunk and stored in every file.
    Generation is chunked (memory does not grow with the event count) and deterministic for
    ``config.seed``.

    Parameters
    ----------
    out_dir : str or Path
        The folder to write (created if missing); existing sample files are replaced.
    n_background : int
        Background events, at least 1.
    n_signal : int
        Events per signal sample (``config.signals``), at least 1.
    config : GeneratorConfig, optional
        Tracks per event, pathology rates, seed, signals; the defaults when None.
    progress : Progress, optional
        Called ``(sample, events written, events)`` after every chunk.
    compression : {"lz4", "zstd", "gzip"}
        Blosc2 LZ4 (the default) or Zstd: format version 2; gzip: version 1, for readers
        without hdf5plugin.

    Returns
    -------
    dict of str to Path
        Each sample's file, the background first.

    Examples
    --------
    >>> import tempfile
    >>> from hepfm_core.data.generator import GeneratorConfig, generate_dataset
    >>> from hepfm_core.data.hepfm_format import read_header
    >>> tmp = tempfile.TemporaryDirectory()
    >>> paths = generate_dataset(tmp.name, 500, 100, GeneratorConfig(signals=("zprime_ee",)))
    >>> {name: path.name for name, path in paths.items()}
    {'background': 'background.h5', 'zprime_ee': 'zprime_ee.h5'}
    >>> header = read_header(paths["zprime_ee"])  # 30 tracks x 6 features, raw values
    >>> header["n_events"], header["n_features"], header["feature_names"][:2]
    (100, 180, ['track00_d0', 'track00_phi'])
    >>> tmp.cleanup()
    """
    config = config or GeneratorConfig()
    if n_background <= 0 or n_signal <= 0:
        raise ValueError("event counts must be positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    first = generate_block("background", min(CHUNK_EVENTS, n_background), config, 0)
    norm = estimate_normalisation(first, config)
    paths = {
        "background": write_sample(
            out / "background.h5",
            "background",
            n_background,
            config,
            norm,
            progress,
            first,
            compression,
        )
    }
    for name in config.signals:
        paths[name] = write_sample(
            out / f"{name}.h5", name, n_signal, config, norm, progress, compression=compression
        )
    return paths
