"""The meeting report: one offline, self-contained HTML file that stays interactive.

The page inlines Vega, Vega-Lite and vega-embed (nothing is fetched from the network) and
precomputed results for every score x clip of a small grid, at the report's beta, policy and
KL form. Widgets bound to Vega-Lite parameters pick the score, the clip bounds and the signal
samples; the loss distributions, the ROC, the background rejection and the counts and metrics
tables (drawn as text marks) all follow them, without Python.

``page.write_report`` is what the ``hepfm report`` command and the app call; ``grid.collect``
(the evaluations) and ``page.render_html`` / ``page.figure_specs`` (pure) are its two
halves; ``specs`` and ``table_specs`` build the views.
"""

from __future__ import annotations

from .page import write_report

__all__ = ["write_report"]
