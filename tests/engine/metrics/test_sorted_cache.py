"""The background's sorted scores kept beside its pass (metrics.sorted_cache): read back equal
to the sort, per setting key, a damaged entry discarded, only the last few kept, and a new
evaluator on the same cache that sorts nothing."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from hepfm_core.common import cache as common_cache
from hepfm_core.common.cache import CacheError, CacheRepairWarning
from hepfm_core.engine.metrics import sorted_cache
from hepfm_core.engine.metrics.roc import prepare_background
from hepfm_core.engine.metrics.sorted_cache import ENTRIES_KEPT, SortedBackgrounds

KEY = ("kl", None, (-20.0, 20.0), "true", "worst")


def _ref(n: int = 5000, seed: int = 0):
    scores = np.random.default_rng(seed).gamma(2.0, 1.0, n)
    scores[:7] = np.inf  # worst: the non-finite at the top
    return prepare_background(scores)


def _written(tmp_path, key=KEY, ref=None):
    store = SortedBackgrounds(tmp_path / "pass", "exp")
    ref = _ref() if ref is None else ref
    store.write_later(key, ref)
    store.wait()
    return store, ref


def test_written_then_read_back_the_very_sorted_scores(tmp_path):
    _, ref = _written(tmp_path)
    got = SortedBackgrounds(tmp_path / "pass", "exp").read(KEY, ref.n)
    assert got is not None and got.n == ref.n
    np.testing.assert_array_equal(got.scores, ref.scores)
    assert isinstance(got.scores, np.memmap) and not got.scores.flags.writeable
    assert np.isposinf(got.scores[-7:]).all() and np.all(np.diff(got.scores[:-7]) >= 0)
    # beside the pass, one folder per parameterisation
    assert [p.name for p in (tmp_path / "pass").iterdir()] == ["sorted-exp-v1"]


def test_another_key_or_parameterisation_reads_nothing(tmp_path):
    store, ref = _written(tmp_path)
    assert store.read((*KEY[:-1], "drop"), ref.n) is None
    assert store.read(("kl", None, (-20.0, 20.5), "true", "worst"), ref.n) is None
    assert SortedBackgrounds(tmp_path / "pass", "softplus").read(KEY, ref.n) is None


@pytest.mark.parametrize("damage", ["flip", "truncate", "other_n"])
def test_a_damaged_entry_is_discarded_and_read_as_none(tmp_path, damage):
    store, ref = _written(tmp_path)
    (entry,) = store.root.iterdir()
    n = ref.n
    if damage == "flip":
        data = bytearray((entry / "scores.npy").read_bytes())
        data[-3] ^= 0x10
        (entry / "scores.npy").write_bytes(bytes(data))
        match = r"scores\.npy is damaged"
    elif damage == "truncate":
        (entry / "scores.npy").write_bytes((entry / "scores.npy").read_bytes()[:-8])
        match = r"scores\.npy is damaged"
    else:
        n = ref.n + 1  # the same key for another number of events: not this pass's
        match = "it records"
    with pytest.warns(CacheRepairWarning, match=match):
        assert store.read(KEY, n) is None
    assert not entry.exists()
    store.write_later(KEY, ref)  # written again: clean now
    store.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(store.read(KEY, ref.n).scores, ref.scores)


def test_only_the_entries_read_or_written_last_are_kept(tmp_path):
    store = SortedBackgrounds(tmp_path / "pass", "exp")
    keys = [("kl", None, (-float(c), float(c)), "true", "worst") for c in range(1, 8)]
    refs = [_ref(300, seed=i) for i in range(len(keys))]
    for i, (key, ref) in enumerate(zip(keys, refs, strict=True)):
        store.write_later(key, ref)
        store.wait()
        if i >= 1:
            assert store.read(keys[0], refs[0].n) is not None  # the first, read again
    assert len(list(store.root.iterdir())) == ENTRIES_KEPT
    assert store.read(keys[0], refs[0].n) is not None  # read last: kept
    kept = [k for k, r in zip(keys, refs, strict=True) if store.read(k, r.n) is not None]
    assert kept == [keys[0], *keys[-(ENTRIES_KEPT - 1) :]]


def test_a_pass_without_a_folder_keeps_nothing(tmp_path):
    store = SortedBackgrounds(None, "exp")
    store.write_later(KEY, _ref())
    store.wait()
    assert store.read(KEY, 5000) is None
    assert not list(tmp_path.iterdir())


def test_a_cache_that_cannot_be_written_is_left_alone(tmp_path, monkeypatch):
    def full(target, *_a, **_k):
        raise CacheError("no space left on the device", target, "free some space")

    monkeypatch.setattr(sorted_cache, "publish_dir", full)
    store, ref = _written(tmp_path)
    assert store.read(KEY, ref.n) is None
    assert not (tmp_path / "pass").exists() or not list(store.root.glob("*/meta.json"))
    assert common_cache.publish_dir is not full  # only this module's writer was refused


def test_the_meta_names_its_key_and_checksum(tmp_path):
    store, ref = _written(tmp_path)
    (entry,) = store.root.iterdir()
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["key"] == repr(KEY) and meta["n"] == ref.n and meta["sorted_version"] == 1
    assert set(meta["checksums"]["files"]) == {"scores.npy"}


def test_a_new_evaluator_on_the_same_cache_sorts_no_background(small_demo, tmp_path, monkeypatch):
    """A new dashboard server's first view: the sort the last process opened on is read
    back, and every number is the same as with a fresh sort."""
    from hepfm_core.engine import evaluate as module
    from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator

    settings = [
        EvaluationSettings(score="reconstruction", policy="worst"),
        EvaluationSettings(score="kl", clip=(-20.0, 20.0), policy="drop"),
    ]
    expected = []
    for s in settings:  # each the first evaluation of a process (a server's defaults, a link)
        first = Evaluator.open(*small_demo, cache=tmp_path / "cache")
        expected.append(first.evaluate(s))
        first._sorted_backgrounds().wait()

    def refuse(*_a, **_k):
        raise AssertionError("sorted again")

    monkeypatch.setattr(module, "prepare_background", refuse)
    again = Evaluator.open(*small_demo, cache=tmp_path / "cache")
    for s, want in zip(settings, expected, strict=True):
        got = again.evaluate(s)
        np.testing.assert_array_equal(got.sorted_background.scores, want.sorted_background.scores)
        assert got.to_json_dict() | {"provenance": None} == want.to_json_dict() | {
            "provenance": None
        }


def test_only_the_first_evaluations_sort_is_written(small_demo, tmp_path):
    """A control's later sorts (each clip position of a KL score) stay in memory: moving a
    slider writes nothing to the cache."""
    from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator

    ev = Evaluator.open(*small_demo, cache=tmp_path / "cache")
    opened = EvaluationSettings(score="kl", clip=(-20.0, 20.0))
    ev.evaluate(opened)
    for upper in (5.0, 10.0, 15.0):  # three slider positions, each sorted anew
        ev.evaluate(EvaluationSettings(score="kl", clip=(-20.0, upper)))
    store = ev._sorted_backgrounds()
    store.wait()
    assert store.root is not None
    assert [p for p in store.root.iterdir() if (p / "meta.json").exists()] == [
        store._entry(opened.kept_scores_key())[0]
    ]
