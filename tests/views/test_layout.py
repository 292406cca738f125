"""The page's frame (views.layout): importable before the views' libraries, which is why it
is a module of its own (the app's first cell shows the sidebar's head with it)."""

from __future__ import annotations

import re
import subprocess
import sys

from hepfm_core.views.layout import SIDEBAR_WIDTH


def test_the_sidebar_width_is_a_css_length_in_pixels():
    assert re.fullmatch(r"[1-9][0-9]{2}px", SIDEBAR_WIDTH)


def test_it_imports_no_chart_or_table_library():
    probe = (
        "import sys, hepfm_core.views.layout; "
        "print(sorted(m for m in ('altair', 'polars', 'numpy', 'h5py') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
