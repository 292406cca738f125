"""HDF5 written through a file that absorbs failed writes: a full disk at any byte is one
``OSError`` from ``check``/``close``, the process carries on, and what was written reads back."""

from __future__ import annotations

import errno
import os

import h5py
import numpy as np
import pytest

from hepfm_core.data import h5_writer
from hepfm_core.data.h5_writer import H5Writer


def write_events(path, n=4096, mode="w"):
    w = H5Writer(path, mode)
    data = np.arange(n * 6, dtype=np.float32).reshape(n, 6)
    w.h5.create_dataset("events", data=data, chunks=(1024, 6), compression="gzip")
    w.close()
    return data


def test_a_written_file_reads_back_as_written(tmp_path):
    data = write_events(tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5") as f:
        np.testing.assert_array_equal(f["events"][:], data)
    w = H5Writer(tmp_path / "a.h5", "r+")  # appended to in place
    w.h5.attrs["note"] = "kept"
    w.close()
    w.close()  # closing twice does nothing more
    with h5py.File(tmp_path / "a.h5") as f:
        assert f.attrs["note"] == "kept" and f["events"].shape == data.shape


def test_a_failed_write_anywhere_is_one_os_error_not_a_crash(tmp_path, monkeypatch):
    write_events(tmp_path / "whole.h5")
    size = os.path.getsize(tmp_path / "whole.h5")
    real = os.pwrite
    for quota in (0, 512, size // 2, size - 100):
        written = 0

        def pwrite(fd, data, offset, quota=quota):
            nonlocal written
            if written + len(data) > quota:
                raise OSError(errno.ENOSPC, "No space left on device")
            written += len(data)
            return real(fd, data, offset)

        monkeypatch.setattr(h5_writer.os, "pwrite", pwrite)
        w = H5Writer(tmp_path / f"q{quota}.h5")
        w.h5.create_dataset("events", data=np.ones((4096, 6), np.float32), chunks=(1024, 6))
        with pytest.raises(OSError) as info:
            w.close()
        assert info.value.errno == errno.ENOSPC
        assert w.failure is info.value  # the first failure, kept
        monkeypatch.setattr(h5_writer.os, "pwrite", real)


def test_only_write_modes_are_taken(tmp_path):
    with pytest.raises(ValueError, match="'w' or 'r\\+'"):
        H5Writer(tmp_path / "x.h5", "r")
