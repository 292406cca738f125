"""PhysLite derivations: features against a float64 reference written out track by track,
sort / truncation / padding, every pathology counted, every event and track accounted for,
track filters, and the inverse used to write the demo as ROOT."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepfm_core.data import generator
from hepfm_core.data.physlite import (
    FEATURES,
    RAW_NAMES,
    TRACK_BRANCHES,
    ConversionCounts,
    Selection,
    TrackFilter,
    derive_block,
    derive_features,
    raw_from_features,
)
from hepfm_core.errors import SettingsError, TrackFilterError

F32_PI = float(np.float32(np.pi))  # 3.1415927 > pi: a theta "at pi" as a float32 branch holds it


def raw_tracks(rows):
    """Flat float32 raw arrays from per-track dicts (missing keys: a healthy default)."""
    default = {
        "d0": 0.01,
        "z0": 1.0,
        "phi": 0.5,
        "theta": 1.0,
        "qOverP": 1e-3,
        "chiSquared": 10.0,
        "numberDoF": 10.0,
    }
    return {
        name: np.array([r.get(name, default[name]) for r in rows], dtype=np.float32)
        for name in RAW_NAMES
    }


def reference_physical(d0, z0, phi, theta, qop, chi2, ndf):
    """The physical features of one track, written out with Python floats (float64)."""
    if 0.0 < theta < math.pi:
        eta = -math.log(math.tan(theta / 2.0))
        pt = math.sin(theta) / abs(qop) / 1000.0 if qop != 0 else math.inf
    else:
        eta = pt = math.nan
    if ndf > 0:
        rchi2 = chi2 / ndf
    elif ndf == 0:
        rchi2 = math.nan if chi2 == 0 else math.copysign(math.inf, chi2)
    else:
        rchi2 = math.nan
    return [d0, phi, z0, eta, pt, rchi2]


def reference_upstream(d0, z0, phi, theta, qop, chi2, ndf):
    """Upstream's rules for one track, written out with Python floats."""
    th = min(max(theta, 1e-6), math.pi - 1e-6)
    eta = min(max(-math.log(min(max(math.tan(th / 2.0), 1e-6), 1e6)), -10.0), 10.0)
    q = math.copysign(1e-9, qop) if abs(qop) < 1e-9 and qop != 0 else qop
    p = math.inf if q == 0 else abs(1.0 / q) / 1000.0
    pt = min(max(p * math.sin(th), 0.0), 100.0)
    if ndf <= 1e-8:
        rchi2 = 0.0 if abs(chi2) < 1e-8 else 1000.0
    else:
        rchi2 = min(max(chi2 / ndf, 0.0), 1000.0)
    return [d0, phi, z0, eta, pt, rchi2]


def random_raw(n, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.05, math.pi - 0.05, n)
    pt = 0.5 * rng.random(n) ** -0.6
    return {
        "d0": rng.normal(0, 0.05, n),
        "z0": rng.normal(0, 40, n),
        "phi": rng.uniform(-math.pi, math.pi, n),
        "theta": theta,
        "qOverP": rng.choice([-1, 1], n) * np.sin(theta) / (pt * 1000.0),
        "chiSquared": rng.chisquare(15, n),
        "numberDoF": rng.integers(5, 30, n).astype(float),
    }


def as_f32(raw):
    return {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}


def test_names_follow_the_hepfm_layout_and_physlite():
    assert FEATURES == generator.BRANCHES
    assert TRACK_BRANCHES[0] == "InDetTrackParticlesAuxDyn.d0"
    assert set(RAW_NAMES) == {"d0", "z0", "phi", "theta", "qOverP", "chiSquared", "numberDoF"}


@pytest.mark.parametrize("definition", ["physical", "upstream-compatible"])
def test_features_equal_a_float64_reference_within_float32_rounding(definition):
    raw = as_f32(random_raw(3000))
    # a few tracks that exercise upstream's guards
    raw["qOverP"][:3] = np.array([2e-10, -5e-10, 1e-7], dtype=np.float32)  # 1 TeV+ and 10 TeV
    raw["numberDoF"][3:5] = 0.0
    raw["chiSquared"][4] = 0.0
    raw["theta"][5] = 1e-7
    counts = np.full(1000, 3)
    block = derive_block(counts, raw, Selection(n_tracks=5, definition=definition))
    ref_fn = reference_physical if definition == "physical" else reference_upstream
    ref = np.array(
        [ref_fn(*(float(raw[n][i]) for n in RAW_NAMES)) for i in range(3000)], dtype=np.float64
    )
    # every event keeps its 3 tracks (sorted by pt); compare track by track after sorting
    # the reference the same way
    out = block.events.reshape(1000, 5, 6)
    assert np.all(out[:, 3:] == 0.0)  # padding
    for e in range(1000):
        mine = ref[3 * e : 3 * e + 3]
        key = np.where(np.isfinite(mine[:, 4]), -mine[:, 4], np.inf)
        expected = mine[np.argsort(key, kind="stable")]
        got = out[e, :3].astype(np.float64)
        finite = np.isfinite(expected)
        assert np.array_equal(np.isfinite(got), finite), e
        assert np.array_equal(np.isnan(got), np.isnan(expected)), e
        # within float32 rounding of the float64 value: at most one float32 step apart
        step = np.spacing(np.abs(expected[finite]).astype(np.float32)).astype(np.float64)
        assert np.all(np.abs(got[finite] - expected[finite]) <= step), e
    assert block.counts.events_in == block.counts.events_kept == 1000
    if definition == "upstream-compatible":
        assert out[..., 4].max() == 100.0  # saturated, as upstream does
        assert np.isfinite(out).all()


def test_upstream_compatible_keeps_nan_raw_values_nan():
    raw = raw_tracks([{"chiSquared": np.nan}, {"theta": np.nan}, {"qOverP": np.nan}])
    f = derive_features(raw, "upstream-compatible")
    assert np.isnan(f["reducedChiSquared"][0])
    assert np.isnan(f["eta"][1]) and np.isnan(f["pt"][1])
    assert np.isnan(f["pt"][2]) and np.isfinite(f["eta"][2])


def test_sort_truncation_and_padding():
    # event 0: pt 3, 10, NaN (theta at 0), 1, inf (q/p = 0), 10 (a tie: file order kept)
    sin1 = math.sin(1.0)
    tracks = [
        {"qOverP": sin1 / 3000, "d0": 1.0},
        {"qOverP": sin1 / 10000, "d0": 2.0},
        {"theta": 0.0, "d0": 3.0},
        {"qOverP": sin1 / 1000, "d0": 4.0},
        {"qOverP": 0.0, "d0": 5.0},
        {"qOverP": -sin1 / 10000, "d0": 6.0},
        # event 1: one track; event 2: none
        {"qOverP": sin1 / 2000, "d0": 7.0},
    ]
    counts = np.array([6, 1, 0])
    block = derive_block(counts, raw_tracks(tracks), Selection(n_tracks=5))
    out = block.events.reshape(3, 5, 6)
    assert out[0, :, 0].tolist() == [2.0, 6.0, 1.0, 4.0, 3.0]  # d0 identifies the tracks
    assert out[0, :4, 4] == pytest.approx([10.0, 10.0, 3.0, 1.0], rel=1e-6)
    assert np.isnan(out[0, 4, 4])  # non-finite pt last; the inf one (file order 5) truncated
    assert out[1, 0, 0] == 7.0 and out[1, 0, 4] == pytest.approx(2.0, rel=1e-6)
    assert np.all(out[1, 1:] == 0.0) and np.all(out[2] == 0.0)  # all-zero padding
    c = block.counts
    assert (c.tracks_in, c.tracks_written, c.tracks_truncated) == (7, 6, 1)
    assert c.events_kept == 3 and c.events_without_tracks == 1
    assert c.balanced()


def test_non_finite_pt_sorts_last_in_file_order():
    tracks = [{"qOverP": 0.0, "d0": 1.0}, {"theta": np.nan, "d0": 2.0}, {"d0": 3.0}]
    out = derive_block(np.array([3]), raw_tracks(tracks), Selection(n_tracks=3)).events
    assert out.reshape(3, 6)[:, 0].tolist() == [3.0, 1.0, 2.0]


def test_every_pathology_is_counted_and_non_finite():
    tracks = [
        {"numberDoF": 0.0, "chiSquared": 7.0},  # chi2 / 0 = inf
        {"numberDoF": 0.0, "chiSquared": 0.0},  # 0 / 0 = NaN
        {"numberDoF": -2.0},  # impossible: NaN
        {"theta": 0.0},
        {"theta": F32_PI},
        {"qOverP": 0.0},
        {"d0": np.nan},
        {"z0": np.inf, "chiSquared": -np.inf},
        {},  # healthy
    ]
    block = derive_block(np.array([9]), raw_tracks(tracks), Selection(n_tracks=9))
    c = block.counts
    assert c.pathologies == {
        "nonfinite_raw": 2,
        "number_dof_not_positive": 3,
        "theta_out_of_range": 2,
        "qoverp_zero": 1,
    }
    assert c.nonfinite_raw == {
        "d0": 1,
        "z0": 1,
        "phi": 0,
        "theta": 0,
        "qOverP": 0,
        "chiSquared": 1,
        "numberDoF": 0,
    }
    # reducedChiSquared: inf, NaN, NaN, and -inf / 10 = -inf; eta, pt: theta 0 and pi;
    # pt: q/p = 0; d0 NaN and z0 inf are passed on
    assert c.nonfinite_features == {
        "d0": 1,
        "phi": 0,
        "z0": 1,
        "eta": 2,
        "pt": 3,
        "reducedChiSquared": 4,
    }
    f = derive_features(raw_tracks(tracks))
    assert np.isposinf(f["reducedChiSquared"][0]) and np.isnan(f["reducedChiSquared"][1])
    assert np.isnan(f["reducedChiSquared"][2]) and np.isneginf(f["reducedChiSquared"][7])
    assert np.isnan(f["eta"][3]) and np.isnan(f["pt"][4]) and np.isposinf(f["pt"][5])
    # all kept (nothing dropped silently), and as many non-finite values written
    assert block.counts.tracks_written == 9
    assert int((~np.isfinite(block.events)).sum()) == sum(c.nonfinite_features.values())


def test_events_and_tracks_accounted_for_by_reason():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 12, 400)
    raw = as_f32(random_raw(int(counts.sum()), seed=6))
    sel = Selection(
        n_tracks=6,
        track_filters=(TrackFilter.parse("z0:-50:50"), TrackFilter.parse("pt:0.7:")),
        min_tracks=3,
    )
    block = derive_block(counts, raw, sel)
    c = block.counts
    # an independent count, event by event
    pt = np.sin(raw["theta"].astype(float)) / np.abs(raw["qOverP"].astype(float)) / 1000
    z0 = raw["z0"].astype(float)
    fail_z0 = ~((z0 >= -50) & (z0 <= 50))
    fail_pt = ~fail_z0 & ~(pt >= 0.7)
    passing = ~fail_z0 & ~fail_pt
    per_event = np.add.reduceat(passing, np.r_[0, np.cumsum(counts)[:-1]]) * (counts > 0)
    kept = per_event >= 3
    assert c.events_in == 400
    assert c.events_kept == kept.sum() == block.events.shape[0]
    assert c.events_dropped == {"below_min_tracks": int((~kept).sum())}
    assert c.tracks_in == counts.sum()
    assert c.tracks_filtered == {"z0:-50:50": int(fail_z0.sum()), "pt:0.7:": int(fail_pt.sum())}
    assert c.tracks_in_dropped_events == per_event[~kept].sum()
    assert c.tracks_written == np.minimum(per_event[kept], 6).sum()
    assert c.tracks_truncated == np.maximum(per_event[kept] - 6, 0).sum()
    assert c.balanced()
    assert np.array_equal(block.kept, np.flatnonzero(kept))
    # in = kept + dropped, events and tracks, summed over blocks too
    total = c + c
    assert total.balanced() and total.events_in == 800
    assert ConversionCounts.from_dict(total.to_dict()) == total


def test_track_filters_parse_and_name_raw_or_derived_values():
    assert TrackFilter.parse("z0:-100:100") == TrackFilter("z0", -100.0, 100.0)
    assert TrackFilter.parse("InDetTrackParticlesAuxDyn.pt:1:").label == "pt:1:"
    assert TrackFilter.parse("eta::2.5") == TrackFilter("eta", None, 2.5)
    raw = raw_tracks([{"theta": 0.2}, {"theta": 1.5}, {"numberDoF": 4.0}])
    sel = Selection(
        n_tracks=3, track_filters=(TrackFilter.parse("eta:-1:1"), TrackFilter.parse("numberDoF:5:"))
    )
    c = derive_block(np.array([3]), raw, sel).counts
    assert c.tracks_filtered == {"eta:-1:1": 1, "numberDoF:5:": 1} and c.tracks_written == 1


def test_nan_never_passes_a_filter_and_is_counted():
    raw = raw_tracks([{"theta": np.nan}, {}])
    sel = Selection(n_tracks=2, track_filters=(TrackFilter.parse("eta:-5:5"),))
    c = derive_block(np.array([2]), raw, sel).counts
    assert c.tracks_filtered == {"eta:-5:5": 1} and c.balanced()


@pytest.mark.parametrize(
    "text", ["z0", "z0:1", "z0:1:2:3", ":1:2", "z0:a:2", "mass:0:1", "z0::", "z0:5:1"]
)
def test_bad_track_filters_are_typed_errors(text):
    with pytest.raises(TrackFilterError) as info:
        TrackFilter.parse(text)
    assert "what to do" in str(info.value)


def test_bad_selections_are_settings_errors():
    with pytest.raises(SettingsError, match="tracks"):
        Selection(n_tracks=0)
    with pytest.raises(SettingsError, match="min-tracks"):
        Selection(min_tracks=-1)
    with pytest.raises(SettingsError, match="feature definition"):
        Selection(definition="fancy")  # type: ignore[arg-type]


def test_inverse_reproduces_generated_events_within_float32_rounding():
    cfg = generator.GeneratorConfig(dof0_rate=0.2, degenerate_rate=0.05, extreme_rate=0.2)
    events = generator.generate_block("wprime_taunu", 500, cfg)
    rng = np.random.default_rng(0)
    charge = rng.choice([-1.0, 1.0], (500, 30))
    ndf = rng.integers(8, 32, (500, 30)).astype(float)
    counts, raw = raw_from_features(events, charge, ndf)
    assert all(v.dtype == np.float32 for v in raw.values())
    back = derive_block(counts, raw, Selection(n_tracks=30)).events.reshape(500, 30, 6)
    ref = events.reshape(500, 30, 6)
    assert np.array_equal(np.isnan(back), np.isnan(ref))
    assert np.array_equal(np.isposinf(back), np.isposinf(ref))
    real = np.any(ref != 0.0, axis=2)
    assert np.all(back[~real] == 0.0)  # padding stays padding
    fin = np.isfinite(ref) & real[..., None]
    for j, name in enumerate(FEATURES):
        a, b = ref[..., j][fin[..., j]].astype(float), back[..., j][fin[..., j]].astype(float)
        if name in ("d0", "phi", "z0"):
            assert np.array_equal(a, b), name
        elif name == "eta":  # through float32 theta: |d eta| <= ulp(theta) / sin(theta)
            assert np.max(np.abs(a - b)) < 1e-6, name
        else:  # pt and chi2 / ndf: one float32 rounding each way
            assert np.max(np.abs(a - b) / np.abs(a)) <= 2.5 * 2.0**-24, name
    assert int(np.isnan(ref[..., 5]).sum()) > 0 and int(np.isposinf(ref[..., 5]).sum()) > 0
