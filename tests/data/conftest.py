"""The data tests' shared helpers (``sample_files.py`` beside this file) are importable by
name: pytest imports test modules by path (``--import-mode=importlib``), not as a package."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
