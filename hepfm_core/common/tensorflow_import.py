"""TensorFlow and Keras imported once per process, by one thread at a time.

Why: the dashboard imports TensorFlow in a background thread (it warms the model) while a
click can load the model in the kernel's thread. Two threads importing TensorFlow at once
meet Python's import-deadlock detection, which hands one of them a partially initialised
module ("partially initialized module 'tensorflow.python...' has no attribute ..."). Every
first use of TensorFlow goes through :func:`import_tensorflow`; after the first, it costs a
dictionary lookup.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

__all__ = ["import_tensorflow"]

_lock = threading.Lock()
_imported = threading.Event()


def import_tensorflow() -> ModuleType:
    """The ``tensorflow`` module, with Keras imported too; the first call imports them
    (seconds) while other callers wait."""
    if _imported.is_set():
        return sys.modules["tensorflow"]
    with _lock:
        import keras  # noqa: F401  (Keras 3 imports its TensorFlow backend)
        import tensorflow as tf

        _imported.set()
    return tf
