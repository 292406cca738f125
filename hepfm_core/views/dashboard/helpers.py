"""Small helpers of the app's cells: settings from the controls, the curves to draw, the
charts' inline data, and a user error caught for a callout."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import polars as pl

from ...engine.compare.results import ComparisonResult
from ...engine.evaluate import (
    EvaluationSettings,
)
from ...engine.metrics.separation import Separation
from ...errors import HepfmError
from ...vocabulary import Policy, Score
from ..charts import model_curve_frame

__all__ = [
    "INLINE_CHART_DATA",
    "attempt",
    "curves",
    "inline_chart_data",
    "settings_for",
]


_T = TypeVar("_T")


def curves(compared: ComparisonResult) -> Mapping[str, Separation] | pl.DataFrame:
    """What the ROC and rejection charts draw: one model's separations, or several models'
    curves tagged with their labels (overlaid: colour = signal, dash = model)."""
    results = compared.first_results()
    if len(results) == 1:
        return compared.primary.signals
    return model_curve_frame({label: r.signals for label, r in results.items()})


def settings_for(
    *,
    clip: tuple[float, float] | None,
    score: Score,
    beta: float,
    policy: Policy,
    signals: list[str],
) -> EvaluationSettings:
    """The evaluation settings the sidebar's controls describe."""
    return EvaluationSettings(
        clip=clip, score=score, beta=beta, policy=policy, signals=tuple(signals)
    )


INLINE_CHART_DATA = "marimo_inline_csv"
"""marimo's Altair data transformer that writes a chart's rows into its spec (a data URL)."""


def inline_chart_data() -> bool:
    """Charts carry their rows inside their spec, not in a file the page fetches.

    By default marimo serves each dataset of a chart as a virtual file; the page fetches it
    (one round trip per layer) from a server whose kernel is still running the next cells,
    so a redrawn chart waits on the kernel. Our charts' rows are bounded by bins and
    vertices (a few thousand), so inline is both cheaper and sooner. False where marimo has
    not registered the transformer (Altair imported outside a marimo kernel)."""
    import altair as alt

    if INLINE_CHART_DATA not in alt.data_transformers.names():
        return False
    alt.data_transformers.enable(INLINE_CHART_DATA)
    return True


def attempt(
    compute: Callable[[], _T], also: tuple[type[Exception], ...] = ()
) -> tuple[_T | None, Exception | None]:
    """``compute()`` and no error, or None and the user error it raised (a ``HepfmError``, or
    one of ``also``: an ``OSError`` where a write meets a full disk): what an app cell shows
    in a callout while the app stays alive. Any other exception is a bug and propagates."""
    caught: tuple[type[Exception], ...] = (HepfmError, *also)
    try:
        return compute(), None
    except caught as exc:
        return None, exc
