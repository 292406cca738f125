"""The latent tally kept in its scoring pass's cache entry: the same tally as building it,
read back without reading the events, rebuilt for other median rows or a damaged entry."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest

from hepfm_core.common import cache as common_cache
from hepfm_core.common.cache import CacheError, CacheRepairWarning
from hepfm_core.engine.investigate import latent_tally_cache as cache
from hepfm_core.engine.investigate.latent_tally import build_latent_tally, latent_from_tally

from ..guards.test_prepared import _pass
from ..guards.test_prepared_cache import _cached_pass

ROWS = np.arange(0, 1000, 3)


def _built(pass_, parameterisation="exp", kl_form="true", rows=ROWS):
    return build_latent_tally(
        pass_.z_mean,
        pass_.z_log_var,
        parameterisation=parameterisation,
        kl_form=kl_form,
        sample="background",
        median_rows=rows,
    )


def _cached(pass_, parameterisation="exp", kl_form="true", rows=ROWS):
    return cache.cached_latent_tally(
        pass_,
        parameterisation=parameterisation,
        kl_form=kl_form,
        sample="background",
        median_rows=rows,
    )


def _assert_same(got, expected):
    for field in dataclasses.fields(expected):
        a, b = getattr(got, field.name), getattr(expected, field.name)
        if field.name == "at_edge":
            assert a.keys() == b.keys() and all(np.array_equal(a[e], b[e]) for e in b)
        elif isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), field.name
        else:
            assert a == b, field.name


def _no_build(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("built again")

    monkeypatch.setattr(cache, "build_latent_tally", refuse)


@pytest.mark.parametrize(
    ("parameterisation", "kl_form"), [("exp", "true"), ("softplus", "upstream")]
)
def test_written_once_then_read_back(tmp_path, monkeypatch, parameterisation, kl_form):
    pass_ = _cached_pass(tmp_path)
    expected = _built(pass_, parameterisation, kl_form)
    assert expected.at_edge  # the test pass has values on grid edges (20.0)
    _assert_same(_cached(pass_, parameterisation, kl_form), expected)
    entry = cache.tally_dir(pass_.directory, parameterisation, kl_form)
    assert json.loads((entry / "meta.json").read_text())["n_events"] == 1000
    _no_build(monkeypatch)
    again = _cached(pass_, parameterisation, kl_form)
    _assert_same(again, expected)
    assert not again.count.flags.writeable
    # the diagnostics at a few clips: the same from the read-back tally
    for clip in [(-20.0, 20.0), (-5.0, 3.0), (0.0, 0.01)]:
        a, b = latent_from_tally(again, clip), latent_from_tally(expected, clip)
        assert a is not None and b is not None
        for field in dataclasses.fields(b):
            x, y = getattr(a, field.name), getattr(b, field.name)
            if isinstance(y, np.ndarray):
                assert np.array_equal(x, y, equal_nan=True), field.name
            else:
                assert x == y, field.name


def test_other_median_rows_build_it_again_quietly(tmp_path):
    pass_ = _cached_pass(tmp_path)
    _cached(pass_)
    other = np.arange(1, 1000, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _cached(pass_, rows=other)
    _assert_same(got, _built(pass_, rows=other))
    assert len(list(pass_.directory.glob("latent-tally-*"))) == 1


def test_a_damaged_entry_is_built_again(tmp_path):
    pass_ = _cached_pass(tmp_path)
    expected = _cached(pass_)
    target = cache.tally_dir(pass_.directory, "exp", "true") / "g_sum.npy"
    data = bytearray(target.read_bytes())
    data[-3] ^= 0x10
    target.write_bytes(bytes(data))
    with pytest.warns(CacheRepairWarning, match=r"g_sum\.npy is damaged"):
        got = _cached(pass_)
    _assert_same(got, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # written again: clean now
        _assert_same(_cached(pass_), expected)


def test_a_pass_without_a_folder_is_tallied_in_memory(tmp_path):
    fresh = _pass(300)
    _assert_same(_cached(fresh, rows=None), _built(fresh, rows=None))
    assert not list(tmp_path.iterdir())


def test_a_cache_that_cannot_be_written_keeps_it_in_memory(tmp_path, monkeypatch):
    pass_ = _cached_pass(tmp_path)

    def full(target, *_a, **_k):
        raise CacheError("no space left on the device", target, "free some space")

    monkeypatch.setattr(common_cache, "publish_dir", full)
    _assert_same(_cached(pass_), _built(pass_))
    assert not list(pass_.directory.glob("latent-tally-*"))
