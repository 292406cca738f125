"""The dashboard's "write meeting report" button: ``hepfm report`` into the data root's
``reports/`` folder, safe on a shared server.

A shared dashboard (``marimo run``) lets any viewer press the button, so each report gets a
name of its own (time to the microsecond and a random tag: two presses in one second never
overwrite each other), appears under that name only once complete and only if nothing is
there yet (no file or link is followed or replaced), the folder keeps the newest
:data:`REPORTS_KEPT` reports, and a page may write :data:`REPORTS_PER_SESSION` at most.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from pathlib import Path

from ..engine.compare.models import ModelSet
from ..engine.evaluate import BaseEvaluator, EvaluationSettings
from ..errors import PathNotAllowedError, SettingsError
from .report import write_report

__all__ = [
    "REPORTS_KEPT",
    "REPORTS_PER_SESSION",
    "REPORT_GLOB",
    "check_session_quota",
    "write_meeting_report",
]

REPORTS_KEPT = 50
"""Reports the ``reports/`` folder keeps (the oldest beyond are removed; 1-2 MB each)."""
REPORTS_PER_SESSION = 20
"""Reports one page (a marimo session) may write."""
REPORT_GLOB = "hepfm-report-*.html"


def check_session_quota(written: int) -> None:
    """A ``SettingsError`` once a page has written :data:`REPORTS_PER_SESSION` reports."""
    if written >= REPORTS_PER_SESSION:
        raise SettingsError(
            f"this page has written {written} reports, the most one page may",
            "write meeting report",
            "download the ones written, or reload the page to start a new session",
        )


def _reports_folder(root: Path) -> Path:
    """``root/reports``, created; refused if it is a link or leads outside the root."""
    root = root.resolve()
    folder = root / "reports"
    folder.mkdir(exist_ok=True)
    if folder.is_symlink() or folder.resolve().parent != root:
        raise PathNotAllowedError(
            f"{folder} is a link or leads outside the data root",
            folder,
            "make reports/ a plain folder inside the data root",
        )
    return folder


def _prune(folder: Path, keep: int) -> None:
    """Remove the oldest reports beyond ``keep`` (plain files only; links stay untouched)."""
    found = [p for p in folder.glob(REPORT_GLOB) if p.is_file() and not p.is_symlink()]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        old.unlink(missing_ok=True)


def write_meeting_report(
    evaluator: BaseEvaluator | ModelSet, settings: EvaluationSettings, root: Path
) -> Path:
    """``hepfm report`` for the current settings (and models) into ``root/reports/``, under a
    new name; the path written."""
    folder = _reports_folder(root)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
    name = f"hepfm-report-{stamp}-{secrets.token_hex(4)}.html"
    staged = folder / f".{name}.staged"
    out = folder / name
    write_report(evaluator, settings, staged)
    try:
        os.link(staged, out)  # fails, follows nothing, where anything already is
    finally:
        staged.unlink(missing_ok=True)
    _prune(folder, REPORTS_KEPT)
    return out
