"""The non-finite policies (engine.guards.policy): which events each keeps and with what
score, the excluded counts per cause, the per-row view without a pass; small hand cases, an
empty sample, an all-non-finite one, and the extreme pass of test_guarded.py."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
from hepfm_core.engine.guards.policy import apply_policy, policy_view
from hepfm_core.errors import SettingsError
from hepfm_core.vocabulary import Cause

from .test_guarded import CLIPS, MU, SCORES, S, extreme_pass, make_pass, run


@pytest.mark.parametrize("clip", CLIPS)
def test_policies_account_for_every_event(clip) -> None:
    p = extreme_pass(5)
    prepared = prepare(p)
    for score in SCORES:
        g = guard(prepared, GuardSettings(score=score, clip=clip))
        by = g.counts.by_cause
        ok = g.causes == Cause.OK
        drop = apply_policy(g, "drop")
        worst = apply_policy(g, "worst")
        for res in (drop, worst):
            assert res.kept + sum(res.excluded.values()) == res.total == p.n_events
            assert res.kept == res.values.size == int(res.kept_mask.sum())
        assert set(drop.excluded) == {c.label for c in Cause if c != Cause.OK}
        assert drop.kept == by["ok"]
        assert np.isfinite(drop.values).all()
        np.testing.assert_array_equal(drop.values, g.scores[ok])
        assert worst.excluded == {"input_nonfinite": by["input_nonfinite"]}
        assert worst.kept == p.n_events - by["input_nonfinite"]
        keep = g.causes != Cause.INPUT_NONFINITE
        np.testing.assert_array_equal(worst.kept_mask, keep)
        inf = np.isposinf(worst.values)
        assert inf.sum() == p.n_events - by["ok"] - by["input_nonfinite"]
        assert (np.isfinite(worst.values) | inf).all()
        np.testing.assert_array_equal(worst.values[~inf], g.scores[ok])
        np.testing.assert_array_equal(inf, ~ok[keep])


def test_policy_on_all_ok_scores_keeps_everything() -> None:
    g = run(make_pass(MU, S), score="kl")
    for policy in ("drop", "worst"):
        res = apply_policy(g, policy)
        assert res.kept == 2 and res.policy == policy
        np.testing.assert_array_equal(res.values, g.scores)


def test_unknown_policy_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="policy"):
        apply_policy(run(make_pass(MU, S)), "ignore")  # type: ignore[arg-type]


def _mixed():
    """Five events: OK (KL 0.5), bad input, KL overflow (s = 800), encoder NaN, OK (KL 0.5)."""
    return run(
        make_pass(
            [[1.0], [1.0], [1.0], [np.nan], [-1.0]],
            [[0.0], [0.0], [800.0], [0.0], [0.0]],
            input_ok=[True, False, True, True, True],
        ),
        score="kl",
    )


def test_each_policy_by_hand():
    g = _mixed()
    assert g.causes.tolist() == [
        Cause.OK, Cause.INPUT_NONFINITE, Cause.KL_OVERFLOW, Cause.ENCODER_NONFINITE, Cause.OK,
    ]  # fmt: skip
    worst = apply_policy(g, "worst")
    assert worst.values.tolist() == [0.5, np.inf, np.inf, 0.5]
    assert worst.kept_mask.tolist() == [True, False, True, True, True]
    assert (worst.kept, worst.total, worst.excluded) == (4, 5, {"input_nonfinite": 1})
    drop = apply_policy(g, "drop")
    assert drop.values.tolist() == [0.5, 0.5] and drop.kept_mask.tolist() == [
        True, False, False, False, True,
    ]  # fmt: skip
    assert drop.excluded == {c.label: 0 for c in Cause if c != Cause.OK} | {
        "input_nonfinite": 1, "kl_overflow": 1, "encoder_nonfinite": 1,
    }  # fmt: skip
    for res in (worst, drop):
        assert not res.values.flags.writeable and not res.kept_mask.flags.writeable
        assert res.values.dtype == np.float64
    assert not g.scores.flags.writeable  # the guarded scores were not written to


def test_policy_view_of_chosen_rows():
    g = _mixed()
    rows = np.array([4, 2, 1, 3, 0, 2])  # any order, repeats allowed
    worst = policy_view(g, apply_policy(g, "worst"), rows)
    np.testing.assert_array_equal(worst, [0.5, np.inf, np.nan, np.inf, 0.5, np.inf])
    drop = policy_view(g, apply_policy(g, "drop"), rows)
    np.testing.assert_array_equal(drop, [0.5, np.nan, np.nan, np.nan, 0.5, np.nan])
    assert policy_view(g, apply_policy(g, "drop"), np.empty(0, np.int64)).size == 0


def test_an_empty_sample_keeps_nothing_and_loses_nothing():
    g = run(make_pass(np.empty((0, 2)), np.empty((0, 2))), score="kl")
    for policy in ("worst", "drop"):
        res = apply_policy(g, policy)
        assert res.kept == res.total == 0 and res.values.size == 0
        assert sum(res.excluded.values()) == 0


def test_an_all_non_finite_sample():
    p = make_pass([[1.0], [2.0]], [[900.0], [1000.0]])
    g = run(p, score="kl")
    assert (g.causes == Cause.KL_OVERFLOW).all()
    worst = apply_policy(g, "worst")
    assert worst.values.tolist() == [np.inf, np.inf] and worst.kept == 2
    drop = apply_policy(g, "drop")
    assert drop.kept == 0 and drop.values.size == 0 and drop.excluded["kl_overflow"] == 2
    bad_input = run(make_pass([[1.0], [2.0]], [[0.0], [0.0]], input_ok=[False, False]))
    for policy in ("worst", "drop"):
        res = apply_policy(bad_input, policy)
        assert res.kept == 0 and res.excluded["input_nonfinite"] == 2


def test_an_unknown_policy_says_which_exist():
    with pytest.raises(SettingsError) as info:
        apply_policy(_mixed(), "keep")  # type: ignore[arg-type]
    assert info.value.what == "unknown non-finite policy 'keep'"
    assert info.value.where == "policy" and info.value.todo == "use one of drop, worst"
