"""hepfm: judge VAE anomaly detectors on collider track data.

Stages, each importing only the ones before it (``[tool.importlinter]`` in pyproject.toml):
``data`` (samples, files) -> ``model`` (the Keras VAE) -> ``upstream`` (the upstream
pipeline's files) -> ``sources`` (which format a path holds) -> ``engine`` (scoring, cached;
guards, metrics, investigation, comparison) -> ``cluster`` (the engine on a Dask cluster) ->
``views`` (tables, text, charts, report, the dashboard's helpers) -> ``demo`` (the demo data
and model) and ``serving`` (the dashboard shared with others: token, 127.0.0.1, a session
cap) -> ``cli`` (the ``hepfm`` command: a module per subcommand, and the flags and settings
they share); the app (``apps/anomaly.py``) on top.
Beneath them: ``common`` (fingerprints, cache, paths, versions), ``vocabulary``, ``errors``."""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"

# TensorFlow is imported lazily (scoring, model files) and its C++ start-up lines would land
# in the terminal and in notebook cell outputs; a value the user set is kept.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
