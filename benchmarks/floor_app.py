"""The machine's floor for a dashboard of this design: bench_app.py moves its slider.

One range slider; a cell that recomputes 7 curves of 300 points from it; three Altair charts
of them (as ``mo.ui.altair_chart``) and two static HTML tables. No data, no hepfm: what
marimo and Chromium alone cost per move on this machine, measured in the same run as the
app so that the app's figures can be read against it.
"""

import marimo

__generated_with = "0.25.2"

app = marimo.App(width="full")

with app.setup:
    import altair as alt
    import marimo as mo
    import numpy as np
    import polars as pl


@app.cell
def _():
    clip = mo.ui.range_slider(start=-30, stop=30, step=0.1, value=[-20, 20], label="clip")
    clip
    return (clip,)


@app.cell
def _(clip):
    x = np.linspace(0.0, 1.0, 300)
    power = 1.0 + abs(clip.value[0]) / 20.0
    curves = pl.DataFrame(
        {
            "sample": np.repeat([f"s{i}" for i in range(7)], x.size),
            "x": np.tile(x, 7),
            "y": np.tile(x**power, 7) * np.repeat(np.arange(1.0, 8.0), x.size),
        }
    )
    return (curves,)


@app.cell
def _(curves):
    _enc = {"x": alt.X("x:Q"), "color": alt.Color("sample:N")}
    mo.hstack(
        [
            mo.ui.altair_chart(
                alt.Chart(curves).mark_line().encode(y=alt.Y("y:Q"), **_enc),
                chart_selection=False,
                legend_selection=False,
            ),
            mo.ui.altair_chart(
                alt.Chart(curves)
                .mark_line()
                .encode(y=alt.Y("y:Q", scale=alt.Scale(type="log")), **_enc),
                chart_selection=False,
                legend_selection=False,
            ),
        ]
    )
    return


@app.cell
def _(curves):
    mo.ui.altair_chart(alt.Chart(curves).mark_line().encode(x="x:Q", y="y:Q", color="sample:N"))
    return


@app.cell
def _(curves):
    _rows = curves.group_by("sample", maintain_order=True).agg(pl.col("y").max().round(3))
    mo.Html(_rows._repr_html_() + _rows.transpose(include_header=True)._repr_html_())
    return


if __name__ == "__main__":
    app.run()
