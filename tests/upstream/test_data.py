"""Reading upstream dataset folders: values equal an independent read, FIXTURE.md's facts,
typed errors for broken folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from hepfm_core.errors import (
    DataNotFoundError,
    EmptySampleError,
    FeatureMismatchError,
    MissingGroupError,
    NoSignalsError,
    NotHDF5Error,
    TruncatedFileError,
)
from hepfm_core.sources import open_data
from hepfm_core.upstream.data import open_upstream_dataset, upstream_feature_names

DATASET_ID = "dataset_runs_00298967-2-00311481_45222f19"
EXPERIMENT = "001_Foundation_VAE_Model"
SIGNALS = ("wprime_taunu", "zprime_tt")
# FIXTURE.md: fraction of model inputs at the +-10 clip.
AT_CLIP = {
    "own": {"background": 0.00076, "wprime_taunu": 0.00040, "zprime_tt": 0.00043},
    "background": {"background": 0.00076, "wprime_taunu": 0.01350, "zprime_tt": 0.06863},
}


@pytest.fixture(scope="module")
def dataset_dir(upstream_fixture: Path) -> Path:
    return upstream_fixture / "_processed_datasets" / DATASET_ID


@pytest.fixture(scope="module")
def opened(dataset_dir: Path) -> dict:
    return {
        mode: open_upstream_dataset(dataset_dir, signal_normalisation=mode)
        for mode in ("background", "own")
    }


# -- an independent reading of upstream-format.md ----------------------------------------------
def reference_inputs(file: Path, group: str) -> np.ndarray:
    """Flatten sorted keys, median-fill non-finite values, standardise (floored std), clip."""
    with h5py.File(file, "r") as h5:
        g = h5[group] if group else h5
        params = json.loads(g.attrs["normalization_params"])["features"]
        cols, means, stds = [], [], []
        agg = g["features"].get("aggregated", {})
        for key in sorted(agg):
            arr = np.asarray(agg[key][...], dtype=np.float64)
            cols.append(arr.reshape(arr.shape[0], -1))
            p = params["aggregated"][key]
            means.append(np.tile(p["means"], arr.shape[1]))
            stds.append(np.tile(p["stds"], arr.shape[1]))
        scal = g["features"].get("scalar", {})
        for key in sorted(scal):
            arr = np.asarray(scal[key][...], dtype=np.float64)
            cols.append(arr.reshape(arr.shape[0], -1))
            means.append([params["scalar"][key]["mean"]])
            stds.append([params["scalar"][key]["std"]])
    x = np.concatenate(cols, axis=1)
    for j in range(x.shape[1]):
        bad = ~np.isfinite(x[:, j])
        if bad.any():
            x[bad, j] = np.median(x[~bad, j])
    mu = np.concatenate([np.asarray(m, dtype=np.float64) for m in means])
    sd = np.concatenate([np.asarray(s, dtype=np.float64) for s in stds])
    return np.clip((x - mu) / np.maximum(sd, 1e-8), -10.0, 10.0)


@pytest.mark.parametrize("mode", ["background", "own"])
def test_inputs_equal_independent_computation(opened, dataset_dir: Path, mode: str):
    ds = opened[mode]
    bg_file = dataset_dir / "dataset.h5"
    sig_file = dataset_dir / "signal_dataset.h5"
    got = np.asarray(ds.background.x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference_inputs(bg_file, ""), rtol=1e-6, atol=1e-5)
    for name in SIGNALS:
        if mode == "own":
            ref = reference_inputs(sig_file, name)
        else:
            # the background's parameters, read from dataset.h5's root attributes
            with h5py.File(bg_file) as h5:
                bg_params = h5.attrs["normalization_params"]
            ref = _with_params(sig_file, name, bg_params)
        np.testing.assert_allclose(np.asarray(ds.signals[name].x), ref, rtol=1e-6, atol=1e-5)


def _with_params(file: Path, group: str, params_json: str) -> np.ndarray:
    with h5py.File(file) as h5:
        raw = np.asarray(h5[group]["features/aggregated/aggregator_0"][...], dtype=np.float64)
    p = json.loads(params_json)["features"]["aggregated"]["aggregator_0"]
    n_tracks = raw.shape[1]
    x = raw.reshape(raw.shape[0], -1)
    mu = np.tile(p["means"], n_tracks)
    sd = np.maximum(np.tile(p["stds"], n_tracks), 1e-8)
    return np.clip((x - mu) / sd, -10, 10)


def test_fixture_facts(opened):
    for mode, ds in opened.items():
        assert ds.kind == "upstream"
        assert ds.signal_normalisation == mode
        assert sorted(ds.signals) == list(SIGNALS)
        assert ds.background.n_events == 4000
        assert {n: s.n_events for n, s in ds.signals.items()} == {n: 800 for n in SIGNALS}
        for name, sample in ds.samples.items():
            assert sample.n_features == 120
            x = np.asarray(sample.x)
            assert np.isfinite(x).all()
            frac = float((np.abs(x) >= 10.0).mean())
            assert frac == pytest.approx(AT_CLIP[mode][name], abs=5e-6), (mode, name)
            assert sample.accounting.total == 0
            assert sample.accounting.events_with_nonfinite == 0
            assert sample.accounting.filled == "median"
    names = opened["own"].feature_names
    assert names[:6] == ("track00_d0", "track00_phi", "track00_z0", "track00_eta", "track00_pt",
                         "track00_reducedChiSquared")  # fmt: skip
    assert names[-1] == "track19_reducedChiSquared"
    assert len(set(names)) == 120


def test_provenance_records_normalisation_and_fingerprints(opened, dataset_dir: Path):
    bg, own = opened["background"], opened["own"]
    # the background is the same either way; signals differ only in normalisation
    assert bg.background.provenance.fingerprint == own.background.provenance.fingerprint
    for name in SIGNALS:
        a, b = bg.signals[name].provenance, own.signals[name].provenance
        assert a.content_fingerprint == b.content_fingerprint != ""
        assert a.fingerprint != b.fingerprint
        assert "background" in a.normalisation and "dataset.h5" in a.normalisation
        assert "own" in b.normalisation and name in b.normalisation
        assert a.source == str((dataset_dir / "signal_dataset.h5").resolve())
        assert a.group == f"/{name}"
        assert b.source == a.source
    assert bg.signals["zprime_tt"].x.normalisation.source == a.normalisation
    contents = {s.provenance.content_fingerprint for s in own.samples.values()}
    assert len(contents) == 3
    # a second open (memoised scan) gives identical fingerprints
    again = open_upstream_dataset(dataset_dir, signal_normalisation="own")
    for name, sample in again.samples.items():
        assert sample.provenance == own.samples[name].provenance


def test_open_data_dispatches_here(dataset_dir: Path, opened):
    ds = open_data(dataset_dir)
    assert ds.kind == "upstream" and ds.signal_normalisation == "background"
    assert (
        ds.signals["zprime_tt"].provenance == opened["background"].signals["zprime_tt"].provenance
    )
    assert upstream_feature_names(dataset_dir) == opened["own"].feature_names


def test_normalised_test_split_equals_upstream_samples(opened, upstream_fixture: Path):
    path = upstream_fixture / "_foundation_experiments" / EXPERIMENT / "training" / "sample_data"
    path = path / "input_samples.json"
    if not path.exists():
        pytest.skip(f"{path} absent (may be missing after a checkout, per FIXTURE.md)")
    samples = np.asarray(json.loads(path.read_text())["samples"], dtype=np.float64)
    assert samples.shape == (400, 120)
    got = np.asarray(opened["own"].background.x[3600:4000])
    np.testing.assert_allclose(got, samples, rtol=1e-6, atol=1e-6)


# -- non-finite values: median fill and accounting ---------------------------------------------
def _params(arrays: dict[str, np.ndarray], scalars: dict[str, np.ndarray] | None = None) -> str:
    """Per-branch means and stds over finite values, padding included (as upstream)."""
    out: dict = {"aggregated": {}, "scalar": {}}
    for key, arr in arrays.items():
        per_branch = np.where(np.isfinite(arr), arr, np.nan).reshape(-1, arr.shape[-1])
        if per_branch.shape[0] == 0:
            per_branch = np.zeros((1, arr.shape[-1]))
        out["aggregated"][key] = {
            "means": np.nanmean(per_branch, axis=0).tolist(),
            "stds": np.nanstd(per_branch, axis=0).tolist(),
        }
    for key, arr in (scalars or {}).items():
        finite = arr[np.isfinite(arr)]
        out["scalar"][key] = {"mean": float(finite.mean()), "std": float(finite.std())}
    return json.dumps({"features": out})


def _write_group(g: h5py.Group, agg: dict[str, np.ndarray], scalars=None, params=True) -> None:
    for key, arr in agg.items():
        g.create_dataset(f"features/aggregated/{key}", data=arr)
    for key, arr in (scalars or {}).items():
        g.create_dataset(f"features/scalar/{key}", data=arr)
    if params:
        g.attrs["normalization_params"] = _params(agg, scalars)


def write_upstream(folder: Path, background: dict, signals: dict | None, **kw) -> Path:
    """A small folder in upstream's layout: ``{key: array}`` per sample (aggregators)."""
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "dataset.h5", "w") as h5:
        _write_group(h5, background, kw.get("bg_scalars"), kw.get("bg_params", True))
    if signals is not None:
        with h5py.File(folder / "signal_dataset.h5", "w") as h5:
            for name, agg in signals.items():
                _write_group(h5.create_group(name), agg, kw.get("sig_scalars"))
    return folder


def _events(rng, n: int, tracks: int = 4, branches: int = 6) -> np.ndarray:
    arr = rng.normal(size=(n, tracks, branches)) * np.arange(1, branches + 1)
    arr[: n // 3, -1, :] = 0.0  # padding rows
    return arr


def test_median_fill_and_accounting(tmp_path: Path):
    rng = np.random.default_rng(1)
    bg = _events(rng, 300)
    sig = _events(rng, 120) + 3.0
    bg[5, 0, 5] = np.inf
    bg[7, 0, 5] = np.nan
    bg[7, 2, 1] = -np.inf
    sig[3, 1, 0] = np.nan
    met = rng.normal(50, 10, size=300)
    met[11] = np.nan
    folder = write_upstream(
        tmp_path / "nf",
        {"aggregator_0": bg},
        {"sig_a": {"aggregator_0": sig}},
        bg_scalars={"met": met},
        sig_scalars={"met": rng.normal(60, 10, size=120)},
    )
    for mode in ("background", "own"):
        ds = open_upstream_dataset(folder, signal_normalisation=mode)
        assert ds.background.n_features == 4 * 6 + 1
        assert ds.feature_names[-1] == "met"
        ref = reference_inputs(folder / "dataset.h5", "")
        np.testing.assert_allclose(np.asarray(ds.background.x), ref, rtol=1e-6, atol=1e-5)
        if mode == "own":
            ref_sig = reference_inputs(folder / "signal_dataset.h5", "sig_a")
        else:
            ref_sig = _sig_with_bg_params(folder)
        np.testing.assert_allclose(np.asarray(ds.signals["sig_a"].x), ref_sig, atol=1e-5)

        acc = ds.background.accounting
        assert acc.filled == "median"
        assert acc.total == 4 and acc.events_with_nonfinite == 3
        assert acc.per_feature[5] == 2  # track 0, column 5: inf and nan
        assert acc.per_feature[2 * 6 + 1] == 1
        assert acc.per_feature[24] == 1  # the scalar
        assert ds.signals["sig_a"].accounting.per_feature[6] == 1
        fill = ds.background.x.normalisation.fill
        finite = bg[:, 0, 5][np.isfinite(bg[:, 0, 5])]
        assert fill[5] == pytest.approx(np.median(finite))

    kept = open_upstream_dataset(folder, fill="none")
    x = np.asarray(kept.background.x)
    assert (~np.isfinite(x)).sum() == 4 and not np.isfinite(x[7]).all()
    assert kept.background.accounting.filled == "none"
    assert kept.background.accounting.total == 4
    filled = open_upstream_dataset(folder)
    assert kept.background.provenance.fingerprint != filled.background.provenance.fingerprint
    assert (
        kept.background.provenance.content_fingerprint
        == filled.background.provenance.content_fingerprint
    )


def _sig_with_bg_params(folder: Path) -> np.ndarray:
    """Signal inputs with the background's parameters and the signal's own medians."""
    with h5py.File(folder / "dataset.h5") as h5:
        params = json.loads(h5.attrs["normalization_params"])["features"]
    with h5py.File(folder / "signal_dataset.h5") as h5:
        arr = np.asarray(h5["sig_a/features/aggregated/aggregator_0"][...], dtype=np.float64)
        met = np.asarray(h5["sig_a/features/scalar/met"][...], dtype=np.float64)
    x = np.concatenate([arr.reshape(arr.shape[0], -1), met[:, None]], axis=1)
    for j in range(x.shape[1]):
        bad = ~np.isfinite(x[:, j])
        if bad.any():
            x[bad, j] = np.median(x[~bad, j])
    p = params["aggregated"]["aggregator_0"]
    mu = np.r_[np.tile(p["means"], arr.shape[1]), params["scalar"]["met"]["mean"]]
    sd = np.r_[np.tile(p["stds"], arr.shape[1]), params["scalar"]["met"]["std"]]
    return np.clip((x - mu) / np.maximum(sd, 1e-8), -10, 10)


def test_generic_names_and_std_floor(tmp_path: Path):
    rng = np.random.default_rng(2)
    bg = rng.normal(size=(50, 3, 4))
    bg[:, :, 2] = 7.0  # constant column: std 0 is floored, not a division by zero
    folder = write_upstream(tmp_path / "g", {"aggregator_0": bg}, {"s": {"aggregator_0": bg}})
    ds = open_upstream_dataset(folder)
    assert ds.feature_names[:5] == (
        "aggregator_0_t00_f0",
        "aggregator_0_t00_f1",
        "aggregator_0_t00_f2",
        "aggregator_0_t00_f3",
        "aggregator_0_t01_f0",
    )
    x = np.asarray(ds.background.x)
    assert np.isfinite(x).all()
    assert np.all(x[:, 2] == 0.0)


# -- broken folders: typed errors naming the file ----------------------------------------------
def test_missing_folder(tmp_path: Path):
    missing = tmp_path / "nope"
    with pytest.raises(DataNotFoundError) as err:
        open_upstream_dataset(missing)
    assert str(missing) in str(err.value)


def test_folder_without_dataset_h5(tmp_path: Path):
    with pytest.raises(DataNotFoundError) as err:
        open_upstream_dataset(tmp_path)
    assert "dataset.h5" in str(err.value)


def test_not_hdf5(tmp_path: Path):
    (tmp_path / "dataset.h5").write_bytes(b"this is not an HDF5 file at all\n" * 100)
    with pytest.raises(NotHDF5Error) as err:
        open_upstream_dataset(tmp_path)
    assert "dataset.h5" in str(err.value)
    assert "what to do" in str(err.value)


def test_truncated(tmp_path: Path, dataset_dir: Path):
    target = tmp_path / "dataset.h5"
    shutil.copyfile(dataset_dir / "dataset.h5", target)
    shutil.copyfile(dataset_dir / "signal_dataset.h5", tmp_path / "signal_dataset.h5")
    size = target.stat().st_size
    with target.open("r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(TruncatedFileError) as err:
        open_upstream_dataset(tmp_path)
    assert "dataset.h5" in str(err.value)


def test_missing_features_group(tmp_path: Path):
    with h5py.File(tmp_path / "dataset.h5", "w") as h5:
        h5.attrs["normalization_params"] = "{}"
        h5.create_dataset("labels/x", data=np.zeros(3))
    with pytest.raises(MissingGroupError) as err:
        open_upstream_dataset(tmp_path)
    assert "features" in str(err.value) and "dataset.h5" in str(err.value)


def test_missing_normalization_params(tmp_path: Path):
    rng = np.random.default_rng(3)
    folder = write_upstream(
        tmp_path / "p", {"aggregator_0": _events(rng, 20)}, None, bg_params=False
    )
    with pytest.raises(MissingGroupError) as err:
        open_upstream_dataset(folder)
    assert "normalization_params" in str(err.value) and "dataset.h5" in str(err.value)


def test_signal_with_other_feature_count(tmp_path: Path):
    rng = np.random.default_rng(4)
    folder = write_upstream(
        tmp_path / "m",
        {"aggregator_0": _events(rng, 30)},
        {"odd": {"aggregator_0": _events(rng, 30, branches=5)}},
    )
    with pytest.raises(FeatureMismatchError) as err:
        open_upstream_dataset(folder)
    assert "signal_dataset.h5" in str(err.value) and "odd" in str(err.value)


def test_zero_event_sample(tmp_path: Path):
    rng = np.random.default_rng(5)
    folder = write_upstream(
        tmp_path / "z",
        {"aggregator_0": _events(rng, 30)},
        {"empty": {"aggregator_0": np.zeros((0, 4, 6))}},
    )
    with pytest.raises(EmptySampleError) as err:
        open_upstream_dataset(folder)
    assert "signal_dataset.h5" in str(err.value) and "empty" in str(err.value)


def test_zero_event_background(tmp_path: Path):
    folder = write_upstream(tmp_path / "zb", {"aggregator_0": np.zeros((0, 4, 6))}, None)
    with pytest.raises(EmptySampleError) as err:
        open_upstream_dataset(folder)
    assert "dataset.h5" in str(err.value)


def test_background_without_signal_file(tmp_path: Path, dataset_dir: Path):
    shutil.copyfile(dataset_dir / "dataset.h5", tmp_path / "dataset.h5")
    with pytest.raises(NoSignalsError) as err:
        open_upstream_dataset(tmp_path)
    assert "signal_dataset.h5" in str(err.value)
