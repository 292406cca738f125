"""PhysLite ROOT files -> a hepfm data folder (``hepfm convert``), and back for the demo.

:func:`convert` turns the background's files and each signal's files into
``background.h5`` and ``<signal>.h5``:

1. every input is found (globs, file lists, URLs) and opened once to check it (a typed error
   before anything is written);
2. each file is converted on its own by :func:`convert_file` (plain arguments, a picklable
   result), into a part file: ``uproot`` ``iterate`` in steps of ``step_size`` entries,
   ``physlite.derive_block`` per step, so memory is set by the step, not the file. The files
   are mapped with ``map_files`` (the builtin ``map`` by default; a cluster's map later);
3. each sample's parts are concatenated in input order into its file, with the events'
   identity beside them and the conversion's provenance in its metadata;
4. the background's normalisation comes from a second streamed pass over the converted
   background (``streamed_stats``: the demo's estimator over every event), unless one is
   given, and is stored in every file.

Everything is written into a temporary sibling of the output folder, renamed into place only
once complete: a failure leaves no half-written folder (and an existing folder untouched).
:func:`export.export_physlite` writes a hepfm folder (the demo's) as PhysLite-like ROOT
files; :mod:`.inputs` finds the inputs; the folder is written by ``common.atomic.AtomicFolder``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..common.atomic import AtomicFolder, output_error
from ..common.progress import Progress
from ..common.versions import installed_version
from ..errors import (
    EmptyInputError,
    HepfmError,
    SettingsError,
    SignalSpecError,
)
from ..vocabulary import DEFAULT_COMPRESSION, DEFAULT_STEP_EVENTS, Compression, Role
from .h5io import H5Matrix
from .hepfm_format import EVENTS, read_header, read_identity, set_normalisation
from .inputs import expand_inputs
from .normalisation import Normalisation
from .physlite import (
    FEATURE_UNITS,
    FEATURES,
    IDENTITY_DTYPES,
    ConversionCounts,
    Selection,
    derive_block,
)
from .root_io import (
    DEFAULT_TREE,
    RootFileInfo,
    iterate_steps,
    open_tree,
    uproot_version,
)
from .sample_writer import SampleWriter
from .streamed_stats import streamed_normalisation

__all__ = [
    "MERGE_ROWS",
    "ConvertResult",
    "FileResult",
    "FileTask",
    "MapFiles",
    "SampleSummary",
    "convert",
    "convert_file",
    "read_provenance",
    "run_task",
]

MERGE_ROWS = 65536


# -- one file -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FileTask:
    """Everything :func:`convert_file` needs for one input file (picklable but for
    ``progress``, which a cluster's map leaves None)."""

    source: str
    part: str
    sample: str
    role: Role
    file_index: int
    n_files: int
    selection: Selection
    tree: str = DEFAULT_TREE
    step_size: int = DEFAULT_STEP_EVENTS
    compression: Compression = DEFAULT_COMPRESSION
    progress: Progress | None = None


@dataclass(frozen=True)
class FileResult:
    """One converted file: its part file, what it was, what became of its events."""

    task: FileTask
    info: RootFileInfo
    counts: ConversionCounts
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return self.info.to_dict() | {
            "counts": self.counts.to_dict(),
            "seconds": round(self.seconds, 3),
        }


def _placeholder(n_features: int) -> Normalisation:
    """Stored until the background's statistics are known (replaced before the rename)."""
    zeros = np.zeros(n_features)
    return Normalisation(zeros, np.ones(n_features), zeros, None, source="pending")


def convert_file(
    source: str,
    part: str | Path,
    *,
    sample: str,
    role: Role,
    selection: Selection,
    file_index: int = 0,
    n_files: int = 1,
    tree: str = DEFAULT_TREE,
    step_size: int = DEFAULT_STEP_EVENTS,
    compression: Compression = DEFAULT_COMPRESSION,
    progress: Progress | None = None,
) -> FileResult:
    """Convert one PhysLite file into the hepfm part file ``part``, step by step.

    The part holds the file's kept events (raw features) and their identity: the
    ``EventInfo`` columns the tree has, ``source_file`` (= ``file_index``) and
    ``source_entry``. ``progress`` is called ``(label, entries read, entries)`` per step.
    """
    t0 = time.perf_counter()
    n_features = selection.n_tracks * len(FEATURES)
    label = f"{sample} {file_index + 1}/{n_files}"
    counts = ConversionCounts()
    with open_tree(source, tree) as (obj, info):
        writer = SampleWriter(
            part,
            name=sample,
            role=role,
            branch_names=FEATURES,
            units=FEATURE_UNITS,
            n_tracks=selection.n_tracks,
            normalisation=_placeholder(n_features),
            compression=compression,
            feature_definition=selection.definition,
        )
        try:
            for step in iterate_steps(obj, info, step_size):
                block = derive_block(step.counts, step.raw, selection)
                identity = {c: v[block.kept] for c, v in step.identity.items()}
                identity["source_file"] = np.full(block.kept.size, file_index, dtype=np.int32)
                identity["source_entry"] = (step.start + block.kept).astype(np.int64)
                writer.write(block.events, identity)
                counts = counts + block.counts
                if progress is not None:
                    progress(label, step.start + step.n_events, info.entries)
            if progress is not None and info.entries == 0:
                progress(label, 0, 0)
        except BaseException:
            writer.abort()
            raise
        writer.close()
    return FileResult(
        FileTask(
            source,
            str(part),
            sample,
            role,
            file_index,
            n_files,
            selection,
            tree,
            step_size,
            compression,
        ),
        info,
        counts,
        time.perf_counter() - t0,
    )


def run_task(task: FileTask) -> FileResult:
    """:func:`convert_file` on a :class:`FileTask`: what ``map_files`` maps."""
    return convert_file(
        task.source,
        task.part,
        sample=task.sample,
        role=task.role,
        selection=task.selection,
        file_index=task.file_index,
        n_files=task.n_files,
        tree=task.tree,
        step_size=task.step_size,
        compression=task.compression,
        progress=task.progress,
    )


MapFiles = Callable[[Callable[[FileTask], FileResult], Iterable[FileTask]], Iterable[FileResult]]
"""How the files are converted: ``map_files(run_task, tasks)`` returns the results in task
order (the builtin ``map``: one after the other, in this process)."""


# -- the folder ---------------------------------------------------------------------------
def _is_hepfm_sample(path: Path) -> bool:
    if path.suffix != ".h5" or not path.is_file():
        return False
    try:
        read_header(path)
    except HepfmError:
        return False
    return True


@dataclass(frozen=True)
class SampleSummary:
    """One converted sample: its file, inputs, counts and identity columns."""

    name: str
    role: Role
    path: Path
    files: tuple[FileResult, ...]
    counts: ConversionCounts
    identity: tuple[str, ...]

    @property
    def n_events(self) -> int:
        return int(self.counts.events_kept)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "file": self.path.name,
            "events": self.n_events,
            "identity": list(self.identity),
            "counts": self.counts.to_dict(),
            "inputs": [f.to_dict() for f in self.files],
        }


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert` wrote, and how long it took."""

    out: Path
    samples: dict[str, SampleSummary]
    selection: Selection
    tree: str
    normalisation_source: str
    seconds: float
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def events_in(self) -> int:
        return sum(s.counts.events_in for s in self.samples.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "provenance": self.provenance,
            "normalisation": self.normalisation_source,
            "seconds": round(self.seconds, 3),
            "samples": {name: s.to_dict() for name, s in self.samples.items()},
        }

    def summary(self) -> str:
        """The conversion in a few lines: inputs, events and tracks by fate, pathologies."""
        sel = self.selection
        filters = ", ".join(f.label for f in sel.track_filters) or "none"
        lines = [
            f"converted {self.events_in:,} events from "
            f"{sum(len(s.files) for s in self.samples.values())} file(s) (tree "
            f"{self.tree}, uproot {self.provenance.get('uproot', '?')}) in {self.seconds:.1f}s"
            f" ({self.events_in / max(self.seconds, 1e-9):,.0f} events/s)",
            f"features: {sel.definition}; {sel.n_tracks} tracks per event, sorted by pt; "
            f"track filters: {filters}; min tracks: {sel.min_tracks}",
            f"normalisation: {self.normalisation_source}",
        ]
        for s in self.samples.values():
            c = s.counts
            dropped = sum(c.events_dropped.values())
            lines.append(
                f"  {s.name} ({s.role}) -> {s.path.name}: {c.events_kept:,} of {c.events_in:,}"
                f" events kept"
                + (f", {dropped:,} dropped {dict(c.events_dropped)}" if dropped else "")
                + (f", {c.events_without_tracks:,} all padding" if c.events_without_tracks else "")
            )
            filtered = sum(c.tracks_filtered.values())
            lines.append(
                f"    tracks: {c.tracks_in:,} read = {c.tracks_written:,} written + "
                f"{c.tracks_truncated:,} beyond {sel.n_tracks} + {filtered:,} filtered"
                + (f" {dict(c.tracks_filtered)}" if filtered else "")
                + f" + {c.tracks_in_dropped_events:,} in dropped events"
            )
            bad = {k: v for k, v in c.pathologies.items() if v}
            if bad:
                lines.append(f"    tracks with values that cannot be derived: {bad}")
            nonfinite = {k: v for k, v in c.nonfinite_features.items() if v}
            if nonfinite:
                lines.append(f"    non-finite features (before selection): {nonfinite}")
            ids = ", ".join(s.identity) or "none"
            lines.append(f"    identity: {ids}")
            for f in s.files:
                size = f"{f.info.size / 1e6:.1f} MB" if f.info.size is not None else "remote"
                check = f", blake2b {f.info.checksum}" if f.info.checksum else ""
                lines.append(
                    f"    {f.info.name}: {f.info.entries:,} entries, {size}{check}, "
                    f"{f.seconds:.1f}s"
                )
        if not any(s.role == "signal" for s in self.samples.values()):
            lines.append("note: no --signal given; evaluation needs at least one signal sample")
        return "\n".join(lines)


def _merge(
    results: Sequence[FileResult],
    path: Path,
    *,
    name: str,
    role: Role,
    selection: Selection,
    normalisation: Normalisation,
    metadata: dict[str, Any],
    compression: Compression,
) -> tuple[str, ...]:
    """Concatenate the parts of one sample into ``path``; returns its identity columns."""
    headers = [read_header(r.task.part) for r in results]
    common = set(headers[0]["identity"])
    for h in headers[1:]:
        common &= set(h["identity"])
    columns = tuple(c for c in IDENTITY_DTYPES if c in common)  # the stored order
    n_features = selection.n_tracks * len(FEATURES)
    with SampleWriter(
        path,
        name=name,
        role=role,
        branch_names=FEATURES,
        units=FEATURE_UNITS,
        n_tracks=selection.n_tracks,
        normalisation=normalisation,
        metadata=metadata,
        compression=compression,
        feature_definition=selection.definition,
        identity_sources=[r.info.name for r in results],
    ) as writer:
        for result, header in zip(results, headers, strict=True):
            n = header["n_events"]
            rows = H5Matrix(result.task.part, [EVENTS], None, n, n_features)
            for start, block in rows.blocks(MERGE_ROWS):
                stop = start + block.shape[0]
                ids = read_identity(result.task.part, slice(start, stop)) or {}
                writer.write(block, {c: ids[c] for c in columns} if columns else None)
    return columns


def _check_inputs(samples: Mapping[str, Sequence[str]], tree: str) -> None:
    """Open every input once (no checksum, no events read): typed errors before any work."""
    for files in samples.values():
        for source in files:
            with open_tree(source, tree, checksum=False):
                pass


def convert(
    background: Sequence[str],
    signals: Mapping[str, Sequence[str]] | None,
    out: str | Path,
    *,
    selection: Selection | None = None,
    tree: str = DEFAULT_TREE,
    step_size: int = DEFAULT_STEP_EVENTS,
    compression: Compression = DEFAULT_COMPRESSION,
    normalisation: Normalisation | None = None,
    normalisation_source: str | None = None,
    clip: float | None = None,
    map_files: MapFiles = map,
    progress: Progress | None = None,
) -> ConvertResult:
    """Convert PhysLite ROOT files into the hepfm data folder ``out`` (see the module doc).

    Parameters
    ----------
    background : sequence of str
        The background's files, globs, file lists or URLs (:func:`expand_inputs`).
    signals : mapping of str to sequence of str, optional
        Per signal name, its files (the same forms).
    out : str or Path
        The folder to write; an existing one is replaced only if it holds nothing but hepfm
        sample files.
    selection : Selection, optional
        Tracks per event, feature definition, track filters, minimum tracks.
    tree, step_size, compression
        The tree to read, entries per ``uproot`` step, the files' compression.
    normalisation : Normalisation, optional
        Stored in every file instead of the background's statistics (e.g. the one a model
        was trained with); ``normalisation_source`` says where it came from.
    clip : float, optional
        The symmetric clip of the standardised inputs stored with the background's
        statistics (None: no clip, as the demo).
    map_files : callable
        ``map_files(run_task, tasks)``: the builtin ``map`` or a cluster's.
    progress : Progress, optional
        Called ``(sample i/n, entries read, entries)`` per step of every file.

    Returns
    -------
    ConvertResult
        Per sample its file, inputs (names, sizes, checksums, counts) and counts.

    Raises
    ------
    HepfmError
        A missing, non-ROOT, truncated or empty input, a missing tree or branches, bad
        settings, an output folder holding other files; nothing is left written.
    """
    t0 = time.perf_counter()
    selection = selection or Selection()
    if int(step_size) < 1:
        raise SettingsError(
            f"--step-size {step_size}: at least one entry per step", "--step-size", "give >= 1"
        )
    n_features = selection.n_tracks * len(FEATURES)
    if normalisation is not None and normalisation.n_features != n_features:
        raise SettingsError(
            f"the normalisation given has {normalisation.n_features} inputs; {selection.n_tracks}"
            f" tracks x {len(FEATURES)} features make {n_features}",
            normalisation_source,
            f"take the normalisation of data with {selection.n_tracks} tracks, or set --tracks",
        )
    inputs: dict[str, list[str]] = {"background": expand_inputs(background, "background")}
    for name, files in (signals or {}).items():
        if name == "background" or name in inputs:
            raise SignalSpecError(
                f"sample name {name!r} given twice", name, "give each signal once, with all files"
            )
        inputs[name] = expand_inputs(files, f"signal {name}")
    _check_inputs(inputs, tree)
    folder = AtomicFolder(Path(out), _is_hepfm_sample, "hepfm sample files")
    try:
        parts = folder.tmp / "parts"
        try:
            parts.mkdir()
        except OSError as exc:
            raise output_error(exc, folder.out, "the output folder") from exc
        tasks = [
            FileTask(
                source=source,
                part=str(parts / f"{name}-{i:05d}.h5"),
                sample=name,
                role="background" if name == "background" else "signal",
                file_index=i,
                n_files=len(files),
                selection=selection,
                tree=tree,
                step_size=int(step_size),
                compression=compression,
                progress=progress,
            )
            for name, files in inputs.items()
            for i, source in enumerate(files)
        ]
        results = list(map_files(run_task, tasks))
        provenance = {
            "converter": "hepfm convert",
            "hepfm": installed_version("hepfm"),
            "uproot": uproot_version(),
            "awkward": installed_version("awkward"),
            "tree": tree,
            "step_size": int(step_size),
            "selection": selection.to_dict(),
        }
        samples: dict[str, SampleSummary] = {}
        for name in inputs:
            mine = [r for r in results if r.task.sample == name]
            counts = sum((r.counts for r in mine), ConversionCounts())
            if counts.events_kept == 0:
                why = (
                    f"every one of its {counts.events_in:,} events has fewer than "
                    f"{selection.min_tracks} tracks"
                    if counts.events_in
                    else f"its {len(mine)} file(s) hold no entries in tree '{tree}'"
                )
                raise EmptyInputError(
                    f"sample '{name}' would be empty: {why}",
                    ", ".join(r.info.name for r in mine),
                    "give files with events"
                    + (", or lower --min-tracks" if counts.events_in else ""),
                )
            role: Role = "background" if name == "background" else "signal"
            metadata = provenance | {
                "sample": name,
                "inputs": [r.to_dict() for r in mine],
                "counts": counts.to_dict(),
            }
            path = folder.tmp / f"{name}.h5"
            identity = _merge(
                mine,
                path,
                name=name,
                role=role,
                selection=selection,
                normalisation=normalisation or _placeholder(n_features),
                metadata=metadata,
                compression=compression,
            )
            for r in mine:
                Path(r.task.part).unlink(missing_ok=True)
            samples[name] = SampleSummary(name, role, path, tuple(mine), counts, identity)
        shutil.rmtree(parts, ignore_errors=True)
        if normalisation is None:
            bg = samples["background"]
            normalisation = _background_normalisation(bg.path, selection, clip)
            source_text = normalisation.source
            for s in samples.values():
                set_normalisation(s.path, normalisation)
        else:
            source_text = normalisation_source or normalisation.source or "given"
        final = folder.commit()
    except BaseException:
        folder.discard()
        raise
    samples = {
        name: SampleSummary(s.name, s.role, final / s.path.name, s.files, s.counts, s.identity)
        for name, s in samples.items()
    }
    return ConvertResult(
        final, samples, selection, tree, source_text, time.perf_counter() - t0, provenance
    )


def _background_normalisation(
    path: Path, selection: Selection, clip: float | None
) -> Normalisation:
    """The second streamed pass: the demo's estimator over every converted background event."""
    header = read_header(path)
    rows = H5Matrix(path, [EVENTS], None, header["n_events"], header["n_features"])

    def passes() -> Iterable[np.ndarray]:
        return (block for _, block in rows.blocks(MERGE_ROWS))

    return streamed_normalisation(
        passes,
        len(FEATURES),
        selection.n_tracks,
        clip=clip,
        source=f"background (all {header['n_events']} events, streamed)",
    )


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The conversion's provenance stored in a converted file's metadata ({} if none)."""
    metadata = read_header(path)["metadata"]
    return metadata if metadata.get("converter") else {}
