"""The dashboard's view-model: path confinement, the data shown with a model, the report
button, the investigation (what a click, a brush or a request shows)."""

from __future__ import annotations

import sys

import polars as pl
import pytest

from hepfm_core.common.paths import DATA_ROOT_ENV
from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.engine.investigate.events import Criterion
from hepfm_core.errors import PathNotAllowedError
from hepfm_core.views import dashboard as db
from hepfm_core.views import page_state as ps
from hepfm_core.views.investigation import BRUSH


def test_confine(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert db.data_root() == tmp_path.resolve()
    assert db.confine("demo") == (tmp_path / "demo").resolve()
    assert db.confine(tmp_path / "demo") == (tmp_path / "demo").resolve()
    for bad in ("/etc", "../", "demo/../../etc"):
        with pytest.raises(PathNotAllowedError, match="outside the dashboard's data root"):
            db.confine(bad)


def test_data_for_model(upstream_fixture, small_demo, tmp_path):
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    own = upstream_fixture / "_processed_datasets"
    found = db.data_for_model(exp, tmp_path, upstream_fixture)
    assert found.parent == own.resolve()  # the experiment's own dataset, under the root
    assert db.data_for_model(exp, tmp_path, tmp_path) == tmp_path  # outside the root: fallback
    assert db.data_for_model(small_demo[1], tmp_path, upstream_fixture) == tmp_path  # hepfm
    assert db.data_for_model(tmp_path / "none.keras", tmp_path) == tmp_path  # not found


def test_models_found_and_offered(small_demo, second_model, upstream_fixture, tmp_path):
    import shutil

    root = tmp_path / "root"
    (root / "demo").mkdir(parents=True)
    shutil.copy(small_demo[1], root / "demo" / "model.keras")
    (root / "runs" / "x").mkdir(parents=True)
    shutil.copy(second_model, root / "runs" / "x" / "latent4.keras")
    (root / "runs" / "broken.keras").write_text("not a model")
    (root / ".hidden").mkdir()
    shutil.copy(second_model, root / ".hidden" / "h.keras")
    deep = root / "1" / "2" / "3" / "4" / "5"
    deep.mkdir(parents=True)
    shutil.copy(second_model, deep / "deep.keras")
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    shutil.copytree(exp, root / "exp")
    found = db.find_models(root)
    assert found == sorted(
        [
            (root / "demo" / "model.keras").resolve(),
            (root / "exp").resolve(),
            (root / "runs" / "broken.keras").resolve(),
            (root / "runs" / "x" / "latent4.keras").resolve(),
        ]
    )
    # the shown model and the command line's first and selected; the broken file left out
    choices, selected = db.model_choices(
        root / "demo" / "model.keras", ["runs/x/latent4.keras"], root
    )
    labels = list(choices)
    assert len(labels) == 3 and labels[0].startswith("model@") and labels[2].startswith("exp@")
    assert labels[1].startswith("latent4@") and selected == labels[:2]
    with pytest.raises(PathNotAllowedError):
        db.model_choices(root / "demo" / "model.keras", ["/etc/passwd"], root)
    assert db.model_args(None) == [] and db.model_args("a") == ["a"]
    assert db.model_args(["a", "b"]) == ["a", "b"]


# -- the investigation ----------------------------------------------------------------------
KL_NO_CLIP = EvaluationSettings(clip=None, score="kl")


def test_one_investigator_per_evaluator(evaluator):
    inv = db.shared_investigator(evaluator)
    assert inv is not None and inv.evaluator is evaluator
    assert db.shared_investigator(evaluator) is inv


def test_investigators_of_one_model_share_its_load(small_demo, tmp_path, monkeypatch):
    # a fill change makes a new evaluator of the same model: its model is not loaded again
    from hepfm_core.engine.evaluate import Evaluator

    loads = []
    real = db.load_model
    monkeypatch.setattr(db, "load_model", lambda path: loads.append(path) or real(path))
    monkeypatch.setattr(db, "_models", {})  # whatever other tests loaded in this process
    cache = tmp_path / "cache"
    median = Evaluator.open(*small_demo, cache=cache, fill="median")
    none = Evaluator.open(*small_demo, cache=cache, fill="none")
    forwards = [db.shared_investigator(ev).warm() for ev in (median, none)]
    assert forwards[0] is forwards[1]
    assert loads == [median.model_path]
    assert db.shared_model(none) is db.shared_model(median)


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
    picked = pl.DataFrame({"event": [details[-1].event]})
    assert db.chosen_event(details, picked) is details[-1]
    assert db.chosen_event(details, []) is details[0] and db.chosen_event((), []) is None


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


def test_warm_once_in_the_background(evaluator):
    from hepfm_core.engine.investigate.investigator import Investigator

    inv = Investigator(evaluator)
    assert db.warm_status(inv).startswith("Loading the model in the background")
    done = []
    thread = db.warm_in_background(inv, on_done=lambda: done.append(True))
    assert thread is not None and db.warm_in_background(inv) is None
    thread.join(timeout=120)
    assert done == [True]
    assert db.warm_status(inv).startswith("Model loaded in the background (")
    # what a first click needs is there: every sample's reference events, the model
    assert set(inv._references) == set(evaluator.data.samples)
    assert inv._forward is not None


def test_warm_after_the_page_waits_for_its_last_cell(evaluator):
    # the model's load must not compete with the first view: it starts when the page's
    # last cell says the page is drawn
    from hepfm_core.engine.investigate.investigator import Investigator

    inv = Investigator(evaluator)
    done = []
    thread = db.warm_in_background(
        inv, on_done=lambda: done.append(True), prime_in_thread=True, after_page=True
    )
    assert thread is not None
    thread.join(timeout=0.5)
    assert thread.is_alive() and done == []
    assert db.warm_status(inv).startswith("Loading the model in the background")
    db.page_drawn(inv)
    thread.join(timeout=120)
    assert done == [True]
    # a page drawn before the warm-up started does not hold it
    later = Investigator(evaluator)
    db.page_drawn(later)
    started = db.warm_in_background(later, prime_in_thread=True, after_page=True)
    assert started is not None
    started.join(timeout=120)
    assert not started.is_alive()


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


def test_a_server_freezes_what_the_warm_up_built(evaluator):
    import gc

    from hepfm_core.engine.investigate.investigator import Investigator

    inv = Investigator(evaluator)
    assert gc.get_freeze_count() == 0
    try:
        thread = db.warm_in_background(inv, prime_in_thread=True, freeze_after=True)
        assert thread is not None
        thread.join(timeout=120)
        # the model and the passes now sit outside the collector's generations
        assert gc.get_freeze_count() > 0
        assert all(o is not inv for o in gc.get_objects())
    finally:
        gc.unfreeze()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's niceness: Linux")
def test_the_warm_up_yields_the_cores_to_the_page():
    import os
    import threading

    seen = {}

    def run():
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        seen["lowered"] = db.yield_to_the_page()
        seen["delta"] = os.getpriority(os.PRIO_PROCESS, tid) - before

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert seen == {"lowered": True, "delta": db.WARM_NICENESS}
    # only that thread: this one keeps its priority
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == os.getpriority(
        os.PRIO_PROCESS, 0
    )


def test_only_the_first_investigator_on_its_files_tallies_in_its_warm_up(
    small_demo, tmp_path, monkeypatch
):
    """The other fill is a variant of the same files: its warm-up leaves the latent tally
    to the latent view (seconds of NumPy while the page answers the switch)."""
    from hepfm_core.engine.evaluate import Evaluator
    from hepfm_core.engine.investigate.investigator import Investigator

    monkeypatch.setattr(db, "_tallied_files", set())
    median = Investigator(Evaluator.open(*small_demo, cache=tmp_path))
    none = Investigator(Evaluator.open(*small_demo, cache=tmp_path, fill="none"))
    tallied = []
    for inv in (median, none):
        monkeypatch.setattr(inv, "latent_tally", lambda *a, inv=inv: tallied.append(inv))
        thread = db.warm_in_background(inv)
        assert thread is not None
        thread.join(timeout=300)
    assert tallied == [median]
    assert db.warm_status(none).startswith("Model loaded in the background")
