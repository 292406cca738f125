from __future__ import annotations

import altair as alt
import polars as pl

from hepfm_core.views.channels import tooltips


def test_tooltips_give_the_spec_of_shorthand_strings():
    frame = pl.DataFrame({"sample": ["a"], "fpr": [0.1]})
    by_string = alt.Chart(frame).mark_point().encode(tooltip=["sample:N", "fpr:Q"])
    by_channel = alt.Chart(frame).mark_point().encode(tooltip=tooltips("sample:N", "fpr:Q"))
    assert by_channel.to_dict()["encoding"] == by_string.to_dict()["encoding"]
    assert by_channel.to_dict()["encoding"]["tooltip"] == [
        {"field": "sample", "type": "nominal"},
        {"field": "fpr", "type": "quantitative"},
    ]


def test_tooltips_keep_channels_as_they_are():
    x = alt.X("dim:O", title="latent dimension")
    assert tooltips(x, "z:Q")[0] is x
    assert isinstance(tooltips(x, "z:Q")[1], alt.Tooltip)
