"""How the investigation view writes numbers (views.investigation.values): six significant
digits, NaN and the infinities spelled in tables and left out of charts, the numeric columns
of a table formatted, units and two-line titles."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from hepfm_core.views.charts import DIGITS
from hepfm_core.views.investigation.values import (
    _keep,
    _lines,
    _r,
    _with_unit,
    number_text,
    table_formats,
)


def test_number_text():
    assert DIGITS == 6  # the expectations below are written for six digits
    assert number_text(2786060.0) == "2.78606e+06"
    assert number_text(0.000123456789) == "0.000123457"
    assert number_text(1234567.0) == "1.23457e+06"
    assert number_text(12.5) == "12.5"
    assert number_text(np.float64(1 / 3)) == "0.333333"
    assert number_text(math.nan) == "NaN"
    assert number_text(math.inf) == "inf" and number_text(-math.inf) == "-inf"
    assert number_text(None) == "n/a"
    assert number_text(1234567) == "1234567"  # an index keeps every digit, no separator
    assert number_text("zprime_ee") == "zprime_ee"


def test_rounded_for_charts_and_for_tables():
    assert _r(123456789.0) == 123457000.0 and _keep(123456789.0) == 123457000.0
    assert _r(-0.00098765432) == -0.000987654
    assert _r(math.nan) is None and _r(math.inf) is None and _r(None) is None
    assert math.isnan(_keep(math.nan)) and _keep(-math.inf) == -math.inf and _keep(None) is None


def test_table_formats_cover_the_numeric_columns():
    frame = pl.DataFrame(
        {
            "sample": ["a"],
            "event": [3],
            "score": [1.5],
            "ok": [True],
            "n": pl.Series([2], dtype=pl.UInt32),
        }
    )
    formats = table_formats(frame)
    assert sorted(formats) == ["event", "n", "score"]
    assert all(f is number_text for f in formats.values())
    assert table_formats(pl.DataFrame({"s": ["x"]})) == {}


def test_units_and_two_line_titles():
    assert _with_unit("pt", "GeV") == "pt [GeV]" and _with_unit("eta", "") == "eta"
    assert _lines("squared residual (x − x̂)² [units]") == ["squared residual", "(x − x̂)² [units]"]
    assert _lines("latent dimension") == ["latent dimension"]
