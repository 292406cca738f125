"""Read-only tables as static HTML.

An interactive marimo table (``mo.ui.table``) costs the browser about 0.1 s per update
(its component re-mounts and asks the kernel for its page again), a static table almost
nothing. Tables nobody selects from (metrics, model comparison) are drawn with this.
"""

from __future__ import annotations

from typing import Any

import jinja2
import polars as pl

__all__ = ["STYLE", "static_table"]

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_TABLE = _ENV.from_string(
    """<table class="hepfm-static">
<thead><tr>{% for c in columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}
<tr><th scope="row">{{ row[0] }}</th>{% for v in row[1:] %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>"""
)
STYLE = (
    "<style>table.hepfm-static{border-collapse:collapse;font-size:0.85rem;margin:0}"
    "table.hepfm-static th,table.hepfm-static td{padding:0.2rem 0.6rem;"
    "border-bottom:1px solid #e5e7eb;white-space:nowrap}"
    "table.hepfm-static thead th{text-align:left;font-weight:600;color:#4b5563}"
    "table.hepfm-static tbody th{text-align:left;font-weight:500}"
    "table.hepfm-static td{text-align:right;font-variant-numeric:tabular-nums}</style>"
)


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def static_table(frame: pl.DataFrame) -> str:
    """``frame`` as an HTML table (escaped): its first column as row headers, numbers
    right-aligned, ``None`` as a dash."""
    rows = [[_text(v) for v in row] for row in frame.iter_rows()]
    return STYLE + _TABLE.render(columns=frame.columns, rows=rows)
