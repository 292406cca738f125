"""What upstream's unguarded arithmetic would have lost (engine.guards.precision): the
float16 / float32 ranges, term-by-term sums, the KL and radius in the low precision, and the
total's own overflow, against numpy computing in that precision for real; through the
guard's counts and directly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepfm_core.engine.guards import precision
from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
from hepfm_core.engine.guards.precision import (
    F16,
    F32,
    lowp_kl,
    lowp_nonfinite,
    range_of,
    running_sum,
    sum_overflows,
)
from hepfm_core.engine.scoring.passes import ScoringPass
from hepfm_core.vocabulary import Cause

from .test_guarded import FORMS, SCORES, make_pass, run


def _counts_pass() -> ScoringPass:
    mu = np.full((10, 2), 0.5)
    s = np.zeros((10, 2))
    s[1, 0] = 12.0  # exp overflows float16 only
    s[2, 0] = 90.0  # exp overflows float32 and float16
    mu[3, 0], s[3, 0] = 1.0, -20.0  # exp underflows to 0 in float16 only: radius 1/0
    mu[4, 0], s[4, 0] = 1.0, -110.0  # underflows in float32 too
    mu[5, 0] = 300.0  # mu^2 overflows float16
    n = 10
    idx = np.arange(n)
    return make_pass(
        mu,
        s,
        recon_f16=np.isin(idx, [6, 7]),
        recon_f32=idx == 7,
        input_ok=idx != 8,
        decoder_ok=idx != 9,
    )


@pytest.mark.parametrize(
    ("kind", "form", "want"),
    [
        (
            "exp",
            "true",
            {
                "reconstruction": (3, 4),
                "kl": (2, 4),
                "total": (4, 7),
                "radius": (2, 4),
            },
        ),
        (
            "softplus",
            "upstream",
            {
                "reconstruction": (3, 4),
                "kl": (1, 2),
                "total": (3, 5),
                "radius": (1, 4),
            },
        ),
    ],
)
def test_unguarded_counts_per_precision(kind, form, want) -> None:
    prepared = prepare(_counts_pass(), kind, form)
    for score, (f32, f16) in want.items():
        counts = guard(
            prepared, GuardSettings(score=score, parameterisation=kind, kl_form=form)
        ).counts
        assert (counts.unguarded_nonfinite_f32, counts.unguarded_nonfinite_f16) == (f32, f16), score
    # float64 itself saves all of them, except the stage failures
    g = guard(prepared, GuardSettings(score="total", parameterisation=kind, kl_form=form))
    assert g.counts.by_cause["ok"] == 8


def test_unguarded_radius_counts_zero_over_zero() -> None:
    # float16: exp(-20) underflows to 0, so upstream's 0 / 0 is NaN even though mu == 0;
    # the guarded float64 radius skips the mu == 0 dimension and stays finite.
    g = run(make_pass([[0.0, 0.5]], [[-20.0, 0.0]]), score="radius")
    assert g.scores[0] == 0.25 and g.causes[0] == Cause.OK
    assert (g.counts.unguarded_nonfinite_f32, g.counts.unguarded_nonfinite_f16) == (0, 1)


def _upstream_nonfinite(mu, s, dtype, score: str) -> int:
    """Count non-finite upstream scores computed for real in ``dtype`` (exp parameterisation)."""
    m = mu.astype(dtype)
    z = s.astype(dtype)
    with np.errstate(all="ignore"):
        v = np.exp(z)
        terms = dtype(1) + z - m * m - v if score == "kl" else (m * m) / v
        acc = terms[:, 0]
        for j in range(1, terms.shape[1]):
            acc = acc + terms[:, j]
    assert acc.dtype == dtype
    return int(np.count_nonzero(~np.isfinite(acc)))


@pytest.mark.parametrize(
    ("dtype", "mu_scale", "s_range"),
    [(np.float16, 60.0, (-24.0, 12.5)), (np.float32, 4e18, (-110.0, 90.0))],
)
def test_emulation_agrees_with_real_low_precision_arithmetic(dtype, mu_scale, s_range) -> None:
    rng = np.random.default_rng(7)
    n, k = 3000, 8
    mu = rng.standard_normal((n, k)) * mu_scale * rng.random((n, 1))
    s = rng.uniform(*s_range, size=(n, k)) * (rng.random((n, k)) < 0.05)
    p = make_pass(mu, s)
    prepared = prepare(p)
    mu32, s32 = p.z_mean, p.z_log_var
    name = "unguarded_f16" if dtype is np.float16 else "unguarded_f32"
    for score in ("kl", "radius"):
        real = _upstream_nonfinite(mu32, s32, dtype, score)
        assert 0 < real < n
        assert getattr(prepared, name)[score] == real, score


def _upstream_latent(
    mu: np.ndarray, s: np.ndarray, dtype, kind: str = "exp", form: str = "true"
) -> tuple[np.ndarray, np.ndarray]:
    """Upstream's unclipped per-event KL and radius computed for real in ``dtype``.

    Inputs are rounded to ``dtype`` first and every operation rounds, as upstream's own
    arithmetic does: KL = -0.5 * (((1 + log v) - mu^2) - v) summed term by term.
    """
    with np.errstate(all="ignore"):
        m = np.asarray(mu).astype(dtype)
        z = np.asarray(s).astype(dtype)
        if kind == "exp":
            v, log_v = np.exp(z), z
        else:
            v = np.logaddexp(dtype(0), z) + dtype(1e-6)
            log_v = z if form == "upstream" else np.log(v)
        kl_terms = dtype(1) + log_v - m * m - v
        rad_terms = (m * m) / v
        kl, radius = kl_terms[:, 0], rad_terms[:, 0]
        for j in range(1, z.shape[1]):
            kl = kl + kl_terms[:, j]
            radius = radius + rad_terms[:, j]
        kl = dtype(-0.5) * kl
    assert kl.dtype == radius.dtype == dtype
    return kl, radius


def _upstream_total_nonfinite(recon: np.ndarray, kl: np.ndarray, beta: float, dtype) -> int:
    """Events whose upstream total ``recon + beta * KL`` is non-finite in ``dtype``."""
    with np.errstate(all="ignore"):
        total = np.asarray(recon).astype(dtype) + dtype(beta) * kl
    assert total.dtype == dtype
    return int(np.count_nonzero(~np.isfinite(total)))


def test_float16_counts_round_the_inputs_first() -> None:
    # float16(255.95) = 256 and 256^2 = 65536 is inf; float16(11.0899) = 11.09 and its exp is
    # 65536 in float16 too. A range check on the unrounded values calls both finite.
    with np.errstate(all="ignore"):
        assert np.isinf(np.float16(255.95) ** 2)
        assert np.isinf(np.exp(np.float16(11.0899)))
    # unrounded, both stay below float16's overflow threshold, 65504 + half an ulp = 65520
    assert 255.95**2 < 65520 and math.exp(11.0899) < 65520
    mu = np.array([[255.95, 0.5], [0.5, 0.5], [0.5, 0.5]])
    s = np.array([[0.0, 0.0], [11.0899, 0.0], [0.0, 0.0]])
    p = make_pass(mu, s)
    kl16, rad16 = _upstream_latent(p.z_mean, p.z_log_var, np.float16)
    assert np.isfinite(kl16).tolist() == [False, False, True]
    assert np.isfinite(rad16).tolist() == [False, True, True]
    g = {score: run(p, score=score).counts for score in SCORES}
    assert g["kl"].unguarded_nonfinite_f16 == 2
    assert g["radius"].unguarded_nonfinite_f16 == 1
    assert g["total"].unguarded_nonfinite_f16 == 2
    assert all(c.unguarded_nonfinite_f32 == 0 for c in g.values())


def _near_thresholds(dtype, seed: int, n: int = 4000, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Latent values scattered around where ``dtype`` overflows or underflows, as float32."""
    rng = np.random.default_rng(seed)
    if dtype is np.float16:
        mu_edge, s_hi, s_lo, s_big = 256.0, 11.09, -17.33, 65520.0
    else:
        mu_edge, s_hi, s_lo, s_big = 1.8446744e19, 88.72, -103.28, 3.4e38
    mu = rng.standard_normal((n, k))
    s = rng.standard_normal((n, k))
    pick = rng.random((n, k))
    mu[pick < 0.2] = mu_edge * rng.uniform(0.995, 1.005, np.count_nonzero(pick < 0.2))
    # a few large-but-finite terms whose running sum may overflow
    mid = (pick >= 0.2) & (pick < 0.35)
    mu[mid] = mu_edge * rng.uniform(0.55, 0.8, np.count_nonzero(mid))
    pick = rng.random((n, k))
    hi, lo, big = pick < 0.1, (pick >= 0.1) & (pick < 0.2), (pick >= 0.2) & (pick < 0.25)
    s[hi] = s_hi + rng.uniform(-0.02, 0.02, np.count_nonzero(hi))
    s[lo] = s_lo + rng.uniform(-0.5, 0.5, np.count_nonzero(lo))
    s[big] = s_big * rng.uniform(0.99, 1.0, np.count_nonzero(big))
    return mu.astype(np.float32), s.astype(np.float32)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize(("kind", "form"), FORMS)
def test_unguarded_counts_equal_real_arithmetic_near_the_thresholds(dtype, kind, form) -> None:
    mu, s = _near_thresholds(dtype, seed=3)
    p = make_pass(mu, s)
    prepared = prepare(p, kind, form)
    name = "unguarded_f16" if dtype is np.float16 else "unguarded_f32"
    kl, radius = _upstream_latent(p.z_mean, p.z_log_var, dtype, kind, form)
    for score, values in (("kl", kl), ("radius", radius)):
        real = int(np.count_nonzero(~np.isfinite(values)))
        assert 0 < real < p.n_events, score
        assert getattr(prepared, name)[score] == real, score


def test_total_counts_an_overflow_of_the_sum_itself() -> None:
    # float16: reconstruction 40000 and KL = mu^2 / 2 = 30000 are each finite, their sum is not
    mu = np.array([[math.sqrt(60000.0), 0.0], [0.5, 0.0]])
    s = np.zeros((2, 2))
    recon = np.array([40000.0, 1.0])
    p = make_pass(mu, s, recon=recon)
    kl16, _ = _upstream_latent(p.z_mean, p.z_log_var, np.float16)
    assert np.isfinite(kl16).all() and 29000 < float(kl16[0]) < 31000
    assert _upstream_total_nonfinite(recon, kl16, 1.0, np.float16) == 1
    assert _upstream_total_nonfinite(recon, kl16, 0.25, np.float16) == 0
    prepared = prepare(p)
    for beta, want in ((1.0, 1), (0.25, 0), (0.0, 0), (3.0, 1)):
        c = guard(prepared, GuardSettings(score="total", beta=beta)).counts
        assert (c.unguarded_nonfinite_f32, c.unguarded_nonfinite_f16) == (0, want), beta
    for score in ("reconstruction", "kl"):
        assert guard(prepared, GuardSettings(score=score)).counts.unguarded_nonfinite_f16 == 0
    # float32: reconstruction 2e38 and KL 1.5e38 (three mu^2 of 1e38) are finite, the sum not
    p = make_pass([[1e19, 1e19, 1e19]], [[0.0, 0.0, 0.0]], recon=[2e38])
    kl32, _ = _upstream_latent(p.z_mean, p.z_log_var, np.float32)
    assert np.isfinite(kl32).all()
    assert _upstream_total_nonfinite(p.recon, kl32, 1.0, np.float32) == 1
    c = run(p, score="total", beta=1.0).counts
    assert (c.unguarded_nonfinite_f32, c.unguarded_nonfinite_f16) == (1, 1)
    assert run(p, score="total", beta=0.1).counts.unguarded_nonfinite_f32 == 0


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize(("kind", "form"), FORMS)
def test_unguarded_total_equals_real_arithmetic(dtype, kind, form) -> None:
    rng = np.random.default_rng(11)
    n, k = 3000, 4
    top = 65504.0 if dtype is np.float16 else 3.4028235e38
    mu = rng.standard_normal((n, k)) * math.sqrt(top / k) * rng.random((n, 1))
    s = rng.standard_normal((n, k))
    s[rng.random((n, k)) < 0.02] = 11.1 if dtype is np.float16 else 88.8
    recon = top * rng.uniform(0.0, 1.01, n)
    with np.errstate(over="ignore"):
        f16 = ~np.isfinite(recon.astype(np.float16))
        f32 = ~np.isfinite(recon.astype(np.float32))
    p = make_pass(mu.astype(np.float32), s, recon=recon, recon_f16=f16, recon_f32=f32)
    prepared = prepare(p, kind, form)
    kl, _ = _upstream_latent(p.z_mean, p.z_log_var, dtype, kind, form)
    attr = "unguarded_nonfinite_f16" if dtype is np.float16 else "unguarded_nonfinite_f32"
    for beta in (0.0, 0.3, 1.0, 2.5):
        real = _upstream_total_nonfinite(recon, kl, beta, dtype)
        assert 0 < real < n
        cfg = GuardSettings(score="total", beta=beta, parameterisation=kind, kl_form=form)
        assert getattr(guard(prepared, cfg).counts, attr) == real, beta


# -- the pieces, directly ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_range_is_where_the_dtype_rounds_to_inf_and_to_zero(dtype):
    r = range_of(dtype)
    assert r == (F16 if dtype is np.float16 else F32)
    with np.errstate(over="ignore"):
        assert np.isinf(dtype(r.big)) and np.isinf(dtype(-r.big))
    below = np.nextafter(r.big, 0.0)
    assert dtype(below) == np.finfo(dtype).max  # just below: the largest finite value
    assert dtype(r.tiny) == 0.0 and dtype(-r.tiny) == 0.0
    assert dtype(np.nextafter(r.tiny, 1.0)) == np.finfo(dtype).smallest_subnormal
    assert (F16.big, F32.big) == (65520.0, float(np.finfo(np.float32).max) + 2.0**103)


def test_running_sum_rounds_every_partial_sum():
    # float32: 2^24 + 1 rounds back to 2^24 (to even), twice; the exact sum is 2^24 + 2
    terms = np.array([[2.0**24, 1.0, 1.0]], dtype=np.float32)
    got = running_sum(terms)
    assert got.dtype == np.float32 and got.tolist() == [2.0**24]
    # float16: 60000 + 10000 overflows before the -60000 comes
    with np.errstate(over="ignore"):
        got = running_sum(np.array([[60000.0, 10000.0, -60000.0]], dtype=np.float16))
    assert np.isposinf(got[0])
    one = np.array([[3.0], [4.0]], dtype=np.float16)
    out = running_sum(one)
    out[0] = 7.0
    assert one[0, 0] == 3.0  # a copy, not a view of the input


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize(("kind", "form"), FORMS)
def test_lowp_kl_is_upstreams_arithmetic_bit_for_bit(dtype, kind, form):
    mu, s = _near_thresholds(dtype, seed=8, n=500)
    with np.errstate(all="ignore"):
        got = lowp_kl(mu, s, dtype, kind, form)
    want, _ = _upstream_latent(mu, s, dtype, kind, form)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)  # NaN where NaN, inf where inf


def test_lowp_nonfinite_by_hand():
    mu = np.array([[0.0, 0.5], [256.0, 0.5], [0.5, 0.5]])
    s = np.array([[-20.0, 0.0], [0.0, 0.0], [12.0, 0.0]])
    with np.errstate(all="ignore"):
        kl16, rad16 = lowp_nonfinite(mu, s, np.float16, "exp", "true")
        kl32, rad32 = lowp_nonfinite(mu, s, np.float32, "exp", "true")
    # float16: exp(-20) underflows, 0 / 0; 256^2 overflows; exp(12) overflows, mu^2 / inf = 0
    assert kl16.tolist() == [False, True, True]
    assert rad16.tolist() == [True, True, False]
    assert not kl32.any() and not rad32.any()


def _pass_of(mu, s, recon) -> ScoringPass:
    return make_pass(np.asarray(mu, np.float32), np.asarray(s, np.float32), recon=recon)


@pytest.mark.parametrize("screen", ["none", "bound"])
def test_sum_overflows_counts_the_total_in_the_dtype(monkeypatch, screen):
    monkeypatch.setattr(precision, "RECOMPUTE_ROWS", 4)  # several chunks
    rng = np.random.default_rng(2)
    n = 30
    mu = rng.normal(0.0, 1.0, (n, 2)) * np.sqrt(65504.0) * rng.random((n, 1))
    s = rng.normal(0.0, 1.0, (n, 2))
    recon = 65504.0 * rng.uniform(0.0, 0.9, n)
    p = _pass_of(mu, s, recon)
    m, z = p.z_mean.astype(np.float64), p.z_log_var.astype(np.float64)
    bound = 0.5 * np.sum(1.0 + np.abs(z) + m**2 + np.exp(z), axis=1)
    kl_mag = np.full(n, np.inf) if screen == "none" else bound
    kl16, _ = _upstream_latent(p.z_mean, p.z_log_var, np.float16)
    bad = np.flatnonzero(~np.isfinite(kl16))
    for beta in (0.0, 0.5, 1.0, 2.0):
        with np.errstate(all="ignore"):
            total = recon.astype(np.float16) + np.float16(beta) * kl16
        want = int(np.count_nonzero(~np.isfinite(np.delete(total, bad))))
        got = sum_overflows(p, kl_mag, bad, F16, beta, "exp", "true")
        assert got == want, beta
    assert 0 < want < n - bad.size
    # the events already counted (bad) are never counted twice
    everything = np.arange(n)
    assert sum_overflows(p, kl_mag, everything, F16, 2.0, "exp", "true") == 0
