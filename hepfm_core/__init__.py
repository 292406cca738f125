"""hepfm: judge VAE anomaly detectors on collider track data."""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"

# TensorFlow is imported lazily (scoring, model files) and its C++ start-up lines would land
# in the terminal and in notebook cell outputs; a value the user set is kept.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
