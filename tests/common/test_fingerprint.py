"""Content fingerprints: independent of how rows are split into blocks, sensitive to content."""

from __future__ import annotations

import numpy as np

from hepfm_core.common.fingerprint import ArrayHasher, combine


def digest(*blocks: np.ndarray) -> str:
    h = ArrayHasher()
    for b in blocks:
        h.update(b)
    return h.hexdigest()


def test_block_split_does_not_matter():
    x = np.arange(60, dtype=np.float32).reshape(10, 6)
    assert digest(x) == digest(x[:3], x[3:7], x[7:]) == digest(x[:0], x)


def test_content_dtype_and_row_shape_matter():
    x = np.arange(60, dtype=np.float32).reshape(10, 6)
    y = x.copy()
    y[4, 2] += 1
    assert digest(x) != digest(y)
    assert digest(x) != digest(x.astype(np.float64))
    assert digest(x) != digest(x.reshape(20, 3))


def test_combine_is_order_sensitive_and_stable():
    assert combine("a", {"k": 1}) == combine("a", {"k": 1})
    assert combine("a", "b") != combine("b", "a")
