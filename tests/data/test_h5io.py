"""Safe HDF5 opening, the lazy normalised view, and scattered rows of Blosc2 datasets."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hepfm_core.data.h5io import H5Matrix, open_h5, require
from hepfm_core.data.normalisation import Normalisation
from hepfm_core.errors import (
    DataNotFoundError,
    MissingGroupError,
    NotHDF5Error,
)


def test_open_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        open_h5(tmp_path / "absent.h5")
    with pytest.raises(NotHDF5Error, match="folder"):
        open_h5(tmp_path)
    (tmp_path / "x.h5").write_bytes(b"\x00" * 2048)
    with pytest.raises(NotHDF5Error, match="no HDF5 signature"):
        open_h5(tmp_path / "x.h5")


def test_user_block_signature_accepted(tmp_path):
    path = tmp_path / "ub.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["d"] = np.arange(3)
    with open_h5(path) as f:
        assert f["d"][:].tolist() == [0, 1, 2]


def test_require_names_the_key(tmp_path):
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f.create_group("features")
    with open_h5(path) as f, pytest.raises(MissingGroupError, match=r"'aggregated'.*g\.h5"):
        require(f["features"], "aggregated", path, "regenerate")


def test_matrix_flattens_and_concatenates_in_order(tmp_path):
    path = tmp_path / "m.h5"
    a = np.arange(5 * 2 * 3, dtype=np.float64).reshape(5, 2, 3)
    b = np.arange(5, dtype=np.float64) * -1
    with h5py.File(path, "w") as f:
        f["a"] = a
        f["b"] = b.reshape(5, 1)
    norm = Normalisation(np.full(7, 1.0), np.full(7, 2.0), np.zeros(7), clip=None)
    m = H5Matrix(path, ["a", "b"], norm, 5, 7)
    raw = np.concatenate([a.reshape(5, -1), b.reshape(5, 1)], axis=1)
    np.testing.assert_array_equal(m.raw(slice(1, 4)), raw[1:4])
    np.testing.assert_allclose(m[0:5], ((raw - 1.0) / 2.0).astype(np.float32))
    assert m.shape == (5, 7) and len(m) == 5
    with pytest.raises(TypeError):
        m[3]


# -- scattered rows of a Blosc2 dataset -----------------------------------------------------
