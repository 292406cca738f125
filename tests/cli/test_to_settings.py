"""Parsed arguments into settings: every field of each settings dataclass is reached from the
command line and lands in the settings; the parser's defaults are the dataclasses'; a field
with neither a flag nor an entry in the mapping is refused at once."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from hepfm_core.cli import build_parser
from hepfm_core.cli import to_settings as ts
from hepfm_core.vocabulary import DEFAULT_CLIP

COMMON = ["--data", "d", "--model", "m"]
EVALUATION_FLAGS = [
    *("--clip", "-3", "4.5", "--score", "total", "--beta", "0.25", "--policy", "drop"),
    *("--kl-form", "upstream", "--signals", " zprime_tt, wprime_qq,"),
]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def moved_fields(settings, defaults) -> list[str]:
    """The fields whose value differs from the defaults'."""
    return [
        f.name
        for f in dataclasses.fields(settings)
        if getattr(settings, f.name) != getattr(defaults, f.name)
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", *COMMON],
        ["report", *COMMON, "--out", "r.html"],
        ["events", *COMMON, "--sample", "background", "--top", "5", "--json", "-"],
    ],
)
def test_every_evaluation_setting_is_reachable_from_the_command_line(command):
    from hepfm_core.engine.evaluate import EvaluationSettings
    from hepfm_core.engine.guards.settings import GuardSettings

    settings = ts.evaluation_settings(parse(*command, *EVALUATION_FLAGS))
    assert settings == EvaluationSettings(
        clip=(-3.0, 4.5),
        score="total",
        beta=0.25,
        policy="drop",
        kl_form="upstream",
        signals=("zprime_tt", "wprime_qq"),
    )
    # every field was set by a flag: none kept its default
    everything = [f.name for f in dataclasses.fields(EvaluationSettings)]
    assert moved_fields(settings, EvaluationSettings()) == everything
    # and the guards get them all; the parameterisation is the model's, not a flag
    guards = settings.guard_settings("softplus")
    assert guards == GuardSettings(
        clip=(-3.0, 4.5), score="total", beta=0.25, parameterisation="softplus", kl_form="upstream"
    )


def test_the_clip_flags_and_their_default():
    assert ts.evaluation_settings(parse("evaluate", *COMMON)).clip == DEFAULT_CLIP == (-20, 20)
    assert ts.evaluation_settings(parse("evaluate", *COMMON, "--no-clip")).clip is None
    assert ts.evaluation_settings(parse("evaluate", *COMMON, "--signals", "")).signals is None
    clip = ts.evaluation_settings(parse("evaluate", *COMMON, "--clip", "-7.5", "7")).clip
    assert clip == (-7.5, 7.0)


def test_training_and_architecture_from_every_flag():
    from hepfm_core.model.training import BetaSchedule, TrainingSettings
    from hepfm_core.model.vae import VAEConfig

    args = parse(
        *("train", "--data", "d", "--out", "m.keras", "--epochs", "3", "--batch-size", "256"),
        *("--learning-rate", "0.01", "--max-events", "500", "--seed", "7"),
        *("--encoder", "64", "32", "--decoder", "32", "48", "64", "--latent", "4"),
        *("--activation", "tanh", "--parameterisation", "softplus"),
        *("--beta-low", "0.02", "--beta-high", "0.3"),
    )
    settings = ts.training_settings(args)
    assert settings == TrainingSettings(
        epochs=3,
        batch_size=256,
        learning_rate=0.01,
        max_events=500,
        seed=7,
        beta=BetaSchedule(cycle_low=0.02, cycle_high=0.3),
    )
    assert moved_fields(settings.beta, BetaSchedule()) == ["cycle_low", "cycle_high"]
    config = ts.vae_config(args)
    assert config == VAEConfig(
        input_dim=1,
        encoder_layers=(64, 32),
        decoder_layers=(32, 48, 64),
        latent_dim=4,
        activation="tanh",
        parameterisation="softplus",
    )
    assert isinstance(config.encoder_layers, tuple)


def test_the_parsers_defaults_are_the_dataclasses():
    from hepfm_core.cluster.jobqueue import BatchSettings
    from hepfm_core.data.physlite import Selection
    from hepfm_core.model.training import TrainingSettings
    from hepfm_core.model.vae import VAEConfig

    train = parse("train", "--data", "d", "--out", "m.keras")
    assert ts.training_settings(train) == TrainingSettings()
    assert ts.vae_config(train) == VAEConfig(input_dim=1)
    assert ts.batch_settings(parse("cluster", "slurm")) == BatchSettings()
    assert ts.conversion_selection(parse("convert", "--background", "a", "--out", "o")) == (
        Selection()
    )
    assert ts.cluster_spec(parse("evaluate", *COMMON)) is None


def test_batch_cluster_and_selection_from_every_flag():
    from hepfm_core.cluster.connect import ClusterSpec
    from hepfm_core.cluster.jobqueue import BatchSettings
    from hepfm_core.data.physlite import Selection, TrackFilter

    batch = ts.batch_settings(
        parse(
            *("cluster", "pbs", "--cores", "4", "--memory", "16GiB", "--walltime", "02:00:00"),
            *("--queue", "short", "--account", "atlas", "--interface", "ib0"),
            *("--job-directive=--gres=gpu:1", "--job-directive=-l mem=1"),
            *("--prologue", "module load cuda"),
        )
    )
    assert batch == BatchSettings(
        cores=4,
        memory="16GiB",
        walltime="02:00:00",
        queue="short",
        account="atlas",
        interface="ib0",
        job_directives=("--gres=gpu:1", "-l mem=1"),
        prologue=("module load cuda",),
    )
    assert moved_fields(batch, BatchSettings()) == [f.name for f in dataclasses.fields(batch)]
    spec = ts.cluster_spec(
        parse(
            *("evaluate", *COMMON, "--workers", "2", "--threads-per-worker", "3"),
            *("--connect-timeout", "5", "--no-worker-timeout", "7.5"),
        )
    )
    assert spec == ClusterSpec(
        workers=2, threads_per_worker=3, connect_timeout=5.0, no_worker_timeout=7.5
    )
    assert ts.cluster_spec(parse("evaluate", *COMMON, "--scheduler", "tcp://h:1")) == (
        ClusterSpec(scheduler="tcp://h:1")
    )
    selection = ts.conversion_selection(
        parse(
            *("convert", "--background", "a", "--out", "o", "--tracks", "20"),
            *("--track-filter", "z0:-100:100", "--track-filter", "pt:1:"),
            *("--min-tracks", "5", "--upstream-compatible"),
        )
    )
    assert selection == Selection(
        n_tracks=20,
        definition="upstream-compatible",
        track_filters=(TrackFilter("z0", -100.0, 100.0), TrackFilter("pt", 1.0, None)),
        min_tracks=5,
    )


def test_the_open_keywords():
    args = parse("evaluate", *COMMON, "--signal-normalisation", "own", "--fill", "none")
    args.cache_dir = "c"
    assert ts.open_keywords(args) == {"signal_normalisation": "own", "fill": "none", "cache": "c"}


@dataclasses.dataclass(frozen=True)
class Toy:
    size: int
    name: str = "toy"
    weight: float = 1.0


def test_a_field_without_a_flag_or_an_entry_is_refused():
    args = argparse.Namespace(size=3, label="x")
    with pytest.raises(TypeError, match=r"Toy.name: the command has no argument 'name'"):
        ts.FromArgs().build(Toy, args)
    mapping = ts.FromArgs(
        renamed={"name": "label"}, converted={"name": str.upper}, unset=frozenset({"weight"})
    )
    assert mapping.build(Toy, args) == Toy(size=3, name="X", weight=1.0)
    assert ts.FromArgs(
        derived={"name": lambda a: f"{a.label}{a.size}"}, fixed={"weight": 2.0}
    ).build(Toy, args) == Toy(size=3, name="x3", weight=2.0)
    with pytest.raises(TypeError, match="Toy has no field colour"):
        ts.FromArgs(unset=frozenset({"colour", "name", "weight"})).build(Toy, args)
    with pytest.raises(TypeError, match="name named twice"):
        ts.FromArgs(renamed={"name": "label"}, unset=frozenset({"name"}))


def test_each_mapping_names_only_fields_of_its_dataclass():
    """The exceptions are checked against the dataclasses' fields (a renamed field would
    otherwise linger here unnoticed)."""
    from hepfm_core.cluster.connect import ClusterSpec
    from hepfm_core.cluster.jobqueue import BatchSettings
    from hepfm_core.data.physlite import Selection
    from hepfm_core.engine.evaluate import EvaluationSettings
    from hepfm_core.model.training import BetaSchedule, TrainingSettings
    from hepfm_core.model.vae import VAEConfig

    pairs = [
        (ts.EVALUATION, EvaluationSettings),
        (ts.BETA_SCHEDULE, BetaSchedule),
        (ts.TRAINING, TrainingSettings),
        (ts.VAE, VAEConfig),
        (ts.BATCH, BatchSettings),
        (ts.CLUSTER, ClusterSpec),
        (ts.SELECTION, Selection),
    ]
    for mapping, cls in pairs:
        assert mapping.named() <= {f.name for f in dataclasses.fields(cls)}, cls
