"""The terminal's progress bar (common.progress): one line per label, redrawn in place, a line
break when the label changes or the step is done; an empty step is a full bar."""

from __future__ import annotations

import io

import pytest

from hepfm_core.common import progress
from hepfm_core.common.progress import TextProgress


@pytest.fixture
def clock(monkeypatch):
    """perf_counter reading 0, 1.5, 3, ... seconds: one step per call."""
    ticks = iter(1.5 * i for i in range(1000))
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(ticks))


def test_a_bar_per_label(clock):
    out = io.StringIO()
    bar = TextProgress(stream=out, width=10)  # clock 0
    bar("background", 0, 2_500_000)  # new label: clock 1.5, then 3 for the elapsed time
    bar("background", 1_250_000, 2_500_000)  # 4.5
    bar("wprime_qq", 3, 4)  # new label: line break; clock 6, then 7.5
    bar("wprime_qq", 4, 4)  # done: line break, the label forgotten; 9
    bar("wprime_qq", 0, 0)  # the same label again is a new bar; an empty step is full
    assert out.getvalue().split("\r") == [
        "",
        "    background [----------]          0/2,500,000    1.5s",
        "    background [#####-----]  1,250,000/2,500,000    3.0s\n",
        "     wprime_qq [#######---]          3/4    1.5s",
        "     wprime_qq [##########]          4/4    3.0s\n",
        "     wprime_qq [##########]          0/0    1.5s\n",
    ]


def test_the_default_stream_is_stderr(capsys):
    TextProgress()("x", 1, 1)
    err = capsys.readouterr().err
    assert err.startswith("\r             x [" + "#" * 30 + "]          1/1 ") and err.endswith(
        "s\n"
    )
