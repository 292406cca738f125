"""The prepared pass kept in its scoring pass's cache entry: the same numbers as preparing
it, read back without preparing, and a damaged entry prepared again."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from hepfm_core.common import cache as common_cache
from hepfm_core.common.cache import CacheError, CacheRepairWarning
from hepfm_core.engine.guards import prepared_cache
from hepfm_core.engine.guards.prepared import prepare
from hepfm_core.engine.scoring.passes import ScoringPass

from .test_prepared import FIELDS, _pass

INDEX_FIELDS = ("latent_bad", "recon_bad", "total_bad_f32", "total_bad_f16")
COUNTS = ("latent_counts", "recon_counts", "unguarded_f32", "unguarded_f16")


def _cached_pass(tmp_path, n: int = 1000) -> ScoringPass:
    """``_pass`` as the scoring cache gives it: read-only memmaps with their folder."""
    fresh = _pass(n)
    folder = tmp_path / "pass"
    folder.mkdir()
    arrays = {}
    for name in ("z_mean", "z_log_var", "sum_mu2", "recon", "finite"):
        np.save(folder / f"{name}.npy", getattr(fresh, name))
        arrays[name] = np.load(folder / f"{name}.npy", mmap_mode="r")
    return ScoringPass(**arrays, directory=folder)


def _assert_same(got, expected):
    for name in FIELDS + INDEX_FIELDS:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(expected, name))
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    for name in COUNTS:
        assert getattr(got, name) == getattr(expected, name), name


def _no_prepare(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("prepared again")

    monkeypatch.setattr(prepared_cache, "prepare", refuse)


@pytest.mark.parametrize(
    ("parameterisation", "kl_form"), [("exp", "true"), ("softplus", "upstream")]
)
def test_written_once_then_read_back(tmp_path, monkeypatch, parameterisation, kl_form):
    pass_ = _cached_pass(tmp_path)
    expected = prepare(pass_, parameterisation, kl_form)
    first = prepared_cache.cached_prepare(pass_, parameterisation, kl_form)
    _assert_same(first, expected)
    entry = prepared_cache.entry_dir(pass_.directory, parameterisation, kl_form)
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["n_events"] == 1000 and meta["parameterisation"] == parameterisation
    _no_prepare(monkeypatch)
    again = prepared_cache.cached_prepare(pass_, parameterisation, kl_form)
    _assert_same(again, expected)
    assert isinstance(again.kl, np.memmap) and not again.kl.flags.writeable
    # the total's beta-dependent count still works from the read-back arrays
    assert again.unguarded_nonfinite("total", 2.0) == expected.unguarded_nonfinite("total", 2.0)


def test_each_form_has_its_own_entry(tmp_path):
    pass_ = _cached_pass(tmp_path)
    exp = prepared_cache.cached_prepare(pass_, "exp", "true")
    soft = prepared_cache.cached_prepare(pass_, "softplus", "true")
    assert not np.array_equal(exp.kl, soft.kl, equal_nan=True)
    assert len(list(pass_.directory.glob("prepared-*"))) == 2


def test_a_pass_without_a_folder_is_prepared_in_memory(tmp_path):
    fresh = _pass(300)
    got = prepared_cache.cached_prepare(fresh)
    _assert_same(got, prepare(fresh))
    assert not list(tmp_path.iterdir())


def test_a_damaged_entry_is_prepared_again(tmp_path):
    pass_ = _cached_pass(tmp_path)
    expected = prepared_cache.cached_prepare(pass_)
    entry = prepared_cache.entry_dir(pass_.directory, "exp", "true")
    kl = entry / "kl.npy"
    data = bytearray(kl.read_bytes())
    data[-3] ^= 0x10  # one flipped bit in the last KL value
    kl.write_bytes(bytes(data))
    with pytest.warns(CacheRepairWarning, match=r"kl\.npy is damaged"):
        got = prepared_cache.cached_prepare(pass_)
    _assert_same(got, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # written again: clean now
        _assert_same(prepared_cache.cached_prepare(pass_), expected)


def test_an_entry_of_another_pass_is_not_used(tmp_path):
    pass_ = _cached_pass(tmp_path)
    prepared_cache.cached_prepare(pass_)
    entry = prepared_cache.entry_dir(pass_.directory, "exp", "true")
    meta = json.loads((entry / "meta.json").read_text())
    meta["n_events"] = 999
    (entry / "meta.json").write_text(json.dumps(meta))
    with pytest.warns(CacheRepairWarning, match="n_events 999, not 1000"):
        prepared_cache.cached_prepare(pass_)


def test_a_cache_that_cannot_be_written_keeps_it_in_memory(tmp_path, monkeypatch):
    pass_ = _cached_pass(tmp_path)

    def full(target, *_a, **_k):
        raise CacheError("no space left on the device", target, "free some space")

    monkeypatch.setattr(common_cache, "publish_dir", full)
    _assert_same(prepared_cache.cached_prepare(pass_), prepare(pass_))
    assert not list(pass_.directory.glob("prepared-*"))
