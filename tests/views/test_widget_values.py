"""A widget's value reaches the computation only inside the widget's bounds: marimo checks
them in the browser alone, and a crafted message can carry any value."""

from __future__ import annotations

import marimo as mo
import pytest

from hepfm_core.views.widget_values import within


def _sent(widget, value):
    """``widget`` after the page sent ``value`` (what marimo's runtime does with a message)."""
    widget._update(value)
    return widget


@pytest.mark.parametrize(
    ("make", "sent", "default", "expected"),
    [
        (lambda: mo.ui.slider(10, 150, value=60, step=5), 1_000_000, 60, 60),
        (lambda: mo.ui.slider(10, 150, value=60, step=5), 85, 60, 85),
        (lambda: mo.ui.number(start=1, stop=100_000, value=20), 10**9, 20, 20),
        (lambda: mo.ui.number(start=1, stop=100_000, value=20), -5, 20, 20),
        (lambda: mo.ui.number(start=0.0, stop=100.0, value=1.0), float("nan"), 1.0, 1.0),
        (lambda: mo.ui.number(start=0.0, stop=100.0, value=1.0), 0.25, 1.0, 0.25),
        (lambda: mo.ui.number(start=1, stop=3, value=1), None, 1, 1),
    ],
)
def test_a_value_outside_the_widgets_bounds_is_replaced(make, sent, default, expected):
    assert within(_sent(make(), sent), default) == expected


def test_marimo_keeps_what_the_page_sent():
    """Why :func:`within` exists: the slider's bounds do not stop a value on the server."""
    assert _sent(mo.ui.slider(10, 150, value=60, step=5), 1_000_000).value == 1_000_000
