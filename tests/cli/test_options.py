"""The flags several commands share: the same settings flags on evaluate, report and events,
the cluster flags (with ``--partition-events`` where samples are partitioned), and the
partition default the cluster evaluator's."""

from __future__ import annotations

import argparse

from hepfm_core.cli import build_parser
from hepfm_core.cli.options import add_settings_arguments


def _commands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def test_command_line_partition_default_is_the_evaluators():
    from hepfm_core.cli import options
    from hepfm_core.cluster import evaluator

    assert options.DEFAULT_PARTITION_EVENTS == evaluator.DEFAULT_PARTITION_EVENTS


def test_evaluate_report_and_events_share_the_settings_flags():
    alone = argparse.ArgumentParser()
    add_settings_arguments(alone)
    shared = _options(alone) - {"-h", "--help"}
    assert {"--clip", "--no-clip", "--score", "--beta", "--policy", "--kl-form"} <= shared
    assert {"--signals", "--signal-normalisation", "--fill", "--cache-dir"} <= shared
    assert {"--workers", "--scheduler", "--scheduler-file", "--partition-events"} <= shared
    commands = _commands()
    for name in ("evaluate", "report", "events"):
        assert shared <= _options(commands[name]), name
    # convert runs on a cluster, file by file: no partitions, no evaluation settings
    convert = _options(commands["convert"])
    assert {"--workers", "--scheduler", "--scheduler-file", "--connect-timeout"} <= convert
    assert "--partition-events" not in convert and "--clip" not in convert


def test_clip_and_no_clip_exclude_each_other(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["evaluate", "--model", "m", "--clip", "-1", "1", "--no-clip"])
    assert exit_.value.code == 2
    assert "not allowed with argument --clip" in capsys.readouterr().err
