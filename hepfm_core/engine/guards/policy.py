"""The non-finite policy: which guarded scores a metric sees, and what it leaves out.

``drop`` (upstream's behaviour) excludes every event without a finite score; ``worst`` keeps
them with score +inf (the most anomalous) and excludes only non-finite inputs (data quality).
Either way ``kept + sum(excluded) == total``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SettingsError
from ...vocabulary import POLICIES, Cause, Policy
from ..scoring.passes import read_only
from .guarded import GuardedScores

__all__ = [
    "OTHER_POLICY",
    "PolicyScores",
    "apply_policy",
    "policy_view",
]


OTHER_POLICY: dict[str, Policy] = {"worst": "drop", "drop": "worst"}
"""Each policy's counterpart: what the guard sentence compares the shown one with."""


@dataclass(frozen=True, eq=False)
class PolicyScores:
    """The scores a metric sees under a policy, and what the policy left out.

    ``values``: float64, kept events only, in event order (finite, or +inf under ``worst``).
    ``kept_mask``: bool ``(n,)``, which events ``values`` holds. ``excluded``: per cause label,
    only the causes this policy excludes (zeros included). ``kept + sum(excluded) == total``.
    """

    values: np.ndarray
    kept: int
    excluded: dict[str, int]
    total: int
    policy: Policy
    kept_mask: np.ndarray


_EXCLUDED_BY: dict[str, tuple[Cause, ...]] = {
    "drop": tuple(c for c in Cause if c != Cause.OK),
    "worst": (Cause.INPUT_NONFINITE,),
}


def apply_policy(guarded: GuardedScores, policy: Policy) -> PolicyScores:
    """Apply a policy for non-OK events.

    ``drop`` (upstream's behaviour) excludes every non-OK event. ``worst`` excludes only
    ``INPUT_NONFINITE`` events (bad data, not model behaviour) and keeps every other non-OK
    event with score +inf, so it ranks as the most anomalous instead of vanishing: dropping
    the events whose score overflowed hides exactly the most anomalous signal events.

    Parameters
    ----------
    guarded : GuardedScores
        From ``guards.guard``: scores (NaN where not OK) and their causes.
    policy : {"worst", "drop"}
        What happens to events without a finite score.

    Returns
    -------
    PolicyScores
        The kept events' scores (finite, or +inf under ``worst``) and the excluded counts per
        cause; ``kept + sum(excluded) == total`` always.

    Raises
    ------
    SettingsError
        For an unknown policy.

    Examples
    --------
    >>> import numpy as np
    >>> from hepfm_core.engine.guards.guarded import GuardSettings, guard, prepare
    >>> from hepfm_core.engine.scoring.passes import ScoringPass
    >>> from hepfm_core.engine.guards.policy import apply_policy
    >>> s = np.array([[0.0], [20.0], [800.0]], dtype=np.float32)  # exp(800): KL overflow
    >>> ok = np.full(3, 7, dtype=np.uint8)  # input, encoder and decoder finite
    >>> pass_ = ScoringPass(np.ones((3, 1), np.float32), s, np.ones(3), np.ones(3), ok)
    >>> guarded = guard(prepare(pass_), GuardSettings(score="kl"))
    >>> worst = apply_policy(guarded, "worst")
    >>> print([f"{v:.3g}" for v in worst.values], worst.kept, worst.excluded)
    ['0.5', '2.43e+08', 'inf'] 3 {'input_nonfinite': 0}
    >>> drop = apply_policy(guarded, "drop")
    >>> print(drop.kept, drop.excluded["kl_overflow"], sum(drop.excluded.values()))
    2 1 1
    """
    if policy not in _EXCLUDED_BY:
        raise SettingsError(
            f"unknown non-finite policy {policy!r}",
            where="policy",
            todo=f"use one of {', '.join(POLICIES)}",
        )
    causes = guarded.causes
    counts = guarded.counts.by_cause
    excluded = {c.label: counts[c.label] for c in _EXCLUDED_BY[policy]}
    with np.errstate(all="ignore"):
        not_ok = np.flatnonzero(causes)
        values = guarded.scores  # NaN exactly where not OK; shared, both are read-only
        if policy == "drop":
            gone = not_ok
        else:
            gone = not_ok[causes[not_ok] == Cause.INPUT_NONFINITE]
            if not_ok.size:
                values = values.copy()
                values[not_ok] = np.inf
        mask = np.ones(causes.shape[0], dtype=bool)
        if gone.size:
            mask[gone] = False
            values = values[mask]
    result = PolicyScores(
        values=read_only(values),
        kept=int(values.size),
        excluded=excluded,
        total=guarded.counts.total,
        policy=policy,
        kept_mask=read_only(mask),
    )
    if result.kept + sum(excluded.values()) != result.total:
        raise AssertionError(f"policy {policy!r} lost events: counts disagree with causes")
    return result


def policy_view(guarded: GuardedScores, kept: PolicyScores, rows: np.ndarray) -> np.ndarray:
    """The policy's score of each of ``rows`` (event indices), without a pass over the
    sample: the guarded score where the policy kept the event (+inf for a kept event that is
    not OK, under ``worst``), NaN where it did not."""
    r = np.asarray(rows, dtype=np.int64)
    scores = np.asarray(guarded.scores)[r]
    with np.errstate(invalid="ignore"):
        shown = np.where(np.isnan(scores), np.inf, scores)
    return np.where(np.asarray(kept.kept_mask)[r], shown, np.nan)
