"""Tests of hepfm_core.views.dashboard.looking:
what the investigation selects for a click, a brush or a request."""

from __future__ import annotations

from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.engine.investigate.events import Criterion
from hepfm_core.views import dashboard as db
from hepfm_core.views import page_state as ps
from hepfm_core.views.investigation import BRUSH

KL_NO_CLIP = EvaluationSettings(clip=None, score="kl")


def test_look_at_a_cause_gives_the_engines_selection(evaluator):
    """What the app shows for a click on a count: the engine's selection of that sample and
    cause under the same settings, and its summary."""
    inv = db.shared_investigator(evaluator)
    result = evaluator.evaluate(KL_NO_CLIP)
    asked = ps.EventRequest("background", Criterion.by_cause("kl_overflow"))
    looked = db.look(inv, result, asked)
    expected = inv.select(result.samples["background"], Criterion.by_cause("kl_overflow"))
    assert looked.request == asked and looked.message == ""
    assert looked.selection.events.tolist() == expected.events.tolist()
    assert expected.size == result.samples["background"].counts.by_cause["kl_overflow"] > 0
    assert "track with pt" in looked.summary.text  # the demo's degenerate tracks
    assert db.page_count(looked.selection) == 1
    details = inv.details(looked.selection, page=0, limit=db.PAGE_EVENTS)
    assert db.chosen_event(details, details[-1].event) is details[-1]
    # nothing picked, or an event this page does not list: the page's first
    assert db.chosen_event(details, None) is details[0]
    assert db.chosen_event(details, -1) is details[0] and db.chosen_event((), None) is None
    picked = []
    db.on_event_button(picked.append, details[-1].event)(1)  # its button clicked
    assert picked == [details[-1].event]


def test_look_at_a_signal_not_ticked(evaluator):
    inv = db.shared_investigator(evaluator)
    result = evaluator.evaluate(EvaluationSettings(clip=None, score="kl", signals=("wprime_qq",)))
    looked = db.look(inv, result, ps.EventRequest("zprime_tt", Criterion.top(5)))
    alone = inv.evaluate_sample(result.settings, "zprime_tt").samples["zprime_tt"]
    assert looked.selection.events.tolist() == inv.select(alone, Criterion.top(5)).events.tolist()


def test_bad_input_is_a_message_not_an_exception(evaluator):
    inv = db.shared_investigator(evaluator)
    result = evaluator.evaluate(EvaluationSettings(clip=(-20.0, 20.0), score="kl"))
    none = db.look(inv, result, ps.EventRequest("background", Criterion.by_cause("kl_overflow")))
    assert none.selection is None and none.kind == "warn"
    assert none.message.startswith("No background event has cause kl_overflow under these")
    empty = db.look(inv, result, ps.EventRequest("background", Criterion.score_range(-2, -1)))
    assert empty.message.startswith("No kept background event has a score in [-2, -1]")
    unknown = db.look(inv, result, ps.EventRequest("nope", Criterion.top(3)))
    assert unknown.kind == "danger" and "unknown sample 'nope'" in unknown.message
    assert db.look(inv, result, None).message == db.LOOK_HINT
    assert db.look(inv, result, "a refused click").message == "a refused click"
    assert db.look(None, result, None).kind == "warn"  # scores on a cluster


def test_clicks_and_brushes_set_the_request():
    got: list[object] = []

    def setter(value):
        got.append(value(got[-1] if got else None) if callable(value) else value)

    click = db.on_count_button(setter, "zprime_tt", "radius_overflow")
    click(1)
    assert got == [ps.EventRequest("zprime_tt", Criterion.by_cause("radius_overflow"))]
    brush = db.on_brush(setter, lambda: {BRUSH: {"edge": [10.0, 20.0]}})
    brush(None)
    assert got[-1] == ps.EventRequest("zprime_tt", Criterion.score_range(10.0, 20.0))
    cleared = db.on_brush(setter, lambda: {})
    cleared(None)
    assert got[-1] == got[-2]  # a cleared brush keeps what was looked at
