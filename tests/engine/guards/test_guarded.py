"""Tests of the guards (engine.guards.guarded, with engine.guards.latent and
engine.guards.precision): float64 scores, causes, the incremental clip path, the original
crash. The policies, the low-precision counts, the latent numerics and the settings have
their own modules (test_policy.py, test_precision.py, test_latent.py, test_settings.py),
which share the helpers here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hepfm_core.engine.guards.guarded import GuardedScores, GuardSettings, guard, prepare
from hepfm_core.engine.guards.policy import apply_policy
from hepfm_core.engine.scoring.passes import (
    DECODER_FINITE,
    ENCODER_FINITE,
    INPUT_FINITE,
    RECON_F16_OVERFLOW,
    RECON_F32_OVERFLOW,
    ScoringPass,
)
from hepfm_core.vocabulary import Cause

SCORES = ("reconstruction", "kl", "total", "radius")
FORMS = (("exp", "true"), ("softplus", "true"), ("softplus", "upstream"))
CLIPS = (
    None,
    (-20.0, 20.0),
    (-50.0, 50.0),
    (-88.7, 88.7),
    (-math.inf, 20.0),
    (-20.0, math.inf),
    (-2.0, 1.0),
)


# -- helpers ------------------------------------------------------------------------------
def make_pass(
    mu,
    s,
    *,
    recon=None,
    input_ok=None,
    decoder_ok=None,
    recon_f32=None,
    recon_f16=None,
) -> ScoringPass:
    """A ScoringPass from explicit arrays, with read-only arrays like a shared memmap."""
    mu = np.array(mu, dtype=np.float32, ndmin=2)
    s = np.array(s, dtype=np.float32, ndmin=2)
    n = mu.shape[0]
    recon = np.ones(n) if recon is None else np.array(recon, dtype=np.float64)
    bits = np.zeros(n, dtype=np.uint8)
    bits[np.ones(n, bool) if input_ok is None else np.asarray(input_ok, bool)] |= INPUT_FINITE
    bits[np.isfinite(mu).all(axis=1) & np.isfinite(s).all(axis=1)] |= ENCODER_FINITE
    bits[np.ones(n, bool) if decoder_ok is None else np.asarray(decoder_ok, bool)] |= DECODER_FINITE
    if recon_f32 is not None:
        bits[np.asarray(recon_f32, bool)] |= RECON_F32_OVERFLOW
    if recon_f16 is not None:
        bits[np.asarray(recon_f16, bool)] |= RECON_F16_OVERFLOW
    with np.errstate(all="ignore"):
        sum_mu2 = (mu.astype(np.float64) ** 2).sum(axis=1)
    arrays = (mu, s, sum_mu2, recon, bits)
    for a in arrays:
        a.flags.writeable = False
    return ScoringPass(*arrays)


def run(p: ScoringPass, **kw) -> GuardedScores:
    st_ = GuardSettings(**kw)
    return guard(prepare(p, st_.parameterisation, st_.kl_form), st_)


def reference(p: ScoringPass, cfg: GuardSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full float64 recompute with np.clip: scores (NaN where not OK), causes, error scale."""
    mu = p.z_mean.astype(np.float64)
    s = p.z_log_var.astype(np.float64)
    with np.errstate(all="ignore"):
        if cfg.clip is not None:
            s = np.clip(s, cfg.clip[0], cfg.clip[1])
        if cfg.parameterisation == "exp":
            v = np.exp(s)
            log_v = s
        else:
            v = np.logaddexp(0.0, s) + 1e-6
            log_v = s if cfg.kl_form == "upstream" else np.log(v)
        # The KL in extended precision (x86 long double reaches 1e4932), rounded to float64
        # once: +inf exactly where the KL itself exceeds float64, not where exp(s) alone does.
        ld = np.longdouble
        assert np.finfo(ld).maxexp > 1024, "the reference needs an extended long double"
        v_ld = np.exp(s.astype(ld)) if cfg.parameterisation == "exp" else v.astype(ld)
        kl_ld = -0.5 * np.sum(1 + log_v.astype(ld) - mu.astype(ld) ** 2 - v_ld, axis=1)
        kl = kl_ld.astype(np.float64)
        kl_scale = 0.5 * np.sum(1.0 + np.abs(log_v) + mu**2 + v, axis=1)
        radius = np.sum(np.where(mu == 0, 0.0, mu**2 / v), axis=1)
        recon = p.recon
        bk = cfg.beta * kl
        total = recon + bk if cfg.beta != 0 else recon.copy()
        value = {"reconstruction": recon, "kl": kl, "total": total, "radius": radius}[cfg.score]
        scale = {
            "reconstruction": np.abs(recon),
            "kl": kl_scale,
            # beta == 0: the KL is not used at all, so an infinite KL scale adds nothing
            "total": np.abs(recon) + (cfg.beta * kl_scale if cfg.beta != 0 else 0.0),
            "radius": radius,
        }[cfg.score]

    causes = np.zeros(p.n_events, dtype=np.uint8)
    for i in range(p.n_events):
        bits = int(p.finite[i])
        if not bits & int(INPUT_FINITE):
            causes[i] = Cause.INPUT_NONFINITE
        elif not bits & int(ENCODER_FINITE):
            causes[i] = Cause.ENCODER_NONFINITE
        elif cfg.score in ("reconstruction", "total") and not bits & int(DECODER_FINITE):
            causes[i] = Cause.DECODER_NONFINITE
        elif math.isfinite(value[i]):
            causes[i] = Cause.OK
        elif cfg.score == "reconstruction":
            causes[i] = Cause.RECONSTRUCTION_OVERFLOW
        elif cfg.score == "kl":
            causes[i] = Cause.KL_OVERFLOW
        elif cfg.score == "radius":
            causes[i] = Cause.RADIUS_OVERFLOW
        elif cfg.beta == 0 or (not math.isfinite(recon[i]) and math.isfinite(bk[i])):
            causes[i] = Cause.RECONSTRUCTION_OVERFLOW
        elif not math.isfinite(bk[i]) or abs(bk[i]) >= abs(recon[i]):
            causes[i] = Cause.KL_OVERFLOW
        else:
            causes[i] = Cause.RECONSTRUCTION_OVERFLOW
    scores = np.where(causes == Cause.OK, value, np.nan)
    return scores, causes, scale


def assert_matches_reference(p: ScoringPass, cfg: GuardSettings, got: GuardedScores) -> None:
    want, causes, scale = reference(p, cfg)
    np.testing.assert_array_equal(got.causes, causes, err_msg=str(cfg))
    ok = causes == Cause.OK
    assert np.isnan(got.scores[~ok]).all()
    assert np.isfinite(got.scores[ok]).all()
    err = np.abs(got.scores[ok] - want[ok])
    bound = 1e-12 * np.abs(want[ok]) + 1e-13 * scale[ok]
    assert (err <= bound).all(), (cfg, got.scores[ok][err > bound], want[ok][err > bound])
    assert got.counts.total == p.n_events
    assert got.counts.by_cause == {c.label: int(np.sum(causes == c)) for c in Cause}


S_SPECIAL = (
    0.0,
    12.0,
    -20.0,
    88.8,
    95.0,
    -89.0,
    -104.5,
    709.0,
    712.0,
    800.0,
    -700.0,
    -746.0,
    -800.0,
    1e30,
    -1e30,
    -88.69999,
    -88.7,
)
MU_SPECIAL = (0.0, 300.0, -300.0, 2e19, -3e19, 1e30, 1e-30)


def extreme_pass(seed: int, n: int = 400, k: int = 6) -> ScoringPass:
    """Random pass with extreme latent values, non-finite entries and failed stages."""
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((n, k))
    s = rng.standard_normal((n, k)) * 3
    hit = rng.random((n, k)) < 0.12
    s[hit] = rng.choice(S_SPECIAL, hit.sum())
    hit = rng.random((n, k)) < 0.08
    mu[hit] = rng.choice(MU_SPECIAL, hit.sum())
    bad = rng.random((n, k)) < 0.004
    s[bad] = rng.choice([np.nan, np.inf, -np.inf], bad.sum())
    bad = rng.random((n, k)) < 0.004
    mu[bad] = rng.choice([np.nan, np.inf], bad.sum())
    recon = rng.chisquare(10, n)
    recon[rng.random(n) < 0.03] = np.inf
    recon[rng.random(n) < 0.01] = np.nan
    return make_pass(
        mu,
        s,
        recon=recon,
        input_ok=rng.random(n) > 0.03,
        decoder_ok=rng.random(n) > 0.03,
    )


# -- hand-computed values -----------------------------------------------------------------
MU = [[0.5, -1.0, 2.0], [0.0, 0.25, -0.75]]
S = [[0.5, -2.0, 1.5], [0.0, -0.25, 3.0]]
RECON = [3.0, 5.5]


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x)) + 1e-6


def _hand(kind: str, form: str) -> tuple[list[float], list[float]]:
    kls, radii = [], []
    for mu_row, s_row in zip(MU, S, strict=True):
        kl = 0.0
        radius = 0.0
        for m, x in zip(mu_row, s_row, strict=True):
            v = math.exp(x) if kind == "exp" else _softplus(x)
            log_v = x if (kind == "exp" or form == "upstream") else math.log(v)
            kl += 1.0 + log_v - m * m - v
            radius += m * m / v
        kls.append(-0.5 * kl)
        radii.append(radius)
    return kls, radii


@pytest.mark.parametrize(("kind", "form"), FORMS)
def test_scores_match_hand_computation(kind: str, form: str) -> None:
    p = make_pass(MU, S, recon=RECON)
    kls, radii = _hand(kind, form)
    prepared = prepare(p, kind, form)
    for score, want in (
        ("kl", kls),
        ("radius", radii),
        ("total", [r + 0.25 * k for r, k in zip(RECON, kls, strict=True)]),
        ("reconstruction", RECON),
    ):
        got = guard(
            prepared, GuardSettings(score=score, beta=0.25, parameterisation=kind, kl_form=form)
        )
        np.testing.assert_allclose(got.scores, want, rtol=1e-13)
        assert got.causes.tolist() == [0, 0]
        assert got.counts.by_cause["ok"] == 2


def test_hand_values_are_what_the_formulas_say() -> None:
    # Pin a few numbers so a wrong formula in both helper and module would still show.
    kls, radii = _hand("exp", "true")
    assert kls[0] == pytest.approx(
        -0.5 * (3 + 0.5 - 2.0 + 1.5 - 5.25 - (math.exp(0.5) + math.exp(-2.0) + math.exp(1.5))),
        rel=1e-15,
    )
    assert radii[1] == pytest.approx(0.0625 / math.exp(-0.25) + 0.5625 / math.exp(3.0))
    up, _ = _hand("softplus", "upstream")
    true, _ = _hand("softplus", "true")
    assert up[0] != pytest.approx(true[0])  # the two softplus forms really differ
    # upstream's softplus form is not a KL: it goes negative for large s
    p = make_pass([[0.0]], [[5.0]])
    assert run(p, score="kl", parameterisation="softplus", kl_form="upstream").scores[0] < 0
    assert run(p, score="kl", parameterisation="softplus", kl_form="true").scores[0] > 0


# -- causes -------------------------------------------------------------------------------
def test_first_failing_stage_wins_and_decoder_matters_only_for_recon_scores() -> None:
    mu = [[0.1, 0.2]] * 6
    s = [[0.0, 0.0], [0.0, 0.0], [np.nan, 0.0], [0.0, 0.0], [800.0, 0.0], [800.0, 0.0]]
    recon = [1.0, 1.0, 1.0, 2.0, 2.0, np.inf]
    p = make_pass(
        mu,
        s,
        recon=recon,
        input_ok=[True, False, True, True, True, True],
        decoder_ok=[True, True, True, False, True, True],
    )
    c = {score: run(p, score=score).causes.tolist() for score in SCORES}
    assert c["reconstruction"] == [0, 1, 2, 3, 0, 5]
    assert c["kl"] == [0, 1, 2, 0, 4, 4]
    assert c["radius"] == [0, 1, 2, 0, 0, 0]
    assert c["total"] == [0, 1, 2, 3, 4, 4]  # KL (encoder side) before reconstruction
    # with beta = 0 the KL is not used: the total is the reconstruction
    g = run(p, score="total", beta=0.0)
    assert g.causes.tolist() == [0, 1, 2, 3, 0, 5]
    assert g.scores[4] == 2.0
    # a clip rescues the KL, so the total then blames the reconstruction
    assert run(p, score="total", clip=(-20, 20)).causes.tolist() == [0, 1, 2, 3, 0, 5]


def test_total_sum_overflow_blames_the_larger_term() -> None:
    p = make_pass([[0.0]] * 2, [[709.5]] * 2, recon=[1e308, 1.0])
    g = run(p, score="total", beta=1.5)
    assert g.causes.tolist() == [Cause.KL_OVERFLOW, Cause.OK]
    g = run(p, score="total", beta=1e-300)
    assert g.causes.tolist() == [Cause.OK, Cause.OK]


def test_outside_clip_counts_only_finite_encoder_rows() -> None:
    p = make_pass(
        [[0.0, 0.0]] * 5,
        [[0.0, 0.0], [25.0, 0.0], [0.0, -30.0], [np.nan, 30.0], [19.0, -19.0]],
    )
    assert run(p, score="kl").counts.outside_clip == 0
    assert run(p, score="kl", clip=(-20, 20)).counts.outside_clip == 2
    assert run(p, score="reconstruction", clip=(-20, math.inf)).counts.outside_clip == 1
    assert run(p, score="kl", clip=(-10, 10)).counts.outside_clip == 3


def test_clip_bound_between_float32_values_is_exact() -> None:
    # float32(-88.7) = -88.69999694824219. A float64 bound a hair above it rounds back to that
    # same float32, so a naive float32 comparison would call the value inside.
    p = make_pass([[1.0, 0.5], [1.0, 0.5]], [[-88.7, 0.0], [88.7, 0.0]])
    assert run(p, score="kl", clip=(-88.7, 88.7)).counts.outside_clip == 0
    for clip in ((-88.6999969, 88.7), (-88.7, 88.6999969)):
        g = run(p, score="kl", clip=clip)
        assert g.counts.outside_clip == 1, clip
        row = 0 if clip[0] > -88.7 else 1
        s = math.copysign(88.6999969, -1.0 if row == 0 else 1.0)
        want = -0.5 * (1 + s - 1 - math.exp(s) + 1 + 0 - 0.25 - 1)
        assert g.scores[row] == pytest.approx(want, rel=1e-14)


# -- against an independent float64 reference ---------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("kind", "form"), FORMS)
def test_guard_matches_full_float64_recompute(seed: int, kind: str, form: str) -> None:
    p = extreme_pass(seed)
    prepared = prepare(p, kind, form)
    for clip in CLIPS:
        for score in SCORES:
            cfg = GuardSettings(
                clip=clip, score=score, beta=0.7, parameterisation=kind, kl_form=form
            )
            assert_matches_reference(p, cfg, guard(prepared, cfg))


def test_extreme_pass_exercises_every_cause_and_the_clip_path() -> None:
    p = extreme_pass(0)
    prepared = prepare(p)
    seen = set()
    for score in SCORES:
        seen |= set(guard(prepared, GuardSettings(score=score)).causes.tolist())
    assert seen == {int(c) for c in Cause}
    g = guard(prepared, GuardSettings(score="kl", clip=(-20, 20)))
    assert 0 < g.counts.outside_clip < p.n_events
    unclipped = guard(prepared, GuardSettings(score="kl"))
    assert unclipped.counts.by_cause["kl_overflow"] > 0
    assert g.counts.by_cause["kl_overflow"] == 0


VALUE = st.one_of(
    st.sampled_from(S_SPECIAL + MU_SPECIAL + (np.nan, np.inf, -np.inf)),
    st.floats(-1000, 1000, width=32),
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 4)),
    score=st.sampled_from(SCORES),
    form=st.sampled_from(FORMS),
    clip=st.sampled_from(CLIPS),
    beta=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
)
def test_guard_matches_reference_on_generated_inputs(data, shape, score, form, clip, beta):
    mu = data.draw(hnp.arrays(np.float32, shape, elements=VALUE))
    s = data.draw(hnp.arrays(np.float32, shape, elements=VALUE))
    n = shape[0]
    recon = data.draw(
        hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.5, 1e300, np.inf, np.nan]))
    )
    flags = data.draw(hnp.arrays(bool, (2, n)))
    p = make_pass(mu, s, recon=recon, input_ok=~flags[0] | flags[1], decoder_ok=~flags[1])
    cfg = GuardSettings(
        clip=clip, score=score, beta=beta, parameterisation=form[0], kl_form=form[1]
    )
    assert_matches_reference(p, cfg, run(p, **cfg.__dict__))


def test_total_at_beta_zero_ignores_an_infinite_kl() -> None:
    # found by the generated-inputs test: exp(712) is inf in float64, yet at beta = 0 the
    # total is the reconstruction alone
    p = make_pass([[0.0]], [[712.0]], recon=[0.0])
    cfg = GuardSettings(score="total", beta=0.0)
    got = run(p, **cfg.__dict__)
    assert got.scores.tolist() == [0.0] and got.causes.tolist() == [Cause.OK]
    assert_matches_reference(p, cfg, got)


def test_guard_does_not_touch_or_share_writable_state() -> None:
    p = extreme_pass(3, n=50)
    before = [a.copy() for a in (p.z_mean, p.z_log_var, p.sum_mu2, p.recon, p.finite)]
    prepared = prepare(p)
    g = guard(prepared, GuardSettings(score="total", clip=(-5, 5)))
    after = (p.z_mean, p.z_log_var, p.sum_mu2, p.recon, p.finite)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not g.scores.flags.writeable and not g.causes.flags.writeable
    assert g.scores.dtype == np.float64 and g.causes.dtype == np.uint8


def test_settings_must_match_the_prepared_pass() -> None:
    p = make_pass(MU, S)
    with pytest.raises(ValueError, match="prepare"):
        guard(prepare(p, "exp"), GuardSettings(parameterisation="softplus"))
    with pytest.raises(ValueError, match="prepare"):
        guard(
            prepare(p, "softplus", "true"),
            GuardSettings(parameterisation="softplus", kl_form="upstream"),
        )
    # kl_form means nothing for exp
    guard(prepare(p, "exp", "true"), GuardSettings(score="kl", kl_form="upstream"))


# -- the original crash -------------------------------------------------------------------
def test_original_crash_is_reproduced_and_explained() -> None:
    from sklearn.metrics import roc_auc_score, roc_curve  # slow import: only here

    rng = np.random.default_rng(11)
    n, k = 300, 8
    mu = rng.standard_normal((n, k))
    s = rng.standard_normal((n, k)) - 1.0
    y = (np.arange(n) >= n // 2).astype(int)
    s[150:155, 2] = 95.0  # float32 exp overflows, float64 is fine
    s[155:157, 3] = 800.0  # overflows float64 too
    p = make_pass(mu, s)

    # upstream: KL in float32, no clip
    m32 = p.z_mean.astype(np.float32)
    s32 = p.z_log_var.astype(np.float32)
    with np.errstate(all="ignore"):
        kl32 = -0.5 * np.sum(1 + s32 - m32 * m32 - np.exp(s32), axis=1)
    assert kl32.dtype == np.float32
    assert np.count_nonzero(~np.isfinite(kl32)) == 7
    with pytest.raises(ValueError, match=r"infinity|NaN"):
        roc_curve(y, kl32)

    g = run(p, score="kl")
    assert g.counts.unguarded_nonfinite_f32 == 7  # what float64 plus causes saved
    assert g.counts.by_cause["kl_overflow"] == 2
    assert g.causes[155:157].tolist() == [Cause.KL_OVERFLOW] * 2
    assert (np.delete(g.causes, [155, 156]) == Cause.OK).all()
    assert np.isfinite(g.scores[150:155]).all() and (g.scores[150:155] > 1e40).all()

    worst = apply_policy(g, "worst")
    assert worst.kept == n and worst.excluded == {"input_nonfinite": 0}
    assert (np.isfinite(worst.values) | np.isposinf(worst.values)).all()
    assert np.flatnonzero(np.isposinf(worst.values)).tolist() == [155, 156]
    drop = apply_policy(g, "drop")
    assert drop.kept == n - 2
    fpr, tpr, _ = roc_curve(y[drop.kept_mask], drop.values)
    assert fpr[-1] == tpr[-1] == 1.0

    clipped = run(p, score="kl", clip=(-20.0, 20.0))
    assert clipped.counts.by_cause["ok"] == n and clipped.counts.outside_clip == 7
    assert roc_auc_score(y, clipped.scores) > 0.5
