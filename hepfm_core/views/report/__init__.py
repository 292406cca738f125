"""The meeting report: one offline, self-contained HTML file that stays interactive.

The page inlines Vega, Vega-Lite and vega-embed (nothing is fetched from the network) and
precomputed results for every score x clip of a small grid, at the report's beta, policy and
KL form. Its controls (plain HTML inputs) pick the score, the clip bounds and the signal
samples; the loss distributions, the ROC and the background rejection follow them through two
Vega parameters, and the counts and metrics tables (HTML, one per grid point) are shown or
hidden, without Python.

``page.write_report`` is what the ``hepfm report`` command and the app call. ``grid.collect``
evaluates the grid; ``figures`` draws it with the app's own chart functions
(``views.charts``); ``cells`` formats the tables and ``page`` fills the Jinja2 template
(``templates/``) with them and the page's CSS and script (``static/``).
"""

from __future__ import annotations

from .page import write_report

__all__ = ["write_report"]
