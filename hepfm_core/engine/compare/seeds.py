"""The training's share of a difference: a model group's seed-to-seed spread (the same variant
trained with several seeds), and whether two groups differ beyond both the sampling error and
that spread (:func:`compare_groups`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...common.json_fields import JsonFields

__all__ = [
    "VERDICT_EXCEEDS_BOTH",
    "VERDICT_SEED_SPREAD_UNKNOWN",
    "VERDICT_WITHIN_SAMPLING",
    "VERDICT_WITHIN_SEED_SPREAD",
    "GroupComparison",
    "SeedGroup",
    "compare_groups",
    "seed_group",
]


VERDICT_EXCEEDS_BOTH = "exceeds_both"


VERDICT_WITHIN_SAMPLING = "within_sampling_error"


VERDICT_WITHIN_SEED_SPREAD = "within_seed_spread"


VERDICT_SEED_SPREAD_UNKNOWN = "seed_spread_unknown"


@dataclass(frozen=True, eq=False)
class SeedGroup(JsonFields):
    """One variant trained with several seeds: its AUCs on one signal, their mean and spread.

    ``sd_auc``: the seed-to-seed standard deviation (ddof=1), None with a single seed.
    """

    aucs: tuple[float, ...]
    n_seeds: int
    mean_auc: float
    sd_auc: float | None


def seed_group(aucs: Sequence[float]) -> SeedGroup:
    """Mean AUC and seed-to-seed standard deviation (ddof=1) of one model group.

    Raises ``ValueError`` without an AUC or for one outside [0, 1] (NaN included).
    """
    values = tuple(float(a) for a in aucs)
    if not values:
        raise ValueError("a model group needs at least one seed's AUC")
    for a in values:
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"an AUC lies in [0, 1], got {a!r}")
    arr = np.array(values, dtype=np.float64)
    with np.errstate(all="raise", under="ignore"):
        mean = float(np.mean(arr))
        sd = float(np.std(arr, ddof=1)) if arr.size > 1 else None
    return SeedGroup(aucs=values, n_seeds=len(values), mean_auc=mean, sd_auc=sd)


@dataclass(frozen=True, eq=False)
class GroupComparison(JsonFields):
    """Two model groups on one signal: the difference of mean AUCs against both errors.

    ``delta_auc = group_a.mean_auc - group_b.mean_auc``. ``delta_auc_err``: the event
    sampling error (DeLong; see :func:`compare_groups`). ``delta_auc_seed_err``:
    ``sqrt(sd_A^2/n_A + sd_B^2/n_B)``, None when a group has a single seed.
    ``exceeds_sampling`` / ``exceeds_seed_spread``: ``|delta| > n_sigma * error`` (None when
    that error is unknown). ``verdict``: ``"exceeds_both"``, ``"within_sampling_error"``,
    ``"within_seed_spread"`` (beyond the sampling error only) or ``"seed_spread_unknown"``
    (beyond the sampling error, a single seed in a group).
    """

    group_a: SeedGroup
    group_b: SeedGroup
    delta_auc: float
    delta_auc_err: float
    delta_auc_seed_err: float | None
    n_sigma: float
    exceeds_sampling: bool
    exceeds_seed_spread: bool | None
    verdict: str


def compare_groups(
    aucs_a: Sequence[float],
    aucs_b: Sequence[float],
    delong_errs: Sequence[float],
    *,
    n_sigma: float = 2.0,
) -> GroupComparison:
    """Whether two model groups differ by more than the event sampling and the seed spread.

    ``delong_errs``: the paired DeLong errors (:func:`delong_test` ``delta_auc_err``) of
    the seed pairs compared, one or more; their mean is the sampling error of the delta of
    means. Why the mean: every seed is scored on the same events, so the seeds' sampling
    errors are almost fully correlated and averaging seeds does not shrink them; the error
    of a mean is at most the mean of the errors (equal under full correlation), so the mean
    is a slightly conservative estimate that one pair (e.g. the first seeds) already gives.
    ``n_sigma``: how many errors count as "exceeds" (2 by default: one sigma is no evidence).
    """
    ga, gb = seed_group(aucs_a), seed_group(aucs_b)
    errs = [float(e) for e in delong_errs]
    if not errs:
        raise ValueError("need at least one DeLong error of a seed pair")
    for e in errs:
        if not (math.isfinite(e) and e >= 0.0):
            raise ValueError(f"a DeLong error is finite and >= 0, got {e!r}")
    if not (math.isfinite(n_sigma) and n_sigma > 0.0):
        raise ValueError(f"n_sigma must be finite and positive, got {n_sigma!r}")
    delta = ga.mean_auc - gb.mean_auc
    sampling = math.fsum(errs) / len(errs)
    seed_err = None
    if ga.sd_auc is not None and gb.sd_auc is not None:
        seed_err = math.sqrt(ga.sd_auc**2 / ga.n_seeds + gb.sd_auc**2 / gb.n_seeds)
    exceeds_sampling = abs(delta) > n_sigma * sampling
    exceeds_seed = None if seed_err is None else abs(delta) > n_sigma * seed_err
    if not exceeds_sampling:
        verdict = VERDICT_WITHIN_SAMPLING
    elif exceeds_seed is None:
        verdict = VERDICT_SEED_SPREAD_UNKNOWN
    elif exceeds_seed:
        verdict = VERDICT_EXCEEDS_BOTH
    else:
        verdict = VERDICT_WITHIN_SEED_SPREAD
    return GroupComparison(
        group_a=ga,
        group_b=gb,
        delta_auc=delta,
        delta_auc_err=sampling,
        delta_auc_seed_err=seed_err,
        n_sigma=float(n_sigma),
        exceeds_sampling=exceeds_sampling,
        exceeds_seed_spread=exceeds_seed,
        verdict=verdict,
    )
