"""Opening data folders: hepfm's layout, signal normalisation choice, folder-level errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hepfm_core.datasets import open_data
from hepfm_core.errors import DataError, DataNotFoundError, FeatureMismatchError, NoSignalsError
from hepfm_core.generator import GeneratorConfig, generate_block
from hepfm_core.hepfm_format import SampleWriter, read_header
from hepfm_core.normalisation import Normalisation


def test_open_demo_folder(small_data):
    data = open_data(small_data)
    assert data.kind == "hepfm"
    assert data.background.n_events == 5000 and data.background.role == "background"
    assert set(data.signals) == set(GeneratorConfig().signals)
    assert all(s.n_events == 1000 and s.role == "signal" for s in data.signals.values())
    assert data.background.n_features == 180
    assert data.feature_names[:6] == (
        "track00_d0",
        "track00_phi",
        "track00_z0",
        "track00_eta",
        "track00_pt",
        "track00_reducedChiSquared",
    )
    # the ~0.1 % numberDoF = 0 tracks are counted, per feature, at read
    acc = data.background.accounting
    assert acc.events_with_nonfinite > 0
    assert acc.per_feature.reshape(30, 6)[:, :5].sum() == 0  # only reducedChiSquared


def test_signals_use_background_parameters_by_default(small_data):
    bg_norm = open_data(small_data).background.x.normalisation
    data = open_data(small_data)
    qq = data.signals["wprime_qq"]
    raw = qq.x.raw(slice(0, 100))
    np.testing.assert_allclose(np.asarray(qq.x[0:100]), bg_norm.apply(raw))
    own = open_data(small_data, signal_normalisation="own").signals["wprime_qq"]
    assert own.provenance.fingerprint != qq.provenance.fingerprint
    # with its own parameters, the signal's own per-branch mean becomes ~0
    x_own = np.asarray(own.x[0:1000]).astype(np.float64).reshape(-1, 6)
    np.testing.assert_allclose(x_own[:, 4].mean(), 0.0, atol=0.05)  # pt


def test_missing_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found") as e:
        open_data(tmp_path / "missing")
    assert "missing" in str(e.value) and "hepfm demo" in str(e.value)


def test_empty_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="no data"):
        open_data(tmp_path)


def test_no_signals(tmp_path, small_data):
    shutil.copy(small_data / "background.h5", tmp_path / "background.h5")
    with pytest.raises(NoSignalsError, match="no signal"):
        open_data(tmp_path)


def test_bad_signal_normalisation_name(small_data):
    with pytest.raises(DataError, match="unknown signal normalisation"):
        open_data(small_data, signal_normalisation="mine")


def test_signal_with_other_feature_count(tmp_path, small_data):
    shutil.copy(small_data / "background.h5", tmp_path / "background.h5")
    raw = generate_block("wprime_qq", 100, GeneratorConfig(n_tracks=20))
    norm = Normalisation.per_branch(np.zeros(6), np.ones(6), 20)
    with SampleWriter(
        tmp_path / "short.h5",
        name="short",
        role="signal",
        branch_names=("d0", "phi", "z0", "eta", "pt", "reducedChiSquared"),
        units=("",) * 6,
        n_tracks=20,
        normalisation=norm,
    ) as w:
        w.write(raw)
    assert read_header(tmp_path / "short.h5")["n_features"] == 120
    with pytest.raises(FeatureMismatchError, match="120 features but the background has 180"):
        open_data(tmp_path)
