"""Temporaries name their writer; the next run removes those whose writer is dead."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hepfm_core.common.leftovers import FOREIGN_AGE, Owner, owner_of, owner_tag, stale, sweep


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_owner_tag_round_trips():
    tag = owner_tag()
    owner = owner_of(f"entry.tmp-{tag}", ".tmp-")
    assert owner == Owner(tag.split("~")[0], os.getpid())
    assert owner_of("entry.tmp-abc123", ".tmp-") is None  # written by an older hepfm


def test_sweep_removes_only_leftovers_of_dead_writers(tmp_path):
    host = owner_tag().split("~")[0]
    dead = tmp_path / f"k1.tmp-{host}~{_dead_pid()}~aaaa0000"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "recon.npy").write_bytes(b"half")
    alive = tmp_path / f"k2.tmp-{owner_tag()}"
    alive.mkdir()
    foreign = tmp_path / "k3.tmp-otherhost~1~bbbb0000"
    foreign.mkdir()
    old_legacy = tmp_path / "k4.tmp-zz9"
    old_legacy.mkdir()
    past = time.time() - FOREIGN_AGE - 60
    os.utime(old_legacy, (past, past))
    entry = tmp_path / "k1"
    entry.mkdir()
    removed = sweep(tmp_path, (".tmp-",))
    assert sorted(p.name for p in removed) == sorted([dead.name, old_legacy.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["k1", alive.name, foreign.name])
    # another host's temporary is removed once it is older than any writer takes
    os.utime(foreign, (past, past))
    assert stale(foreign, ".tmp-")
