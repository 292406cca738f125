"""The guard settings (engine.guards.settings): what is refused, with what message, and how
accepted values are normalised (clip bounds as floats, open sides, beta as a float)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from hepfm_core.engine.guards.guarded import prepare
from hepfm_core.engine.guards.settings import GuardSettings
from hepfm_core.errors import SettingsError

from .test_guarded import MU, S, make_pass


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clip": (5.0, -5.0)},
        {"clip": (math.nan, 5.0)},
        {"clip": (-5.0, math.nan)},
        {"clip": (math.inf, math.inf)},
        {"clip": (-math.inf, -math.inf)},
        {"clip": (1.0, 2.0, 3.0)},
        {"clip": ("a", 1.0)},
        {"score": "auc"},
        {"parameterisation": "sigmoid"},
        {"kl_form": "approx"},
        {"beta": -1.0},
        {"beta": math.nan},
        {"beta": math.inf},
        {"beta": "high"},
    ],
)
def test_bad_settings_raise_settings_error(kwargs) -> None:
    with pytest.raises(SettingsError) as info:
        GuardSettings(**kwargs)
    assert "what to do" in str(info.value)
    assert info.value.where is not None and next(iter(kwargs)) in info.value.where


def test_good_settings_are_normalised() -> None:
    cfg = GuardSettings(clip=[-1, math.inf], beta=2)
    assert cfg.clip == (-1.0, math.inf) and isinstance(cfg.clip[0], float)
    assert cfg.beta == 2.0 and isinstance(cfg.beta, float)
    assert GuardSettings(clip=(3.0, 3.0)).clip == (3.0, 3.0)
    assert hash(cfg) == hash(GuardSettings(clip=(-1.0, math.inf), beta=2.0))
    with pytest.raises(SettingsError):
        prepare(make_pass(MU, S), "gaussian")  # type: ignore[arg-type]


def test_defaults_are_the_plain_reconstruction_score():
    cfg = GuardSettings()
    assert (cfg.clip, cfg.score, cfg.beta, cfg.parameterisation, cfg.kl_form) == (
        None, "reconstruction", 1.0, "exp", "true",
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.beta = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("clip", "what"),
    [
        ((5.0, -5.0), "clip bounds are inverted: lo=5.0 > hi=-5.0"),
        ((math.nan, 1.0), "clip bound is NaN: (nan, 1.0)"),
        ((math.inf, math.inf), "clip bounds (inf, inf) would clip every value to inf"),
        ((-math.inf, -math.inf), "clip bounds (-inf, -inf) would clip every value to inf"),
        (5.0, "clip bounds must be two numbers, got 5.0"),
        ((1.0,), "clip bounds must be two numbers, got (1.0,)"),
        ("ab", "clip bounds must be two numbers, got 'ab'"),
    ],
)
def test_bad_clip_says_what_where_and_what_to_do(clip, what):
    with pytest.raises(SettingsError) as info:
        GuardSettings(clip=clip)
    err = info.value
    assert err.what == what
    assert err.where == "guard settings: clip"
    assert err.todo == "give (lo, hi) with lo <= hi, or no clip; use -inf / inf for an open side"


def test_bad_names_list_the_known_ones():
    with pytest.raises(SettingsError, match="unknown score 'auc'") as info:
        GuardSettings(score="auc")  # type: ignore[arg-type]
    assert info.value.todo == "use one of reconstruction, kl, total, radius"
    with pytest.raises(SettingsError, match="unknown variance parameterisation") as info:
        GuardSettings(parameterisation="sigmoid")  # type: ignore[arg-type]
    assert info.value.todo == "use one of exp, softplus"
    with pytest.raises(SettingsError, match="unknown KL form 'approx'") as info:
        GuardSettings(kl_form="approx")  # type: ignore[arg-type]
    assert info.value.todo == "use one of true, upstream"
    with pytest.raises(SettingsError, match="beta must be a number, got None"):
        GuardSettings(beta=None)  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match=r"beta must be finite and >= 0, got -0\.5"):
        GuardSettings(beta=-0.5)


def test_open_and_array_clips_are_kept_as_float_pairs():
    assert GuardSettings(clip=(-math.inf, math.inf)).clip == (-math.inf, math.inf)
    assert GuardSettings(clip=(-math.inf, 20)).clip == (-math.inf, 20.0)
    cfg = GuardSettings(clip=np.array([-20, 20], dtype=np.float32), beta=np.float64(0.0))
    assert cfg.clip == (-20.0, 20.0) and all(type(b) is float for b in cfg.clip)
    assert cfg.beta == 0.0 and type(cfg.beta) is float
    assert GuardSettings(clip=None).clip is None
    # equal settings are equal, whatever form their values came in
    assert cfg == GuardSettings(clip=(-20.0, 20.0), beta=0)
