"""How the investigation view writes numbers: rounded for charts, spelled for tables."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from ..charts import DIGITS

__all__ = [
    "number_text",
    "table_formats",
]


def _r(x: float | None) -> float | None:
    """``x`` to :data:`charts.DIGITS` significant digits; None for None or non-finite."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{DIGITS}g}")


def _keep(x: float | None) -> float | None:
    """``x`` to :data:`charts.DIGITS` significant digits, NaN and infinities kept (a table
    spells them; a chart's data cannot hold them: :func:`_r`)."""
    if x is None or not math.isfinite(x):
        return x
    return float(f"{x:.{DIGITS}g}")


def number_text(value: object) -> str:
    """A number of a table as text: :data:`charts.DIGITS` significant digits, NaN and the
    infinities spelled, "n/a" for none.

    >>> from hepfm_core.views.investigation import number_text
    >>> number_text(2786060.0), number_text(float("nan")), number_text(None), number_text(7)
    ('2.78606e+06', 'NaN', 'n/a', '7')
    """
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{DIGITS}g}"
    return str(value)


def table_formats(frame: pl.DataFrame) -> dict[str, Any]:
    """How the app shows a builder's table: every number by :func:`number_text` (indices
    without thousands separators, so that they read as ``hepfm events`` writes them)."""
    return {c: number_text for c, t in frame.schema.items() if t.is_numeric()}


def _with_unit(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


def _lines(title: str) -> list[str]:
    """A long title in two lines, broken before its parenthesis (a legend's title)."""
    head, sep, tail = title.partition(" (")
    return [head, f"({tail}"] if sep else [title]
