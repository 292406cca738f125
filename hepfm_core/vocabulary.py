"""hepfm's one vocabulary: the names of every choice, and how each is shown to a person.

The ``Literal`` types say which values a setting takes, the tuples beside them list those
values in order (the command's choices, validation messages), and the dicts give the
words the dashboard, the report and the charts show for them. Nothing here computes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Literal, get_args

__all__ = [
    "BACKGROUND_COLOUR",
    "CLIP_PRESETS",
    "CLIP_RANGE",
    "CLIP_STEP",
    "COMPRESSIONS",
    "DEFAULT_BKG_EFFS",
    "DEFAULT_CLIP",
    "DEFAULT_COMPRESSION",
    "DEFAULT_STEP_EVENTS",
    "DEFAULT_TREE",
    "EVENTS_PER_PAGE",
    "FEATURE_DEFINITIONS",
    "FEATURE_DEFINITION_DESCRIPTIONS",
    "FILLS",
    "FILL_DESCRIPTIONS",
    "FILL_LABELS",
    "HIGHLIGHT_COLOUR",
    "KL_FORMS",
    "PARAMETERISATIONS",
    "POLICIES",
    "POLICY_LABELS",
    "SCORES",
    "SCORE_LABELS",
    "SCORE_TITLES",
    "SIGNAL_NORMALISATIONS",
    "SIGNAL_NORMALISATION_DESCRIPTIONS",
    "SIGNAL_NORMALISATION_LABELS",
    "SIGNAL_PALETTE",
    "SOFTPLUS_EPS",
    "Cause",
    "Compression",
    "FeatureDefinition",
    "Fill",
    "KLForm",
    "Parameterisation",
    "Policy",
    "Role",
    "Score",
    "SignalNormalisation",
    "sample_colours",
]

# -- settings -----------------------------------------------------------------------------
Score = Literal["reconstruction", "kl", "total", "radius"]
Parameterisation = Literal["exp", "softplus"]
KLForm = Literal["true", "upstream"]
Policy = Literal["drop", "worst"]
Fill = Literal["median", "none"]
SignalNormalisation = Literal["background", "own"]
Role = Literal["background", "signal"]
Compression = Literal["lz4", "zstd", "gzip"]
"""Of hepfm's data files: Blosc2 LZ4 or Zstd (format version 2), or gzip (version 1)."""
FeatureDefinition = Literal["physical", "upstream-compatible"]
"""How the track features were derived from the raw branches: physical values (no clip,
non-derivable values non-finite), or upstream's rules (pt clipped to [0, 100] GeV, eta to
+-10, reducedChiSquared mapped into [0, 1000])."""

SCORES: tuple[Score, ...] = get_args(Score)
PARAMETERISATIONS: tuple[Parameterisation, ...] = get_args(Parameterisation)
KL_FORMS: tuple[KLForm, ...] = get_args(KLForm)
POLICIES: tuple[Policy, ...] = get_args(Policy)
FILLS: tuple[Fill, ...] = get_args(Fill)
SIGNAL_NORMALISATIONS: tuple[SignalNormalisation, ...] = get_args(SignalNormalisation)
COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)
FEATURE_DEFINITIONS: tuple[FeatureDefinition, ...] = get_args(FeatureDefinition)
DEFAULT_COMPRESSION: Compression = "lz4"

SOFTPLUS_EPS = 1e-6
"""Added to ``softplus(s)`` in the softplus parameterisation (as upstream does)."""

DEFAULT_BKG_EFFS: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5)
"""The background efficiencies every working point, table and rejection chart uses."""

# -- how the choices read -----------------------------------------------------------------
SCORE_LABELS: dict[str, str] = {
    "reconstruction": "reconstruction error",
    "kl": "KL divergence",
    "total": "total: reconstruction + β·KL",
    "radius": "latent radius Σμ²/σ²",
}
"""A score in a control or a heading."""

SCORE_TITLES: dict[str, str] = {
    "reconstruction": "reconstruction error Σ(x − x̂)² [standardised units²]",
    "kl": "KL divergence to N(0, 1) [nats]",
    "total": "total loss: reconstruction + β·KL",
    "radius": "latent radius Σ μ²/σ² [dimensionless]",
}
"""A score as an axis title: the formula and its unit."""

POLICY_LABELS: dict[str, str] = {
    "worst": "worst: non-finite ranks most anomalous",
    "drop": "drop: exclude (upstream)",
}

FILL_LABELS: dict[str, str] = {
    "median": "median: fill, count as imputed (upstream's)",
    "none": "none: exclude as input_nonfinite",
}
FILL_DESCRIPTIONS: dict[str, str] = {
    "median": "non-finite raw values filled with the median (upstream's behaviour; counted)",
    "none": "non-finite raw values left as they are: such events are excluded as input_nonfinite",
}

SIGNAL_NORMALISATION_LABELS: dict[str, str] = {
    "background": "background's parameters (physical)",
    "own": "each signal's own (upstream's choice)",
}
SIGNAL_NORMALISATION_DESCRIPTIONS: dict[str, str] = {
    "background": "signals standardised with the background's parameters",
    "own": "each signal standardised with its own parameters (upstream's choice)",
}

FEATURE_DEFINITION_DESCRIPTIONS: dict[str, str] = {
    "physical": "physical values: no saturation or clipping; values that cannot be derived are"
    " non-finite and counted",
    "upstream-compatible": "upstream's derivations: pt clipped to [0, 100] GeV, eta to [-10, 10],"
    " reducedChiSquared mapped and clipped into [0, 1000]",
}

DEFAULT_CLIP: tuple[float, float] = (-20.0, 20.0)
"""The clip on z_log_var every entry point starts from (the dashboard, ``hepfm evaluate``,
``hepfm report``, ``hepfm events``): upstream's committed fix, so that hepfm's first numbers
compare with what users already have; ``--no-clip`` / "no clip" for the float64 guards
alone."""

CLIP_PRESETS: dict[str, tuple[float, float] | None] = {
    "none (float64 guards)": None,
    "±20 (upstream's fix)": (-20.0, 20.0),
    "±50 (proposed)": (-50.0, 50.0),
    "±88.7 (float32 exp limit)": (-88.7, 88.7),
}
"""Clip bounds on z_log_var worth comparing, by label (the dashboard's presets, the report's
grid)."""
CLIP_RANGE = (-150.0, 150.0)
"""The clip slider's range: a clip bound from a link must lie in it."""
CLIP_STEP = 0.1
"""The clip slider's step (the latent diagnostics' tallies have an edge at every step)."""


# -- why an event has no score ------------------------------------------------------------
class Cause(enum.IntEnum):
    """Why an event has no usable score (first failing stage of the forward pass wins)."""

    OK = 0
    INPUT_NONFINITE = 1
    ENCODER_NONFINITE = 2
    DECODER_NONFINITE = 3
    KL_OVERFLOW = 4
    RECONSTRUCTION_OVERFLOW = 5
    RADIUS_OVERFLOW = 6

    @property
    def label(self) -> str:
        """snake_case name used in JSON and tables."""
        return self.name.lower()

    @property
    def description(self) -> str:
        """One human sentence for tooltips and reports."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[Cause, str] = {
    Cause.OK: "the score is finite",
    Cause.INPUT_NONFINITE: "the event's input features contain NaN or inf (data quality)",
    Cause.ENCODER_NONFINITE: "the encoder produced NaN or inf in z_mean or z_log_var",
    Cause.DECODER_NONFINITE: "the decoder produced NaN or inf in the reconstruction",
    Cause.KL_OVERFLOW: (
        "the KL divergence (or beta * KL in the total) exceeds float64's 1.8e308: e.g. a"
        " z_log_var above about 710.5, or mu^2 and exp(z_log_var) summing past it"
    ),
    Cause.RECONSTRUCTION_OVERFLOW: "the reconstruction error is not finite in float64",
    Cause.RADIUS_OVERFLOW: (
        "the latent radius overflowed: a variance underflowed to 0 (z_log_var below about -745)"
        " or mu^2 / sigma^2 exceeded float64"
    ),
}

# -- colours ------------------------------------------------------------------------------
BACKGROUND_COLOUR = "#9e9e9e"
# Colour-blind-friendly palette (Okabe-Ito order, then a few more) for signal samples.
SIGNAL_PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#8C564B",
    "#7F7F7F",
    "#17BECF",
    "#BCBD22",
    "#1F77B4",
    "#FF7F0E",
)
HIGHLIGHT_COLOUR = "#fde2c8"
"""Background of a table cell that counts excluded (or imputed) events."""


def sample_colours(signal_names: Sequence[str]) -> dict[str, str]:
    """Stable colours: background grey, signals by their sorted position among all signals."""
    colours = {"background": BACKGROUND_COLOUR}
    for i, name in enumerate(sorted(signal_names)):
        colours[name] = SIGNAL_PALETTE[i % len(SIGNAL_PALETTE)]
    return colours


# -- what the commands default to (here, so that building the parser imports nothing heavy)
DEFAULT_TREE = "CollectionTree"
"""The PhysLite tree ``hepfm convert`` reads."""
DEFAULT_STEP_EVENTS = 10_000
"""Entries per ``uproot`` step: with ~50 tracks per event some 30 MB of raw values and
derived features at a time, whatever the file's size."""
EVENTS_PER_PAGE = 100
"""Events per page of a selection (``hepfm events``)."""
