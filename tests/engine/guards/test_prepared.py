from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.engine.guards import prepared
from hepfm_core.engine.scoring.passes import ScoringPass


def _pass(n: int = 1000, k: int = 4, seed: int = 3) -> ScoringPass:
    """Events with ordinary latents, and some whose z_log_var overflows float16, float32,
    float64, or is not finite."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0.0, 2.0, (n, k)).astype(np.float32)
    s[::97, 0] = 20.0  # float16's exp overflows
    s[::89, 1] = 100.0  # float32's
    s[::83, 2] = 800.0  # float64's KL
    s[::79, 3] = np.nan  # the encoder failed
    mu = rng.normal(0.0, 1.0, (n, k)).astype(np.float32)
    finite = np.full(n, 7, dtype=np.uint8)
    finite[::71] = 6  # a non-finite input
    return ScoringPass(
        z_mean=mu,
        z_log_var=s,
        sum_mu2=(mu.astype(np.float64) ** 2).sum(axis=1),
        recon=rng.exponential(1.0, n),
        finite=finite,
    )


FIELDS = ("kl", "radius", "s_min", "s_max", "latent_cause", "recon_cause", "kl_mag")


@pytest.mark.parametrize("parameterisation", ["exp", "softplus"])
def test_chunks_in_threads_give_what_one_thread_gives(monkeypatch, parameterisation):
    pass_ = _pass()
    monkeypatch.setattr(prepared, "CHUNK_ROWS", 64)  # 16 chunks
    monkeypatch.setattr(prepared, "PREPARE_THREADS", 1)
    one = prepared.prepare(pass_, parameterisation)
    monkeypatch.setattr(prepared, "PREPARE_THREADS", 4)
    four = prepared.prepare(pass_, parameterisation)
    for name in FIELDS:
        a, b = getattr(one, name), getattr(four, name)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    for name in ("latent_bad", "recon_bad", "total_bad_f32", "total_bad_f16"):
        assert np.array_equal(getattr(one, name), getattr(four, name)), name
    assert four.unguarded_f32 == one.unguarded_f32
    assert four.unguarded_f16 == one.unguarded_f16
    assert four.latent_counts == one.latent_counts
    # the overflows are there to be found (exp(s): float16 loses more KL values than float32)
    assert 0 < one.unguarded_f32["kl"] <= one.unguarded_f16["kl"]
    if parameterisation == "exp":
        assert one.unguarded_f32["kl"] < one.unguarded_f16["kl"]


def test_a_chunk_that_fails_fails_the_whole(monkeypatch):
    pass_ = _pass()
    monkeypatch.setattr(prepared, "CHUNK_ROWS", 64)
    monkeypatch.setattr(prepared, "PREPARE_THREADS", 4)

    def broken(*args, **kwargs):
        raise MemoryError("no room for a chunk")

    monkeypatch.setattr(prepared, "radius_from", broken)
    with pytest.raises(MemoryError, match="no room"):
        prepared.prepare(pass_)
