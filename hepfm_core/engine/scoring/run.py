"""The scoring pass: every event once through encoder and decoder, cached on disk.

This is the only step that needs TensorFlow. Events go through one function compiled with
XLA on a fixed input shape, ``CHUNK_EVENTS`` rows (the last chunk zero-padded, so it is
compiled once per model and never again); float32 model, z = z_mean. Per event it keeps raw
z_mean and z_log_var, the float64 reconstruction error and sum of z_mean^2 (summed in float64
inside the compiled graph), and which stages were finite. Reading runs ahead in a thread
(``data.samples.row_blocks``). The result is written as ``.npy`` files under the cache
directory, keyed by the model's and the sample's fingerprints, and reopened memory-mapped: a
second request imports no TensorFlow, and dashboard viewers in one process share the pages.

Against scoring version 2 (the same graph uncompiled, ``make_forward(model,
chunk_events=None, jit_compile=False)``, which reproduces version 2 bit for bit): XLA's
kernels round float32 differently (the matrix products block and fuse differently), so
z_mean, z_log_var, recon and sum_mu2 differ by float32 rounding only, a relative difference
up to about 1e-5 (the benchmark reports the largest it sees, ``max_rel_diff_vs_reference``);
the finiteness bits are the same. One exception, on events whose input is not finite
(``fill="none"``): XLA's ReLU passes NaN on where TensorFlow's oneDNN kernels gave 0, so their
z and their encoder and decoder bits may differ; such events are ``input_nonfinite`` by their
input bit either way.
"""

from __future__ import annotations

import json
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ...common.cache import (
    CacheRepairWarning,
    DamagedEntryError,
    check_entry,
    discard_entry,
    entry_checksums,
    publish_dir,
)
from ...common.cache import cache_dir as default_cache_dir
from ...common.fingerprint import combine
from ...common.native_log import filtered_native_stderr
from ...common.npy_stream import NpyStream
from ...common.progress import Progress
from ...common.tensorflow_import import import_tensorflow
from ...data.samples import Sample, row_blocks
from ...sources import ModelInfo, describe_model, load_model
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

__all__ = [
    "CHUNK_EVENTS",
    "DECODE_ROWS",
    "FIELDS",
    "FILES",
    "SCORING_VERSION",
    "CompiledForward",
    "Forward",
    "cached_pass",
    "chunk_bits",
    "finite_bits",
    "forward_for",
    "make_forward",
    "open_cached",
    "pass_key",
    "prime_native_logs",
    "run_pass",
    "write_meta",
]

SCORING_VERSION = 3  # 3: XLA on fixed chunks (float32 rounding); 2: f16/f32 flags at max + ulp/2
CHUNK_EVENTS = 8192
"""Events per read and per model call: the compiled input shape.

Measured on 2 cores (benchmarks/bench_engine.py): 8192 needs a quarter to a third less CPU
per event end-to-end than 32768, whose temporaries overflow the caches and the allocator's
reuse threshold, so every chunk pays fresh page faults; 16384 is about the same as 8192,
4096 is slower. A multiple of the 2048-row chunks of hepfm's files, so each compressed HDF5
chunk is decoded exactly once. Results differ from other chunk sizes only by float32
rounding (the matrix kernels block by batch size).
"""
DECODE_ROWS = 256
"""The compiled decoder's batch, for the few events whose reconstruction is looked at."""
FIELDS = ("z_mean", "z_log_var", "sum_mu2", "recon", "finite")
FILES = tuple(f"{name}.npy" for name in FIELDS)
"""The files of a cached pass (and of a shard), beside its ``meta.json``."""

# Where the reconstruction sum is below float16's overflow threshold T, every
# |x_i - x_hat_i| < sqrt(T) < 256, so |x_hat_i| < |x_i| + 256: the decoder output can reach T
# only on events with some |x_i| >= T - 256 (a margin of 512 covers the rounding).
_F16_XHAT_MARGIN = 512.0

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_open_passes: dict[str, ScoringPass] = {}


_native_logs_primed = threading.Event()


def prime_native_logs() -> None:
    """Have TensorFlow and XLA print their once-per-process start-up lines now, filtered.

    Why: the absl and "Compiled cluster using XLA!" lines are written once per process, at
    the first XLA compilation, straight to file descriptor 2. :func:`CompiledForward`
    filters them, but a compilation in a background thread (the dashboard warms the model
    while cells run) cannot safely swap fd 2 under a notebook that redirects it per cell;
    called once from the main thread first, this leaves later compilations nothing to say.
    Imports TensorFlow (seconds, once).
    """
    if _native_logs_primed.is_set():
        return
    tf = import_tensorflow()  # one thread at a time (a click may load the model meanwhile)

    with filtered_native_stderr():
        tf.function(lambda x: x + 1.0, jit_compile=True)(tf.constant(0.0))
    _native_logs_primed.set()


def pass_key(model: ModelInfo, sample: Sample) -> str:
    return combine(SCORING_VERSION, model.fingerprint, sample.provenance.fingerprint)[:32]


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def open_cached(directory: Path, *, verify: bool = True) -> ScoringPass:
    """Open a cached pass read-only and memory-mapped.

    With ``verify``, every file is first checked against the CRC-32 its ``meta.json``
    recorded when it was written (about 30 ns per event, once per opening; the pages are
    read again from the page cache by whoever uses them): a flipped bit, a truncated file
    or an entry without checksums raises a ``DamagedEntryError`` saying which file, instead
    of giving other numbers.
    """
    if verify:
        try:
            meta = json.loads((directory / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise DamagedEntryError(
                f"the cached pass's meta.json cannot be read ({exc})",
                directory,
                "it is computed again (or delete the folder)",
            ) from exc
        reason = check_entry(directory, meta if isinstance(meta, dict) else {}, FILES)
        if reason is not None:
            raise DamagedEntryError(
                f"the cached pass cannot be used: {reason}",
                directory,
                "it is computed again (or delete the folder)",
            )
    try:
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in FIELDS}
    except (OSError, ValueError) as exc:
        raise DamagedEntryError(
            f"a file of the cached pass cannot be opened ({exc})",
            directory,
            "it is computed again (or delete the folder)",
        ) from exc
    return ScoringPass(**arrays, directory=directory)


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """The entry's ``meta.json``: ``meta`` and the CRC-32 of its files (written last, so a
    folder with a meta is complete)."""
    doc = meta | {"checksums": entry_checksums(directory, FILES)}
    (directory / "meta.json").write_text(json.dumps(doc, indent=1))


class Forward(Protocol):
    """What ``run_pass`` calls: the model on one chunk, and its decoder on a few events."""

    chunk_events: int | None
    """The one batch size it accepts (inputs are zero-padded to it), or None: any."""

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """float32 ``x (n, d)`` -> ``z_mean, z_log_var (n, k)`` float32, ``recon, sum_mu2
        (n,)`` float64."""
        ...

    def decode(self, z: np.ndarray) -> np.ndarray:
        """float32 ``x_hat`` of the latent points ``z`` (the few events whose reconstruction
        must be looked at: non-finite, or near float16's maximum)."""
        ...


class CompiledForward:
    """A model's forward pass as a ``tf.function`` (see :func:`make_forward`), and its
    decoder alone on ``DECODE_ROWS`` rows at a time."""

    def __init__(self, model, chunk_events: int | None, jit_compile: bool) -> None:
        import tensorflow as tf

        encoder, decoder = model.encoder, model.decoder
        d, k = model.config.input_dim, model.config.latent_dim
        self.chunk_events = chunk_events
        self.jit_compile = jit_compile
        rows = DECODE_ROWS if chunk_events is not None else None
        self._decode_rows = rows
        f64 = tf.float64

        @tf.function(
            input_signature=[tf.TensorSpec([chunk_events, d], tf.float32)],
            jit_compile=jit_compile,
        )
        def forward(x):
            z_mean, z_log_var = encoder(x, training=False)
            x_hat = decoder(z_mean, training=False)
            diff = tf.cast(x, f64) - tf.cast(x_hat, f64)
            recon = tf.reduce_sum(diff * diff, axis=1)
            mu = tf.cast(z_mean, f64)
            sum_mu2 = tf.reduce_sum(mu * mu, axis=1)
            return z_mean, z_log_var, recon, sum_mu2

        @tf.function(
            input_signature=[tf.TensorSpec([rows, k], tf.float32)], jit_compile=jit_compile
        )
        def decode(z):
            return decoder(z, training=False)

        self._fn, self._decode = forward, decode
        if jit_compile and chunk_events is not None:
            # Compile both now, on zeros, with the absl/XLA start-up lines filtered out of fd 2
            # (a notebook cell would show them as output; no environment variable stops them).
            with filtered_native_stderr():
                forward(np.zeros((chunk_events, d), dtype=np.float32))
                decode(np.zeros((DECODE_ROWS, k), dtype=np.float32))

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        z_mean, z_log_var, recon, sum_mu2 = (t.numpy() for t in self._fn(x))
        return z_mean, z_log_var, recon, sum_mu2

    def decode(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float32)
        rows = self._decode_rows
        if rows is None:
            return self._decode(z).numpy()
        out = []
        for start in range(0, z.shape[0], rows):
            part = z[start : start + rows]
            padded = np.zeros((rows, z.shape[1]), dtype=np.float32)
            padded[: part.shape[0]] = part
            out.append(self._decode(padded).numpy()[: part.shape[0]])
        return np.concatenate(out)


def make_forward(
    model, *, chunk_events: int | None = CHUNK_EVENTS, jit_compile: bool = True
) -> CompiledForward:
    """The forward function ``x -> (z_mean, z_log_var, recon, sum_mu2)`` of ``model``.

    Compiled with XLA on inputs of exactly ``chunk_events`` rows by default: compiled once,
    at its first call. The reconstruction error and the sum of z_mean^2 are summed in
    float64 inside the graph: measured cheaper there than returning x_hat and summing in
    numpy (XLA fuses cast, difference, square and sum into one loop). ``jit_compile=False,
    chunk_events=None`` gives the uncompiled graph on any batch: the forward pass of scoring
    version 2, which the benchmark keeps as its reference.
    """
    return CompiledForward(model, chunk_events, jit_compile)


_forwards: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forward_for(model, chunk_events: int = CHUNK_EVENTS) -> Forward:
    """The compiled forward function of ``model`` on ``chunk_events`` rows, built once per
    model object and chunk size."""
    per_model = _forwards.setdefault(model, {})
    fn = per_model.get(chunk_events)
    if fn is None:
        fn = per_model[chunk_events] = make_forward(model, chunk_events=chunk_events)
    return fn


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


def _near_f16_max(x: np.ndarray, step: int = 256) -> np.ndarray:
    """Events with some |x_i| >= float16's overflow threshold less the margin (NaN is not).

    Blocks of ``step`` events are screened by their extremes first (two reductions without
    temporaries); only a block that reaches the limit is looked at event by event.
    """
    limit = F16_OVERFLOW - _F16_XHAT_MARGIN
    n, d = x.shape
    near = np.zeros(n, dtype=bool)
    full = n - n % step
    suspects: list[tuple[int, int]] = [(full, n)] if full < n else []
    with np.errstate(invalid="ignore"):
        if full:
            blocks = np.ascontiguousarray(x[:full]).reshape(-1, step * d)
            reach = np.maximum(blocks.max(axis=1), -blocks.min(axis=1))
            starts = np.flatnonzero(~(reach < limit)) * step
            suspects += [(int(a), int(a) + step) for a in starts]
        for a, b in suspects:
            near[a:b] = (np.abs(x[a:b]) >= limit).any(axis=1)
    return near


def chunk_bits(
    forward: Forward,
    x: np.ndarray,
    z_mean: np.ndarray,
    z_log_var: np.ndarray,
    recon: np.ndarray,
    sum_mu2: np.ndarray,
    x_bound: float | None = None,
) -> np.ndarray:
    """The ``finite`` bytes of one chunk from the compiled outputs: what :func:`finite_bits`
    gives from every input and reconstruction, without summing or scanning every x_hat.

    A float64 sum of squared differences of float32 values cannot overflow, so a finite
    ``recon`` means x and x_hat were finite, and ``sum_mu2`` is finite exactly where z_mean
    is. The decoder runs again (``forward.decode``) only on the events that need their
    x_hat: a non-finite recon (which stage was it?), or an input within reach of float16's
    maximum (never with inputs clipped below it: ``x_bound``, the largest |x| possible).
    """
    with np.errstate(invalid="ignore"):
        fin = np.isfinite(recon)
        x_ok = fin.copy()
        dec_ok = fin.copy()
        enc_ok = np.isfinite(sum_mu2)
        if not np.isfinite(z_log_var).all():
            enc_ok &= np.isfinite(z_log_var).all(axis=1)
        check = ~fin
        if x_bound is None or not x_bound < F16_OVERFLOW - _F16_XHAT_MARGIN:
            check |= _near_f16_max(x) & (recon < F16_OVERFLOW)
    xhat_max = np.zeros(recon.shape[0], dtype=np.float32)
    rows = np.flatnonzero(check)
    if rows.size:
        x_ok[rows] = np.isfinite(x[rows]).all(axis=1)
        x_hat = forward.decode(z_mean[rows])
        dec_ok[rows] = np.isfinite(x_hat).all(axis=1)
        with np.errstate(invalid="ignore"):
            xhat_max[rows] = np.abs(x_hat).max(axis=1)
    return finite_bits(x_ok, enc_ok, dec_ok, recon, xhat_max)


def run_pass(
    model,
    sample: Sample,
    out_dir: Path | None = None,
    *,
    chunk_events: int = CHUNK_EVENTS,
    progress: Progress | None = None,
    forward: Forward | None = None,
    rows: tuple[int, int] | None = None,
    read_threads: int | None = None,
) -> ScoringPass:
    """Score every event of ``sample``; into ``.npy`` files under ``out_dir`` if given.

    Reading (``data.samples.row_blocks``: HDF5 chunks decoded and normalised in a thread)
    runs ahead of the model, which sees chunks of ``forward.chunk_events`` rows (the last one
    zero-padded), or of ``chunk_events`` for a forward function that takes any size.
    ``rows``: only the events ``start:stop`` (a partition; the pass then holds those, in
    order). A partition that starts on a multiple of the chunk size gives its events the very
    chunks, hence the very arithmetic, of the whole-sample pass. ``read_threads``: threads
    reading ahead (None: the reader's default; 0: read between model calls, in this thread).
    """
    model.check_input(sample.n_features, sample.feature_names, sample.provenance.source)
    first, end = (0, sample.n_events) if rows is None else rows
    if not 0 <= first <= end <= sample.n_events:
        raise ValueError(f"rows {first}:{end} are not inside the {sample.n_events} events")
    n, k = end - first, model.config.latent_dim
    forward = forward or forward_for(model, chunk_events)
    size = forward.chunk_events or chunk_events
    shapes = {
        "z_mean": ((n, k), np.float32),
        "z_log_var": ((n, k), np.float32),
        "sum_mu2": ((n,), np.float64),
        "recon": ((n,), np.float64),
        "finite": ((n,), np.uint8),
    }
    norm = sample.normalisation
    x_bound = None if norm is None or norm.clip is None else float(norm.clip)
    pad = forward.chunk_events is not None
    blocks = row_blocks(sample.x, size, pad=pad, start=first, stop=end, threads=read_threads)
    if out_dir is None:
        arrays: dict[str, Any] = {name: np.empty(sh, dt) for name, (sh, dt) in shapes.items()}
        for start, stop, chunk in _scored_chunks(forward, blocks, first, n, size, x_bound):
            for name, values in chunk.items():
                arrays[name][start:stop] = values
            if progress:
                progress(sample.name, stop, n)
        return ScoringPass(**arrays)
    # written through the files in row order (``common.npy_stream``: no page of a writable
    # memory map to fault in, a full disk an OSError), then mapped read-only
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"{name}.npy" for name in shapes}
    with ExitStack() as files:
        streams = {
            name: files.enter_context(NpyStream(paths[name], shape, dtype))
            for name, (shape, dtype) in shapes.items()
        }
        for _, stop, chunk in _scored_chunks(forward, blocks, first, n, size, x_bound):
            for name, values in chunk.items():
                streams[name].append(values)
            if progress:
                progress(sample.name, stop, n)
    mapped: dict[str, Any] = {name: np.load(path, mmap_mode="r") for name, path in paths.items()}
    return ScoringPass(**mapped)


def _scored_chunks(
    forward: Forward,
    blocks: Iterable[tuple[int, np.ndarray]],
    first: int,
    n: int,
    size: int,
    x_bound: float | None,
) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """``(start, stop, outputs)`` of each chunk of ``blocks`` (rows ``first`` on, ``n`` in
    all), in row order: the model's outputs and the finiteness bits of its real rows."""
    for row, x in blocks:
        start = row - first
        stop = min(start + size, n)
        m = stop - start
        z_mean, z_log_var, recon, sum_mu2 = (a[:m] for a in forward(x))
        bits = chunk_bits(forward, x[:m], z_mean, z_log_var, recon, sum_mu2, x_bound)
        yield (
            start,
            stop,
            {
                "z_mean": z_mean,
                "z_log_var": z_log_var,
                "recon": recon,
                "sum_mu2": sum_mu2,
                "finite": bits,
            },
        )


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
    A cached pass is checked against its checksums when first opened in a process; a
    damaged one (a flipped bit, a truncated file, no checksums) is discarded and computed
    again, with a ``CacheRepairWarning``. A cache that cannot be written raises a
    ``CacheError``.
    The cache key is the scoring version, the model's fingerprint and the sample's (which
    covers its normalisation and fill), so a changed model or input is a new pass.

    Parameters
    ----------
    model_path : str or Path
        A hepfm ``.keras`` file or an upstream experiment folder.
    sample : Sample
        The events to score.
    cache : str or Path, optional
        The cache folder; ``$HEPFM_CACHE_DIR`` or ``~/.cache/hepfm`` when None.
    progress : Progress, optional
        Called ``(sample name, events scored, events)``; once, complete, for a cached pass.
    model_loader : callable, optional
        Returns the loaded model when a pass must be computed (one model shared by several
        samples); ``sources.load_model(model_path)`` when None.

    Returns
    -------
    ScoringPass
        Read-only, memory-mapped arrays; the same object for every later request in this
        process.

    Examples
    --------
    A first pass needs TensorFlow and a model (``hepfm demo`` writes both); not run here::

        data = open_data("data/demo")
        scores = cached_pass("data/demo/model.keras", data.background)
        scores.recon[:5], scores.z_log_var.shape  # (n,) float64, (n, latent) float32
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
        if (directory / "meta.json").exists():
            try:
                result = open_cached(directory)
            except DamagedEntryError as exc:
                warnings.warn(
                    f"the cached scoring pass of {sample.name!r} was damaged and is computed "
                    f"again ({exc.what}; {directory})",
                    CacheRepairWarning,
                    stacklevel=2,
                )
                discard_entry(directory)
            else:
                if progress:
                    progress(sample.name, sample.n_events, sample.n_events)
                _open_passes[memo] = result
                return result
        wrote = False
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
                write_meta(tmp, meta)

            # another process may publish the same pass meanwhile: then its copy is opened
            wrote = publish_dir(directory, write, marker="meta.json")
        elif progress:
            progress(sample.name, sample.n_events, sample.n_events)
        # files this process just wrote and summed need no second read against their sums
        result = open_cached(directory, verify=not wrote)
        _open_passes[memo] = result
        return result
