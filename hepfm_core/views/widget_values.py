"""A widget's value as the server may use it: inside the widget's own bounds.

Why: marimo keeps a slider or number field within its ``start`` and ``stop`` in the browser
only. A shared dashboard (``marimo run``) receives whatever a viewer's page sends, and a
crafted message with ``bins = 1,000,000`` costs the server gigabytes. Every bounded value
the app computes with goes through :func:`within`.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["within"]


def within(widget: Any, default: float) -> float:
    """``widget.value`` when it is a finite number within ``widget.start`` and
    ``widget.stop``, else ``default`` (an empty field, a value no control of the page can
    send).

    >>> from types import SimpleNamespace as Widget
    >>> bins = Widget(value=10**6, start=10, stop=150)
    >>> within(bins, 60), within(Widget(value=45, start=10, stop=150), 60)
    (60, 45)
    >>> within(Widget(value=None, start=0, stop=100), 1.0)
    1.0
    """
    value = widget.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if not math.isfinite(value) or not widget.start <= value <= widget.stop:
        return default
    return value
