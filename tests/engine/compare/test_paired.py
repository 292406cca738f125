"""Model comparison against references computed from the definitions: the paired DeLong
test by explicit sums over all signal-background pairs, Holm by its rejection rule, the
efficiencies by direct counting, the seed spread with numpy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from hepfm_core.engine.compare.paired import STATUS_TOO_FEW_EVENTS, delong_test, holm, pair_events
from hepfm_core.engine.metrics.roc import Counts, prepare_background, sorted_signal

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _psi(sig: np.ndarray, bkg: np.ndarray) -> np.ndarray:
    """psi(s_j, b_i) for every pair: 1 if s > b, 1/2 for a tie, else 0; shape (m, n)."""
    s, b = sig[:, None], bkg[None, :]
    return (s > b).astype(float) + 0.5 * (s == b)


def _reference(xa, xb, ya, yb) -> dict[str, float]:
    """The paired DeLong test from its definition, in O(m n): placements as means over all
    pairs, the 2x2 covariance matrices S10 and S01, Var = S10/m + S01/n, contrast (1, -1)."""
    m, n = ya.size, xa.size
    pa, pb = _psi(ya, xa), _psi(yb, xb)
    v10 = np.vstack([pa.mean(axis=1), pb.mean(axis=1)])  # per signal event
    v01 = np.vstack([pa.mean(axis=0), pb.mean(axis=0)])  # per background event
    cov = np.cov(v10) / m + np.cov(v01) / n  # ddof=1
    var = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    delta = pa.mean() - pb.mean()
    se = math.sqrt(max(var, 0.0))
    p = 2.0 * norm.sf(abs(delta) / se) if se > 1e-12 else (1.0 if delta == 0 else 0.0)
    return {
        "auc_a": pa.mean(),
        "auc_b": pb.mean(),
        "auc_a_err": math.sqrt(cov[0, 0]),
        "auc_b_err": math.sqrt(cov[1, 1]),
        "delta": delta,
        "se": se,
        "p": p,
    }


def _sk_auc(bkg: np.ndarray, sig: np.ndarray) -> float:
    y = np.r_[np.zeros(bkg.size), np.ones(sig.size)]
    return float(roc_auc_score(y, np.r_[bkg, sig]))


def _samples(seed: int, n: int, m: int, n_values: int | None, corr: float):
    """Paired scores of two correlated models; integer-valued (heavy ties) if n_values."""
    rng = np.random.default_rng(seed)
    xa, ya = rng.normal(0.0, 1.0, n), rng.normal(0.7, 1.0, m)
    xb = corr * xa + rng.normal(0.0, 0.6, n)
    yb = corr * ya + rng.normal(0.3, 0.6, m)
    if n_values is not None:
        xa, xb, ya, yb = (np.clip(np.round(v * 1.5), 0, n_values - 1) for v in (xa, xb, ya, yb))
    return xa, xb, ya, yb


def _assert_matches_reference(xa, xb, ya, yb) -> None:
    r = delong_test(xa, xb, ya, yb)
    ref = _reference(xa, xb, ya, yb)
    assert r.status == "ok"
    assert r.n_background == xa.size and r.n_signal == ya.size
    assert r.auc_a == pytest.approx(ref["auc_a"], abs=1e-12)
    assert r.auc_b == pytest.approx(ref["auc_b"], abs=1e-12)
    assert r.delta_auc == pytest.approx(ref["delta"], abs=1e-12)
    assert r.auc_a_err == pytest.approx(ref["auc_a_err"], rel=1e-9, abs=1e-13)
    assert r.auc_b_err == pytest.approx(ref["auc_b_err"], rel=1e-9, abs=1e-13)
    assert r.delta_auc_err == pytest.approx(ref["se"], rel=1e-9, abs=1e-13)
    assert r.p_value == pytest.approx(ref["p"], rel=1e-8, abs=1e-14)
    if r.delta_auc_err > 0:
        assert r.z == pytest.approx(r.delta_auc / r.delta_auc_err, rel=1e-12)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    m=st.integers(2, 60),
    n_values=st.sampled_from([None, 2, 3, 5, 10]),
    corr=st.floats(0.0, 1.0),
)
def test_delong_matches_the_quadratic_reference(seed, n, m, n_values, corr):
    _assert_matches_reference(*_samples(seed, n, m, n_values, corr))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_values", [None, 4])
def test_delong_matches_the_reference_on_larger_samples(seed, n_values):
    _assert_matches_reference(*_samples(seed, 400, 150, n_values, 0.8))


def test_delong_with_posinf_scores_matches_the_reference():
    xa, xb, ya, yb = _samples(7, 50, 30, 4, 0.5)
    xa[[1, 5]] = np.inf  # the "worst" policy's overflowed scores: tied with each other
    ya[[0, 2, 3]] = np.inf
    yb[4] = np.inf
    _assert_matches_reference(xa, xb, ya, yb)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_values=st.sampled_from([None, 2, 6]))
def test_auc_equals_roc_and_sklearn(seed, n_values):
    xa, xb, ya, yb = _samples(seed, 80, 40, n_values, 0.5)
    r = delong_test(xa, xb, ya, yb)
    for auc, x, y in ((r.auc_a, xa, ya), (r.auc_b, xb, yb)):
        assert auc == Counts.build(prepare_background(x), sorted_signal(y)).auc()  # bit-exact
        assert auc == pytest.approx(_sk_auc(x, y), abs=1e-12)


def test_hand_worked_example():
    # Model A moves one background event down (0.8 -> 0.5) and one signal event up
    # (0.3 -> 0.45). Placements V10 (share of background each signal event beats):
    # A (5, 4, 5, 5, 5) / 5, B (5, 2, 4, 4, 5) / 5 for signal (0.9, 0.45|0.3, 0.7, 0.75, 0.85).
    # V01 (share of signal above each background event): A (5, 5, 5, 4, 5) / 5,
    # B (5, 4, 4, 2, 5) / 5 for background (0.1, 0.4, 0.35, 0.5|0.8, 0.2).
    bkg_a = np.array([0.1, 0.4, 0.35, 0.5, 0.2])
    sig_a = np.array([0.9, 0.45, 0.7, 0.75, 0.85])
    bkg_b = np.array([0.1, 0.4, 0.35, 0.8, 0.2])
    sig_b = np.array([0.9, 0.3, 0.7, 0.75, 0.85])
    r = delong_test(bkg_a, bkg_b, sig_a, sig_b)
    assert r.auc_a == 24 / 25 and r.auc_b == 20 / 25
    d10 = np.array([0, 2, 1, 1, 0]) / 5
    d01 = np.array([0, 1, 1, 2, 0]) / 5
    var_a = np.var([5, 4, 5, 5, 5], ddof=1) / 25 / 5 + np.var([5, 5, 5, 4, 5], ddof=1) / 25 / 5
    assert r.auc_a_err == pytest.approx(math.sqrt(var_a), rel=1e-14)
    var = np.var(d10, ddof=1) / 5 + np.var(d01, ddof=1) / 5
    assert r.delta_auc == pytest.approx(0.16, abs=1e-15)
    assert r.delta_auc_err == pytest.approx(math.sqrt(var), rel=1e-14)
    assert r.p_value == pytest.approx(math.erfc(0.16 / math.sqrt(var) / math.sqrt(2)), rel=1e-12)


@pytest.mark.parametrize("n_values", [None, 3])
def test_a_model_against_itself_gives_delta_zero_and_p_one(n_values):
    xa, _, ya, _ = _samples(3, 200, 50, n_values, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = delong_test(xa, xa.copy(), ya, ya.copy())
    assert r.status == "ok" and r.reason is None
    assert r.delta_auc == 0.0 and r.delta_auc_err == 0.0
    assert r.z == 0.0 and r.p_value == 1.0
    assert r.auc_a == r.auc_b and r.auc_a_err == r.auc_b_err > 0


def test_a_strictly_increasing_transform_is_the_same_model():
    xa, _, ya, _ = _samples(4, 100, 40, None, 0.5)
    r = delong_test(xa, np.exp(xa), ya, np.exp(ya))
    assert (r.delta_auc, r.delta_auc_err, r.p_value) == (0.0, 0.0, 1.0)


def test_perfect_separation_for_both_models_is_delta_zero_p_one():
    bkg, sig = np.arange(5.0), np.arange(10.0, 14.0)
    r = delong_test(bkg, bkg * 2, sig, sig * 3)
    assert (r.auc_a, r.auc_b, r.delta_auc_err, r.p_value) == (1.0, 1.0, 0.0, 1.0)


def test_zero_variance_with_a_nonzero_delta_is_p_zero_with_a_reason():
    # A separates perfectly, B scores every event alike (AUC 1/2): every placement is
    # constant, so the DeLong variance is exactly zero while delta = 1/2
    bkg, sig = np.arange(5.0), np.arange(10.0, 14.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = delong_test(bkg, np.zeros(5), sig, np.zeros(4))
        s = delong_test(np.zeros(5), bkg, np.zeros(4), sig)
    assert (r.auc_a, r.auc_b, r.delta_auc, r.delta_auc_err) == (1.0, 0.5, 0.5, 0.0)
    assert r.status == "ok" and r.p_value == 0.0 and r.z == math.inf
    assert r.reason is not None and "variance is zero" in r.reason
    assert s.z == -math.inf and s.p_value == 0.0
    assert r.to_json_dict()["z"] is None and r.to_json_dict()["p_value"] == 0.0


def test_a_known_strong_difference_is_highly_significant():
    rng = np.random.default_rng(11)
    n, m = 5000, 2000
    xa, ya = rng.normal(0, 1, n), rng.normal(1.5, 1, m)
    xb, yb = xa + rng.normal(0, 2, n), ya + rng.normal(0, 2, m)  # B: A blurred by noise
    r = delong_test(xa, xb, ya, yb)
    assert r.delta_auc > 0.1
    assert r.p_value < 1e-6
    assert r.z > 5


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_values=st.sampled_from([None, 3]))
def test_swapping_models_negates_delta_and_keeps_se_and_p(seed, n_values):
    xa, xb, ya, yb = _samples(seed, 60, 30, n_values, 0.7)
    ab, ba = delong_test(xa, xb, ya, yb), delong_test(xb, xa, yb, ya)
    assert ba.delta_auc == -ab.delta_auc
    assert ba.delta_auc_err == ab.delta_auc_err
    assert ba.p_value == ab.p_value
    assert (ba.auc_a, ba.auc_b) == (ab.auc_b, ab.auc_a)


def test_too_few_events_withholds_the_errors_with_a_reason():
    r = delong_test(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 1.0]), [1.5], [0.5])
    assert r.status == STATUS_TOO_FEW_EVENTS and "at least 2" in r.reason
    assert (r.auc_a, r.auc_b, r.delta_auc) == (2 / 3, 1 / 3, 1 / 3)
    assert r.delta_auc_err is None and r.p_value is None and r.z is None
    assert r.auc_a_err is None and r.auc_b_err is None
    one_bkg = delong_test([0.0], [0.0], [1.0, 2.0], [1.0, 2.0])
    assert one_bkg.status == STATUS_TOO_FEW_EVENTS and one_bkg.p_value is None


def test_empty_classes_withhold_every_number():
    r = delong_test([], [], [1.0, 2.0], [1.0, 2.0])
    assert r.status == "no_background_events" and r.reason
    assert r.auc_a is None and r.delta_auc is None and r.p_value is None
    s = delong_test([1.0, 2.0], [1.0, 2.0], [], [])
    assert s.status == "no_signal_events"
    assert all(
        v is None
        for k, v in s.to_json_dict().items()
        if k not in {"status", "reason"} and not k.startswith("n_")
    )


@pytest.mark.parametrize("bad", [np.nan, -np.inf])
@pytest.mark.parametrize("where", range(4))
def test_nan_or_neginf_scores_raise_naming_the_array(bad, where):
    arrays = [np.arange(4.0), np.arange(4.0), np.arange(3.0) + 2, np.arange(3.0) + 2]
    arrays[where][1] = bad
    name = [
        "background scores of model A",
        "background scores of model B",
        "signal scores of model A",
        "signal scores of model B",
    ][where]
    with pytest.raises(ValueError, match=name):
        delong_test(*arrays)


def test_unpaired_lengths_raise():
    with pytest.raises(ValueError, match="background scores are not paired"):
        delong_test(np.arange(4.0), np.arange(5.0), np.arange(3.0), np.arange(3.0))
    with pytest.raises(ValueError, match="signal scores are not paired"):
        delong_test(np.arange(4.0), np.arange(4.0), np.arange(3.0), np.arange(2.0))
    with pytest.raises(ValueError, match="1-D"):
        delong_test(np.zeros((2, 2)), np.zeros((2, 2)), np.arange(3.0), np.arange(3.0))


def test_pair_events_counts_hand_example():
    a = np.array([1.0, np.nan, 3.0, np.nan, 5.0, np.inf])
    b = np.array([2.0, 4.0, np.nan, np.nan, 6.0, 7.0])
    p = pair_events(a, b)  # no mask: each keeps its finite scores
    assert p.a.tolist() == [1.0, 5.0] and p.b.tolist() == [2.0, 6.0]
    assert p.kept.tolist() == [True, False, False, False, True, False]
    assert (p.n_total, p.n_both) == (6, 2)
    assert (p.n_dropped_a_only, p.n_dropped_b_only, p.n_dropped_both) == (2, 1, 1)
    assert not p.a.flags.writeable


def test_pair_events_with_masks_keeps_posinf_and_accepts_kept_values_only():
    keep_a = np.array([True, True, False, True])
    keep_b = np.array([True, False, True, True])
    full_a = np.array([1.0, np.inf, np.nan, 4.0])  # per event
    kept_b = np.array([10.0, 30.0, np.inf])  # only the kept events, as PolicyScores.values
    p = pair_events(full_a, kept_b, keep_a, keep_b)
    assert p.a.tolist() == [1.0, 4.0] and p.b.tolist() == [10.0, np.inf]
    assert (p.n_both, p.n_dropped_a_only, p.n_dropped_b_only, p.n_dropped_both) == (2, 1, 1, 0)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 50))
def test_pair_events_counts_against_direct_counts(seed, n):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    a[rng.random(n) < 0.3] = np.nan
    b[rng.random(n) < 0.2] = np.inf
    p = pair_events(a, b)
    ka, kb = np.isfinite(a), np.isfinite(b)
    assert p.n_both == np.sum(ka & kb)
    assert p.n_dropped_a_only == np.sum(~ka & kb)
    assert p.n_dropped_b_only == np.sum(ka & ~kb)
    assert p.n_dropped_both == np.sum(~ka & ~kb)
    assert p.n_both + p.n_dropped_a_only + p.n_dropped_b_only + p.n_dropped_both == n
    np.testing.assert_array_equal(p.a, a[ka & kb])
    np.testing.assert_array_equal(p.b, b[ka & kb])


def test_pair_events_rejects_bad_inputs():
    with pytest.raises(ValueError, match="different numbers of events"):
        pair_events(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="kept scores of model B contain 1 NaN"):
        pair_events(np.zeros(3), np.array([0.0, np.nan, 1.0]), None, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="fit neither"):
        pair_events(np.zeros(2), np.zeros(3), np.array([True, False, True, True]), None)
    with pytest.raises(ValueError, match="boolean"):
        pair_events(np.zeros(3), np.zeros(3), np.ones(3), None)


def _holm_by_rejection(ps: list[float]) -> list[float]:
    """The adjusted p-value as the smallest level at which Holm's rule rejects: at level
    alpha, walk the sorted p-values and reject while p_(j) <= alpha / (m - j + 1)."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])

    def rejected(alpha: float) -> set[int]:
        out = set()
        for j, i in enumerate(order):
            if ps[i] * (m - j) > alpha:  # p_(j) > alpha / (m - j + 1), 1-based j
                break
            out.add(i)
        return out

    # the adjusted values are among the products (m - j + 1) p_(j), capped at 1
    levels = sorted({min(1.0, (m - j) * ps[i]) for j, i in enumerate(order)} | {1.0})
    # never rejected at any level up to 1: adjusted p-value 1
    return [min((a for a in levels if i in rejected(a)), default=1.0) for i in range(m)]


def test_holm_hand_worked():
    # sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 -> max 0.06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx((0.03, 0.06, 0.06, 0.02))
    assert holm([0.5, 0.6]) == (1.0, 1.0)  # capped
    assert holm([0.04]) == (0.04,)
    assert holm([]) == ()
    assert holm([0.02, 0.02, 0.9]) == pytest.approx((0.06, 0.06, 0.9))  # ties share a value


def test_holm_withheld_pass_through_and_do_not_count():
    out = holm([0.02, None, math.nan, 0.01])
    assert out[1] is None and math.isnan(out[2])
    assert out[0] == pytest.approx(0.02) and out[3] == pytest.approx(0.02)  # m = 2


@SETTINGS
@given(
    ps=st.lists(
        st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1e-3, 0.01, 0.5, 1.0])),
        min_size=1,
        max_size=12,
    )
)
def test_holm_matches_its_rejection_rule(ps):
    ours = holm(ps)
    assert list(ours) == pytest.approx(_holm_by_rejection(ps), rel=1e-15, abs=0)
    assert all(p <= a <= 1.0 for p, a in zip(ps, ours, strict=True))
    order = np.argsort(ps, kind="stable")
    assert np.all(np.diff(np.array(ours)[order]) >= 0)  # monotone in the raw p-values


def test_holm_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])
    with pytest.raises(ValueError):
        holm([-0.1])


def test_placement_moments_are_exact_where_int64_would_wrap():
    """15 M background events against 40 k signal events: the doubled placements' sum of
    squares passes 2^63; int64's dot wrapped to a negative variance (a math domain error at
    27 M on the cluster). Moments.of sums it exactly, at any size and sign."""
    from hepfm_core.engine.compare.paired import Moments, sum_of_squares

    rng = np.random.default_rng(5)
    c = rng.integers(0, 2 * 15_000_000, size=40_000, dtype=np.int64)
    c[:3] = 2 * 15_000_000
    exact = sum(int(x) * int(x) for x in c)
    assert exact > 2**63 - 1
    m = Moments.of(c)
    assert (m.n, m.s1, m.s2) == (40_000, sum(int(x) for x in c), exact)
    signed = c - c[::-1]
    assert Moments.of(signed).s2 == sum(int(x) * int(x) for x in signed)
    huge = np.array([2**40 + 3, -(2**33) - 1, 7], dtype=np.int64)  # halves split past 2^31
    assert sum_of_squares(huge) == sum(int(x) * int(x) for x in huge)
    assert sum_of_squares(np.zeros(0, np.int64)) == 0
    assert Moments.of(c[:5000]) + Moments.of(c[5000:]) == m  # additive over any split
