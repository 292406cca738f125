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


def test_static_table_writes_a_column_by_its_format_and_can_pin_its_last_column():
    """An event's tracks: indices without separators, numbers by the investigation's own
    writer, NaN spelled; wide, so it scrolls in its own box with the residual in view."""
    from hepfm_core.views.investigation import number_text

    frame = pl.DataFrame(
        {"track": [1953910, 2], "pt [GeV]": [2786060.0, float("nan")], "residual": [0.5, None]}
    )
    formats = {"track": str, "pt [GeV]": number_text, "residual": number_text}
    page = static_table(frame, formats=formats, sticky_last=True)
    cells = _Cells()
    cells.feed(page)
    assert cells.rows == [
        ["track", "pt [GeV]", "residual"],
        ["1953910", "2.78606e+06", "0.5"],
        ["2", "NaN", "n/a"],
    ]
    assert '<div class="hepfm-scroll"><table class="hepfm-static hepfm-sticky">' in page
    assert "hepfm-sticky" not in static_table(frame).split("</style>", 1)[1]


def test_static_table_of_no_rows_keeps_its_header():
    cells = _Cells()
    cells.feed(static_table(pl.DataFrame(schema={"signal": pl.String, "AUC": pl.String})))
    assert cells.rows == [["signal", "AUC"]]


def test_static_grid_puts_given_html_in_its_cells_and_escapes_the_rest():
    from hepfm_core.views.static_tables import static_grid

    frame = pl.DataFrame(
        {"count": ["total", "kl_overflow"], "background": [2727612, 3], "<i>s</i>": [9506, 0]}
    )
    page = static_grid(
        frame,
        inside={(1, "background"): '<button id="b">3</button>'},
        highlight=lambda name, value: name != "total" and value > 0,
    )
    assert '<button id="b">3</button>' in page  # as given
    assert "<i>s</i>" not in page  # a header escaped
    cells = _Cells()
    cells.feed(page.split("</style>")[-1])
    assert cells.rows == [
        ["count", "background", "<i>s</i>"],
        ["total", "2,727,612", "9,506"],
        ["kl_overflow", "3", "0"],
    ]
    # the cell that stands out, only that one
    assert page.count('class="hepfm-on"') == 1
    assert '<td class="hepfm-on"><button id="b">3</button></td>' in page


def test_static_grid_writes_columns_by_their_formats_and_takes_html_in_row_headers():
    from hepfm_core.views.static_tables import static_grid

    frame = pl.DataFrame({"event": [1275754, 7], "score": [0.123456, None]})
    page = static_grid(
        frame,
        inside={(0, "event"): '<button id="e">1275754</button>'},
        formats={"event": str, "score": lambda v: "—" if v is None else f"{v:.2f}"},
    )
    assert '<th scope="row"><button id="e">1275754</button></th>' in page  # as given
    cells = _Cells()
    cells.feed(page.split("</style>")[-1])
    assert cells.rows == [["event", "score"], ["1275754", "0.12"], ["7", "—"]]
    assert "1,275,754" not in page and '<th scope="row">7</th>' in page  # the event's format
