"""PhysLite ROOT files through uproot: open and check, read in bounded steps, write.

Reading: :func:`open_tree` opens one file's tree (a TTree, or an RNTuple, which uproot reads
the same way) and checks it has the track branches, turning every failure into a typed error
that names the file; :func:`iterate_steps` streams it with ``iterate`` in steps of at most
``step_size`` entries, each step as flat per-track numpy arrays (what ``physlite`` derives
from) and the events' identity. Only the named branches are read: the counter branches uproot
writes beside jagged arrays (``nInDetTrackParticlesAuxDyn``, say), and anything else in the
tree, are never touched.

Remote inputs: ``http(s)://`` through fsspec's HTTP filesystem (aiohttp), ``root://`` through
fsspec-xrootd (the ``xrootd`` extra). Opening and each step are retried on transient network
failures (a refused or dropped connection, a timeout, HTTP 408/425/429/5xx), waiting
``RETRY_BACKOFF_S`` doubled at each try; a step that fails midway is read again from its first
entry. What still fails is a :class:`RemoteInputError` naming the URL and the cause, never a
truncated file. :class:`NetworkSettings` holds the timeout and the number of retries
(``HEPFM_REMOTE_TIMEOUT``, ``HEPFM_REMOTE_RETRIES``).

Writing: :class:`PhysliteWriter` writes PhysLite-like files (a TTree ``CollectionTree`` with
the real branch names, jagged per-track branches), used by ``hepfm demo --physlite``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.atomic import PartialFile
from ..common.fingerprint import hash_stream
from ..errors import (
    DataError,
    DataNotFoundError,
    HepfmError,
    MissingBranchError,
    MissingTreeError,
    NotRootFileError,
    TruncatedRootFileError,
)
from ..vocabulary import DEFAULT_TREE
from .physlite import IDENTITY_BRANCHES, IDENTITY_DTYPES, RAW_NAMES, TRACK_BRANCHES, TRACK_CONTAINER
from .remote import NetworkSettings, _missing_backend, _remote_error, _retrying, _uproot_options

__all__ = [
    "ROOT_MAGIC",
    "PhysliteWriter",
    "RootFileInfo",
    "Step",
    "file_checksum",
    "is_remote",
    "iterate_steps",
    "open_tree",
    "uproot_version",
]


ROOT_MAGIC = b"root"


_CONVERT_TODO = "give PhysLite ROOT files (DAOD_PHYSLITE), e.g. from CERN Open Data"


def _awkward() -> Any:
    """awkward, imported when first needed (it ships no type information)."""
    import awkward  # type: ignore[import-untyped]

    return awkward


def uproot_version() -> str:
    import uproot

    return str(uproot.__version__)


def is_remote(source: str) -> bool:
    """Whether ``source`` is a URL (``root://``, ``https://`` ...) handed to uproot as is."""
    return "://" in source and not source.startswith("file://")


def file_checksum(path: str | Path) -> str:
    """blake2b-128 of a file's bytes (read in blocks), for provenance."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        hash_stream(h, fh)
    return h.hexdigest()


@dataclass(frozen=True)
class RootFileInfo:
    """What a conversion records of one input: where, how big, its checksum, the tree."""

    source: str
    name: str
    size: int | None
    checksum: str | None
    tree: str
    kind: str
    entries: int
    identity: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "name": self.name,
            "size": self.size,
            "checksum": self.checksum,
            "checksum_algorithm": "blake2b-128" if self.checksum else None,
            "tree": self.tree,
            "kind": self.kind,
            "entries": self.entries,
            "identity_branches": [IDENTITY_BRANCHES[c] for c in self.identity],
        }


def _check_local(path: Path) -> None:
    """Typed errors for a local input that is missing, empty or not ROOT at all."""
    if not path.exists():
        raise DataNotFoundError(
            f"input file not found: {path}", path, "check the path, the glob or the file list"
        )
    if path.is_dir():
        raise NotRootFileError(f"{path.name} is a folder, not a ROOT file", path, _CONVERT_TODO)
    size = path.stat().st_size
    if size == 0:
        raise NotRootFileError(
            f"{path.name} is empty (0 bytes), not a ROOT file",
            path,
            "copy the file again completely, or leave it out",
        )
    with path.open("rb") as fh:
        head = fh.read(4)
    if head != ROOT_MAGIC:
        raise NotRootFileError(
            f"{path.name} is not a ROOT file (it does not start with 'root')", path, _CONVERT_TODO
        )


def _truncated(source: str, exc: BaseException, what: str) -> HepfmError:
    """The error for a read that failed: a ``RemoteInputError`` when a remote input's network or
    server failed, else a ``TruncatedRootFileError`` (the bytes cannot be interpreted)."""
    if is_remote(source):
        remote = _remote_error(source, exc)
        if remote is not None:
            return remote
    return TruncatedRootFileError(
        f"{Path(source).name} is a ROOT file whose {what} cannot be read: it looks truncated or"
        f" corrupt ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})",
        source,
        "copy or download the file again completely",
    )


def _tree_names(directory: Any) -> list[str]:
    try:
        classes = directory.classnames()
    except Exception:
        return []
    return sorted(
        {
            k.split(";")[0]
            for k, c in classes.items()
            if c == "TTree" or c.split("::")[-1] == "RNTuple"
        }
    )


def _open_checked(
    source: str, tree: str, options: dict[str, Any]
) -> tuple[Any, Any, set[str], int]:
    """One attempt at (open file, tree object, its branch names, its entries); typed errors."""
    import uproot

    remote = is_remote(source)
    try:
        # no array cache: the events are streamed once, never read again
        target = source if remote else Path(source)
        file = uproot.open(target, array_cache=None, **options)
    except FileNotFoundError as exc:
        if remote:
            raise _truncated(source, exc, "directory") from exc
        raise DataNotFoundError(f"input file not found: {source}", source, "check the URL") from exc
    except ValueError as exc:
        if "not a ROOT file" in str(exc):
            raise NotRootFileError(
                f"{source} is not a ROOT file ({exc})", source, _CONVERT_TODO
            ) from exc
        raise _truncated(source, exc, "directory") from exc
    except Exception as exc:
        raise _truncated(source, exc, "directory") from exc
    try:
        try:
            obj = file[tree]
        except KeyError as exc:
            found = _tree_names(file)
            raise MissingTreeError(
                f"{Path(source).name} has no tree '{tree}'"
                + (f" (its trees: {', '.join(found)})" if found else " (it holds no tree)"),
                source,
                "PhysLite events live in 'CollectionTree'; name another with --tree",
            ) from exc
        except Exception as exc:
            raise _truncated(source, exc, f"tree '{tree}'") from exc
        if not (hasattr(obj, "iterate") and hasattr(obj, "num_entries")):
            raise MissingTreeError(
                f"'{tree}' in {Path(source).name} is a {type(obj).__name__}, not a tree",
                source,
                "name the tree of events with --tree (PhysLite: CollectionTree)",
            )
        try:
            keys = set(obj.keys())
            entries = int(obj.num_entries)
        except Exception as exc:
            raise _truncated(source, exc, f"tree '{tree}'") from exc
    except BaseException:
        file.close()
        raise
    return file, obj, keys, entries


@contextmanager
def open_tree(
    source: str,
    tree: str = DEFAULT_TREE,
    *,
    checksum: bool = True,
    network: NetworkSettings | None = None,
):
    """Open ``source`` and yield ``(tree object, RootFileInfo)``; the file closes after.

    A remote ``source`` (a URL) is read with ``network`` (default: ``NetworkSettings.from_env``),
    opening tried again on transient network failures.

    Raises
    ------
    DataNotFoundError, NotRootFileError
        A local file that does not exist, is empty or does not start with ROOT's signature.
    RemoteInputError
        A URL that cannot be fetched (404, refused, timed out, retries spent), or whose
        protocol's backend is not installed.
    TruncatedRootFileError
        A ROOT file whose directory or tree metadata cannot be read.
    MissingTreeError
        No tree (TTree or RNTuple) ``tree`` in the file.
    MissingBranchError
        The tree lacks any of the ``InDetTrackParticlesAuxDyn`` branches the features
        derive from.
    """
    remote = is_remote(source)
    options: dict[str, Any] = {}
    if remote:
        missing = _missing_backend(source)
        if missing is not None:
            raise missing
        network = network or NetworkSettings.from_env()
        options = _uproot_options(source, network)
    else:
        _check_local(Path(source))
    file, obj, keys, entries = _retrying(
        source, network if remote else None, lambda: _open_checked(source, tree, options)
    )
    with file:
        missing_branches = [b for b in TRACK_BRANCHES if b not in keys]
        if missing_branches:
            raise MissingBranchError(
                f"tree '{tree}' of {Path(source).name} lacks the track branch(es) "
                f"{', '.join(missing_branches)}",
                source,
                f"convert PhysLite files with the {TRACK_CONTAINER} branches "
                f"{', '.join(RAW_NAMES)}",
            )
        identity = tuple(c for c, b in IDENTITY_BRANCHES.items() if b in keys)
        info = RootFileInfo(
            source=source,
            name=source if remote else Path(source).name,
            size=None if remote else Path(source).stat().st_size,
            checksum=None if (remote or not checksum) else file_checksum(source),
            tree=tree,
            kind="RNTuple" if type(obj).__name__.endswith("RNTuple") else "TTree",
            entries=entries,
            identity=identity,
        )
        yield obj, info


@dataclass(frozen=True, eq=False)
class Step:
    """One step of entries ``start .. start + len(counts) - 1`` of a file: tracks per event,
    flat raw per-track values by ``RAW_NAMES``, identity columns by ``IDENTITY_BRANCHES``."""

    start: int
    counts: np.ndarray
    raw: dict[str, np.ndarray]
    identity: dict[str, np.ndarray]

    @property
    def n_events(self) -> int:
        return int(self.counts.size)


def _jagged(array: Any, branch: str, source: str, start: int) -> tuple[np.ndarray, np.ndarray]:
    """(counts per event, flat float values) of one jagged awkward array."""
    ak = _awkward()
    try:
        counts = np.asarray(ak.num(array, axis=1), dtype=np.int64)
        flat = ak.to_numpy(ak.flatten(array, axis=1))
    except (ValueError, TypeError, np.exceptions.AxisError) as exc:
        raise DataError(
            f"branch {branch} of {Path(source).name} is not a list of numbers per event "
            f"(entries from {start}: {exc})",
            source,
            "convert PhysLite files: per-track branches hold one vector of numbers per event",
        ) from exc
    return counts, np.asarray(flat)


def iterate_steps(
    tree: Any,
    info: RootFileInfo,
    step_size: int,
    *,
    entry_stop: int | None = None,
    network: NetworkSettings | None = None,
) -> Iterator[Step]:
    """Stream the track branches (and the identity branches present) of an open tree in steps
    of at most ``step_size`` entries (peak memory set by the step, not by the file).

    A read failure midway is a ``TruncatedRootFileError`` naming the entries; track branches
    that disagree on an event's number of tracks are a ``DataError``. For a remote file, a
    transient network failure reads the step again from its first entry (``network``, default
    ``NetworkSettings.from_env``: how often); one that persists is a ``RemoteInputError``.
    """
    branches = list(TRACK_BRANCHES) + [IDENTITY_BRANCHES[c] for c in info.identity]
    if is_remote(info.source):
        network = network or NetworkSettings.from_env()
    else:
        network = None
    start = 0

    def steps_from(entry: int) -> Iterator[Any]:
        # exact names as filters: no expression language, the same call for TTree and RNTuple
        return tree.iterate(
            filter_name=branches,
            step_size=int(step_size),
            library="ak",
            entry_start=entry,
            entry_stop=entry_stop,
        )

    iterator = steps_from(0)

    def next_step() -> Any:
        nonlocal iterator
        try:
            return next(iterator)
        except StopIteration:
            return None
        except Exception as exc:
            error = _truncated(info.source, exc, f"entries from {start}")
            if getattr(error, "transient", False):
                # tried again with a new iterator from the step's first entry: the same steps
                iterator = steps_from(start)
            raise error from exc

    while True:
        arrays = _retrying(info.source, network, next_step)
        if arrays is None:
            return
        counts = None
        raw: dict[str, np.ndarray] = {}
        for name, branch in zip(RAW_NAMES, TRACK_BRANCHES, strict=True):
            c, flat = _jagged(arrays[branch], branch, info.source, start)
            if counts is None:
                counts = c
            elif not np.array_equal(c, counts):
                event = start + int(np.flatnonzero(c != counts)[0])
                raise DataError(
                    f"{Path(info.source).name}: branch {branch} has another number of tracks "
                    f"than {TRACK_BRANCHES[0]} in entry {event}",
                    info.source,
                    "the file is inconsistent; regenerate or leave it out",
                )
            raw[name] = flat
        assert counts is not None
        identity = {
            column: np.asarray(arrays[IDENTITY_BRANCHES[column]]).astype(
                IDENTITY_DTYPES[column], copy=False
            )
            for column in info.identity
        }
        yield Step(start, counts, raw, identity)
        start += int(counts.size)


class PhysliteWriter(PartialFile):
    """Write a PhysLite-like ROOT file: TTree ``tree`` with jagged float32 track branches
    under their real names and the identity branches of ``identity`` (EventInfo names).

    Written as ``*.partial`` and renamed on :meth:`close`, so the file appears only whole.
    uproot writes one counter branch for the jagged branches (``nInDetTrackParticlesAuxDyn``;
    real PhysLite files have none: readers ignore it).
    """

    def __init__(
        self, path: str | Path, identity: Sequence[str] = (), tree: str = DEFAULT_TREE
    ) -> None:
        import uproot

        self.path = Path(path)
        self.tmp_path = self.path.with_name(self.path.name + ".partial")
        self.identity = tuple(identity)
        types: dict[str, Any] = {branch: "var * float32" for branch in TRACK_BRANCHES}
        for column in self.identity:
            types[IDENTITY_BRANCHES[column]] = np.dtype(IDENTITY_DTYPES[column])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = uproot.recreate(self.tmp_path)
        self._tree = self._file.mktree(
            tree, types, counter_name=lambda counted: "n" + counted.split(".")[0]
        )
        self.n_events = 0

    def write(
        self,
        counts: np.ndarray,
        raw: Mapping[str, np.ndarray],
        identity: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Append events: ``counts`` tracks each, flat ``raw`` values by ``RAW_NAMES``."""
        ak = _awkward()
        counts = np.asarray(counts, dtype=np.int64)
        data: dict[str, Any] = {
            branch: ak.unflatten(np.asarray(raw[name], dtype=np.float32), counts)
            for name, branch in zip(RAW_NAMES, TRACK_BRANCHES, strict=True)
        }
        for column in self.identity:
            if identity is None or column not in identity:
                raise ValueError(f"identity column {column!r} missing")
            values = np.asarray(identity[column], dtype=IDENTITY_DTYPES[column])
            data[IDENTITY_BRANCHES[column]] = values
        self._tree.extend(data)
        self.n_events += int(counts.size)

    def _release(self) -> None:
        self._file.close()
