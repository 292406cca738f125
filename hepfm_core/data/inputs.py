"""The inputs of a conversion: a signal's NAME=FILES spec, and the files of a sample from
paths, globs, file lists and URLs (local globs expanded, lists read, URLs kept)."""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import (
    DataNotFoundError,
    SignalSpecError,
)
from .root_io import (
    is_remote,
)

__all__ = [
    "LIST_SUFFIXES",
    "expand_inputs",
    "parse_signal_spec",
]


LIST_SUFFIXES = (".txt", ".list", ".lst")
"""An input with one of these suffixes is a file list: one path or URL per line."""


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


_GLOB = re.compile(r"[*?\[]")


# -- inputs -------------------------------------------------------------------------------
def parse_signal_spec(text: str) -> tuple[str, list[str]]:
    """``"NAME=FILE[,FILE...]"`` -> (name, files); a ``SignalSpecError`` otherwise.

    >>> parse_signal_spec("zprime_ee=a.root,b*.root")
    ('zprime_ee', ['a.root', 'b*.root'])
    """
    todo = (
        "give --signal NAME=FILE[,FILE...], e.g. --signal wprime_qq=wqq_1.root,wqq_2.root "
        "(NAME: letters, digits, _ . + -)"
    )
    name, sep, files = text.partition("=")
    name = name.strip()
    if not sep:
        raise SignalSpecError(f"--signal {text!r} has no '='", text, todo)
    if not _NAME.match(name):
        raise SignalSpecError(f"--signal {text!r}: {name!r} is not a sample name", text, todo)
    if name == "background":
        raise SignalSpecError(
            "--signal cannot be named 'background'", text, "give the background with --background"
        )
    paths = [f.strip() for f in files.split(",")]
    if not paths or any(not p for p in paths):
        raise SignalSpecError(f"--signal {text!r}: an empty file name", text, todo)
    return name, paths


def _read_list(path: Path) -> list[str]:
    """The paths of a file list (relative ones resolved against the list's folder)."""
    items = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if is_remote(line) or Path(line).is_absolute():
            items.append(line)
        else:
            items.append(str(path.parent / line))
    return items


def expand_inputs(items: Sequence[str], what: str = "input") -> list[str]:
    """Paths and URLs from ``items``: globs expanded (sorted), file lists (``*.txt``,
    ``*.list``, ``*.lst``) read, URLs passed as they are, duplicates removed. Local paths
    come back absolute (a cluster's workers may run in another folder).

    A glob matching nothing, a missing list or an empty result is a ``DataNotFoundError``.
    """
    out: list[str] = []
    for item in items:
        if is_remote(item):
            out.append(item)
        elif _GLOB.search(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise DataNotFoundError(
                    f"{what}: no file matches {item!r}", item, "check the pattern (quote it)"
                )
            out.extend(str(Path(m).resolve()) for m in matches)
        elif Path(item).suffix.lower() in LIST_SUFFIXES:
            path = Path(item)
            if not path.is_file():
                raise DataNotFoundError(
                    f"{what}: file list not found: {item}", item, "check the path"
                )
            listed = _read_list(path)
            if not listed:
                raise DataNotFoundError(
                    f"{what}: file list {item} names no file", item, "one path or URL per line"
                )
            out.extend(expand_inputs(listed, what))
        else:
            out.append(str(Path(item).resolve()))
    unique = list(dict.fromkeys(out))
    if not unique:
        raise DataNotFoundError(f"no {what} files given", None, "name at least one ROOT file")
    return unique
