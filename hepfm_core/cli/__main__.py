"""``python -m hepfm_core.cli``: the ``hepfm`` command."""

from __future__ import annotations

import sys

from . import main

__all__: list[str] = []

if __name__ == "__main__":  # not when imported (the package's tests import every module)
    sys.exit(main())
