"""Tests of hepfm_core.views.dashboard.warm_up: the investigation's background warm-up."""

from __future__ import annotations

import sys
import time

import pytest

from hepfm_core.views import dashboard as db


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


def test_warm_after_the_page_waits_for_its_last_cell(evaluator, monkeypatch):
    # the model's load must not compete with the first view: it starts when the page's
    # last cell says the page is drawn, and the browser has had PAGE_DRAW_S to draw it
    from hepfm_core.engine.investigate.investigator import Investigator
    from hepfm_core.sources import load_model
    from hepfm_core.views.dashboard import warm_up

    monkeypatch.setattr(warm_up, "PAGE_DRAW_S", 0.5)
    monkeypatch.setattr(warm_up, "_first_view_waited", False)  # this process's first page
    warm_up.prime_native_logs()  # TensorFlow imported: the thread's own priming is instant
    loads: list[float] = []

    def load():
        loads.append(time.monotonic())
        return load_model(evaluator.model_path)

    inv = Investigator(evaluator, model_loader=load)
    done = []
    thread = db.warm_in_background(
        inv, on_done=lambda: done.append(True), prime_in_thread=True, after_page=True
    )
    assert thread is not None
    thread.join(timeout=0.5)
    assert thread.is_alive() and done == []
    assert db.warm_status(inv).startswith("Loading the model in the background")
    drawn_at = time.monotonic()
    db.page_drawn(inv)
    thread.join(timeout=120)
    assert done == [True]
    assert len(loads) == 1 and loads[0] - drawn_at >= 0.5
    # a later warm-up (a fill's new investigator) starts once its page is drawn, without
    # the first view's wait (made long here: the warm-up ends well before it)
    monkeypatch.setattr(warm_up, "PAGE_DRAW_S", 600.0)
    again = Investigator(evaluator, model_loader=load)
    thread = db.warm_in_background(again, prime_in_thread=True, after_page=True)
    db.page_drawn(again)
    thread.join(timeout=120)
    assert not thread.is_alive() and len(loads) == 2
    # a page drawn before the warm-up started does not hold it
    later = Investigator(evaluator)
    db.page_drawn(later)
    started = db.warm_in_background(later, prime_in_thread=True, after_page=True)
    assert started is not None
    started.join(timeout=120)
    assert not started.is_alive()


def test_a_warm_up_is_known_by_its_investigator_not_its_id(evaluator):
    """An investigator's warm-up state dies with it: a later one (possibly at the same
    address, so with the same ``id``) is never taken for warmed before (CI's flake: a new
    investigator's warm-up refused, its ``id`` that of one collected before)."""
    import gc
    import threading
    import weakref

    from hepfm_core.engine.investigate.investigator import Investigator
    from hepfm_core.views.dashboard import warm_up

    def idle_thread(**kwargs):  # the warm-up's state is made, its work never runs
        return threading.Thread(target=lambda: None, daemon=True)

    before = len(warm_up._warming)
    inv = Investigator(evaluator)
    started = db.warm_in_background(inv, thread=idle_thread, prime_in_thread=True)
    assert started is not None
    started.join(timeout=10)
    assert db.warm_in_background(inv, thread=idle_thread, prime_in_thread=True) is None
    assert len(warm_up._warming) == before + 1
    gone = weakref.ref(inv)
    del inv, started
    gc.collect()
    assert gone() is None and len(warm_up._warming) == before
    fresh = Investigator(evaluator)
    assert db.warm_status(fresh).startswith("Loading the model in the background")
    assert db.warm_in_background(fresh, thread=idle_thread, prime_in_thread=True) is not None


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

    monkeypatch.setattr(db.warm_up, "_tallied_files", set())
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


CHILD = """
import sys, time
from hepfm_core.engine.evaluate import Evaluator
from hepfm_core.views import dashboard as db
from hepfm_core.views.dashboard import warm_up
ev = Evaluator.open(sys.argv[1], sys.argv[2], cache=sys.argv[3])
ev.score_all()
inv = db.shared_investigator(ev)
started = db.warm_in_background(inv, prime_in_thread=True)
time.sleep(float(sys.argv[4]))
if sys.argv[5] == "stop":
    print("stopped", warm_up.stop_warming(120), "alive", started.is_alive(), flush=True)
print("leaving", flush=True)
"""


@pytest.mark.parametrize(("delay", "how"), [(0.0, "exit"), (1.0, "exit"), (0.5, "stop")])
def test_a_process_ends_while_its_warm_up_runs(small_demo, tmp_path, delay, how):
    """The interpreter's exit stops the warm-up at its next step and waits for it: a daemon
    thread frozen inside an HDF5 read by the exit kept h5py's lock, and the process hung."""
    import subprocess
    import sys

    data_dir, model = small_demo
    args = [sys.executable, "-c", CHILD, str(data_dir), str(model), str(tmp_path), str(delay), how]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "leaving"
    if how == "stop":
        assert "stopped True alive False" in done.stdout
