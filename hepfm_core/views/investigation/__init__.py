"""The investigation view's tables, words and charts: one event (its tracks, a residual heat
map track x feature, its latent values against the clip bounds), a selection's summary, the
latent diagnostics, the residual profile and the sculpting check of whole samples.

Builders take the engine's results (``engine.investigate.events``, ``engine.investigate.explain``,
``engine.investigate.diagnostics``) and know nothing of models. Conventions of ``charts.py``: sizes
from :class:`~hepfm_core.views.charts.ChartSize`, one colour per sample
(``vocabulary.sample_colours``), units in axis titles, numbers rounded to
``charts.DIGITS`` significant digits.

Split by kind like the main view: ``titles`` (every title, unit and colour once),
``values`` (numbers), ``tables``, ``text`` and ``charts``; the package re-exports their public
names, so a cell reads ``iv.track_table`` and ``iv.eta_phi_chart`` alike.
"""

from __future__ import annotations

from .charts import (
    eta_phi_chart,
    latent_chart,
    latent_event_chart,
    residual_heatmap,
    residual_profile_chart,
    sculpting_chart,
    with_score_brush,
)
from .tables import (
    event_table,
    latent_table,
    residual_profile_table,
    sculpting_table,
    summary_table,
    track_table,
)
from .text import (
    empty_selection_sentence,
    event_caption,
    filled_names,
    latent_sentence,
    page_sentence,
    selection_sentence,
)
from .titles import (
    ACTIVE_COLOURS,
    BRUSH,
    CLIP_COLOUR,
    EFFICIENCY_TITLE,
    ETA_PHI_BRANCHES,
    ETA_RANGE,
    ETA_TITLE,
    EVENTS_TITLE,
    FEATURE_TITLE,
    FILLED_TITLE,
    KL_DIM_TITLE,
    LATENT_DIM_TITLE,
    PADDING,
    PHI_TITLE,
    PT_TITLE,
    RESIDUAL_MEAN_TITLE,
    RESIDUAL_MEDIAN_TITLE,
    RESIDUAL_TITLE,
    SCULPTING_TITLES,
    TRACK_RESIDUAL_TITLE,
    TRACK_TITLE,
    Z_LOG_VAR_TITLE,
    Z_MEAN_TITLE,
)
from .values import (
    number_text,
    table_formats,
)

__all__ = [
    "ACTIVE_COLOURS",
    "BRUSH",
    "CLIP_COLOUR",
    "EFFICIENCY_TITLE",
    "ETA_PHI_BRANCHES",
    "ETA_RANGE",
    "ETA_TITLE",
    "EVENTS_TITLE",
    "FEATURE_TITLE",
    "FILLED_TITLE",
    "KL_DIM_TITLE",
    "LATENT_DIM_TITLE",
    "PADDING",
    "PHI_TITLE",
    "PT_TITLE",
    "RESIDUAL_MEAN_TITLE",
    "RESIDUAL_MEDIAN_TITLE",
    "RESIDUAL_TITLE",
    "SCULPTING_TITLES",
    "TRACK_RESIDUAL_TITLE",
    "TRACK_TITLE",
    "Z_LOG_VAR_TITLE",
    "Z_MEAN_TITLE",
    "empty_selection_sentence",
    "eta_phi_chart",
    "event_caption",
    "event_table",
    "filled_names",
    "latent_chart",
    "latent_event_chart",
    "latent_sentence",
    "latent_table",
    "number_text",
    "page_sentence",
    "residual_heatmap",
    "residual_profile_chart",
    "residual_profile_table",
    "sculpting_chart",
    "sculpting_table",
    "selection_sentence",
    "summary_table",
    "table_formats",
    "track_table",
    "with_score_brush",
]
