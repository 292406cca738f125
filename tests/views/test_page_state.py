"""The dashboard's link: settings and the events looked at, read from query parameters
(checked, bad values named and replaced by defaults) and written back; what a click on a
count or a brush on the loss distributions asks for."""

from __future__ import annotations

import pytest

from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.engine.investigate.events import Criterion
from hepfm_core.views import page_state as ps
from hepfm_core.views.investigation import BRUSH

SAMPLES = ["background", "wprime_qq", "zprime_tt"]
SIGNALS = SAMPLES[1:]


def read(**params: str) -> ps.PageState:
    return ps.read_page_state(params, SAMPLES, SIGNALS)


def test_no_parameters_give_the_defaults():
    state = read()
    assert state == ps.PageState()
    assert state.clip == (-20.0, 20.0) and state.preset == "±20 (upstream's fix)"
    assert state.request is None and state.page == 1 and state.problems == ()


def test_a_full_link_is_read():
    state = read(
        score="total", clip="-35.5:12", beta="0.25", policy="drop", signals="zprime_tt",
        sample="zprime_tt", range="1000:inf", page="3",
    )  # fmt: skip
    got = (state.score, state.clip, state.beta, state.policy)
    assert got == ("total", (-35.5, 12.0), 0.25, "drop")
    assert state.signals == ("zprime_tt",) and state.preset == ps.CUSTOM_PRESET
    assert state.request == ps.EventRequest("zprime_tt", Criterion.score_range(1000, float("inf")))
    assert state.page == 3 and state.problems == ()
    assert read(clip="none").clip is None and read(clip="none").preset.startswith("none")
    top = read(sample="background", top="7").request
    assert top == ps.EventRequest("background", Criterion.top(7))
    cause = read(sample="wprime_qq", cause="kl_overflow").request
    assert cause == ps.EventRequest("wprime_qq", Criterion.by_cause("kl_overflow"))
    imputed = read(sample="background", cause="imputed").request
    assert imputed == ps.EventRequest("background", Criterion.by_cause("imputed"))
    assert imputed.criterion.kind == "imputed"
    assert ps.request_query(imputed) == {"sample": "background", "cause": "imputed"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"score": "loss"}, "score='loss' ignored: expected one of reconstruction, kl, total"),
        ({"clip": "5:-5"}, "clip='5:-5' ignored: expected none or LO:HI with -150 <= LO < HI"),
        ({"clip": "-200:20"}, "clip='-200:20' ignored"),
        ({"clip": "nan:3"}, "clip='nan:3' ignored"),
        ({"beta": "-1"}, "beta='-1' ignored: expected a number from 0 to 100"),
        ({"policy": "keep"}, "policy='keep' ignored: expected one of drop, worst"),
        ({"signals": "nope"}, "signals='nope' ignored: expected names among wprime_qq, zprime_tt"),
        ({"sample": "nope", "top": "5"}, "sample='nope' ignored: expected one of background"),
        ({"sample": "background"}, "sample='background' ignored: give exactly one of cause="),
        (
            {"sample": "background", "top": "5", "cause": "kl_overflow"},
            "sample='background' ignored",
        ),
        ({"sample": "background", "cause": "nan"}, "cause='nan' ignored: expected one of ok,"),
        ({"sample": "background", "top": "0"}, "top='0' ignored: expected a whole number >= 1"),
        ({"sample": "background", "range": "9:1"}, "range='9:1' ignored: expected LO:HI"),
        ({"page": "x"}, "page='x' ignored: expected a whole number >= 1"),
    ],
)
def test_bad_values_are_named_and_replaced_by_defaults(params, named):
    state = read(**params)
    assert len(state.problems) == 1 and state.problems[0].startswith(named), state.problems
    defaults = ps.PageState()
    got = (state.score, state.clip, state.beta, state.policy)
    assert got == (defaults.score, defaults.clip, defaults.beta, defaults.policy)
    assert state.request is None and state.signals is None and state.page == 1


def test_known_signals_are_kept_unknown_ones_named():
    state = read(signals="zprime_tt,bogus")
    assert state.signals == ("zprime_tt",)
    assert state.problems == (
        "signals='zprime_tt,bogus' ignored: expected names among wprime_qq, zprime_tt",
    )


def test_written_then_read_back():
    settings = EvaluationSettings(
        clip=(-88.7, 88.7), score="kl", beta=2.5, policy="drop", signals=("wprime_qq",)
    )
    request = ps.EventRequest("background", Criterion.score_range(1e30, float("inf")))
    params: dict[str, str] = {"file": "apps/anomaly.py", "page": "4"}  # marimo's own key stays
    ps.write_page_state(params, settings, request)
    assert params == {
        "file": "apps/anomaly.py", "page": "4", "score": "kl", "clip": "-88.7:88.7",
        "beta": "2.5", "policy": "drop", "signals": "wprime_qq", "sample": "background",
        "range": "1e+30:inf",
    }  # fmt: skip
    state = read(**params)
    assert state.problems == () and state.request == request and state.page == 4
    got = (state.score, state.clip, state.beta, state.policy, state.signals)
    assert got == ("kl", (-88.7, 88.7), 2.5, "drop", ("wprime_qq",))
    # another request replaces the old one's key; none removes the keys and the page
    ps.write_page_state(params, settings, ps.EventRequest("zprime_tt", Criterion.top(5)))
    assert params["top"] == "5" and "range" not in params and params["sample"] == "zprime_tt"
    ps.write_page(params, 3)
    ps.write_page_state(params, settings, "a refused click: a sentence, no selection")
    assert not {"sample", "top", "range", "cause", "page"} & set(params)
    ps.write_page_state(params, settings, None)
    assert not {"sample", "top", "range", "cause", "page"} & set(params)
    ps.write_page(params, 2)
    assert params["page"] == "2"
    ps.write_page(params, 1)
    assert "page" not in params


class Recorder(dict):
    """A query-parameter store that records every write (each is a message to the page)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.writes: list[str] = []

    def __setitem__(self, key, value):
        self.writes.append(key)
        super().__setitem__(key, value)


def test_only_changed_keys_are_written():
    settings = EvaluationSettings(clip=None, score="kl", signals=("wprime_qq",))
    params = Recorder(ps.settings_query(settings))
    ps.write_page_state(params, settings, None)
    assert params.writes == []
    other = EvaluationSettings(clip=None, score="total", signals=("wprime_qq",))
    ps.write_page_state(params, other, None)
    assert params.writes == ["score"]


def test_a_brush_asks_for_its_score_range_in_the_sample_looked_at():
    brushed = {BRUSH: {"edge": [3.0e12, 2.5e4]}}
    asked = ps.brush_request(None, brushed, BRUSH, "background")
    assert asked == ps.EventRequest("background", Criterion.score_range(2.5e4, 3.0e12))
    before = ps.EventRequest("zprime_tt", Criterion.top(3))
    assert ps.brush_request(before, brushed, BRUSH, "background").sample == "zprime_tt"
    assert ps.brush_request(before, {}, BRUSH, "background") is None  # cleared
    assert ps.brush_request(before, {BRUSH: {"edge": ["a", 1]}}, BRUSH, "background") is None


def test_top_request_sample_and_pages():
    assert ps.top_request("zprime_tt", 12) == ps.EventRequest("zprime_tt", Criterion.top(12))
    assert ps.top_request("zprime_tt", 0).startswith("The number of most anomalous events")
    assert ps.top_request("zprime_tt", None).startswith("The number of most anomalous events")
    request = ps.EventRequest("zprime_tt", Criterion.top(12))
    moved = ps.with_sample(request, "background")
    assert moved == ps.EventRequest("background", Criterion.top(12))
    assert ps.with_sample("a sentence", "background") is None
    assert (
        ps.sample_of(request, SAMPLES) == "zprime_tt" and ps.sample_of(None, SAMPLES) == SAMPLES[0]
    )
    linked = ps.PageState(request=request, page=3)
    assert ps.initial_page(linked, request) == 3
    assert ps.initial_page(linked, ps.EventRequest("zprime_tt", Criterion.top(13))) == 1
    # the clip controls start where the link says; a preset moves the slider, the slider
    # makes the preset custom, no clip keeps the bounds for later
    start = ps.initial_clip(ps.PageState(clip=(-3.0, 4.0)))
    assert start.bounds == (-3.0, 4.0) and not start.off and start.preset == ps.CUSTOM_PRESET
    assert start.with_preset("±50 (proposed)").clip == (-50.0, 50.0)
    assert start.with_preset(ps.CUSTOM_PRESET) == start
    off = ps.initial_clip(ps.PageState(clip=None))
    assert off.off and off.clip is None and off.bounds == ps.DEFAULT_CLIP
    assert off.with_bounds([-1, 1]).clip == (-1.0, 1.0)  # moving the slider clips again
    assert ps.ClipControl((-20.0, 20.0)).with_bounds([-19.9, 20.0]).preset == ps.CUSTOM_PRESET
