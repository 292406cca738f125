"""``hepfm events``: the events of a cause are those ``hepfm evaluate --scores-out`` gives it,
strict JSON in the issue's shape, an id list, paging, and exit 2 with what / where / what to
do for every bad input.

The command is run through a parser built with ``add_events_parser`` and the evaluate
command's settings flags, handled as ``cli.main`` handles errors (exit 2).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import polars as pl
import pytest

from hepfm_core import cli
from hepfm_core.cli.events_command import add_events_parser
from hepfm_core.errors import HepfmError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hepfm")
    sub = parser.add_subparsers(dest="command", required=True)
    add_events_parser(sub)  # with the evaluate command's settings flags, as `hepfm` adds it
    return parser


def run_events(capsys, *argv: str) -> tuple[int, str, str]:
    args = _parser().parse_args(["events", *argv])
    try:
        code = int(args.func(args))
    except HepfmError as exc:
        print(f"hepfm: error: {exc}", file=sys.stderr)
        code = 2
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_args(small_demo, tmp_path_factory) -> list[str]:
    data_dir, model = small_demo
    cache = tmp_path_factory.mktemp("cache")
    return ["--data", str(data_dir), "--model", str(model), "--cache-dir", str(cache), "--quiet"]


def test_cause_events_equal_scores_out(demo_args, tmp_path, capsys, strict_json):
    code = cli.main(
        ["evaluate", *demo_args, "--score", "kl", "--no-clip", "--scores-out", str(tmp_path / "s")]
    )
    assert code == 0
    capsys.readouterr()
    parquet = pl.read_parquet(tmp_path / "s" / "background.parquet")
    expected = parquet.filter(pl.col("cause_label") == "kl_overflow")["event"].to_list()
    assert expected  # the demo's degenerate tracks overflow the KL
    out_json, ids_csv = tmp_path / "ev.json", tmp_path / "ids.csv"
    code, out, err = run_events(
        capsys,
        *demo_args,
        "--sample",
        "background",
        "--cause",
        "kl_overflow",
        "--score",
        "kl",
        "--no-clip",
        "--json",
        str(out_json),
        "--export-ids",
        str(ids_csv),
    )
    assert code == 0, err
    doc = strict_json(out_json.read_text())
    assert [e["event"] for e in doc["events"]] == expected
    assert doc["selection"]["selected"] == len(expected) and doc["selection"]["pages"] == 1
    event = doc["events"][0]
    required = {"event", "cause", "score", "z_mean", "z_log_var", "tracks", "residuals"}
    assert required <= set(event)
    assert event["cause"] == "kl_overflow" and event["score"] is None
    assert len(event["z_mean"]) == len(event["z_log_var"]) == 16
    assert len(event["residuals"]) == 180 and all(len(t) == 6 for t in event["tracks"])
    assert doc["settings"]["score"] == "kl" and doc["settings"]["clip"] is None
    assert doc["layout"]["branches"][4] == "pt" and doc["layout"]["units"][4] == "GeV"
    assert doc["values"]["kind"] == "raw"
    summary = doc["summary"]
    assert "a track with pt ≥ " in summary["sentences"][0]
    assert summary["features"][0]["selected_passing"] == len(expected)
    assert summary["features"][0]["statistic"] == "max pt"
    assert summary["sentences"][0] in out
    ids = pl.read_csv(ids_csv)
    if "identity" in event:  # data files with run and event numbers
        assert ids.columns[:2] == ["run_number", "event_number"]
        assert ids["event_number"].to_list() == [
            e["identity"]["event_number"] for e in doc["events"]
        ]
    else:
        assert ids.columns == ["sample", "event"] and ids["event"].to_list() == expected


def test_imputed_events_are_the_stored_rows_with_filled_values(
    demo_args, small_demo, capsys, strict_json
):
    """``--cause imputed``: the events whose stored raw values hold NaN or inf (the demo's
    reducedChiSquared of tracks without degrees of freedom), each naming the filled inputs."""
    import h5py

    with h5py.File(small_demo[0] / "background.h5") as h5:
        bad = ~np.isfinite(h5["events"][:])
    expected = np.flatnonzero(bad.any(axis=1))
    assert expected.size
    code, out, err = run_events(
        capsys, *demo_args, "--sample", "background", "--cause", "imputed", "--limit", "500",
        "--json", "-",
    )  # fmt: skip
    assert code == 0, err
    doc = strict_json(out[out.index("{") :])
    assert doc["selection"]["criterion"]["kind"] == "imputed"
    assert doc["selection"]["selected"] == expected.size
    events = doc["events"]
    assert [e["event"] for e in events] == expected[:500].tolist()
    for e in events:
        assert e["filled_inputs"] == np.flatnonzero(bad[e["event"]]).tolist()


def test_top_to_stdout_and_paging(demo_args, capsys, strict_json):
    code, out, err = run_events(
        capsys, *demo_args, "--sample", "wprime_qq", "--top", "25", "--limit", "10", "--json", "-"
    )
    assert code == 0, err
    doc = strict_json(out)
    scores = [e["score"] for e in doc["events"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    assert doc["selection"]["pages"] == 3 and doc["selection"]["page"] == 1
    code, out, _ = run_events(
        capsys,
        *demo_args,
        *("--sample", "wprime_qq", "--top", "25", "--limit", "10", "--page", "3", "--json", "-"),
    )
    last = strict_json(out)
    assert code == 0 and len(last["events"]) == 5
    assert max(e["score"] for e in last["events"]) <= min(scores)
    for e in doc["events"]:
        assert sum(e["residuals"]) == pytest.approx(e["score"], rel=1e-5)


def test_open_clip_side_stays_strict_json(demo_args, capsys, strict_json):
    code, out, err = run_events(
        capsys, *demo_args, "--sample", "background", "--top", "2", "--score", "kl",
        "--clip", " -inf", "20", "--json", "-",
    )  # fmt: skip
    assert code == 0, err
    doc = strict_json(out)
    assert doc["settings"]["clip"] == ["-inf", 20.0] == doc["selection"]["clip"]


def test_range(demo_args, capsys, strict_json):
    code, out, err = run_events(
        capsys, *demo_args, "--sample", "background", "--range", "30", "40", "--json", "-"
    )
    assert code == 0, err
    doc = strict_json(out)
    scores = np.array([e["score"] for e in doc["events"]])
    assert ((scores >= 30) & (scores <= 40)).all() and doc["selection"]["selected"] >= len(scores)


@pytest.mark.parametrize(
    ("argv", "what", "where"),
    [
        (["--sample", "background", "--cause", "kl_overflw"], "unknown cause", "--cause"),
        (["--sample", "nope", "--top", "3"], "unknown sample 'nope'", "where:"),
        (["--sample", "background", "--cause", "decoder_nonfinite"], "no event of", "--cause"),
        (["--sample", "background", "--range", "5", "1"], "score range inverted", "--range"),
        (["--sample", "background", "--range", "1e300", "inf"], "no event of", "--range"),
        (["--sample", "background", "--top", "0"], "--top needs", "--top"),
        (["--sample", "background", "--top", "5", "--page", "2"], "beyond the selection", "--page"),
        (["--sample", "background", "--top", "5", "--workers", "0"], "at least one", "--workers"),
        (
            ["--sample", "background", "--top", "5", "--workers", "1", "--partition-events", "5"],
            "not a multiple of the scoring chunk",
            "--partition-events",
        ),
        (["--sample", "background", "--top", "5", "--clip", "3", "-3"], "inverted", "clip"),
    ],
)
def test_bad_input_exits_2_with_what_where_todo(demo_args, capsys, argv, what, where, tmp_path):
    code, _, err = run_events(capsys, *demo_args, *argv, "--json", str(tmp_path / "x.json"))
    assert code == 2
    assert what in err and where in err and "what to do:" in err
    assert "Traceback" not in err and not (tmp_path / "x.json").exists()
