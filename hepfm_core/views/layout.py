"""The dashboard page's frame: what both of its sidebar cells share.

A module of its own, importing nothing, so that the app's first cell (the sidebar's head)
shows before the views' libraries (Altair, Polars) are imported.
"""

from __future__ import annotations

__all__ = ["SIDEBAR_WIDTH"]

SIDEBAR_WIDTH = "340px"
"""The controls' sidebar: wide enough for the file browsers and the clip slider's labels."""
