"""hepfm's one vocabulary: the names of every choice, and how each is shown to a person.

The ``Literal`` types say which values a setting takes, the tuples beside them list those
values in order (the command's choices, validation messages), and the dicts give the
words the dashboard, the report and the charts show for them. :data:`COLUMNS` names every
column of hepfm's tables (and the axes the charts share): its title, unit and note, once.
Nothing here computes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "BACKGROUND_COLOUR",
    "CLIP_PRESETS",
    "CLIP_RANGE",
    "CLIP_STEP",
    "COLUMNS",
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
    "Column",
    "Compression",
    "FeatureDefinition",
    "Fill",
    "KLForm",
    "Parameterisation",
    "Policy",
    "Role",
    "Score",
    "SignalNormalisation",
    "column_note",
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


# -- the columns of the tables ------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One column of hepfm's tables, named once: the dashboard's and the report's tables, the
    terminal's summary and the report's header titles all read it from here.

    ``key``: its identifier, and the JSON key of a dataclass field shown in it
    (``common.json_fields.shown``); ``name`` and ``unit`` make its :attr:`title`; ``note``:
    what it means (the report's header title); ``short``: the terminal's narrower header
    (default: the title); ``fmt``: the format of its number in a text cell, ``width``: its
    width in the terminal (default: its header's). A column per background efficiency has a
    ``{}`` in ``name`` and ``short`` for the target (:meth:`at`).
    """

    key: str
    name: str
    note: str = ""
    unit: str = ""
    short: str = ""
    fmt: str = ""
    width: int = 0

    @property
    def title(self) -> str:
        """The header: the name, and the unit in brackets."""
        return f"{self.name} [{self.unit}]" if self.unit else self.name

    @property
    def terminal(self) -> str:
        """The terminal's header."""
        return self.short or self.title

    @property
    def terminal_width(self) -> int:
        return self.width or len(self.terminal)

    def at(self, target: str, *, terminal: bool = False) -> str:
        """The header of the column for one target: ``ε_S at ε_B=1e-3`` (``eff@1e-3``)."""
        return (self.terminal if terminal else self.title).format(target)


COLUMNS: dict[str, Column] = {
    c.key: c
    for c in (
        # the counts of each sample (the background first)
        Column("sample", "sample", width=16),
        Column("count", "count"),
        Column("total", "total", width=9),
        Column("kept", "kept", width=9),
        Column(
            "excluded",
            "excluded",
            "events without a usable score under this policy (kept + excluded = total)",
            width=9,
        ),
        Column(
            "imputed",
            "imputed (kept)",
            "events with a non-finite raw input filled in by the reader: kept, scored",
            short="imputed",
            width=9,
        ),
        *(Column(c.label, c.label, c.description) for c in Cause if c != Cause.OK),
        Column(
            "outside_clip",
            "outside clip",
            "events with z_log_var outside the clip bounds in any dimension",
        ),
        Column(
            "nonfinite_unguarded_float32",
            "non-finite without guards (float32)",
            short="nonfinite f32",
        ),
        Column(
            "nonfinite_unguarded_float16",
            "non-finite without guards (float16)",
            short="nonfinite f16",
        ),
        # the metrics of each signal
        Column("signal", "signal", width=16),
        Column("auc", "AUC", width=15),
        Column("eff_at_bkg_eff", "ε_S at ε_B={}", short="eff@{}", width=10),
        Column("max_sic", "max SIC", "max over cuts of ε_S / √ε_B", fmt=".2f", width=8),
        Column("kept_total", "kept / total"),
        # the comparison of two models on each signal
        Column("model_a", "model A"),
        Column("model_b", "model B"),
        Column(
            "pairs",
            "events paired (background / signal)",
            "the events both models keep: the pairs compared",
        ),
        Column(
            "delta_auc",
            "ΔAUC (A − B)",
            "AUC of model A minus AUC of model B, ± the paired DeLong error",
        ),
        Column(
            "p_value",
            "p-value",
            "two-sided p-value of the paired DeLong test (no difference in AUC)",
        ),
        Column(
            "p_value_holm",
            "p-value (Holm)",
            "Holm-corrected over every signal × pair of models of the report",
        ),
        Column("eff_sig_differences", "Δε_S at ε_B={}"),
        Column(
            "seed_spread",
            "seed spread",
            "whether the difference of the groups' mean AUCs exceeds the sampling error and"
            " the seed-to-seed spread",
        ),
        # the axes of the ROC and rejection charts
        Column("eff_sig", "signal efficiency ε_S"),
        Column("eff_bkg", "background efficiency ε_B"),
        Column("rejection", "background rejection 1/ε_B"),
        # a page of events, and an event's tracks
        Column("event", "event"),
        Column("cause", "cause"),
        Column("score", "score"),
        Column("reconstruction", "reconstruction"),
        Column("tracks", "tracks"),
        Column("largest_residual", "largest residual"),
        Column("largest_share", "its share"),
        Column("max_z_log_var", "max z_log_var"),
        Column("input", "input"),
        Column("value", "value"),
        Column("residual", "squared residual (x − x̂)²", unit="standardised units²"),
        Column("track_slot", "track slot"),
        Column("track_residual", "Σ residual²"),
        Column("filled", "filled by the reader"),
        Column("feature", "feature"),
        Column("events", "events"),
        # a selection's statistics against the rest's
        Column("statistic", "statistic"),
        Column("unit", "unit"),
        Column("distance", "D"),
        Column("direction", "selection is"),
        Column("selected_median", "selected median"),
        Column("rest_median", "rest median"),
        Column("discrepant_level", "most discrepant quantile"),
        Column("discrepant_position", "its position in the rest"),
    )
}
"""Every column by its key."""


def column_note(title: str) -> str:
    """What the column of this title means ("" where nothing needs saying)."""
    return next((c.note for c in COLUMNS.values() if c.title == title), "")
