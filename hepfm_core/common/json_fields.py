"""A result's JSON and its table columns, read from its dataclass's own fields.

Why: a number declared once, where its dataclass declares it, is then in the JSON and, with
a column of the vocabulary, in every table that shows its dataclass's columns: adding a
metric is its field (and its column in ``vocabulary.COLUMNS``), not five edits that must
agree.

A field's metadata (:func:`json_meta`, :func:`shown`) says what differs from the plain
rule, and only that: its JSON key (``key``; a shown field's default is its column's key), a
conversion (``convert``, e.g. a non-finite float as null), that it is left out (``omit``,
or :data:`OMIT`), that it stands for several entries computed from the whole object
(``entries``), or that its entries follow another key (``after``). The plain rule: the
field's name and its value, a dataclass by its ``to_json_dict``, a dict value by value, a
tuple or list as a list, an array by ``tolist``. :class:`JsonFields` gives a dataclass its
``to_json_dict`` from them. Strict JSON has no NaN or infinity: :data:`FINITE`,
:data:`FLOATS` and :data:`OPTIONAL_FLOATS` make them null, :func:`json_bound` a string.

>>> from dataclasses import dataclass, field
>>> @dataclass(frozen=True)
... class Point(JsonFields):
...     x: float
...     label: str = field(default="", metadata=json_meta(key="name"))
...     cache: object = field(default=None, metadata=OMIT)
>>> Point(1.5, "a").to_json_dict()
{'x': 1.5, 'name': 'a'}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, dataclass, fields
from typing import Any

import numpy as np

from ..vocabulary import Column

__all__ = [
    "FINITE",
    "FLOATS",
    "OMIT",
    "OPTIONAL_FLOATS",
    "FieldSpec",
    "JsonFields",
    "Shown",
    "json_bound",
    "json_clip",
    "json_dict",
    "json_float",
    "json_floats",
    "json_meta",
    "json_value",
    "optional_floats",
    "shown",
    "shown_columns",
    "shown_fields",
]

_META = "hepfm"
"""The key of a field's metadata under which its :class:`FieldSpec` lies."""


@dataclass(frozen=True)
class FieldSpec:
    """How one field reads in JSON and in tables (see the module's docstring).

    ``column``: the table column that shows it (None: no table shows it by itself);
    ``reason``: the name of the field that says why its value is missing (a cell's title).
    """

    key: str | None = None
    convert: Callable[[Any], Any] | None = None
    entries: Callable[[Any], Mapping[str, Any]] | None = None
    after: str | None = None
    omit: bool = False
    column: Column | None = None
    reason: str | None = None


def json_meta(
    *,
    key: str | None = None,
    convert: Callable[[Any], Any] | None = None,
    entries: Callable[[Any], Mapping[str, Any]] | None = None,
    after: str | None = None,
    omit: bool = False,
    column: Column | None = None,
    reason: str | None = None,
) -> dict[str, FieldSpec]:
    """A field's metadata: ``field(metadata=json_meta(...))``."""
    return {_META: FieldSpec(key, convert, entries, after, omit, column, reason)}


def shown(column: Column, *, reason: str | None = None, **json: Any) -> dict[str, FieldSpec]:
    """The metadata of a field shown in ``column`` (its JSON key: the column's key, unless
    ``key`` says otherwise); ``reason``: the field that says why its value is missing."""
    return json_meta(column=column, reason=reason, **json)


OMIT = json_meta(omit=True)
"""The metadata of a field the JSON leaves out."""


# -- numbers in strict JSON ---------------------------------------------------------------
def json_float(x: float | None) -> float | None:
    """None for None or a non-finite value, else a plain float."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def json_bound(x: float | None) -> float | str | None:
    """A bound (of a clip, of a score range) for strict JSON: an open side, an infinity, as
    the string "inf" or "-inf" (JSON has no token for it).

    >>> [json_bound(float("-inf")), json_bound(20.0), json_bound(None)]
    ['-inf', 20.0, None]
    """
    if x is None or math.isfinite(x):
        return None if x is None else float(x)
    return "inf" if x > 0 else "-inf"


def json_clip(clip: Sequence[float] | None) -> list[float | str | None] | None:
    """Clip bounds for strict JSON (:func:`json_bound` each), None without a clip."""
    return None if clip is None else [json_bound(b) for b in clip]


def json_floats(values: Any) -> list[Any]:
    """A (nested) array as lists of floats, null for NaN and +-inf (strict JSON)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return [json_float(float(arr))]
    if arr.ndim == 1:
        return [json_float(float(v)) for v in arr]
    return [json_floats(row) for row in arr]


def optional_floats(values: Any) -> list[Any] | None:
    """:func:`json_floats`, None for None."""
    return None if values is None else json_floats(values)


FINITE = json_meta(convert=json_float)
"""The metadata of a float field: null for None or a non-finite value."""
FLOATS = json_meta(convert=json_floats)
"""The metadata of an array field: lists of floats, null for NaN and +-inf."""
OPTIONAL_FLOATS = json_meta(convert=optional_floats)
"""The metadata of an array field that may be None."""

_PLAIN = FieldSpec()


def _spec(f: Field[Any]) -> FieldSpec:
    spec = f.metadata.get(_META, _PLAIN)
    return spec if isinstance(spec, FieldSpec) else _PLAIN


def json_value(value: Any) -> Any:
    """A value by the plain rule: a dataclass's ``to_json_dict``, a dict value by value, a
    tuple or list as a list, an array's ``tolist``; anything else as it is."""
    if hasattr(value, "to_json_dict"):
        return value.to_json_dict()
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _entries(obj: Any, f: Field[Any], spec: FieldSpec) -> list[tuple[str, Any]]:
    if spec.entries is not None:
        return list(spec.entries(obj).items())
    value = getattr(obj, f.name)
    key = spec.key or (spec.column.key if spec.column is not None else f.name)
    return [(key, spec.convert(value) if spec.convert is not None else json_value(value))]


def json_dict(obj: Any) -> dict[str, Any]:
    """The JSON of a dataclass instance from its fields, in their order (a field with
    ``after`` follows that key)."""
    out: list[tuple[str, Any]] = []
    placed: list[tuple[str, list[tuple[str, Any]]]] = []
    for f in fields(obj):
        spec = _spec(f)
        if spec.omit:
            continue
        got = _entries(obj, f, spec)
        if spec.after is None:
            out += got
        else:
            placed.append((spec.after, got))
    while placed:
        keys = [k for k, _ in out]
        j = next((j for j, (a, _) in enumerate(placed) if a in keys), None)
        if j is None:
            missing = ", ".join(a for a, _ in placed)
            raise KeyError(f"{type(obj).__name__}: no JSON key {missing} to place entries after")
        after, got = placed.pop(j)
        i = keys.index(after) + 1
        out[i:i] = got
    return dict(out)


class JsonFields:
    """A dataclass whose ``to_json_dict`` is :func:`json_dict`: its JSON from its fields."""

    def to_json_dict(self) -> dict[str, Any]:
        """Strict JSON from the fields (see ``common.json_fields``)."""
        return json_dict(self)


@dataclass(frozen=True)
class Shown:
    """One shown field of an object: its column, its value and why it has none (or None)."""

    column: Column
    value: Any
    reason: str | None

    def text(self, missing: str = "n/a") -> str:
        """The value as a text cell: by the column's format, ``missing`` for None."""
        return missing if self.value is None else format(self.value, self.column.fmt)


def shown_columns(kind: Any) -> list[Column]:
    """The columns of a dataclass's (or an instance's) shown fields, in field order."""
    return [spec.column for f in fields(kind) if (spec := _spec(f)).column is not None]


def shown_fields(obj: Any) -> list[Shown]:
    """The shown fields of a dataclass instance, in field order: what a table adds as
    columns after those it writes itself."""
    out = []
    for f in fields(obj):
        spec = _spec(f)
        if spec.column is not None:
            reason = getattr(obj, spec.reason) if spec.reason is not None else None
            out.append(Shown(spec.column, getattr(obj, f.name), reason))
    return out
