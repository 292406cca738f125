"""One event in detail: its squared residuals summed per track and per feature, padding left
out of its tracks, z_log_var against the clip, and strict JSON."""

from __future__ import annotations

import json

import numpy as np

from hepfm_core.engine.investigate.detail import event_details
from hepfm_core.engine.investigate.events import TrackLayout
from hepfm_core.vocabulary import Cause

LAYOUT = TrackLayout(3, ("d0", "pt"), ("mm", "GeV"))


def test_event_details_residuals_and_padding(strict_json):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6)).astype(np.float32)
    x[0, 4:] = 0.0  # event 0: its third slot is padding
    x_hat = rng.normal(size=(2, 6)).astype(np.float32)
    x_hat[1, 2] = np.nan
    details = event_details(
        sample="s",
        events=np.array([10, 3]),
        values=x,
        values_kind="raw",
        inputs=x,
        x_hat=x_hat,
        z_mean=np.zeros((2, 2)),
        z_log_var=np.array([[0.0, 25.0], [-30.0, 1.0]]),
        scores=np.array([1.5, np.nan]),
        causes=np.array([0, int(Cause.DECODER_NONFINITE)]),
        recon=np.array([1.0, np.nan]),
        layout=LAYOUT,
        clip=(-20.0, 20.0),
    )
    d0, d1 = details
    sq = (x.astype(np.float64) - x_hat.astype(np.float64)) ** 2
    np.testing.assert_array_equal(d0.residuals, sq[0])
    np.testing.assert_array_equal(d0.residuals_per_track, sq[0].reshape(3, 2).sum(axis=1))
    np.testing.assert_array_equal(d0.residuals_per_feature, sq[0].reshape(3, 2).sum(axis=0))
    assert d0.track_slots.tolist() == [0, 1] and d0.tracks.shape == (2, 2)
    assert d0.outside_clip.tolist() == [False, True] and d1.outside_clip.tolist() == [True, False]
    assert d1.cause == "decoder_nonfinite" and d1.score is None
    doc = strict_json(json.dumps([d.to_json_dict() for d in details], allow_nan=False))
    assert doc[1]["residuals"][2] is None and doc[1]["score"] is None
    assert doc[0]["tracks"] == [[float(x[0, 0]), float(x[0, 1])], [float(x[0, 2]), float(x[0, 3])]]
