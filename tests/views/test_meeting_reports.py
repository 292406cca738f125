"""The report button on a shared dashboard: a new file per press (never overwritten, no link
followed), the folder pruned, a quota per page."""

from __future__ import annotations

import os

import pytest

from hepfm_core.engine.evaluate import EvaluationSettings
from hepfm_core.errors import PathNotAllowedError, SettingsError
from hepfm_core.views import meeting_reports as mr

SETTINGS = EvaluationSettings(signals=("zprime_tt",))


@pytest.fixture
def fast_report(monkeypatch):
    """The report's page replaced by a few bytes (the page itself:
    tests/views/report/test_page.py)."""

    def write(evaluator, settings, out):
        out.write_text(f"report of {','.join(settings.signals)}")
        return out

    monkeypatch.setattr(mr, "write_report", write)


def test_the_button_writes_a_file(evaluator, tmp_path):
    path = mr.write_meeting_report(evaluator, SETTINGS, tmp_path)
    assert path.parent == tmp_path / "reports" and path.suffix == ".html"
    assert path.stat().st_size > 100_000 and "zprime_tt" in path.read_text()
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [path.name]  # nothing staged


def test_two_presses_in_one_second_write_two_files(fast_report, tmp_path):
    paths = {mr.write_meeting_report(None, SETTINGS, tmp_path) for _ in range(5)}
    assert len(paths) == 5 and all(p.read_text() == "report of zprime_tt" for p in paths)


def test_the_folder_keeps_the_newest_reports(fast_report, tmp_path, monkeypatch):
    monkeypatch.setattr(mr, "REPORTS_KEPT", 3)
    reports = tmp_path / "reports"
    reports.mkdir()
    other = reports / "notes.txt"
    other.write_text("not a report")
    written = []
    for i in range(6):
        path = mr.write_meeting_report(None, SETTINGS, tmp_path)
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
        written.append(path)
    left = sorted(p for p in reports.glob(mr.REPORT_GLOB))
    assert left == sorted(written[-3:]) and other.exists()


def test_a_linked_reports_folder_is_refused(fast_report, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "reports").symlink_to(outside)
    with pytest.raises(PathNotAllowedError, match="link or leads outside"):
        mr.write_meeting_report(None, SETTINGS, root)
    assert list(outside.iterdir()) == []


def test_a_page_has_a_quota():
    mr.check_session_quota(mr.REPORTS_PER_SESSION - 1)
    with pytest.raises(SettingsError, match="the most one page may"):
        mr.check_session_quota(mr.REPORTS_PER_SESSION)
