"""The scoring pass: values against the model, finiteness bits, the on-disk cache."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from hepfm_core.engine.scoring.passes import (
    DECODER_FINITE,
    ENCODER_FINITE,
    INPUT_FINITE,
    RECON_F16_OVERFLOW,
    RECON_F32_OVERFLOW,
)


@pytest.fixture(scope="module")
def demo_model(small_demo):
    from hepfm_core.sources import load_model

    return load_model(small_demo[1])


def test_pass_matches_model_outputs_in_float64(small_demo, demo_model):
    from hepfm_core.engine.scoring.run import run_pass
    from hepfm_core.sources import open_data

    sample = open_data(small_demo[0]).signals["zprime_tt"]
    p = run_pass(demo_model, sample, chunk_events=700)  # several chunks and a ragged last one
    x = np.asarray(sample.x[0 : sample.n_events])
    zm, zl, xh = demo_model.predict(x)
    # float32 network outputs: another batch size may block the GEMMs otherwise, so the
    # tolerance is a few float32 ulps of the largest value, not of each element
    for ours, keras in ((p.z_mean, zm), (p.z_log_var, zl)):
        np.testing.assert_allclose(
            ours, keras, rtol=1e-5, atol=32 * np.finfo(np.float32).eps * np.abs(keras).max()
        )
    recon = ((x.astype(np.float64) - xh.astype(np.float64)) ** 2).sum(axis=1)
    np.testing.assert_allclose(p.recon, recon, rtol=1e-5)
    np.testing.assert_allclose(p.sum_mu2, (zm.astype(np.float64) ** 2).sum(axis=1), rtol=1e-5)
    assert p.recon.dtype == np.float64 and p.z_log_var.dtype == np.float32
    f16 = (p.finite & RECON_F16_OVERFLOW) > 0
    np.testing.assert_array_equal(f16, (recon > 65504) | (np.abs(xh).max(axis=1) > 65504))


def test_compiled_once_on_a_fixed_shape_whatever_the_chunks(small_demo, demo_model):
    # the last chunk is zero-padded to the compiled shape: one trace, one XLA compilation
    from hepfm_core.engine.scoring.run import forward_for, run_pass
    from hepfm_core.sources import open_data

    data = open_data(small_demo[0])
    forward = forward_for(demo_model, 700)
    for sample in (data.signals["wprime_qq"], data.signals["zprime_bb"]):  # 2000: 3 chunks
        run_pass(demo_model, sample, chunk_events=700)
    assert forward.chunk_events == 700 and forward_for(demo_model, 700) is forward
    assert forward._fn.experimental_get_tracing_count() == 1


def test_read_from_file_equals_in_memory_and_reference(small_demo, demo_model):
    # the threaded reader feeds the model exactly the normalised rows slicing gives; against
    # the uncompiled forward pass of scoring version 2, only float32 rounding differs
    from dataclasses import replace

    from hepfm_core.engine.scoring.run import make_forward, run_pass
    from hepfm_core.sources import open_data

    sample = open_data(small_demo[0]).background  # 20000 events: 3 chunks, the last padded
    x = np.asarray(sample.x[0 : sample.n_events])
    from_file = run_pass(demo_model, sample)
    in_memory = run_pass(demo_model, replace(sample, x=x))
    for name in ("z_mean", "z_log_var", "recon", "sum_mu2", "finite"):
        np.testing.assert_array_equal(getattr(from_file, name), getattr(in_memory, name))
    reference = make_forward(demo_model, chunk_events=None, jit_compile=False)
    ref = run_pass(demo_model, replace(sample, x=x), forward=reference)
    np.testing.assert_array_equal(from_file.finite, ref.finite)
    for name in ("z_mean", "z_log_var", "recon", "sum_mu2"):
        a, b = getattr(from_file, name).astype(np.float64), getattr(ref, name).astype(np.float64)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


class _ShiftForward:
    """A numpy 'model' whose reconstruction is its input plus one (z = x, x_hat = z + 1),
    compiled on chunks of 64 rows: every x_hat is known, so every flag can be checked."""

    chunk_events = 64

    def __call__(self, x: np.ndarray):
        assert x.shape[0] == self.chunk_events  # padded by run_pass
        with np.errstate(invalid="ignore", over="ignore"):
            diff = x.astype(np.float64) - self.decode(x).astype(np.float64)
            sum_mu2 = (x.astype(np.float64) ** 2).sum(axis=1)
            return x.copy(), np.zeros_like(x), (diff * diff).sum(axis=1), sum_mu2

    def decode(self, z: np.ndarray) -> np.ndarray:
        return z + np.float32(1.0)


class _ShiftModel:
    def __init__(self) -> None:
        from hepfm_core.model.vae import VAEConfig

        self.config = VAEConfig(input_dim=3, encoder_layers=(4,), decoder_layers=(4,), latent_dim=3)

    def check_input(self, n_features, feature_names, where) -> None:
        assert n_features == 3


@pytest.mark.parametrize("scale", [1.0, 30000.0])
def test_flags_from_recon_and_the_events_decoded_again(scale):
    # recon is 3 wherever x is finite, so float16 overflows only through |x_hat| = |x + 1|
    # (from 65520 on): run_pass decodes again only the events near that, and the non-finite
    # ones; its flags must be finite_bits' own from every x_hat
    from hepfm_core.data.samples import Provenance, Sample
    from hepfm_core.engine.scoring.run import finite_bits, run_pass

    rng = np.random.default_rng(3)
    x = (rng.normal(size=(300, 3)) * scale).astype(np.float32)
    x[7, 1], x[8, 0], x[200, 2] = np.nan, np.inf, -np.inf
    x[50] = [0.0, -2.0, 65519.5]  # x_hat 65520.5: rounds to inf in float16
    x[51] = [0.0, -2.0, 65518.0]  # x_hat 65519: finite in float16
    sample = Sample("s", "signal", x, ("a", "b", "c"), Provenance("memory", "", "id"))
    forward = _ShiftForward()
    p = run_pass(_ShiftModel(), sample, forward=forward)
    x_hat = forward.decode(x)
    with np.errstate(invalid="ignore", over="ignore"):
        recon = ((x.astype(np.float64) - x_hat.astype(np.float64)) ** 2).sum(axis=1)
        want = finite_bits(
            np.isfinite(x).all(axis=1),
            np.isfinite(x).all(axis=1),
            np.isfinite(x_hat).all(axis=1),
            recon,
            np.abs(x_hat).max(axis=1),
        )
    np.testing.assert_array_equal(p.finite, want)
    assert p.finite[50] & RECON_F16_OVERFLOW and not p.finite[51] & RECON_F16_OVERFLOW
    assert ((p.finite & INPUT_FINITE) == 0).sum() == 3
    flagged16 = ((want & RECON_F16_OVERFLOW) > 0).sum()  # non-finite, row 50, and large x
    assert flagged16 == 4 if scale == 1.0 else flagged16 > 10


def test_nonfinite_inputs_flagged(small_demo, demo_model):
    from hepfm_core.engine.scoring.run import run_pass
    from hepfm_core.sources import open_data

    sample = open_data(small_demo[0], fill="none").background
    p = run_pass(demo_model, sample)
    x = np.asarray(sample.x[0 : sample.n_events])
    bad_input = ~np.isfinite(x).all(axis=1)
    assert bad_input.sum() == sample.accounting.events_with_nonfinite > 0
    np.testing.assert_array_equal((p.finite & INPUT_FINITE) == 0, bad_input)
    # Whether NaN survives the network depends on the CPU kernels (a ReLU may map NaN to 0),
    # so the input bit alone decides: those events are input_nonfinite, whatever came out.
    assert np.all((p.finite[~bad_input] & (INPUT_FINITE | ENCODER_FINITE | DECODER_FINITE)) == 7)
    from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
    from hepfm_core.vocabulary import Cause

    causes = guard(prepare(p, "exp", "true"), GuardSettings()).causes
    np.testing.assert_array_equal(causes == Cause.INPUT_NONFINITE, bad_input)


def test_finite_bits_overflow_thresholds():
    from hepfm_core.engine.scoring.run import finite_bits

    ok = np.ones(4, dtype=bool)
    recon = np.array([1.0, 7e4, 4e38, np.nan])
    xhat_max = np.array([1.0, 1.0, 1.0, np.nan])
    bits = finite_bits(ok, ok, ok, recon, xhat_max)
    assert list((bits & RECON_F16_OVERFLOW) > 0) == [False, True, True, True]
    assert list((bits & RECON_F32_OVERFLOW) > 0) == [False, False, True, True]


CACHED_SCRIPT = """
import sys
from hepfm_core.sources import open_data
from hepfm_core.engine.scoring.run import cached_pass
data = open_data(sys.argv[1])
p = cached_pass(sys.argv[2], data.signals["wprime_qq"], cache=sys.argv[3])
print(type(p.recon).__name__, p.n_events, "tensorflow" in sys.modules, "keras" in sys.modules)
"""


def test_cache_second_request_is_memory_mapped_without_tensorflow(small_demo, tmp_path):
    from hepfm_core.engine.scoring.run import cached_pass
    from hepfm_core.sources import open_data

    data_dir, model_path = small_demo
    first = cached_pass(model_path, open_data(data_dir).signals["wprime_qq"], cache=tmp_path)
    passes = list((tmp_path / "passes").iterdir())
    assert len(passes) == 1 and (passes[0] / "meta.json").exists()
    out = subprocess.run(
        [sys.executable, "-c", CACHED_SCRIPT, str(data_dir), str(model_path), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["memmap", str(first.n_events), "False", "False"]
    # bytes per event on disk: 2 x 16 float32 latent + 2 float64 + 1 flag byte
    size = sum(f.stat().st_size for f in passes[0].glob("*.npy"))
    headers = 5 * 128  # one .npy header per array
    assert size - headers == 145 * first.n_events


# -- float16 reconstruction flags
def test_finite_bits_flag_exactly_what_rounds_to_inf():
    # A value overflows a type once it rounds to inf there: from max + half an ulp on (65510
    # rounds to 65504 in float16 and is finite). The reference is numpy's own cast.
    from hepfm_core.engine.scoring.run import finite_bits

    f32_max = float(np.finfo(np.float32).max)
    half_ulp32 = 2.0**103
    values = np.array(
        [
            1.0,
            65504.0,
            65510.0,
            np.nextafter(65520.0, 0.0),
            65520.0,
            65521.0,
            f32_max,
            f32_max + 0.99 * half_ulp32,
            f32_max + half_ulp32,
            3.5e38,
            np.inf,
            np.nan,
        ]
    )
    with np.errstate(over="ignore", invalid="ignore"):
        want16 = ~np.isfinite(values.astype(np.float16))
        want32 = ~np.isfinite(values.astype(np.float32))
    assert want16.tolist()[2:5] == [False, False, True]
    assert want32.tolist()[6:10] == [False, False, True, True]
    ok = np.ones(values.size, dtype=bool)
    small = np.ones(values.size)
    bits = finite_bits(ok, ok, ok, values, small)
    np.testing.assert_array_equal((bits & RECON_F16_OVERFLOW) > 0, want16)
    np.testing.assert_array_equal((bits & RECON_F32_OVERFLOW) > 0, want32)
    # the largest |x_hat| is judged the same way for float16
    bits = finite_bits(ok, ok, ok, small, values)
    np.testing.assert_array_equal((bits & RECON_F16_OVERFLOW) > 0, want16)
    assert not ((bits & RECON_F32_OVERFLOW) > 0).any()


# -- cache writes under concurrency ---------------------------------------------------------
# Two processes miss the same cache key at once and both write it. A fake model (no
# TensorFlow): a hepfm model file that describe_model reads, and a numpy forward function.
RACE_ROUNDS = 40
RACE_EVENTS = 300
RACE_RENAME_DELAY_S = 0.003


class _FakeForward:
    """A numpy model in place of the compiled one: what run_pass calls (any chunk size)."""

    chunk_events = None

    def __call__(self, x: np.ndarray):
        z_mean, z_log_var, x_hat = x[:, :2] * 0.5, x[:, 1:3] - 1.0, x * 0.75
        diff = x.astype(np.float64) - x_hat.astype(np.float64)
        recon = (diff * diff).sum(axis=1)
        sum_mu2 = (z_mean.astype(np.float64) ** 2).sum(axis=1)
        return z_mean, z_log_var, recon, sum_mu2

    def decode(self, z: np.ndarray) -> np.ndarray:  # never needed: every event is finite
        raise AssertionError("decode called")


class _FakeModel:
    def __init__(self) -> None:
        from hepfm_core.model.vae import VAEConfig

        self.config = VAEConfig(input_dim=3, encoder_layers=(4,), decoder_layers=(4,), latent_dim=2)

    def check_input(self, n_features, feature_names, where) -> None:
        assert n_features == 3


def _fake_sample():
    from hepfm_core.data.samples import Provenance, Sample

    x = np.arange(RACE_EVENTS * 3, dtype=np.float32).reshape(-1, 3) / 100.0
    prov = Provenance(source="memory", group="background", fingerprint="race-sample")
    return Sample("background", "background", x, ("a", "b", "c"), prov)


def _fake_model_file(path):
    """A hepfm model file as far as describe_model reads one (metadata and weights bytes)."""
    import json
    import zipfile

    config = _FakeModel().config.to_dict()
    meta = {"format": "hepfm-model", "config": config, "fingerprint": "race-model"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.weights.h5", b"fake weights")
        zf.writestr("config.json", json.dumps({"class_name": "Functional"}))
        zf.writestr("hepfm_metadata.json", json.dumps(meta))
    return path


def _race_writer(cache_root, model_path, barrier, results) -> None:
    """Worker: for each round, wait for the other writer, then request the same pass.

    The second wait is in the progress callback, which run_pass calls after its last chunk,
    so both writers reach the publishing step (meta.json, rename) at the same moment; renames
    are slowed down (a busy disk, a preempted process) so that both writers are between
    deciding and renaming at once.
    """
    import os
    import sys
    import time
    from pathlib import Path

    from hepfm_core.engine.scoring import run as scoring

    lost = []  # renames refused because the other writer's folder was already there

    def slowed(real):
        def slow(src, dst, *args, **kwargs):
            time.sleep(RACE_RENAME_DELAY_S)
            try:
                return real(src, dst, *args, **kwargs)
            except OSError:
                lost.append(dst)
                raise

        return slow

    os.replace, os.rename = slowed(os.replace), slowed(os.rename)
    scoring.forward_for = lambda model, chunk: _FakeForward()  # numpy instead of TensorFlow
    sample = _fake_sample()
    errors = []

    def progress(name: str, done: int, total: int) -> None:
        if done == total:
            barrier.wait(timeout=60)

    for r in range(RACE_ROUNDS):
        barrier.wait(timeout=60)
        try:
            p = scoring.cached_pass(
                model_path,
                sample,
                cache=Path(cache_root) / f"round{r}",
                progress=progress,
                model_loader=_FakeModel,
            )
            assert p.n_events == RACE_EVENTS
        except Exception as exc:
            errors.append(f"round {r}: {type(exc).__name__}: {exc}")
    results.put((len(lost), errors, "tensorflow" in sys.modules))


def test_two_processes_writing_the_same_pass_both_succeed(tmp_path):
    import multiprocessing

    from hepfm_core.engine.scoring.run import open_cached

    model_path = _fake_model_file(tmp_path / "fake.keras")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [
        ctx.Process(
            target=_race_writer, args=(str(tmp_path / "cache"), str(model_path), barrier, results)
        )
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    reports = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert [w.exitcode for w in workers] == [0, 0]
    assert [errors for _, errors, _ in reports] == [[], []]
    assert not any(tf for _, _, tf in reports)  # the fake model kept TensorFlow out
    assert sum(n_lost for n_lost, _, _ in reports) > 0  # the writers did collide

    x = np.arange(RACE_EVENTS * 3, dtype=np.float32).reshape(-1, 3) / np.float32(100.0)
    want_recon = ((x.astype(np.float64) - (x * np.float32(0.75)).astype(np.float64)) ** 2).sum(1)
    want_mu2 = ((x[:, :2] * np.float32(0.5)).astype(np.float64) ** 2).sum(axis=1)
    for r in range(RACE_ROUNDS):
        entries = list((tmp_path / "cache" / f"round{r}" / "passes").iterdir())
        assert len(entries) == 1, entries  # the loser's temporary folder is gone
        p = open_cached(entries[0])
        np.testing.assert_array_equal(p.z_mean, x[:, :2] * np.float32(0.5))
        np.testing.assert_array_equal(p.z_log_var, x[:, 1:3] - np.float32(1.0))
        np.testing.assert_allclose(p.recon, want_recon, rtol=1e-12)
        np.testing.assert_allclose(p.sum_mu2, want_mu2, rtol=1e-12)
        np.testing.assert_array_equal(p.finite, np.full(RACE_EVENTS, 7, dtype=np.uint8))


def test_primed_native_logs_leave_later_compilations_silent():
    """After prime_native_logs (main thread), an XLA compilation anywhere writes none of
    the absl/XLA start-up lines to fd 2 (a background warm-up in the app relies on it)."""
    import subprocess
    import sys

    code = (
        "import threading, tensorflow as tf\n"
        "from hepfm_core.engine.scoring.run import prime_native_logs\n"
        "prime_native_logs()\n"
        "t = threading.Thread(target=lambda: tf.function(lambda x: x * 2.0, jit_compile=True)"
        "(tf.constant(1.0)))\n"
        "t.start(); t.join()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Compiled cluster using XLA" not in out.stderr
    assert "absl::InitializeLog" not in out.stderr
    # without priming, the same compilation does print them: the test can fail
    bare = code.replace("prime_native_logs()\n", "")
    out = subprocess.run([sys.executable, "-c", bare], capture_output=True, text=True, timeout=120)
    assert "Compiled cluster using XLA" in out.stderr


# -- a damaged or unusable cache (issue 23, faults 1 and 2) ---------------------------------
@pytest.fixture
def fake_pass(tmp_path, monkeypatch):
    """``request(cache)``: the fake model's pass of the fake sample through ``cached_pass``,
    as a fresh process would ask for it (nothing memoised); ``loads`` counts the passes
    computed."""
    from hepfm_core.engine.scoring import run as scoring

    model_path = _fake_model_file(tmp_path / "fake.keras")
    monkeypatch.setattr(scoring, "forward_for", lambda model, chunk: _FakeForward())
    loads = []

    def loader():
        loads.append(1)
        return _FakeModel()

    def request(cache):
        monkeypatch.setattr(scoring, "_open_passes", {})
        return scoring.cached_pass(model_path, _fake_sample(), cache=cache, model_loader=loader)

    request.loads = loads
    return request


def _arrays(p):
    return {name: np.array(getattr(p, name)) for name in ("z_mean", "z_log_var", "recon", "finite")}


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["recon.npy", "finite.npy", "z_log_var.npy"])
def test_a_flipped_bit_in_a_cached_pass_is_recomputed_not_read(tmp_path, fake_pass, damage):
    from hepfm_core.common.cache import CacheRepairWarning

    cache = tmp_path / "cache"
    want = _arrays(fake_pass(cache))
    (entry,) = (cache / "passes").iterdir()
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["checksums"]["algorithm"] == "crc32"
    assert sorted(meta["checksums"]["files"]) == sorted(
        f"{n}.npy" for n in ("z_mean", "z_log_var", "sum_mu2", "recon", "finite")
    )
    _flip_last_byte(entry / damage)
    with pytest.warns(CacheRepairWarning, match=f"{damage} is damaged"):
        again = fake_pass(cache)
    assert len(fake_pass.loads) == 2  # computed again
    for name, values in _arrays(again).items():
        np.testing.assert_array_equal(values, want[name])
    # repaired: the next request opens it without computing
    fake_pass(cache)
    assert len(fake_pass.loads) == 2
    assert [p.name for p in (cache / "passes").iterdir()] == [entry.name]


@pytest.mark.parametrize(
    "damage", ["truncate recon.npy", "truncate meta.json", "no checksums", "remove finite.npy"]
)
def test_a_truncated_or_unverifiable_cached_pass_is_recomputed(tmp_path, fake_pass, damage):
    from hepfm_core.common.cache import CacheRepairWarning

    cache = tmp_path / "cache"
    want = _arrays(fake_pass(cache))
    (entry,) = (cache / "passes").iterdir()
    if damage == "truncate recon.npy":
        data = (entry / "recon.npy").read_bytes()
        (entry / "recon.npy").write_bytes(data[: len(data) // 2])
    elif damage == "truncate meta.json":
        (entry / "meta.json").write_text((entry / "meta.json").read_text()[:40])
    elif damage == "no checksums":  # written by a hepfm before checksums
        meta = json.loads((entry / "meta.json").read_text())
        del meta["checksums"]
        (entry / "meta.json").write_text(json.dumps(meta))
    else:
        (entry / "finite.npy").unlink()
    for _ in range(2):  # this run and every later one: no traceback
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            again = fake_pass(cache)
        for name, values in _arrays(again).items():
            np.testing.assert_array_equal(values, want[name])
    assert [w.category for w in seen] == []  # the second run found it repaired
    assert len(fake_pass.loads) == 2
    with pytest.warns(CacheRepairWarning):  # (the first repair did warn)
        (entry / "finite.npy").unlink()
        fake_pass(cache)


def test_a_cache_that_cannot_be_written_is_a_cache_error(tmp_path, fake_pass):
    from hepfm_core.common.cache import CacheError

    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("a file where the cache folder should be")
    with pytest.raises(CacheError, match="not a folder") as err:
        fake_pass(not_a_folder)
    assert "HEPFM_CACHE_DIR" in str(err.value)
    assert not_a_folder.read_text().startswith("a file")


def test_a_read_only_cache_is_a_cache_error(fake_pass, small_fs):
    from hepfm_core.common.cache import CacheError

    with pytest.raises(CacheError, match="cannot be written") as err:
        fake_pass(small_fs(64, readonly=True))
    assert "writable" in str(err.value)


def test_a_full_disk_under_the_cache_is_a_cache_error_not_sigbus(fake_pass, small_fs, filled):
    from hepfm_core.common.cache import CacheError

    cache = small_fs(256)
    filled(cache, leave=4096)  # room for the folders, not for the 10 kB of arrays
    with pytest.raises(CacheError, match="disk is full") as err:
        fake_pass(cache)
    assert "free space" in str(err.value)
    # nothing half-written is left behind
    assert [p.name for p in (cache / "passes").iterdir()] == []
    (cache / "filler").unlink()
    assert fake_pass(cache).n_events == RACE_EVENTS  # with room, it works


def test_a_pass_written_to_files_keeps_its_values_and_maps_them_read_only(
    small_demo, demo_model, tmp_path
):
    from hepfm_core.engine.scoring import run
    from hepfm_core.sources import open_data

    sample = open_data(small_demo[0]).background  # 20,000 events: three chunks
    written = run.run_pass(demo_model, sample, tmp_path / "pass")
    in_memory = run.run_pass(demo_model, sample)
    for name in run.FIELDS:
        got = getattr(written, name)
        np.testing.assert_array_equal(got, getattr(in_memory, name), name)
        # the files themselves, mapped (not held in the process) and never written again
        assert isinstance(got, np.memmap) and not got.flags.writeable, name
        on_disk = np.load(tmp_path / "pass" / f"{name}.npy")
        assert on_disk.dtype == got.dtype and on_disk.shape == got.shape, name
        np.testing.assert_array_equal(on_disk, getattr(in_memory, name), name)
    # a partition's files hold its rows only, as the whole pass scored them
    part = run.run_pass(demo_model, sample, tmp_path / "part", rows=(8192, 12000))
    for name in run.FIELDS:
        np.testing.assert_array_equal(
            getattr(part, name), getattr(in_memory, name)[8192:12000], name
        )


def test_a_pass_is_checked_against_its_sums_when_opened_not_right_after_its_writing(
    fake_pass, tmp_path, monkeypatch
):
    from hepfm_core.engine.scoring import run as scoring

    checked = []
    real = scoring.check_entry
    monkeypatch.setattr(
        scoring, "check_entry", lambda folder, *a: checked.append(folder) or real(folder, *a)
    )
    cache = tmp_path / "cache"
    written = fake_pass(cache)  # computed and summed here: no second read of its files
    assert fake_pass.loads == [1] and checked == []
    opened = fake_pass(cache)  # a later process's first opening reads them against the sums
    assert fake_pass.loads == [1] and len(checked) == 1
    for name in scoring.FIELDS:
        np.testing.assert_array_equal(getattr(opened, name), getattr(written, name), name)
