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

from . import discovery, helpers, looking, shared, warm_up
from .discovery import *  # noqa: F403 (re-exported: its __all__)
from .helpers import *  # noqa: F403 (re-exported: its __all__)
from .looking import *  # noqa: F403 (re-exported: its __all__)
from .shared import *  # noqa: F403 (re-exported: its __all__)
from .warm_up import *  # noqa: F403 (re-exported: its __all__)

__all__ = [
    *discovery.__all__,
    *shared.__all__,
    *warm_up.__all__,
    *looking.__all__,
    *helpers.__all__,
]
