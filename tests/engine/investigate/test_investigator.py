"""The investigation on the small demo and on upstream's files: the events of a cause are
those ``--scores-out`` gives it, their tracks are the file's rows, their residuals add up
to the reconstruction score, the summary names the injected pathology, and the
whole-sample diagnostics equal direct numpy computations."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import polars as pl
import pytest

from hepfm_core.data.hepfm_format import read_identity
from hepfm_core.engine.evaluate import EvaluationSettings, Evaluator, write_scores
from hepfm_core.engine.investigate.diagnostics import kl_per_dimension
from hepfm_core.engine.investigate.events import Criterion
from hepfm_core.engine.investigate.investigator import Investigator
from hepfm_core.engine.investigate.sampling import sample_rows
from hepfm_core.vocabulary import Cause

# Without a clip the demo's degenerate tracks (pt 1e5 to 1e8 GeV, generator.py) drive
# z_log_var beyond what float64's exp takes: the KL overflows.
KL = EvaluationSettings(score="kl")
RECON = EvaluationSettings(score="reconstruction")
# The residuals come from the decoder compiled on 256 rows, the pass's reconstruction error
# from the forward pass compiled on 8192: float32 kernels may round differently per batch
# shape (scoring.py: up to about 1e-5 relative). Measured here: about 1e-15.
RESIDUAL_RTOL = 1e-5


@pytest.fixture(scope="module")
def investigator(small_demo, tmp_path_factory) -> Investigator:
    ev = Evaluator.open(*small_demo, cache=tmp_path_factory.mktemp("cache"))
    ev.score_all()
    return Investigator(ev)


def _stored(data_dir: Path, name: str) -> np.ndarray:
    with h5py.File(data_dir / f"{name}.h5", "r") as h5:
        return np.asarray(h5["events"][:], dtype=np.float64)


@pytest.mark.parametrize("settings", [KL, EvaluationSettings(score="radius")])
def test_cause_lists_the_scores_out_events(investigator, settings, tmp_path):
    result = investigator.evaluator.evaluate(settings)
    write_scores(result, tmp_path)
    seen = 0
    for name, sample in result.samples.items():
        frame = pl.read_parquet(tmp_path / f"{name}.parquet")
        for cause in (c.label for c in Cause):
            sel = investigator.select(sample, Criterion.by_cause(cause))
            expected = frame.filter(pl.col("cause_label") == cause)["event"].to_numpy()
            np.testing.assert_array_equal(sel.events, expected)
            seen += sel.size if cause != "ok" else 0
    assert seen > 0  # the demo's pathologies are there to be found
    bkg = result.samples["background"].counts.by_cause
    assert bkg["kl_overflow" if settings.score == "kl" else "radius_overflow"] > 0


def test_tracks_are_the_file_rows_and_residuals_add_up(investigator, small_demo):
    data_dir, _ = small_demo
    result = investigator.evaluate_sample(RECON, "background")
    stored = _stored(data_dir, "background")
    kl = investigator.evaluate_sample(KL, "background").samples["background"]
    selections = [
        investigator.select(result.samples["background"], Criterion.top(50)),
        investigator.select(result.samples["background"], Criterion.score_range(20.0, 30.0)),
        investigator.select(kl, Criterion.by_cause("kl_overflow")),
    ]
    pass_ = investigator.evaluator.score_all()["background"]
    checked = 0
    for sel in selections:
        details = investigator.details(sel, limit=60)
        assert [d.event for d in details] == sel.events[:60].tolist()
        for d in details:
            row = stored[d.event].reshape(30, 6)
            real = np.flatnonzero(np.any(row != 0.0, axis=1))
            np.testing.assert_array_equal(d.track_slots, real)
            np.testing.assert_array_equal(d.tracks, row[real])
            assert d.values_kind == "raw"
            assert d.reconstruction == pass_.recon[d.event]
            assert d.residual_sum == pytest.approx(d.reconstruction, rel=RESIDUAL_RTOL)
            assert np.sum(d.residuals_per_track) == pytest.approx(d.residual_sum, rel=1e-12)
            np.testing.assert_array_equal(d.z_log_var, pass_.z_log_var[d.event])
            checked += 1
    assert checked >= 50


def test_summary_names_the_degenerate_pt_tracks(investigator, small_demo):
    data_dir, _ = small_demo
    kl = investigator.evaluate_sample(KL, "background").samples["background"]
    sel = investigator.select(kl, Criterion.by_cause("kl_overflow"))
    assert sel.size >= 1
    summary = investigator.summary(sel)
    top = summary.comparisons[0]
    stored = _stored(data_dir, "background")[sel.events].reshape(sel.size, 30, 6)
    assert (stored[:, :, 4].max(axis=1) >= 1e5).all()  # the injected pathology
    assert top.name == "max pt" and top.direction == "higher" and top.unit == "GeV"
    assert top.selected_passing == sel.size and top.cut >= 1e4 and top.rest_passing < 1e-3
    who = "the selected event has" if sel.size == 1 else f"all {sel.size} selected events have"
    assert summary.sentences[0].startswith(f"{who} a track with pt ≥ ")
    assert "GeV" in summary.sentences[0] and summary.n_rest == 20_000 - sel.size


def test_latent_diagnostics_against_numpy(investigator):
    pass_ = investigator.evaluator.score_all()["background"]
    mu = np.asarray(pass_.z_mean, dtype=np.float64)
    s_raw = np.asarray(pass_.z_log_var, dtype=np.float64)
    for clip in ((-20.0, 20.0), None):
        settings = EvaluationSettings(score="kl", clip=clip)
        d = investigator.latent(settings, "background")
        s = s_raw if clip is None else np.clip(s_raw, *clip)
        with np.errstate(all="ignore"):
            terms = -0.5 * (1.0 + s - mu**2 - np.exp(s))
            big = np.isposinf(terms)
            terms[big] = (0.5 * mu**2 + np.exp(s - np.log(2.0)) - 0.5 * (1.0 + s))[big]
        np.testing.assert_allclose(d.mu_var, mu.var(axis=0), rtol=1e-10)
        np.testing.assert_allclose(d.mu_mean, mu.mean(axis=0), rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(d.active, mu.var(axis=0) > 0.01)
        np.testing.assert_allclose(d.kl_mean, terms.mean(axis=0), rtol=1e-10)
        np.testing.assert_array_equal(d.kl_nonfinite, (~np.isfinite(terms)).sum(axis=0))
        np.testing.assert_allclose(d.kl_median, np.median(terms, axis=0), rtol=1e-12)
        np.testing.assert_array_equal(d.s_quantiles[:, 3], np.median(s_raw, axis=0))
        for j in range(d.latent_dim):
            counts, _ = np.histogram(s_raw[:, j], d.s_edges)
            np.testing.assert_array_equal(d.s_counts[j], counts)
            outside = (s_raw[:, j] < d.s_edges[0]).sum() + (s_raw[:, j] > d.s_edges[-1]).sum()
            assert d.s_underflow[j] + d.s_overflow[j] == outside
        if clip is not None:
            np.testing.assert_array_equal(d.below_clip, (s_raw < clip[0]).sum(axis=0))
            np.testing.assert_array_equal(d.above_clip, (s_raw > clip[1]).sum(axis=0))
            assert d.s_edges[0] <= clip[0] or d.s_edges[-1] >= clip[1]  # a bound on the axis
            # the per-dimension terms add up to the guards' KL
            guarded = investigator.evaluator.evaluate(settings).samples["background"]
            assert d.kl_mean.sum() == pytest.approx(np.mean(guarded.guarded.scores), rel=1e-9)
        assert d.n_used == 20_000 and d.n_nonfinite == 0
    assert kl_per_dimension(np.zeros(1), np.array([710.0]), "exp", "true")[0] < np.inf


def test_sculpting_against_a_direct_computation(investigator, small_demo):
    data_dir, _ = small_demo
    result = investigator.evaluator.evaluate(RECON)
    check = investigator.sculpting(result, target_bkg_eff=1e-2)
    bkg = np.sort(result.samples["background"].policy.values)
    n = bkg.size
    threshold = bkg[n - (n // 100) - 1]  # the loosest cut passing at most 1 %
    assert check.threshold == threshold and check.working_point.status == "ok"
    frame = check.frame()
    for name in ("background", "wprime_qq"):
        stored = _stored(data_dir, name).reshape(-1, 30, 6)
        rows = sample_rows(stored.shape[0])
        assert rows.size == stored.shape[0]  # the small demo is read whole
        real = np.any(stored != 0.0, axis=2)
        tracks = real.sum(axis=1)
        scores = result.samples[name].guarded.scores
        part = frame.filter(pl.col("sample") == name, pl.col("variable") == "tracks")
        for row in part.iter_rows(named=True):
            inside = (tracks >= row["lo"]) & (tracks < row["hi"])
            assert row["n"] == inside.sum()
            if row["n"]:
                assert row["n_pass"] == (scores[inside] > threshold).sum()
                assert row["efficiency"] == pytest.approx(row["n_pass"] / row["n"], abs=1e-15)
                med = np.quantile(scores[inside], 0.5, method="inverted_cdf")
                assert row["score_median"] == pytest.approx(med, rel=1e-12)
        lead = np.where(
            real.any(axis=1), np.where(real, stored[:, :, 4], -np.inf).max(axis=1), np.nan
        )
        part = frame.filter(pl.col("sample") == name, pl.col("variable") == "leading_pt")
        assert part["n"].sum() == np.isfinite(lead).sum()
        for row in part.iter_rows(named=True):
            inside = (lead >= row["lo"]) & (lead < row["hi"])
            assert row["n"] == inside.sum()
            if row["n"]:
                assert row["n_pass"] == (scores[inside] > threshold).sum()


def test_residual_profile_against_keras(investigator, small_demo):
    _, model_path = small_demo
    from hepfm_core.sources import load_model

    profile = investigator.residuals(["zprime_ee"])["zprime_ee"]
    sample = investigator.evaluator.data.signals["zprime_ee"]
    x = sample.x[0 : sample.n_events]
    _, _, x_hat = load_model(model_path).predict(x)
    sq = (x.astype(np.float64) - x_hat.astype(np.float64)) ** 2
    assert profile.n_used == sample.n_events and profile.note == f"all {sample.n_events} events"
    np.testing.assert_allclose(profile.mean, sq.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(profile.median, np.median(sq, axis=0), rtol=1e-4)
    per_event_track = sq.reshape(-1, 30, 6).sum(axis=2)
    np.testing.assert_allclose(
        profile.median_per_track, np.median(per_event_track, axis=0), rtol=1e-4
    )
    np.testing.assert_allclose(
        profile.per_feature, sq.reshape(-1, 30, 6).mean(axis=0).sum(axis=0), rtol=1e-4
    )
    assert profile.real_fraction[0] == pytest.approx(1.0)


def test_ids_and_identity_follow_the_data_files(investigator):
    result = investigator.evaluate_sample(RECON, "zprime_tt")
    sel = investigator.select(result.samples["zprime_tt"], Criterion.top(7))
    ids = investigator.ids(sel)
    stored = read_identity(investigator.evaluator.data.signals["zprime_tt"])
    details = investigator.details(sel)
    if stored is None:  # files written before identity columns: sample and index
        assert ids.columns == ["sample", "event"] and ids["event"].to_list() == sel.events.tolist()
        assert all(d.identity is None for d in details)
        return
    assert ids.columns[:2] == ["run_number", "event_number"]
    for column in ids.columns:
        assert ids[column].to_list() == stored[column][sel.events].tolist()
    for d in details:
        assert d.identity == {k: int(v[d.event]) for k, v in stored.items()}


@pytest.mark.slow
def test_upstream_events_show_upstream_stored_tracks(upstream_fixture, tmp_path):
    folder = upstream_fixture / "_processed_datasets" / "dataset_runs_00298967-2-00311481_45222f19"
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    inv = Investigator(Evaluator.open(folder, exp, cache=tmp_path / "cache"))
    result = inv.evaluate_sample(RECON, "wprime_taunu")
    sel = inv.select(result.samples["wprime_taunu"], Criterion.top(5))
    kind, note = inv.values_kind("wprime_taunu")
    assert kind == "raw" and "upstream" in note and "clipped" in note
    with h5py.File(folder / "signal_dataset.h5", "r") as h5:
        stored = np.asarray(h5["wprime_taunu/features/aggregated/aggregator_0"][:])
    pass_ = inv.evaluator.score_all()["wprime_taunu"]
    for d in inv.details(sel):
        real = np.flatnonzero(np.any(stored[d.event] != 0.0, axis=1))
        np.testing.assert_array_equal(d.tracks, stored[d.event][real])
        assert d.residual_sum == pytest.approx(pass_.recon[d.event], rel=RESIDUAL_RTOL)
    summary = inv.summary(sel)
    assert summary.n_selected == 5 and summary.n_rest == 795
    assert inv.ids(sel).columns == ["sample", "event"]  # upstream files store no identity


@pytest.mark.parametrize("policy", ["worst", "drop"])
def test_sculpting_reads_the_policy_and_the_cut_without_a_pass(investigator, policy):
    """The per-row policy view and the cut from the sorted background equal the full
    per-event array and a fresh sort (KL: the demo has events that are not OK)."""
    from hepfm_core.engine.guards.policy import policy_view
    from hepfm_core.engine.investigate.sculpting import working_threshold

    result = investigator.evaluator.evaluate(EvaluationSettings(score="kl", policy=policy))
    for res in result.samples.values():
        full = np.full(res.counts.total, np.nan)
        full[np.asarray(res.policy.kept_mask)] = res.policy.values
        rows = np.arange(0, res.counts.total, 7)
        np.testing.assert_array_equal(policy_view(res.guarded, res.policy, rows), full[rows])
    assert result.samples["background"].counts.ok < result.samples["background"].counts.total
    values = result.samples["background"].policy.values
    for target in (1e-1, 1e-2, 1e-3):
        fast = working_threshold(result.sorted_background, target)
        slow = working_threshold(values, target)
        assert fast == slow or fast.to_json_dict() == slow.to_json_dict()


def test_the_summary_says_how_much_of_a_sparse_selection_it_read(investigator, monkeypatch):
    from hepfm_core.engine.investigate import investigator as module

    inv = investigator
    result = inv.evaluator.evaluate(EvaluationSettings(clip=(-20.0, 20.0)))
    everything = inv.select(result.samples["background"], Criterion.top(10**9))
    monkeypatch.setattr(module, "MAX_SELECTION_BLOCKS", 3)
    summary = inv.summary(everything)
    n_read = int(re.search(r"the selection: (\d+) of its (\d+) events", summary.rest_note)[1])
    assert 0 < n_read <= 3 * module.SELECTION_BLOCK_EVENTS and everything.size > n_read


def test_the_imputed_events_are_the_rows_with_non_finite_stored_values(investigator, small_demo):
    """The demo's NaN reducedChiSquared tracks are filled by the reader: the imputed
    selection lists exactly the stored rows holding a non-finite value, whatever their cause,
    and each event names the values that were filled."""
    data_dir, _ = small_demo
    result = investigator.evaluate_sample(KL, "background")
    bkg = result.samples["background"]
    stored = _stored(data_dir, "background")
    bad = ~np.isfinite(stored)
    sel = investigator.select(bkg, Criterion.by_cause("imputed"))
    np.testing.assert_array_equal(sel.events, np.flatnonzero(bad.any(axis=1)))
    assert sel.size == bkg.imputed > 0  # the count the app's button shows
    assert sel.criterion.kind == "imputed"
    np.testing.assert_array_equal(sel.causes, np.asarray(bkg.guarded.causes)[sel.events])
    details = investigator.details(sel, limit=20)
    assert len(details) == min(20, sel.size)
    for d in details:
        np.testing.assert_array_equal(d.filled, bad[d.event])
        assert d.to_json_dict()["filled_inputs"] == np.flatnonzero(bad[d.event]).tolist()
    # an event with nothing filled carries no mask
    top = investigator.details(investigator.select(bkg, Criterion.top(5)), limit=5)
    assert all((d.filled is None) == (not bad[d.event].any()) for d in top)


def test_fill_none_has_no_imputed_events(small_demo, tmp_path):
    ev = Evaluator.open(*small_demo, cache=tmp_path, fill="none")
    inv = Investigator(ev)
    result = inv.evaluate_sample(KL, "background")
    sel = inv.select(result.samples["background"], Criterion.by_cause("imputed"))
    assert sel.size == 0
    assert result.samples["background"].counts.by_cause["input_nonfinite"] > 0


def test_the_reference_statistics_are_read_once_per_file(small_demo, tmp_path, monkeypatch):
    """Another investigator on the same files (here: the other fill, as the app's fill
    control makes one) reuses the sampled statistics of the stored values instead of reading
    them again; a different sampling reads its own."""
    from hepfm_core.engine.investigate import investigator as module

    monkeypatch.setattr(module, "_shared_references", {})
    first = Investigator(Evaluator.open(*small_demo, cache=tmp_path))
    other_fill = Investigator(Evaluator.open(*small_demo, cache=tmp_path, fill="none"))
    fewer = Investigator(Evaluator.open(*small_demo, cache=tmp_path), max_events=5_000)
    ref = first._reference("zprime_tt")
    reads = []
    monkeypatch.setattr(other_fill, "_rows", lambda *a: reads.append(a))
    assert other_fill._reference("zprime_tt") is ref and reads == []
    assert fewer._reference("background").rows.size <= 5_000  # whole blocks of 512
    assert first._reference("background").rows.size == 20_000
    assert len(module._shared_references) == 3
