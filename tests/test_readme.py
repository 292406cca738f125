"""The README's start-up, test-loop, report and demo figures are the ones
``benchmarks/readme_figures.py`` last measured on a fresh clone (stored beside it)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location(
        "readme_figures", ROOT / "benchmarks" / "readme_figures.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.slow  # outside the fast loop, whose size and time it checks
def test_the_readme_quotes_the_last_measured_figures():
    script = _script()
    figures = json.loads(script.STORED.read_text())
    assert figures["page_errors"] == []  # the first screen logged nothing
    readme = _flat((ROOT / "README.md").read_text())
    missing = [p for p in script.phrases(figures) if _flat(p) not in readme]
    assert not missing, f"the README does not say: {missing}; rerun the script with --write"
    assert figures["commit"] in readme  # which code the figures belong to


def test_the_readme_starts_with_two_commands():
    head = (ROOT / "README.md").read_text().split("```")[1]
    assert head.strip().splitlines() == ["bash", "uv run hepfm dashboard", "uv run pytest"]
