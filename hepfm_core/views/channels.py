"""Altair encodings as channel objects, never shorthand strings.

Altair turns a string (``"fpr:Q"``) or a dict given to ``encode`` into a channel by looking
it up in its whole schema: about 5 ms per channel on every chart built, most of a chart's
cost at a slider move. A channel object (``alt.Y("fpr:Q")``) skips that lookup and gives the
same specification.
"""

from __future__ import annotations

from typing import Any

import altair as alt

__all__ = ["tooltips"]


def tooltips(*fields: str | alt.SchemaBase) -> list[Any]:
    """Tooltip channels for ``fields`` (shorthand strings, or channels kept as they are)."""
    return [alt.Tooltip(f) if isinstance(f, str) else f for f in fields]
