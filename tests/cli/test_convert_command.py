"""``hepfm convert`` and ``hepfm demo --physlite``: the command's arguments, exit codes and
messages, and the demo's path ROOT -> convert -> evaluate against the demo written directly."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest

from hepfm_core.cli.convert_command import add_convert_parser, cmd_convert, read_normalisation
from hepfm_core.cli.demo_command import add_physlite_option, write_physlite_demo
from hepfm_core.errors import HepfmError


def parser() -> argparse.ArgumentParser:
    """The two commands as ``cli.build_parser`` wires them."""
    p = argparse.ArgumentParser(prog="hepfm")
    sub = p.add_subparsers(dest="command", required=True)
    add_convert_parser(sub)
    demo = sub.add_parser("demo")
    add_physlite_option(demo)
    return p


def run(argv: list[str]) -> int:
    """What ``cli.main`` does with a command: 0 when done, 2 and the message for a user error."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HepfmError as exc:
        print(f"hepfm: error: {exc}", file=sys.stderr)
        return 2


def test_arguments_and_defaults():
    args = parser().parse_args(["convert", "--background", "a.root", "b*.root", "--out", "d"])
    assert args.func is cmd_convert
    assert args.background == ["a.root", "b*.root"] and args.signal == []
    assert (args.tracks, args.tree, args.min_tracks) == (30, "CollectionTree", 0)
    assert args.upstream_compatible is False and args.track_filter == []
    args = parser().parse_args(
        [
            "convert",
            "--background",
            "a.root",
            "--out",
            "d",
            "--signal",
            "zp=x.root,y.root",
            "--signal",
            "wq=z.root",
            "--track-filter",
            "z0:-100:100",
            "--track-filter",
            "pt:1:",
            "--min-tracks",
            "5",
            "--upstream-compatible",
            "--tracks",
            "20",
        ]
    )
    assert args.signal == ["zp=x.root,y.root", "wq=z.root"]
    assert args.track_filter == ["z0:-100:100", "pt:1:"] and args.tracks == 20
    assert parser().parse_args(["demo", "--physlite", "r"]).physlite == "r"
    assert parser().parse_args(["demo"]).physlite is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--signal", "zprime_ee"], "has no '='"),
        (["--signal", "a=x.root", "--signal", "a=y.root"], "given twice"),
        (["--track-filter", "z0:1"], "malformed track filter"),
        (["--track-filter", "mass:0:1"], "unknown value"),
        (["--tracks", "0"], "at least one track"),
    ],
)
def test_bad_settings_exit_2_with_what_to_do_and_write_nothing(tmp_path, capsys, extra, message):
    root = tmp_path / "a.root"
    root.write_bytes(b"root" + b"\0" * 100)  # never opened: settings are checked first
    rc = run(["convert", "--background", str(root), "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "what to do" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_input_exits_2_and_names_the_file(tmp_path, capsys):
    bad = tmp_path / "events.root"
    bad.write_text("not a ROOT file at all")
    rc = run(["convert", "--background", str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "events.root is not a ROOT file" in err and "what to do" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.root"]


def test_normalisation_from_a_folder_a_file_or_a_model(small_data, tmp_path):
    norm, where = read_normalisation(small_data)
    assert where.endswith("background.h5 (stored)") and norm.n_features == 180
    norm2, _ = read_normalisation(small_data / "zprime_ee.h5")
    assert norm2.fingerprint() == norm.fingerprint()
    with pytest.raises(HepfmError, match="no hepfm background"):
        read_normalisation(tmp_path)


def _evaluate(data_dir, model, cache):
    from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator

    ev = Evaluator.open(data_dir, model, cache=cache)
    ev.score_all()
    return {
        (score, policy): ev.evaluate(EvaluationSettings(score=score, policy=policy))
        for score in ("reconstruction", "kl", "radius")
        for policy in ("worst", "drop")
    }


def test_demo_from_root_converts_and_evaluates_as_the_demo(small_demo, tmp_path, capsys):
    """hepfm demo --physlite DIR; hepfm convert ...; hepfm evaluate: the same counts and AUCs
    (within 1e-4) as the demo folder written directly."""
    from hepfm_core.data.hepfm_format import read_header, read_identity

    data_dir, model = small_demo
    root = tmp_path / "physlite"
    written = write_physlite_demo(data_dir, root, seed=7, quiet=True)
    assert sorted(written) == sorted(p.stem for p in data_dir.glob("*.h5"))
    printed = capsys.readouterr().out
    assert "hepfm convert --background" in printed
    out = tmp_path / "converted"
    signals = [f"--signal={n}={p}" for n, p in written.items() if n != "background"]
    rc = run(
        [
            "convert",
            "--background",
            str(written["background"]),
            *signals,
            "--out",
            str(out),
            "--normalisation-from",
            str(model),
            "--quiet",
            "--step-size",
            "3000",
            "--json",
            str(tmp_path / "convert.json"),
        ]
    )
    assert rc == 0
    summary = json.loads((tmp_path / "convert.json").read_text())
    assert summary["samples"]["background"]["counts"]["events_in"] == 20_000
    assert "(the model's)" in summary["normalisation"]
    for name in written:
        direct, converted = read_header(data_dir / f"{name}.h5"), read_header(out / f"{name}.h5")
        assert converted["n_events"] == direct["n_events"]
        assert np.array_equal(converted["nonfinite_per_feature"], direct["nonfinite_per_feature"])
        ids_direct, ids_conv = (
            read_identity(data_dir / f"{name}.h5"),
            read_identity(out / f"{name}.h5"),
        )
        for column, values in ids_direct.items():
            assert np.array_equal(ids_conv[column], values), (name, column)
    a = _evaluate(data_dir, model, tmp_path / "cache")
    b = _evaluate(out, model, tmp_path / "cache")
    n_auc = 0
    for key, ra in a.items():
        rb = b[key]
        for name, sa in ra.samples.items():
            sb = rb.samples[name]
            assert sb.counts.total == sa.counts.total, (key, name)
            assert sb.policy.kept == sa.policy.kept, (key, name)
            assert dict(sb.policy.excluded) == dict(sa.policy.excluded), (key, name)
        for name, sep in ra.signals.items():
            assert rb.signals[name].status == sep.status
            if sep.auc is not None:
                assert rb.signals[name].auc == pytest.approx(sep.auc, abs=1e-4), (key, name)
                n_auc += 1
    assert n_auc >= 30


def test_model_on_data_of_another_definition_warns(small_demo, tmp_path, capsys, strict_json):
    """The demo model (physical features) on the demo converted --upstream-compatible: the
    evaluation runs, says so on stderr and in the JSON's provenance."""
    from hepfm_core.cli import main

    data_dir, model = small_demo
    written = write_physlite_demo(data_dir, tmp_path / "root", seed=7, quiet=True)
    out = tmp_path / "upstream-like"
    argv = ["convert", "--background", str(written["background"]), "--out", str(out)]
    argv += [f"--signal=zprime_ee={written['zprime_ee']}", "--upstream-compatible", "--quiet"]
    assert main([*argv, "--normalisation-from", str(model)]) == 0
    capsys.readouterr()
    doc_path = tmp_path / "e.json"
    argv = ["evaluate", "--data", str(out), "--model", str(model), "--quiet"]
    assert main([*argv, "--cache-dir", str(tmp_path / "c"), "--json", str(doc_path)]) == 0
    err = capsys.readouterr().err
    expected = "trained on physical features but the data are upstream-compatible"
    assert f"hepfm: warning: the model was {expected}" in err
    prov = strict_json(doc_path.read_text())["provenance"]
    assert prov["feature_definition"] == {"model": "physical", "data": "upstream-compatible"}
    assert len(prov["warnings"]) == 1 and expected in prov["warnings"][0]
