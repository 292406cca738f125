"""Seed spread and group verdicts (engine.compare.seeds): against numpy, and the verdicts of
two groups' comparison."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hepfm_core.engine.compare.paired import delong_test
from hepfm_core.engine.compare.seeds import (
    VERDICT_EXCEEDS_BOTH,
    VERDICT_SEED_SPREAD_UNKNOWN,
    VERDICT_WITHIN_SAMPLING,
    VERDICT_WITHIN_SEED_SPREAD,
    compare_groups,
    seed_group,
)


def test_seed_group_against_numpy():
    aucs = [0.81, 0.84, 0.79, 0.83]
    g = seed_group(aucs)
    assert g.n_seeds == 4 and g.aucs == tuple(aucs)
    assert g.mean_auc == pytest.approx(np.mean(aucs), rel=1e-15)
    assert g.sd_auc == pytest.approx(np.std(aucs, ddof=1), rel=1e-15)
    single = seed_group([0.8])
    assert single.mean_auc == 0.8 and single.sd_auc is None
    with pytest.raises(ValueError):
        seed_group([])
    with pytest.raises(ValueError):
        seed_group([0.8, math.nan])


def test_compare_groups_numbers_against_numpy():
    a, b = [0.86, 0.88, 0.87], [0.80, 0.83]
    c = compare_groups(a, b, [0.004, 0.006, 0.005])
    assert c.delta_auc == pytest.approx(np.mean(a) - np.mean(b), rel=1e-14)
    assert c.delta_auc_err == pytest.approx(0.005, rel=1e-14)
    seed_err = math.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 2)
    assert c.delta_auc_seed_err == pytest.approx(seed_err, rel=1e-14)
    # delta 0.0515, 2 x sampling 0.01, 2 x seed spread 0.0233
    assert c.exceeds_sampling and c.exceeds_seed_spread
    assert c.verdict == VERDICT_EXCEEDS_BOTH
    assert c.to_json_dict()["verdict"] == VERDICT_EXCEEDS_BOTH


def test_compare_groups_verdicts():
    # beyond the sampling error, inside a wide seed spread
    c = compare_groups([0.80, 0.90], [0.83, 0.84], [0.001])
    assert c.exceeds_sampling and c.exceeds_seed_spread is False
    assert c.verdict == VERDICT_WITHIN_SEED_SPREAD
    # inside the sampling error
    c = compare_groups([0.801, 0.802], [0.800, 0.801], [0.01])
    assert not c.exceeds_sampling and c.verdict == VERDICT_WITHIN_SAMPLING
    # a single seed in a group: no spread to judge by
    c = compare_groups([0.9], [0.8, 0.81], [0.001])
    assert c.delta_auc_seed_err is None and c.exceeds_seed_spread is None
    assert c.verdict == VERDICT_SEED_SPREAD_UNKNOWN
    # n_sigma = 1: exceeding one error
    c = compare_groups([0.815], [0.80], [0.01], n_sigma=1.0)
    assert c.exceeds_sampling and c.n_sigma == 1.0
    with pytest.raises(ValueError):
        compare_groups([0.8], [0.8], [])
    with pytest.raises(ValueError):
        compare_groups([0.8], [0.8], [math.nan])


def test_compare_groups_with_delong_errors_from_seed_pairs():
    """End to end: two groups of three seeds each on the same events; the sampling error is
    the mean of the pairwise DeLong errors."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(0, 1, 2000), rng.normal(1, 1, 500)
    noise = [(rng.normal(0, s, x.size), rng.normal(0, s, y.size)) for s in (0.5, 0.55, 0.6)]
    group_a = [(x + nx, y + ny) for nx, ny in noise]
    group_b = [(x + 3 * nx, y + 3 * ny) for nx, ny in noise]
    pairs = [delong_test(a[0], b[0], a[1], b[1]) for a, b in itertools.product(group_a, group_b)]
    c = compare_groups(
        [delong_test(a[0], a[0], a[1], a[1]).auc_a for a in group_a],
        [delong_test(b[0], b[0], b[1], b[1]).auc_a for b in group_b],
        [p.delta_auc_err for p in pairs],
    )
    assert c.delta_auc_err == pytest.approx(np.mean([p.delta_auc_err for p in pairs]))
    assert c.delta_auc == pytest.approx(np.mean([p.delta_auc for p in pairs]), abs=1e-12)
    assert c.verdict == VERDICT_EXCEEDS_BOTH
