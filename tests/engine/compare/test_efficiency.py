"""Efficiency differences at working points (engine.compare.efficiency): against direct
counting, zero for a model against itself, withheld where a working point is."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepfm_core.engine.compare.efficiency import efficiency_differences

from .test_paired import _samples


def _direct_eff(bkg: np.ndarray, sig: np.ndarray, target: float) -> tuple[float, np.ndarray]:
    """Continuous scores: the loosest cut passing at most floor(n target) background events
    sits at the next-largest background score."""
    allowed = math.floor(bkg.size * target + 1e-9)
    cut = np.sort(bkg)[::-1][allowed]
    return cut, sig > cut


@pytest.mark.parametrize("seed", range(4))
def test_efficiency_difference_against_direct_counting(seed):
    xa, xb, ya, yb = _samples(seed, 20_000, 3000, None, 0.6)
    effs = (1e-2, 1e-3)
    diffs = efficiency_differences(xa, xb, ya, yb, bkg_effs=effs, min_bkg_pass=10)
    assert [d.target_bkg_eff for d in diffs] == list(effs)
    for d, target in zip(diffs, effs, strict=True):
        cut_a, pass_a = _direct_eff(xa, ya, target)
        cut_b, pass_b = _direct_eff(xb, yb, target)
        assert d.status == "ok"
        assert d.point_a.threshold == cut_a and d.point_b.threshold == cut_b
        assert d.point_a.eff_sig == pass_a.mean() and d.point_b.eff_sig == pass_b.mean()
        diff = pass_a.astype(float) - pass_b.astype(float)
        assert d.delta_eff_sig == pytest.approx(diff.mean(), abs=1e-15)
        assert d.delta_eff_sig_err == pytest.approx(np.std(diff) / math.sqrt(ya.size), rel=1e-12)


def test_efficiency_difference_same_model_is_zero():
    xa, _, ya, _ = _samples(1, 5000, 500, 6, 0.6)
    for d in efficiency_differences(xa, xa, ya, ya, bkg_effs=[1e-1, 1e-2], min_bkg_pass=1):
        assert d.status == "ok" and d.delta_eff_sig == 0.0 and d.delta_eff_sig_err == 0.0


def test_efficiency_difference_withheld_when_a_point_is():
    xa, xb, ya, yb = _samples(2, 500, 100, None, 0.6)
    (d,) = efficiency_differences(xa, xb, ya, yb, bkg_effs=[1e-3], min_bkg_pass=10)
    assert d.status == "insufficient_background"
    assert d.delta_eff_sig is None and d.delta_eff_sig_err is None
    assert d.reason.startswith("model A: only 0.5 background events")
    assert d.to_json_dict()["delta_eff_sig"] is None
    (e,) = efficiency_differences(xa, xb, [], [], bkg_effs=[1e-1])
    assert e.status == "no_signal_events" and e.delta_eff_sig is None
