"""Writing hepfm sample files: a failed write leaves nothing, blocks keep their identity
columns, a dead writer's partial file is swept by the next one."""

from __future__ import annotations

import numpy as np
import pytest
from sample_files import BRANCHES, N_TRACKS, norm, raw_sample, write  # tests/data/sample_files.py

from hepfm_core.data.sample_writer import SampleWriter


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "s.h5"
    with (
        pytest.raises(RuntimeError),
        SampleWriter(
            path,
            name="x",
            role="signal",
            branch_names=BRANCHES,
            units=("", ""),
            n_tracks=3,
            normalisation=norm(),
        ) as w,
    ):
        w.write(np.zeros((3, 6)))
        raise RuntimeError("boom")
    assert not path.exists() and not list(tmp_path.iterdir())


def test_identity_columns_must_not_change_between_blocks(tmp_path):
    raw = raw_sample()[:10]
    with pytest.raises(ValueError, match="identity columns"), SampleWriter(
        tmp_path / "s.h5", name="s", role="signal", branch_names=BRANCHES, units=("", ""),
        n_tracks=N_TRACKS, normalisation=norm(),
    ) as w:  # fmt: skip
        w.write(raw[:5], {"run_number": np.ones(5, np.uint32)})
        w.write(raw[5:], {"event_number": np.ones(5, np.uint64)})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="every block"), SampleWriter(
        tmp_path / "s.h5", name="s", role="signal", branch_names=BRANCHES, units=("", ""),
        n_tracks=N_TRACKS, normalisation=norm(),
    ) as w:  # fmt: skip
        w.write(raw[:5], {"run_number": np.ones(5, np.uint32)})
        w.write(raw[5:])


def test_a_partial_file_of_a_dead_writer_is_removed_by_the_next_one(tmp_path):
    import subprocess
    import sys

    from hepfm_core.common.leftovers import owner_tag

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = owner_tag().split("~")[0]
    dead = tmp_path / f"bkg.h5.partial-{host}~{child.pid}~aaaa0000"
    dead.write_bytes(b"half a file")
    alive = tmp_path / f"bkg.h5.partial-{owner_tag()}"  # being written by this process
    alive.write_bytes(b"half a file")
    write(tmp_path / "bkg.h5", [raw_sample(100)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bkg.h5", alive.name])
