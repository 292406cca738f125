from __future__ import annotations

from html.parser import HTMLParser

import polars as pl

from hepfm_core.views.static_tables import static_table


class _Cells(HTMLParser):
    """Each row's cell texts, header row first."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None


def test_static_table_shows_every_cell_escaped():
    frame = pl.DataFrame(
        {
            "signal": ["wprime_qq", "<b>z</b>"],
            "AUC": ["0.912 ± 0.003", "n/a: no events"],
            "kept": [1234567, None],
        }
    )
    page = static_table(frame)
    assert "<b>z</b>" not in page  # escaped, not markup
    cells = _Cells()
    cells.feed(page)
    assert cells.rows == [
        ["signal", "AUC", "kept"],
        ["wprime_qq", "0.912 ± 0.003", "1,234,567"],
        ["<b>z</b>", "n/a: no events", "—"],
    ]


def test_static_table_of_no_rows_keeps_its_header():
    cells = _Cells()
    cells.feed(static_table(pl.DataFrame(schema={"signal": pl.String, "AUC": pl.String})))
    assert cells.rows == [["signal", "AUC"]]
