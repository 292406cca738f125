"""The investigation view's tables (views.investigation.tables) and one event's caption, from
engine results built on small synthetic arrays: values carried over, units in titles,
padding left out, filled values named."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.engine.investigate.detail import event_details
from hepfm_core.engine.investigate.events import (
    TrackLayout,
)
from hepfm_core.views import investigation as iv

LAYOUT = TrackLayout(
    4, ("d0", "phi", "z0", "eta", "pt", "reducedChiSquared"), ("mm", "rad", "mm", "", "GeV", "")
)


def degenerate_event():
    """One background event with a degenerate pt (2.5e6 GeV), a padding slot and z_log_var
    outside the clip: the KL overflows."""
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(1, 24))
    raw[0, 18:] = 0.0  # the last slot is padding
    raw[0, 4] = 2.5e6  # a degenerate pt
    x = raw.astype(np.float32)
    x_hat = (raw + rng.normal(0, 0.1, raw.shape)).astype(np.float32)
    x_hat[0, 4] = 0.0
    (d,) = event_details(
        sample="background",
        events=np.array([42]),
        values=raw,
        values_kind="raw",
        inputs=x,
        x_hat=x_hat,
        z_mean=rng.normal(size=(1, 4)),
        z_log_var=np.array([[-1.0, 0.5, 700.0, -30.0]]),
        scores=np.array([np.nan]),
        causes=np.array([4]),
        recon=np.array([6.25e12]),
        layout=LAYOUT,
        clip=(-20.0, 20.0),
    )
    return d


@pytest.fixture(scope="module")
def detail():
    return degenerate_event()


def test_track_table_and_caption(detail):
    table = iv.track_table(detail, LAYOUT)
    assert table[iv.TRACK_TITLE].to_list() == [0, 1, 2]  # padding left out
    assert "pt [GeV]" in table.columns and "eta" in table.columns
    assert table["pt [GeV]"][0] == 2.5e6
    caption = iv.event_caption(detail, LAYOUT)
    assert caption.startswith("background event 42: kl_overflow, no finite score, 3 tracks")
    assert "largest residual: track 0 pt (100% of the sum)" in caption
    rows = iv.event_table([detail], LAYOUT)
    assert rows.row(0, named=True)["largest residual"] == "track 0 pt"
    assert rows.row(0, named=True)["max z_log_var"] == 700.0


def _event_with(raw: np.ndarray, filled: np.ndarray | None = None):
    x = np.nan_to_num(raw, posinf=0.0, neginf=0.0).astype(np.float32)
    (d,) = event_details(
        sample="zprime_tt",
        events=np.array([7]),
        values=raw,
        values_kind="raw",
        inputs=x,
        x_hat=x * 0.9,
        z_mean=np.zeros((1, 2)),
        z_log_var=np.zeros((1, 2)),
        scores=np.array([3.0]),
        causes=np.array([0]),
        recon=np.array([1.0]),
        layout=LAYOUT,
        clip=None,
        filled=filled,
    )
    return d


def _tracks(rows: list[list[float]]) -> np.ndarray:
    """Raw values of 4 track slots (d0, phi, z0, eta, pt, chi2), the missing ones padding."""
    raw = np.zeros((1, 24))
    for t, row in enumerate(rows):
        raw[0, 6 * t : 6 * t + 6] = row
    return raw


def test_filled_values_are_named_in_the_table_and_the_caption():
    raw = _tracks([[0.1, 0.5, 1.0, 0.3, 12.0, np.nan], [0.2, np.nan, 2.0, np.inf, 8.0, 1.0]])
    d = _event_with(raw, ~np.isfinite(raw))
    table = iv.track_table(d, LAYOUT)
    assert table[iv.FILLED_TITLE].to_list() == ["reducedChiSquared", "phi, eta"]
    assert table.columns[:2] == [iv.TRACK_TITLE, iv.FILLED_TITLE]  # seen in a scrolled table
    assert np.isnan(table["reducedChiSquared"][0]) and table["eta"][1] == np.inf  # as stored
    caption = iv.event_caption(d, LAYOUT)
    assert (
        "filled by the reader (not data): track 0 reducedChiSquared, track 1 phi, track 1 eta;"
        in caption
    )
    plain = _event_with(np.nan_to_num(raw, posinf=1.0))
    assert iv.FILLED_TITLE not in iv.track_table(plain, LAYOUT).columns
    assert "filled" not in iv.event_caption(plain, LAYOUT)
