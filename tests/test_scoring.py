"""The scoring pass: values against the model, finiteness bits, the on-disk cache."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hepfm_core.passes import (
    DECODER_FINITE,
    ENCODER_FINITE,
    INPUT_FINITE,
    RECON_F16_OVERFLOW,
    RECON_F32_OVERFLOW,
)


@pytest.fixture(scope="module")
def demo_model(small_demo):
    from hepfm_core.model_io import load_model

    return load_model(small_demo[1])


def test_pass_matches_model_outputs_in_float64(small_demo, demo_model):
    from hepfm_core.datasets import open_data
    from hepfm_core.scoring import run_pass

    sample = open_data(small_demo[0]).signals["zprime_tt"]
    p = run_pass(demo_model, sample, chunk_events=700)  # several chunks and a ragged last one
    x = np.asarray(sample.x[0 : sample.n_events])
    zm, zl, xh = demo_model.predict(x)
    np.testing.assert_allclose(p.z_mean, zm, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p.z_log_var, zl, rtol=1e-5, atol=1e-5)
    recon = ((x.astype(np.float64) - xh.astype(np.float64)) ** 2).sum(axis=1)
    np.testing.assert_allclose(p.recon, recon, rtol=1e-5)
    np.testing.assert_allclose(p.sum_mu2, (zm.astype(np.float64) ** 2).sum(axis=1), rtol=1e-5)
    assert p.recon.dtype == np.float64 and p.z_log_var.dtype == np.float32
    f16 = (p.finite & RECON_F16_OVERFLOW) > 0
    np.testing.assert_array_equal(f16, (recon > 65504) | (np.abs(xh).max(axis=1) > 65504))


def test_nonfinite_inputs_flagged(small_demo, demo_model):
    from hepfm_core.datasets import open_data
    from hepfm_core.scoring import run_pass

    sample = open_data(small_demo[0], fill="none").background
    p = run_pass(demo_model, sample)
    x = np.asarray(sample.x[0 : sample.n_events])
    bad_input = ~np.isfinite(x).all(axis=1)
    assert bad_input.sum() == sample.accounting.events_with_nonfinite > 0
    np.testing.assert_array_equal((p.finite & INPUT_FINITE) == 0, bad_input)
    # NaN propagates through the network: those events are not finite downstream either
    assert np.all((p.finite[bad_input] & ENCODER_FINITE) == 0)
    assert np.all((p.finite[~bad_input] & (INPUT_FINITE | ENCODER_FINITE | DECODER_FINITE)) == 7)


def test_finite_bits_overflow_thresholds():
    from hepfm_core.scoring import finite_bits

    ok = np.ones(4, dtype=bool)
    recon = np.array([1.0, 7e4, 4e38, np.nan])
    xhat_max = np.array([1.0, 1.0, 1.0, np.nan])
    bits = finite_bits(ok, ok, ok, recon, xhat_max)
    assert list((bits & RECON_F16_OVERFLOW) > 0) == [False, True, True, True]
    assert list((bits & RECON_F32_OVERFLOW) > 0) == [False, False, True, True]


CACHED_SCRIPT = """
import sys
from hepfm_core.datasets import open_data
from hepfm_core.scoring import cached_pass
data = open_data(sys.argv[1])
p = cached_pass(sys.argv[2], data.signals["wprime_qq"], cache=sys.argv[3])
print(type(p.recon).__name__, p.n_events, "tensorflow" in sys.modules, "keras" in sys.modules)
"""


def test_cache_second_request_is_memory_mapped_without_tensorflow(small_demo, tmp_path):
    from hepfm_core.datasets import open_data
    from hepfm_core.scoring import cached_pass

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
