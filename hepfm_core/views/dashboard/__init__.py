"""The dashboard's view-model: what the app needs besides tables, text and charts.

By concern:

- :mod:`.discovery`: the data root every path is confined to (the rule the CLI uses too, so a
  shared dashboard cannot be pointed at arbitrary files), the models under it, a model's data;
- :mod:`.shared`: what every viewer of one server process shares (marimo runs each viewer as
  a thread): evaluators (each cached scoring pass memory-mapped once), cluster connections,
  investigators and loaded models;
- :mod:`.warm_up`: the investigation's model loaded in the background once the page shows;
- :mod:`.looking`: what a click, a brush or a top-N request selects, paged and summarised;
- :mod:`.helpers`: settings from the controls, the curves drawn, a user error for a callout.

The meeting report the app writes is :mod:`hepfm_core.views.meeting_reports`'s.
"""

from __future__ import annotations

from .discovery import (
    MODEL_SEARCH_DEPTH,
    confine,
    confined_root,
    data_for_model,
    data_root,
    find_models,
    model_args,
    model_choices,
    project_root,
    sample_names,
)
from .helpers import (
    INLINE_CHART_DATA,
    attempt,
    curves,
    inline_chart_data,
    settings_for,
)
from .looking import (
    DIAGNOSTICS,
    LATENT_VIEW,
    LOOK_HINT,
    MAX_SHOWN_EVENTS,
    PAGE_EVENTS,
    PROFILE_VIEW,
    SCULPTING_VIEW,
    TOP_DEFAULT,
    Looked,
    chosen_event,
    look,
    on_brush,
    on_count_button,
    page_count,
    sample_result,
    select_events,
)
from .shared import (
    residual_profiles,
    shared_cluster,
    shared_evaluator,
    shared_investigator,
    shared_model,
    shared_models,
)
from .warm_up import (
    PAGE_WAIT_S,
    WARM_NICENESS,
    page_drawn,
    warm_in_background,
    warm_status,
    yield_to_the_page,
)

__all__ = [
    "DIAGNOSTICS",
    "INLINE_CHART_DATA",
    "LATENT_VIEW",
    "LOOK_HINT",
    "MAX_SHOWN_EVENTS",
    "MODEL_SEARCH_DEPTH",
    "PAGE_EVENTS",
    "PAGE_WAIT_S",
    "PROFILE_VIEW",
    "SCULPTING_VIEW",
    "TOP_DEFAULT",
    "WARM_NICENESS",
    "Looked",
    "attempt",
    "chosen_event",
    "confine",
    "confined_root",
    "curves",
    "data_for_model",
    "data_root",
    "find_models",
    "inline_chart_data",
    "look",
    "model_args",
    "model_choices",
    "on_brush",
    "on_count_button",
    "page_count",
    "page_drawn",
    "project_root",
    "residual_profiles",
    "sample_names",
    "sample_result",
    "select_events",
    "settings_for",
    "shared_cluster",
    "shared_evaluator",
    "shared_investigator",
    "shared_model",
    "shared_models",
    "warm_in_background",
    "warm_status",
    "yield_to_the_page",
]
