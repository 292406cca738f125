"""What the guards compute: clip bounds on z_log_var, score, beta, variance form (validated)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ...errors import SettingsError
from ...vocabulary import (
    KL_FORMS,
    PARAMETERISATIONS,
    SCORES,
    KLForm,
    Parameterisation,
    Score,
)

__all__ = ["GuardSettings"]


# -- settings -----------------------------------------------------------------------------
def _bad_setting(what: str, field_name: str, todo: str) -> SettingsError:
    return SettingsError(what, where=f"guard settings: {field_name}", todo=todo)


@dataclass(frozen=True)
class GuardSettings:
    """What to compute: clip bounds on z_log_var, which score, beta, variance form.

    ``clip``: ``(lo, hi)`` applied to z_log_var before any use, or None for no clip; an
    infinite bound means no clip on that side. ``kl_form`` only matters for ``softplus``:
    ``"true"`` is the Gaussian KL with variance ``v``, ``"upstream"`` upstream's formula with
    ``s`` in place of ``log v`` (it can go negative).
    """

    clip: tuple[float, float] | None = None
    score: Score = "reconstruction"
    beta: float = 1.0
    parameterisation: Parameterisation = "exp"
    kl_form: KLForm = "true"

    def __post_init__(self) -> None:
        if self.clip is not None:
            object.__setattr__(self, "clip", _validated_clip(self.clip))
        if self.score not in SCORES:
            raise _bad_setting(
                f"unknown score {self.score!r}", "score", f"use one of {', '.join(SCORES)}"
            )
        if self.parameterisation not in PARAMETERISATIONS:
            raise _bad_setting(
                f"unknown variance parameterisation {self.parameterisation!r}",
                "parameterisation",
                f"use one of {', '.join(PARAMETERISATIONS)}",
            )
        if self.kl_form not in KL_FORMS:
            raise _bad_setting(
                f"unknown KL form {self.kl_form!r}", "kl_form", f"use one of {', '.join(KL_FORMS)}"
            )
        try:
            beta = float(self.beta)
        except (TypeError, ValueError):
            raise _bad_setting(
                f"beta must be a number, got {self.beta!r}", "beta", "give a number >= 0"
            ) from None
        if not math.isfinite(beta) or beta < 0:
            raise _bad_setting(
                f"beta must be finite and >= 0, got {beta!r}", "beta", "give a number >= 0"
            )
        object.__setattr__(self, "beta", beta)


def _validated_clip(clip: object) -> tuple[float, float]:
    todo = "give (lo, hi) with lo <= hi, or no clip; use -inf / inf for an open side"
    try:
        if not isinstance(clip, Iterable):
            raise TypeError
        lo, hi = (float(b) for b in clip)
    except (TypeError, ValueError):
        raise _bad_setting(f"clip bounds must be two numbers, got {clip!r}", "clip", todo) from None
    if math.isnan(lo) or math.isnan(hi):
        raise _bad_setting(f"clip bound is NaN: ({lo}, {hi})", "clip", todo)
    if lo > hi:
        raise _bad_setting(f"clip bounds are inverted: lo={lo} > hi={hi}", "clip", todo)
    if lo == math.inf or hi == -math.inf:
        raise _bad_setting(f"clip bounds ({lo}, {hi}) would clip every value to inf", "clip", todo)
    return (lo, hi)
