"""The report's data (views.report.grid): the clip choices and keys, each grid point's
tables, charts' rows and notes against the evaluation they come from, the report's data
at its own settings."""

from __future__ import annotations

from hepfm_core.views import charts
from hepfm_core.views.report import grid


def test_clip_choices_add_the_reports_own_bounds():
    keys = [c.key for c in grid.clip_choices(None)]
    assert keys == ["none", "-20:20", "-50:50", "-88.7:88.7"]
    assert [c.key for c in grid.clip_choices((-50.0, 50.0))] == keys
    extra = grid.clip_choices((-30.0, 12.5))
    assert [c.key for c in extra] == [*keys, "-30:12.5"]
    assert "report" in extra[-1].label


def test_clip_keys_and_labels_are_exact():
    assert grid.clip_key(None) == "none" and grid.clip_label(None) == "none"
    assert grid.clip_key((-20.0, 20.0)) == "-20:20"
    assert grid.clip_label((-88.7, 88.7)) == "[-88.7, 88.7]"
    # nearby bounds never share a key; an open side is spelled
    assert grid.clip_key((-20.0, 20.000001)) == "-20:20.000001" != grid.clip_key((-20.0, 20.0))
    assert grid.clip_key((-float("inf"), 5.0)) == "-inf:5"
    assert grid.grid_key("kl", "-20:20") == "kl|-20:20"


def test_each_grid_point_is_its_evaluation(evaluator, report_settings, report_data):
    clips = grid.clip_choices(report_settings.clip)
    assert [p.key for p in report_data.points] == [
        grid.grid_key(score, c.key) for score in grid.GRID_SCORES for c in clips
    ]
    assert report_data.current_key == "kl|-20:20" == report_data.current.key
    assert report_data.samples == ("background", *evaluator.signal_names)
    point = report_data.current
    result = evaluator.evaluate(report_settings)
    assert point.label == "KL divergence, clip z_log_var ±20 (upstream's fix)"
    assert set(point.hist[charts.GRID]) == {point.key} == set(point.curves[charts.GRID])
    # the counts cells: a row per sample, the background first, its numbers the result's
    assert [r.sample for r in point.counts.rows] == list(result.samples)
    header = [c.name for c in point.counts.columns]
    for row in point.counts.rows:
        counts = result.samples[row.sample].counts
        cells = dict(zip(header[1:], row.cells, strict=True))
        assert cells["total"].text == f"{counts.total:,}"
        assert cells["kl_overflow"].text == f"{counts.by_cause['kl_overflow']:,}"
    hist = report_data.hist_rows("kl")
    assert hist[charts.GRID].unique().sort().to_list() == sorted(
        p.key for p in report_data.points if p.score == "kl"
    )
    assert report_data.curve_rows().height == sum(p.curves.height for p in report_data.points)


def test_not_drawn_notes_by_sample(report_data):
    every, per_sample = report_data.current.hist_notes()
    assert every == report_data.current.hist_note([])
    for name, note in per_sample.items():
        assert note.startswith(f"not drawn: {name}: ") and note != every
