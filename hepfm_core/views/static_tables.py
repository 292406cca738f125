"""Read-only tables as static HTML.

An interactive marimo table (``mo.ui.table``) costs the browser about 0.1 s per update
(its component re-mounts and asks the kernel for its page again, a round trip queued behind
whatever the kernel runs next), a static table almost nothing. Tables nobody selects from
(metrics, model comparison, an event's tracks, what sets a selection apart) are drawn with
this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

import jinja2
import polars as pl

from ..vocabulary import HIGHLIGHT_COLOUR

__all__ = ["GRID_STYLE", "STYLE", "static_grid", "static_table", "titled"]

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_TABLE = _ENV.from_string(
    """{% if sticky %}<div class="hepfm-scroll">{% endif %}<table class="hepfm-static\
{% if sticky %} hepfm-sticky{% endif %}">
<thead><tr>{% for c in columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}
<tr><th scope="row">{{ row[0] }}</th>{% for v in row[1:] %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>{% if sticky %}</div>{% endif %}"""
)
STYLE = (
    "<style>table.hepfm-static{border-collapse:collapse;font-size:0.8rem;margin:0}"
    "table.hepfm-static th,table.hepfm-static td{padding:0.2rem 0.4rem;"
    "border-bottom:1px solid #e5e7eb;white-space:nowrap}"
    "table.hepfm-static thead th{text-align:left;font-weight:600;color:#4b5563;"
    "white-space:normal;vertical-align:bottom}"
    "table.hepfm-static tbody th{text-align:left;font-weight:500}"
    # a value with an interval may break before its bracket where the page is narrow
    "table.hepfm-static td{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:normal}"
    # a wide table scrolls sideways inside its own box, its last column pinned at the right
    "div.hepfm-scroll{overflow-x:auto;max-width:100%}"
    "table.hepfm-sticky tr>:last-child{position:sticky;right:0;background:#fff;"
    "box-shadow:-1px 0 0 #e5e7eb}</style>"
)


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def static_table(
    frame: pl.DataFrame,
    *,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    sticky_last: bool = False,
) -> str:
    """``frame`` as an HTML table (escaped): its first column as row headers, numbers
    right-aligned, ``None`` as a dash; ``formats[column]`` writes that column's values
    instead. ``sticky_last``: the table scrolls sideways in its own box with its last column
    always in view (a wide table of one event's tracks and their residuals)."""
    formats = formats or {}
    writers = [formats.get(c, _text) for c in frame.columns]
    rows = [[w(v) for w, v in zip(writers, row, strict=True)] for row in frame.iter_rows()]
    return STYLE + _TABLE.render(columns=frame.columns, rows=rows, sticky=sticky_last)


_GRID = _ENV.from_string(
    """<table class="hepfm-static hepfm-grid">
<thead><tr>{% for c in columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}
<tr><th scope="row">{{ row[0][1]|safe if row[0][0] else row[0][1] }}</th>
{%- for cls, raw, v in row[1:] -%}
<td{% if cls %} class="{{ cls }}"{% endif %}>{{ v|safe if raw else v }}</td>
{%- endfor -%}
</tr>
{% endfor %}
</tbody>
</table>"""
)
GRID_STYLE = (
    "<style>table.hepfm-grid td.hepfm-on{background:%s;font-weight:700}"
    "table.hepfm-grid th,table.hepfm-grid td{padding:0.15rem 0.45rem}</style>"
)


def static_grid(
    frame: pl.DataFrame,
    *,
    inside: Mapping[tuple[int, str], str] | None = None,
    highlight: Callable[[str, Any], bool] | None = None,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    colour: str = HIGHLIGHT_COLOUR,
) -> str:
    """``frame`` as :func:`static_table` does, its first column naming the rows, with cells
    of one's own: ``inside[(row, column)]`` is HTML put in that cell as it is (a marimo
    button, say; not escaped; the first column's too), ``highlight(row name, value)`` says
    which cells stand out (bold, on ``colour``) and ``formats[column]`` writes that column's
    values. Compact, and its headers wrap: a grid of counts fits a page 1,280 px wide."""
    inside = inside or {}
    formats = formats or {}
    writers = [formats.get(c, _text) for c in frame.columns]
    first = frame.columns[0] if frame.columns else ""
    rows = []
    for i, row in enumerate(frame.iter_rows()):
        name = row[0]
        cells = []
        for column, write, value in zip(frame.columns[1:], writers[1:], row[1:], strict=True):
            on = highlight is not None and highlight(str(name), value)
            html = inside.get((i, column))
            raw = html is not None
            cells.append(("hepfm-on" if on else "", raw, html if raw else write(value)))
        head = inside.get((i, first))
        rows.append([(head is not None, head if head is not None else writers[0](name)), *cells])
    return STYLE + GRID_STYLE % colour + _GRID.render(columns=frame.columns, rows=rows)


def titled(inner: str, title: str) -> str:
    """``inner`` (HTML) with ``title`` said by the browser on hover: a tooltip that costs
    the page nothing until shown (a marimo button's own tooltip is a component per button).

    >>> titled("<b>3</b>", 'events of "a" & b')
    '<span title="events of &quot;a&quot; &amp; b"><b>3</b></span>'
    """
    return f'<span title="{escape(title, quote=True)}">{inner}</span>'
