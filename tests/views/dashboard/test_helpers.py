"""Tests of hepfm_core.views.dashboard.helpers: the app cells' small helpers."""

from __future__ import annotations

import polars as pl
import pytest

from hepfm_core.views import dashboard as db


def test_attempt_returns_the_value_or_the_user_error():
    from hepfm_core.errors import SettingsError
    from hepfm_core.views.dashboard import attempt

    assert attempt(lambda: 41 + 1) == (42, None)

    def bad():
        raise SettingsError("clip bounds are inverted", "clip", "swap them")

    value, error = attempt(bad)
    assert value is None and isinstance(error, SettingsError)
    assert "clip bounds are inverted" in str(error) and "swap them" in str(error)
    with pytest.raises(ZeroDivisionError):  # a bug is not a user error: it is not swallowed
        attempt(lambda: 1 / 0)

    def full_disk():
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):  # only where the caller says an OSError is the user's
        attempt(full_disk)
    value, error = attempt(full_disk, also=(OSError,))
    assert value is None and isinstance(error, OSError) and error.errno == 28


@pytest.fixture
def marimo_transformers():
    """marimo's Altair data transformers registered (a chart built), the active one restored."""
    import altair as alt
    import marimo as mo

    mo.ui.altair_chart(alt.Chart(pl.DataFrame({"x": [0.0]})).mark_point().encode(x="x:Q"))
    before = alt.data_transformers.active
    yield alt
    alt.data_transformers.enable(before)


def test_charts_carry_their_rows_inline(marimo_transformers):
    import base64

    import marimo as mo

    alt = marimo_transformers
    chart = alt.Chart(pl.DataFrame({"fpr": [1e-6, 0.5], "tpr": [0.25, 1.0]})).mark_line()
    chart = chart.encode(x="fpr:Q", y="tpr:Q")
    assert db.inline_chart_data()
    data = mo.ui.altair_chart(chart, chart_selection=False, legend_selection=False)._spec["data"]
    # a data URL in the spec, no virtual file for the page to fetch
    head, payload = data["url"].split(",", 1)
    assert head == "data:text/csv;base64"
    rows = base64.b64decode(payload).decode().splitlines()
    assert rows[0] == "fpr,tpr"
    assert [tuple(float(v) for v in r.split(",")) for r in rows[1:]] == [(1e-6, 0.25), (0.5, 1.0)]
