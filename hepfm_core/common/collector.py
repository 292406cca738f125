"""Keep Python's cyclic garbage collector off a live page's critical path.

A full (oldest-generation) collection walks every tracked object. A dashboard server that
has imported TensorFlow and loaded a model holds millions of them, so each full collection
costs 0.1-0.25 s on the seed's machine (measured with ``gc.callbacks``), and lands, at
random, inside whichever control's response triggered it. Once the long-lived objects are
built (the imports, the model, the opened passes), they are collected once and then frozen:
later full collections walk only what was made after.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_long_lived"]


def freeze_long_lived() -> int:
    """Collect once, then exempt every object alive now from later collections (they are
    still freed by reference counting). The number of objects frozen in all."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
