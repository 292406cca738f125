"""The scoring pass's result type: where a value overflows float16 / float32."""

from __future__ import annotations

import numpy as np

from hepfm_core.engine.scoring.passes import F16_OVERFLOW, F32_OVERFLOW, overflow_threshold


def test_overflow_threshold_is_max_plus_half_an_ulp():
    for dtype, threshold in ((np.float16, F16_OVERFLOW), (np.float32, F32_OVERFLOW)):
        assert overflow_threshold(dtype) == threshold
        below = np.nextafter(threshold, 0.0)
        with np.errstate(over="ignore"):
            assert np.isinf(np.array(threshold).astype(dtype))
            assert np.isfinite(np.array(below).astype(dtype))
    assert F16_OVERFLOW == 65520.0
    assert F32_OVERFLOW == float(np.finfo(np.float32).max) + 2.0**103
