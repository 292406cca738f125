"""hepfm_core.common.spill: arrays paged out to unlinked files, their pages let go on demand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hepfm_core.common import spill as spill_mod
from hepfm_core.common.leftovers import owner_tag
from hepfm_core.common.spill import (
    MIN_SPILL_BYTES,
    SPILL_MARK,
    SPILL_NAME,
    release,
    release_all,
    spill,
    spill_folder,
)


def resident_bytes(a: np.ndarray) -> int:
    """Resident bytes of the mapping that holds ``a``'s first byte (``/proc/self/smaps``)."""
    address = a.ctypes.data
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= address < hi
        elif inside and line.startswith("Rss:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no mapping holds the array")


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(spill_mod, "_folders", {})
    return tmp_path / "spill"


def test_a_spilled_array_is_a_read_only_map_of_an_unlinked_file(root):
    values = np.random.default_rng(1).normal(size=100_000)
    mapped = spill(values, root)
    assert isinstance(mapped, np.memmap)
    assert not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, values)
    (folder,) = root.iterdir()
    assert folder.name.startswith(SPILL_NAME + SPILL_MARK)
    assert list(folder.iterdir()) == []  # unlinked: freed with the array, never left over
    assert spill_folder(root) == folder  # one folder per process


def test_small_arrays_stay_in_memory(root):
    small = np.arange(MIN_SPILL_BYTES // 8 - 1, dtype=np.float64)
    kept = spill(small, root)
    assert kept is small and not kept.flags.writeable
    assert not root.exists()


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc/self/smaps")
def test_release_drops_the_pages_and_keeps_the_values(root):
    values = np.arange(2**20, dtype=np.float64)  # 8 MiB
    mapped = spill(values, root)
    assert float(mapped.sum()) == float(values.sum())  # every page touched
    assert resident_bytes(mapped) >= values.nbytes
    release(mapped[10:])  # a view finds its map
    assert resident_bytes(mapped) == 0
    np.testing.assert_array_equal(mapped, values)  # paged in again
    release_all()
    assert resident_bytes(mapped) == 0
    release(values, None, 3)  # arrays in memory and other objects are left alone
    assert values[5] == 5.0


def test_stale_folders_of_dead_processes_are_swept(root):
    root.mkdir()
    host = owner_tag().split("~")[0]
    dead = root / f"{SPILL_NAME}{SPILL_MARK}{host}~999999999~0000abcd"
    alive = root / f"{SPILL_NAME}{SPILL_MARK}{host}~1~0000abcd"  # pid 1 runs
    other = root / "unrelated"
    for folder in (dead, alive, other):
        folder.mkdir()
    (dead / "x.npy").write_bytes(b"left over")
    mine = spill_folder(root)
    assert sorted(p.name for p in root.iterdir()) == sorted([alive.name, other.name, mine.name])


def test_a_process_removes_its_folder_when_it_exits(tmp_path):
    root = tmp_path / "spill"
    code = (
        "import numpy as np, sys\n"
        "from hepfm_core.common.spill import spill\n"
        "a = spill(np.ones(100_000), sys.argv[1])\n"
        "print(float(a.sum()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    assert out.stdout.strip() == "100000.0"
    assert list(root.iterdir()) == []
