"""The investigation view's tables, words and charts: one event (its tracks, a residual heat
map track x feature, its latent values against the clip bounds), a selection's summary, the
latent diagnostics, the residual profile and the sculpting check of whole samples.

Builders take the engine's results (``engine.investigate.events``, ``engine.investigate.explain``,
``engine.investigate.diagnostics``) and know nothing of models. Conventions of ``charts.py``: sizes
from :class:`~hepfm_core.views.charts.ChartSize`, one colour per sample
(``vocabulary.sample_colours``), units in axis titles, numbers rounded to
``charts.DIGITS`` significant digits.

Split by kind like the main view: ``titles`` (every title, unit and colour once),
``values`` (numbers), ``tables``, ``text``, ``charts`` and ``event_specs`` (one event's
charts kept per shape); the package re-exports their public
names, so a cell reads ``iv.track_table`` and ``iv.eta_phi_chart`` alike.
"""

from __future__ import annotations

from . import charts, event_specs, tables, text, titles, values
from .charts import *  # noqa: F403 (re-exported: its __all__)
from .event_specs import *  # noqa: F403 (re-exported: its __all__)
from .tables import *  # noqa: F403 (re-exported: its __all__)
from .text import *  # noqa: F403 (re-exported: its __all__)
from .titles import *  # noqa: F403 (re-exported: its __all__)
from .values import *  # noqa: F403 (re-exported: its __all__)

__all__ = [
    *charts.__all__,
    *event_specs.__all__,
    *tables.__all__,
    *text.__all__,
    *titles.__all__,
    *values.__all__,
]
