"""Tests of hepfm_core.views.dashboard.shared: the objects shared by a server's viewers."""

from __future__ import annotations

from hepfm_core.views import dashboard as db


def test_one_investigator_per_evaluator(evaluator):
    inv = db.shared_investigator(evaluator)
    assert inv is not None and inv.evaluator is evaluator
    assert db.shared_investigator(evaluator) is inv


def test_investigators_of_one_model_share_its_load(small_demo, tmp_path, monkeypatch):
    # a fill change makes a new evaluator of the same model: its model is not loaded again
    from hepfm_core.engine.evaluate import Evaluator

    loads = []
    real = db.shared.load_model
    monkeypatch.setattr(db.shared, "load_model", lambda path: loads.append(path) or real(path))
    monkeypatch.setattr(db.shared, "_models", {})  # whatever other tests loaded in this process
    cache = tmp_path / "cache"
    median = Evaluator.open(*small_demo, cache=cache, fill="median")
    none = Evaluator.open(*small_demo, cache=cache, fill="none")
    forwards = [db.shared_investigator(ev).warm() for ev in (median, none)]
    assert forwards[0] is forwards[1]
    assert loads == [median.model_path]
    assert db.shared_model(none) is db.shared_model(median)


def test_residual_profiles_are_computed_once_per_investigator(evaluator):
    """Kept per investigator and names; a new investigator (even at a dead one's address,
    so with its ``id``) computes its own."""
    import gc
    import weakref

    from hepfm_core.engine.investigate.investigator import Investigator

    calls: list[tuple[Investigator, list[str]]] = []

    def counted(inv):
        def residuals(names):
            calls.append((inv, list(names)))
            return {name: f"profile of {name}" for name in names}

        return residuals

    inv = Investigator(evaluator)
    inv.residuals = counted(inv)  # type: ignore[method-assign]
    first = db.residual_profiles(inv, ["background"])
    assert first == {"background": "profile of background"}
    assert db.residual_profiles(inv, ["background"]) is first
    db.residual_profiles(inv, ["background", "signal"])
    assert [names for _, names in calls] == [["background"], ["background", "signal"]]
    gone = weakref.ref(inv)
    held = len(db.shared._profiles)
    del inv
    calls.clear()
    gc.collect()
    assert gone() is None and len(db.shared._profiles) == held - 1
    fresh = Investigator(evaluator)
    fresh.residuals = counted(fresh)  # type: ignore[method-assign]
    db.residual_profiles(fresh, ["background"])
    assert len(calls) == 1 and calls[0][0] is fresh
