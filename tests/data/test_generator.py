"""The ATLAS-like generator: determinism, physics character, pathology rates, memory."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hepfm_core.data.generator import (
    BRANCHES,
    CHI2,
    D0,
    PT,
    GeneratorConfig,
    generate_block,
    generate_dataset,
)

N = 8000


def tracks(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = block.reshape(block.shape[0], -1, len(BRANCHES)).astype(np.float64)
    valid = np.any(t != 0.0, axis=2)
    return t, valid


@pytest.fixture(scope="module")
def blocks() -> dict[str, np.ndarray]:
    cfg = GeneratorConfig()
    names = ["background", "wprime_qq", "zprime_tt", "zprime_bb", "wprime_taunu", "zprime_ee"]
    return {name: generate_block(name, N, cfg) for name in names}


def test_shape_and_dtype(blocks):
    for block in blocks.values():
        assert block.shape == (N, 180)
        assert block.dtype == np.float32


def test_deterministic_for_a_seed():
    cfg = GeneratorConfig(seed=11)
    a = generate_block("zprime_tt", 500, cfg, chunk_index=3)
    b = generate_block("zprime_tt", 500, cfg, chunk_index=3)
    np.testing.assert_array_equal(a, b)
    c = generate_block("zprime_tt", 500, GeneratorConfig(seed=12), chunk_index=3)
    assert not np.array_equal(np.nan_to_num(a), np.nan_to_num(c))


def test_dataset_files_identical_for_same_seed(tmp_path):
    from hepfm_core.data.hepfm_format import read_header

    cfg = GeneratorConfig(seed=5, signals=("wprime_qq",))
    p1 = generate_dataset(tmp_path / "a", 3000, 500, cfg)
    p2 = generate_dataset(tmp_path / "b", 3000, 500, cfg)
    for name in p1:
        assert read_header(p1[name])["fingerprint"] == read_header(p2[name])["fingerprint"]


def test_median_pt_of_wprime_qq_far_above_background(blocks):
    med = {}
    for name in ("background", "wprime_qq"):
        t, valid = tracks(blocks[name])
        med[name] = np.median(t[..., PT][valid])
    assert 0.5 < med["background"] < 1.5  # soft QCD: tracks just above the 0.5 GeV threshold
    assert med["wprime_qq"] > 10 * med["background"]


def test_displaced_tracks_in_b_jets(blocks):
    def d0_stats(name):
        t, valid = tracks(blocks[name])
        d0 = t[..., D0][valid]
        # spread within the pixel acceptance, and the fraction of clearly displaced tracks
        return np.std(d0[np.abs(d0) < 5.0]), np.mean(np.abs(d0) > 0.5)

    bkg_std, bkg_frac = d0_stats("background")
    assert bkg_std < 0.25  # mm: resolution core plus small tails and fakes
    for name in ("zprime_tt", "zprime_bb"):
        std, frac = d0_stats(name)
        assert std > 2.5 * bkg_std
        assert frac > 5 * bkg_frac


def test_track_multiplicities(blocks):
    mult = {name: tracks(b)[1].sum(axis=1).mean() for name, b in blocks.items()}
    assert 15 < mult["background"] < 23
    assert mult["wprime_qq"] > 27  # two hard jets fill the 30 slots
    assert mult["zprime_tt"] > 27
    assert mult["wprime_taunu"] < 13  # few tracks: soft part plus a 1- or 3-prong tau
    assert mult["wprime_taunu"] < mult["background"]


def test_isolated_tev_leptons(blocks):
    t, _valid = tracks(blocks["zprime_ee"])
    leading = t[:, 0, PT]  # tracks are sorted by pt
    assert np.median(leading) > 500  # GeV


def test_padding_rows_are_zero_and_tracks_sorted(blocks):
    t, valid = tracks(blocks["background"])
    assert np.all(t[~valid] == 0.0)
    # real tracks come first (padding at the end), in descending pt
    n_valid = valid.sum(axis=1)
    assert np.all(valid[np.arange(30)[None, :] < n_valid[:, None]])
    pt = np.where(valid, t[..., PT], -np.inf)
    assert np.all(np.diff(pt, axis=1)[valid[:, 1:]] <= 0)


@pytest.mark.slow  # generates a large sample
def test_pathology_rates():
    n = 200_000
    cfg = GeneratorConfig(dof0_rate=1e-3, extreme_rate=5e-3)
    bkg = generate_block("background", n, cfg)
    sig = generate_block("wprime_taunu", n, cfg)
    # numberDoF = 0: chi2/ndf is +inf or NaN in exactly one track
    t, _ = tracks(bkg)
    bad = ~np.isfinite(t[..., CHI2])
    rate = bad.any(axis=1).mean()
    assert abs(rate - 1e-3) < 4 * np.sqrt(1e-3 / n)
    assert np.isnan(t[..., CHI2]).any() and np.isposinf(t[..., CHI2]).any()
    assert np.isfinite(np.delete(t, CHI2, axis=2)).all()
    # extreme tracks in signal only: TeV pt together with d0 of tens of mm
    ts, _ = tracks(sig)
    extreme = ((ts[..., PT] >= 1000) & (np.abs(ts[..., D0]) >= 10)).any(axis=1)
    assert abs(extreme.mean() - 5e-3) < 4 * np.sqrt(5e-3 / n)
    assert not ((t[..., PT] >= 1000) & (np.abs(t[..., D0]) >= 10)).any()
    # degenerate q/p ~ 0 fits: pt of 1e5 to 1e8 GeV, in every sample
    for tr in (t, ts):
        degenerate = (tr[..., PT] >= 1e5).any(axis=1)
        assert abs(degenerate.mean() - 2e-4) < 4 * np.sqrt(2e-4 / n)
        assert tr[..., PT].max() <= 1e8


def test_normalisation_is_not_set_by_degenerate_tracks():
    from hepfm_core.data.generator import estimate_normalisation

    cfg = GeneratorConfig()
    raw = generate_block("background", 20_000, cfg)
    clean = generate_block("background", 20_000, GeneratorConfig(degenerate_rate=0.0))
    norm = estimate_normalisation(raw, cfg)
    ref = estimate_normalisation(clean, cfg)
    # pt's std stays at the scale of real tracks (GeV), not of a 1e8 GeV outlier
    assert norm.stds[PT] < 10.0
    np.testing.assert_allclose(norm.stds[:6], ref.stds[:6], rtol=0.25)


MEMORY_SCRIPT = """
import json, sys
from hepfm_core.data.generator import GeneratorConfig, generate_dataset
generate_dataset(sys.argv[1], 1_000_000, 1_000, GeneratorConfig(signals=("wprime_qq",)), None)
# VmHWM is this process's own peak (ru_maxrss can inherit the forking parent's RSS)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"peak_rss_mb": int(hwm) / 1024}))
"""

# 1M events are 720 MB as float32 inputs; generation is chunked, so the peak stays far below.
PEAK_RSS_BOUND_MB = 600


@pytest.mark.slow
def test_memory_bounded_for_a_million_events(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "big")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    assert peak < PEAK_RSS_BOUND_MB, f"peak RSS {peak:.0f} MB"
    from hepfm_core.data.hepfm_format import read_header

    assert read_header(tmp_path / "big" / "background.h5")["n_events"] == 1_000_000


def test_demo_files_carry_synthetic_identity(tmp_path):
    from hepfm_core.data.generator import (
        CHUNK_EVENTS,
        DEMO_CHANNEL_BASE,
        DEMO_DATA_RUN,
        DEMO_MC_RUN,
        SIGNALS,
    )
    from hepfm_core.data.hepfm_format import read_header, read_identity

    cfg = GeneratorConfig(signals=("zprime_ee",))
    paths = generate_dataset(tmp_path, CHUNK_EVENTS + 10, 50, cfg)  # two chunks of background
    bkg = read_identity(paths["background"])
    assert sorted(bkg) == ["event_number", "run_number"]
    assert np.array_equal(bkg["event_number"], np.arange(1, CHUNK_EVENTS + 11))
    assert set(bkg["run_number"].tolist()) == {DEMO_DATA_RUN}
    sig = read_identity(paths["zprime_ee"])
    assert set(sig["run_number"].tolist()) == {DEMO_MC_RUN}
    channel = DEMO_CHANNEL_BASE + 1 + SIGNALS.index("zprime_ee")
    assert set(sig["mc_channel_number"].tolist()) == {channel}
    assert read_header(paths["zprime_ee"])["feature_definition"] == "physical"
