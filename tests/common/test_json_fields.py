"""A dataclass's JSON and its shown columns from its own fields: keys, conversions, entries
placed after a key, fields left out, and the plain rule for nested values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from hepfm_core.common.json_fields import (
    OMIT,
    JsonFields,
    Shown,
    json_dict,
    json_meta,
    json_value,
    shown,
    shown_columns,
    shown_fields,
)
from hepfm_core.vocabulary import Column

RATE = Column("rate", "rate", "events per second", unit="Hz", fmt=".1f")
PEAK = Column("peak_rate", "peak")


@dataclass(frozen=True)
class Inner(JsonFields):
    a: int
    b: tuple[float, ...] = (1.0, 2.5)


@dataclass(frozen=True, eq=False)
class Run(JsonFields):
    name: str = field(metadata=json_meta(key="run"))
    rate: float | None = field(metadata=shown(RATE, reason="why"))
    inner: Inner = field(metadata=json_meta(after="run"))
    values: np.ndarray = field(metadata=json_meta(convert=lambda v: float(v.sum())))
    peak: float = field(
        metadata=shown(PEAK, entries=lambda r: {"peak": r.peak, "doubled": 2 * r.peak})
    )
    why: str | None = None
    cache: Any = field(default=None, metadata=OMIT)
    by_name: dict[str, Inner] = field(default_factory=dict)


def _run(**kw: Any) -> Run:
    base: dict[str, Any] = dict(name="r1", rate=12.25, inner=Inner(3), values=np.arange(4.0))
    return Run(**(base | {"peak": 7.0} | kw))


def test_the_json_follows_the_fields_and_their_metadata():
    got = _run(cache=object(), by_name={"x": Inner(1, (0.5,))}).to_json_dict()
    # keys in field order, the renamed first, ``inner`` moved after it, the cache left out,
    # a field with entries standing for two keys; nested dataclasses by their own JSON
    assert list(got) == ["run", "inner", "rate", "values", "peak", "doubled", "why", "by_name"]
    assert got == {
        "run": "r1",
        "inner": {"a": 3, "b": [1.0, 2.5]},
        "rate": 12.25,  # a shown field's key is its column's
        "values": 6.0,
        "peak": 7.0,
        "doubled": 14.0,
        "why": None,
        "by_name": {"x": {"a": 1, "b": [0.5]}},
    }
    assert json.loads(json.dumps(got)) == got


def test_entries_placed_after_a_missing_key_name_it():
    @dataclass(frozen=True)
    class Bad:
        x: int = field(metadata=json_meta(after="nowhere"))

    with pytest.raises(KeyError, match="Bad: no JSON key nowhere"):
        json_dict(Bad(1))


def test_chained_placements_resolve_in_any_declared_order():
    @dataclass(frozen=True)
    class Chain:
        c: int = field(metadata=json_meta(after="b"))
        a: int = 0
        b: int = field(default=0, metadata=json_meta(after="a"))
        z: int = 0

    assert list(json_dict(Chain(1))) == ["a", "b", "c", "z"]


def test_plain_values():
    assert json_value(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert json_value((Inner(2), [np.int64(5)])) == [{"a": 2, "b": [1.0, 2.5]}, [5]]
    assert json_value({"k": (1, 2)}) == {"k": [1, 2]}
    assert json_value("text") == "text" and json_value(None) is None


def test_shown_fields_carry_their_column_value_and_reason():
    run = _run(rate=None, why="the clock stopped")
    assert shown_columns(Run) == shown_columns(run) == [RATE, PEAK]
    rate, peak = shown_fields(run)
    assert rate == Shown(RATE, None, "the clock stopped")
    assert peak == Shown(PEAK, 7.0, None)
    assert rate.text() == "n/a" and rate.text("-") == "-"
    assert Shown(RATE, 3.14159, None).text() == "3.1"  # the column's format
    assert peak.text() == "7.0"
    assert RATE.title == "rate [Hz]"


def test_numbers_in_strict_json():
    from hepfm_core.common.json_fields import (
        json_bound,
        json_clip,
        json_float,
        json_floats,
        optional_floats,
    )

    inf, nan = float("inf"), float("nan")
    assert [json_float(v) for v in (None, nan, -inf, np.float32(0.5), 3)] == [
        None,
        None,
        None,
        0.5,
        3.0,
    ]
    assert json_floats(np.array([[1.0, nan], [inf, -2.0]])) == [[1.0, None], [None, -2.0]]
    assert json_floats(2.5) == [2.5] and optional_floats(None) is None
    assert json_clip((-inf, 20)) == ["-inf", 20.0] and json_clip(None) is None
    assert json_bound(inf) == "inf"
    text = json.dumps(json_floats([nan, inf, 1.0]), allow_nan=False)  # no NaN token left
    assert text == "[null, null, 1.0]"
