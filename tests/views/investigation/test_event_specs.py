"""One event's charts kept per shape (views.investigation.event_specs): the very specs the
Altair builders write, with each event's rows, titles and domains filled in."""

from __future__ import annotations

import copy
import re

import altair as alt
import numpy as np
import pytest
import vl_convert as vlc

from hepfm_core.engine.investigate.detail import event_details
from hepfm_core.engine.investigate.events import TrackLayout
from hepfm_core.views import investigation as iv

from .test_tables import LAYOUT, _event_with, _tracks, degenerate_event


def _resolved(spec: dict) -> dict:
    """``spec`` with each named dataset written in place of its name (the names are hashes
    of the rows, which a kept spec keeps from its stand-in), JSON's way (NaN as null)."""
    datasets = spec.get("datasets", {})

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"name"} and node["name"] in datasets:
                return {"values": datasets[node["name"]]}
            return {k: walk(v) for k, v in node.items() if k != "datasets"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, float) and not np.isfinite(node):
            return None
        return node

    return walk(spec)


def _altair_specs(detail, layout) -> list[dict]:
    charts = [
        iv.eta_phi_chart(detail, layout),
        None if layout is None else iv.residual_heatmap(detail, layout),
        iv.latent_event_chart(detail),
    ]
    with alt.data_transformers.enable("default", max_rows=None):
        return [c.to_dict() for c in charts if c is not None]  # validated


def _drawn(spec: dict) -> str:
    return re.sub(r"(clip|gradient_)\d+", r"\1", vlc.vegalite_to_svg(spec))


def _event(raw: np.ndarray, clip, z_log_var=(0.0, 30.0), event=7):
    x = np.nan_to_num(raw, posinf=0.0, neginf=0.0).astype(np.float32)
    (d,) = event_details(
        sample="wprime_qq",
        events=np.array([event]),
        values=raw,
        values_kind="raw",
        inputs=x,
        x_hat=x * 0.8 + 0.1,
        z_mean=np.array([[0.5, -1.0]]),
        z_log_var=np.array([z_log_var]),
        scores=np.array([3.0]),
        causes=np.array([0]),
        recon=np.array([1.0]),
        layout=LAYOUT,
        clip=clip,
    )
    return d


EVENTS = {
    # notes under the η-φ title (a degenerate pt, a track with no place), a finite clip
    "degenerate": lambda: degenerate_event(),
    "unplaced track, no clip": lambda: _event_with(
        _tracks([[0.1, 0.5, 1.0, 0.3, 12.0, 1.0], [0.2, np.nan, 2.0, 0.5, 5.0, 1.0]])
    ),
    # nothing to note, one finite clip bound
    "clean, one bound": lambda: _event(
        _tracks([[0.1, 0.5, 1.0, 3.2, 12.0, 1.0], [0.3, -2.0, 0.1, -0.4, 3.0, 2.0]]),
        (-np.inf, 20.0),
    ),
    "clean, another event": lambda: _event(
        _tracks([[0.4, 2.5, 1.0, -1.2, 40.0, 1.0]]), (-20.0, 20.0), (-3.0, 1.0), event=99
    ),
}


@pytest.mark.parametrize("name", list(EVENTS))
def test_each_spec_is_what_altair_writes_for_the_event(name):
    detail = EVENTS[name]()
    specs = [s.spec for s in iv.event_view_specs(detail, LAYOUT)]
    expected = _altair_specs(detail, LAYOUT)
    assert len(specs) == len(expected) == 3
    for got, want in zip(specs, expected, strict=True):
        assert _resolved(got) == _resolved(want)
        assert _drawn(got) == _drawn(want)


def test_without_a_layout_or_eta_phi_only_the_latent_values():
    detail = degenerate_event()
    (only,) = iv.event_view_specs(detail, None)
    (want,) = _altair_specs(detail, None)
    assert _resolved(only.spec) == _resolved(want)
    flat = TrackLayout(4, ("a", "b", "c", "d", "e", "f"), ("",) * 6)
    heat, latent = iv.event_view_specs(detail, flat)
    assert heat.spec["mark"]["type"] == "rect" and "hconcat" in latent.spec


def test_a_shape_is_kept_and_never_changed_by_an_event():
    first, second = EVENTS["clean, one bound"](), EVENTS["clean, another event"]()
    a = iv.event_view_specs(first, LAYOUT)
    before = copy.deepcopy([spec.spec for spec in a])
    b = iv.event_view_specs(second, LAYOUT)
    # filling copies only the containers along its paths: the first event's specs, which
    # share the rest with the kept shape and with the second's, are as they were
    assert [spec.spec for spec in a] == before
    # the same shape: everything but the filled places shared, not rebuilt
    assert a[1].spec["encoding"] is b[1].spec["encoding"]
    assert a[0].spec["layer"][1]["mark"] is b[0].spec["layer"][1]["mark"]
    assert a[1].spec["title"] != b[1].spec["title"]
    assert "99" in b[1].spec["title"] and "99" in b[0].spec["title"]["text"]
    # the η-φ domains follow each event's tracks
    x = [s.spec["layer"][0]["encoding"]["x"]["scale"]["domain"] for s in (a[0], b[0])]
    assert x == [[-2.5, 3.2], [-2.5, 2.5]]


def test_a_builder_that_drops_a_slot_is_refused():
    from hepfm_core.views.chart_specs import SpecTemplate

    def forgetful(rows, title):
        return alt.Chart(rows).mark_point().encode(x="a:Q")

    with pytest.raises(ValueError, match="title"):
        SpecTemplate.build(forgetful, ["title"], {"rows": ("a",)})
