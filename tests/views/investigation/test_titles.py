"""The investigation view's titles, units and colours (views.investigation.titles): each text
once, the units those of the track branches, colours the charts can use."""

from __future__ import annotations

import re

from hepfm_core.data.generator import BRANCHES
from hepfm_core.engine.investigate.events import BRANCH_UNITS
from hepfm_core.views.investigation import titles


def test_each_title_exists_once():
    texts = [
        getattr(titles, name)
        for name in titles.__all__
        if name.endswith("_TITLE") and isinstance(getattr(titles, name), str)
    ]
    texts += list(titles.SCULPTING_TITLES.values())
    assert len(texts) == len(set(texts)) > 10
    assert all(text.strip() == text and text for text in texts)


def test_units_are_the_branches_units():
    assert set(titles.ETA_PHI_BRANCHES) <= set(BRANCHES)
    assert titles.PT_TITLE.endswith(f"[{BRANCH_UNITS['pt']}]")
    assert titles.PHI_TITLE.endswith(f"[{BRANCH_UNITS['phi']}]")
    assert titles.SCULPTING_TITLES["leading_pt"].endswith(f"[{BRANCH_UNITS['pt']}]")
    assert titles.ETA_RANGE == 2.5  # the inner detector's acceptance (physics.md)


def test_colours_are_hex_colours():
    for colour in (titles.CLIP_COLOUR, *titles.ACTIVE_COLOURS.values()):
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", colour), colour
    assert titles.ACTIVE_COLOURS["active"] != titles.ACTIVE_COLOURS["inactive"]
