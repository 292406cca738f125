"""The scoring pass: every event once through encoder and decoder, cached on disk.

This is the only step that needs TensorFlow. Events go through one compiled function in
chunks of ``CHUNK_EVENTS`` (float32 model, z = z_mean); per event it keeps raw z_mean and
z_log_var, the float64 reconstruction error and sum of z_mean^2, and which stages were
finite. The result is written as ``.npy`` files under the cache directory, keyed by the
model's and the sample's fingerprints, and reopened memory-mapped: a second request imports
no TensorFlow, and dashboard viewers in one process share the same pages.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..common.cache import cache_dir as default_cache_dir
from ..common.cache import publish_dir
from ..common.fingerprint import combine
from ..common.progress import Progress
from ..data.samples import Sample
from ..sources import ModelInfo, describe_model, load_model
from .passes import (
    DECODER_FINITE,
    ENCODER_FINITE,
    F16_OVERFLOW,
    F32_OVERFLOW,
    INPUT_FINITE,
    RECON_F16_OVERFLOW,
    RECON_F32_OVERFLOW,
    ScoringPass,
)

SCORING_VERSION = 2  # 2: float16/float32 flags at max + half an ulp
CHUNK_EVENTS = 8192
"""Events per read and per model call.

Measured on 2 cores (benchmarks/bench_engine.py): 8192 needs a quarter to a third less CPU
per event end-to-end than 32768 (about 40% less in the model part), whose temporaries (47 MB
for a float64 chunk) overflow the caches and the allocator's reuse threshold, so every chunk
pays fresh page faults (about 1 per event, against 0.03); 16384 is about the same as 8192,
4096 is slower. A multiple of the 2048-row chunks of hepfm's files, so each compressed HDF5
chunk is inflated exactly once. Results differ from other chunk sizes only by float32
rounding (the matrix kernels block by batch size).
"""
FIELDS = ("z_mean", "z_log_var", "sum_mu2", "recon", "finite")

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_open_passes: dict[str, ScoringPass] = {}


def pass_key(model: ModelInfo, sample: Sample) -> str:
    return combine(SCORING_VERSION, model.fingerprint, sample.provenance.fingerprint)[:32]


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def open_cached(directory: Path) -> ScoringPass:
    """Open a cached pass read-only and memory-mapped."""
    arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in FIELDS}
    return ScoringPass(**arrays)


_forwards: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forward_for(model):
    """The compiled forward function of ``model``, traced once per model object."""
    fn = _forwards.get(model)
    if fn is None:
        fn = _forwards[model] = make_forward(model)
    return fn


def make_forward(model, *, losses_dtype=None):
    """A compiled function ``x -> (z_mean, z_log_var, recon, sum_mu2, max|x_hat|, finite)``.

    The reconstruction error and sum of z_mean^2 are computed in float64 (``losses_dtype``
    exists only so the benchmark can price that choice against float32).
    """
    import tensorflow as tf

    encoder, decoder = model.encoder, model.decoder
    d = model.config.input_dim
    dtype = losses_dtype or tf.float64

    @tf.function(input_signature=[tf.TensorSpec([None, d], tf.float32)])
    def forward(x):
        z_mean, z_log_var = encoder(x, training=False)
        x_hat = decoder(z_mean, training=False)
        diff = tf.cast(x, dtype) - tf.cast(x_hat, dtype)
        recon = tf.cast(tf.reduce_sum(diff * diff, axis=1), tf.float64)
        mu = tf.cast(z_mean, dtype)
        sum_mu2 = tf.cast(tf.reduce_sum(mu * mu, axis=1), tf.float64)
        enc_ok = tf.reduce_all(tf.math.is_finite(z_mean), axis=1) & tf.reduce_all(
            tf.math.is_finite(z_log_var), axis=1
        )
        dec_ok = tf.reduce_all(tf.math.is_finite(x_hat), axis=1)
        xhat_max = tf.reduce_max(tf.abs(x_hat), axis=1)
        return z_mean, z_log_var, recon, sum_mu2, xhat_max, enc_ok, dec_ok

    return forward


def finite_bits(
    x_ok: np.ndarray,
    enc_ok: np.ndarray,
    dec_ok: np.ndarray,
    recon: np.ndarray,
    xhat_max: np.ndarray,
) -> np.ndarray:
    """The ``finite`` byte: stage finiteness plus upstream-precision reconstruction overflow.

    A value overflows a type where it rounds to inf there: at max + half an ulp and above
    (``passes.overflow_threshold``, the guards' rule too), so 65510 rounds to 65504 in float16
    and is not flagged. NaN is flagged.
    """
    bits = np.where(x_ok, INPUT_FINITE, 0).astype(np.uint8)
    bits |= np.where(enc_ok, ENCODER_FINITE, 0).astype(np.uint8)
    bits |= np.where(dec_ok, DECODER_FINITE, 0).astype(np.uint8)
    with np.errstate(invalid="ignore"):
        f32 = ~(recon < F32_OVERFLOW)
        f16 = ~(recon < F16_OVERFLOW) | ~(xhat_max < F16_OVERFLOW)
    bits |= np.where(f32, RECON_F32_OVERFLOW, 0).astype(np.uint8)
    bits |= np.where(f16, RECON_F16_OVERFLOW, 0).astype(np.uint8)
    return bits


def run_pass(
    model,
    sample: Sample,
    out_dir: Path | None = None,
    *,
    chunk_events: int = CHUNK_EVENTS,
    progress: Progress | None = None,
    forward=None,
) -> ScoringPass:
    """Score every event of ``sample``; into ``.npy`` files under ``out_dir`` if given.

    Reading (HDF5 decompression, normalisation) of the next chunk overlaps the model call.
    """
    model.check_input(sample.n_features, sample.feature_names, sample.provenance.source)
    n, k = sample.n_events, model.config.latent_dim
    forward = forward or forward_for(model)
    shapes = {
        "z_mean": ((n, k), np.float32),
        "z_log_var": ((n, k), np.float32),
        "sum_mu2": ((n,), np.float64),
        "recon": ((n,), np.float64),
        "finite": ((n,), np.uint8),
    }
    if out_dir is None:
        arrays = {name: np.empty(shape, dtype) for name, (shape, dtype) in shapes.items()}
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        arrays = {
            name: np.lib.format.open_memmap(out_dir / f"{name}.npy", "w+", dtype, shape)
            for name, (shape, dtype) in shapes.items()
        }
    starts = list(range(0, n, chunk_events))

    def read(start: int) -> np.ndarray:
        return np.asarray(sample.x[start : start + chunk_events], dtype=np.float32)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read, starts[0]) if starts else None
        for i, start in enumerate(starts):
            x = pending.result()
            if i + 1 < len(starts):
                pending = pool.submit(read, starts[i + 1])
            stop = start + x.shape[0]
            x_ok = np.isfinite(x).all(axis=1)
            z_mean, z_log_var, recon, sum_mu2, xhat_max, enc_ok, dec_ok = (
                t.numpy() for t in forward(x)
            )
            arrays["z_mean"][start:stop] = z_mean
            arrays["z_log_var"][start:stop] = z_log_var
            arrays["recon"][start:stop] = recon
            arrays["sum_mu2"][start:stop] = sum_mu2
            arrays["finite"][start:stop] = finite_bits(x_ok, enc_ok, dec_ok, recon, xhat_max)
            if progress:
                progress(sample.name, stop, n)
    for arr in arrays.values():
        if isinstance(arr, np.memmap):
            arr.flush()
    return ScoringPass(**arrays)


def cached_pass(
    model_path: str | Path,
    sample: Sample,
    *,
    cache: str | Path | None = None,
    progress: Progress | None = None,
    model_loader: Callable[[], object] | None = None,
) -> ScoringPass:
    """The pass of ``sample`` through the model at ``model_path``, computed at most once.

    A cached pass is opened memory-mapped without importing TensorFlow. Concurrent requests
    for the same pass (dashboard viewers) wait for one computation and share its arrays.
    Across processes, the pass is written beside the cache entry and published with one
    rename (``cache.publish_dir``): if another process published it first, its copy is used.
    """
    info = describe_model(model_path)
    key = pass_key(info, sample)
    directory = default_cache_dir(cache) / "passes" / key
    memo = str(directory.resolve())
    if memo in _open_passes:
        return _open_passes[memo]
    with _lock_for(memo):
        if memo in _open_passes:
            return _open_passes[memo]
        if not (directory / "meta.json").exists():
            model = model_loader() if model_loader else load_model(model_path)
            meta = {
                "scoring_version": SCORING_VERSION,
                "model": info.path,
                "model_fingerprint": info.fingerprint,
                "sample": sample.name,
                "sample_source": sample.provenance.source,
                "sample_fingerprint": sample.provenance.fingerprint,
                "n_events": sample.n_events,
            }

            def write(tmp: Path) -> None:
                run_pass(model, sample, tmp, progress=progress)
                (tmp / "meta.json").write_text(json.dumps(meta, indent=1))

            # another process may publish the same pass meanwhile: then its copy is opened
            publish_dir(directory, write, marker="meta.json")
        elif progress:
            progress(sample.name, sample.n_events, sample.n_events)
        result = open_cached(directory)
        _open_passes[memo] = result
        return result
