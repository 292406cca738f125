"""Parsed arguments into the settings dataclasses, derived from the dataclasses' fields.

Every field of a settings dataclass is read from the parsed argument of its own name
(``--batch-size`` gives ``args.batch_size``, which fills ``TrainingSettings.batch_size``).
What differs is named here, and only here, in one :class:`FromArgs` per dataclass: a flag of
another name (``renamed``), a value converted on the way in (``converted``), a field made from
several flags (``derived``), a value no flag sets (``fixed``), a field without a flag whose
default stands (``unset``). A field that is none of these and has no argument of its name is
a programming error, raised at once: a new field needs a flag, or its entry here.

The dataclasses are imported only when a command reads them: building the parser (and
``hepfm --help``) imports neither the engine nor TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..vocabulary import DEFAULT_CLIP

if TYPE_CHECKING:
    from ..cluster.connect import ClusterSpec
    from ..cluster.jobqueue import BatchSettings
    from ..data.physlite import Selection
    from ..engine.evaluate import EvaluationSettings
    from ..model.training import BetaSchedule, TrainingSettings
    from ..model.vae import VAEConfig

__all__ = [
    "BATCH",
    "BETA_SCHEDULE",
    "CLUSTER",
    "EVALUATION",
    "SELECTION",
    "TRAINING",
    "VAE",
    "FromArgs",
    "batch_settings",
    "cluster_spec",
    "conversion_selection",
    "evaluation_settings",
    "open_keywords",
    "training_settings",
    "vae_config",
]

_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class FromArgs:
    """How one settings dataclass is read from parsed arguments: each field from the
    argument of its name, except the fields named here (each in one of these at most)."""

    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """field -> the argument's name (its ``dest``), where the flag is named otherwise"""
    converted: Mapping[str, Callable[[Any], Any]] = dataclasses.field(default_factory=dict)
    """field -> a function of the argument's value (after ``renamed``)"""
    derived: Mapping[str, Callable[[argparse.Namespace], Any]] = dataclasses.field(
        default_factory=dict
    )
    """field -> a function of all the arguments, where several flags make one value"""
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """field -> its value, which no flag sets"""
    unset: frozenset[str] = frozenset()
    """fields no flag sets: the dataclass's default stands"""

    def __post_init__(self) -> None:
        ways = [*{*self.renamed, *self.converted}, *self.derived, *self.fixed, *self.unset]
        twice = sorted(name for name, n in Counter(ways).items() if n > 1)
        if twice:
            raise TypeError(f"each field is read one way: {', '.join(twice)} named twice")

    def named(self) -> set[str]:
        """The fields this mapping names (the exceptions)."""
        return set().union(self.renamed, self.converted, self.derived, self.fixed, self.unset)

    def values(self, cls: type, args: argparse.Namespace) -> dict[str, Any]:
        """The keywords of ``cls(...)`` from ``args``: every field but the ``unset`` ones.

        Raises ``TypeError`` (a programming error, not the user's) where this mapping names
        a field ``cls`` lacks, or a field has neither an argument nor an entry here.
        """
        init = [f.name for f in dataclasses.fields(cls) if f.init]
        unknown = sorted(self.named() - set(init))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name in init:
            if name in self.unset:
                continue
            if name in self.fixed:
                values[name] = self.fixed[name]
            elif name in self.derived:
                values[name] = self.derived[name](args)
            else:
                dest = self.renamed.get(name, name)
                if not hasattr(args, dest):
                    raise TypeError(
                        f"{cls.__name__}.{name}: the command has no argument {dest!r}; add its "
                        "flag, or name the field in the command line's FromArgs"
                    )
                value = getattr(args, dest)
                values[name] = self.converted[name](value) if name in self.converted else value
        return values

    def build(self, cls: type[_T], args: argparse.Namespace) -> _T:
        """``cls`` with its fields from ``args``."""
        return cls(**self.values(cls, args))


def _clip(args: argparse.Namespace) -> tuple[float, float] | None:
    """``--no-clip``: None; ``--clip LO HI``: those; neither: the dashboard's default."""
    if args.no_clip:
        return None
    if args.clip is None:
        return DEFAULT_CLIP
    return (args.clip[0], args.clip[1])


def _signal_list(text: str | None) -> tuple[str, ...] | None:
    """``--signals a,b``: the names, blanks dropped; not given (or empty): all (None)."""
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else None


def _repeated(values: list[str] | None) -> tuple[str, ...]:
    """A repeatable flag's values (None where it was not given) as a tuple."""
    return tuple(values or ())


def _beta_schedule(args: argparse.Namespace) -> BetaSchedule:
    from ..model.training import BetaSchedule

    return BETA_SCHEDULE.build(BetaSchedule, args)


def _definition(args: argparse.Namespace) -> str:
    """``--upstream-compatible``: upstream's derivations; else physical values."""
    return "upstream-compatible" if args.upstream_compatible else "physical"


def _track_filters(specs: list[str]) -> tuple[Any, ...]:
    from ..data.physlite import TrackFilter

    return tuple(TrackFilter.parse(t) for t in specs)


# -- the exceptions, one per dataclass ------------------------------------------------------
EVALUATION = FromArgs(
    derived={"clip": _clip},
    converted={"signals": _signal_list},
)
"""``engine.evaluate.EvaluationSettings`` from ``options.add_settings_arguments``' flags."""

BETA_SCHEDULE = FromArgs(
    renamed={"cycle_low": "beta_low", "cycle_high": "beta_high"},
    unset=frozenset({"start", "warmup", "cycle_period"}),
)
"""``model.training.BetaSchedule`` from ``hepfm train``'s ``--beta-low``/``--beta-high``."""

TRAINING = FromArgs(
    derived={"beta": _beta_schedule},
    unset=frozenset(
        {
            "clipnorm",
            "validation_fraction",
            "patience",
            "min_delta",
            "max_abs_input",
            "monitor_beta",
        }
    ),
)
"""``model.training.TrainingSettings`` from ``hepfm train``'s flags."""

VAE = FromArgs(
    renamed={"encoder_layers": "encoder", "decoder_layers": "decoder", "latent_dim": "latent"},
    fixed={"input_dim": 1},  # replaced by the data's feature count
    unset=frozenset({"bn_epsilon"}),
)
"""``model.vae.VAEConfig`` from ``hepfm train``'s architecture flags."""

BATCH = FromArgs(
    renamed={"job_directives": "job_directive"},
    converted={"job_directives": _repeated, "prologue": _repeated},
)
"""``cluster.jobqueue.BatchSettings`` from ``hepfm cluster``'s flags."""

CLUSTER = FromArgs()
"""``cluster.connect.ClusterSpec`` from ``options.add_cluster_arguments``' flags."""

SELECTION = FromArgs(
    renamed={"n_tracks": "tracks", "track_filters": "track_filter"},
    converted={"track_filters": _track_filters},
    derived={"definition": _definition},
)
"""``data.physlite.Selection`` from ``hepfm convert``'s flags."""


# -- the readers the commands call ------------------------------------------------------------
def evaluation_settings(args: argparse.Namespace) -> EvaluationSettings:
    """The settings of evaluate, report and events."""
    from ..engine.evaluate import EvaluationSettings

    return EVALUATION.build(EvaluationSettings, args)


def training_settings(args: argparse.Namespace) -> TrainingSettings:
    """``hepfm train``'s optimiser, stopping and beta settings."""
    from ..model.training import TrainingSettings

    return TRAINING.build(TrainingSettings, args)


def vae_config(args: argparse.Namespace) -> VAEConfig:
    """``hepfm train``'s architecture (``input_dim`` 1: the data's feature count replaces
    it)."""
    from ..model.vae import VAEConfig

    return VAE.build(VAEConfig, args)


def batch_settings(args: argparse.Namespace) -> BatchSettings:
    """``hepfm cluster``'s worker job."""
    from ..cluster.jobqueue import BatchSettings

    return BATCH.build(BatchSettings, args)


def cluster_spec(args: argparse.Namespace) -> ClusterSpec | None:
    """The cluster the flags name, or None (none of ``--workers``, ``--scheduler``,
    ``--scheduler-file``): the single-process path."""
    if args.scheduler is None and args.scheduler_file is None and args.workers is None:
        return None
    from ..cluster.connect import ClusterSpec

    return CLUSTER.build(ClusterSpec, args)


def conversion_selection(args: argparse.Namespace) -> Selection:
    """What ``hepfm convert`` keeps: tracks per event, definition, filters, min tracks."""
    from ..data.physlite import Selection

    return SELECTION.build(Selection, args)


def open_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of an evaluator's ``open`` (one model, several, or on a cluster) from
    the data and cache flags of ``options.add_settings_arguments``."""
    return {
        "signal_normalisation": args.signal_normalisation,
        "fill": args.fill,
        "cache": args.cache_dir,
    }
