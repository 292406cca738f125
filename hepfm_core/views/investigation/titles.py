"""Titles, units and colours of the investigation view's charts and tables: each exists once
(a title its tables share with its charts is a column of ``vocabulary.COLUMNS``)."""

from __future__ import annotations

from ...vocabulary import BACKGROUND_COLOUR, COLUMNS

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
]

RESIDUAL_TITLE = COLUMNS["residual"].title
RESIDUAL_MEAN_TITLE = "mean squared residual [standardised units²]"
RESIDUAL_MEDIAN_TITLE = "median squared residual per event [standardised units²]"
LATENT_DIM_TITLE = "latent dimension"
Z_MEAN_TITLE = "z_mean (μ)"
Z_LOG_VAR_TITLE = "z_log_var (log σ²)"
KL_DIM_TITLE = "KL per dimension [nats]"
TRACK_TITLE = COLUMNS["track_slot"].title
TRACK_RESIDUAL_TITLE = COLUMNS["track_residual"].title
"""The track table's column of each track's summed squared residual."""
FEATURE_TITLE = COLUMNS["feature"].title
FILLED_TITLE = COLUMNS["filled"].title
"""The track table's column naming the raw values the reader replaced by its fill value."""
EFFICIENCY_TITLE = "fraction of events above the cut"
EVENTS_TITLE = "events per bin"
SCULPTING_TITLES = {"tracks": "track multiplicity", "leading_pt": "leading-track pt [GeV]"}
CLIP_COLOUR = "#d62728"
ACTIVE_COLOURS = {"active": "#0072B2", "inactive": BACKGROUND_COLOUR}
PADDING = "padding"
BRUSH = "score_brush"
"""The interval selection on the loss distributions' score axis (the app's brush)."""
ETA_PHI_BRANCHES = ("eta", "phi", "pt")
"""The branches the η-φ display needs."""
ETA_TITLE = "η"
PHI_TITLE = "φ [rad]"
PT_TITLE = "pt [GeV]"
ETA_RANGE = 2.5
"""The inner detector's |η| acceptance: the display's η axis spans at least this."""
