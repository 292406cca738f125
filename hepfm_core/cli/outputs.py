"""What several ``hepfm`` commands print and write: a training epoch's line, warnings, and
folders of files that appear all at once or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import HepfmError

__all__ = ["atomic_folder", "own_warnings_as_lines", "print_epoch", "warn"]


def print_epoch(record: dict) -> None:
    """One training epoch's line on stderr (demo and train)."""
    print(
        f"epoch {record['epoch']:3d}  loss {record['loss']:10.4f}  "
        f"reconstruction {record['reconstruction']:10.4f}  KL {record['kl']:9.4f}  "
        f"beta {record['beta']:.4f}  val_loss {record['val_loss']:10.4f}  "
        f"val_objective {record['val_objective']:10.4f}  "
        f"({record['seconds']:.1f}s)",
        file=sys.stderr,
        flush=True,
    )


def warn(warnings: Iterable[str]) -> None:
    """Each warning on stderr, as ``hepfm: warning: ...``."""
    for warning in warnings:
        print(f"hepfm: warning: {warning}", file=sys.stderr)


@contextlib.contextmanager
def own_warnings_as_lines() -> Iterator[None]:
    """While inside, a warning that hepfm itself raises (its category is defined in the
    package: a cache entry repaired, say) prints as one ``hepfm: warning: ...`` line, not as
    Python's ``file:line: Category: ...`` followed by the source line that raised it; other
    warnings print as Python prints them."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if category.__module__.startswith("hepfm_core."):
                print(f"hepfm: warning: {message}", file=file or sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


@contextlib.contextmanager
def atomic_folder(out: str | Path, what: str = "the scores (--scores-out)") -> Iterator[Path]:
    """A temporary folder inside ``out`` to write into; each file is then renamed into
    ``out`` once every one is written: files appear whole or not at all (a full disk leaves
    none half-written, and none of this run), and a failed write leaves what ``out`` held
    before (a folder this call created is removed again). Temporaries of killed runs are
    swept."""
    from ..common.atomic import PART_MARK, as_os_error, output_error
    from ..common.leftovers import owner_tag, sweep

    out = Path(out)
    tmp = out / f".{out.name or 'out'}{PART_MARK}{owner_tag()}"
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        sweep(out, (PART_MARK,))
        tmp.mkdir()
        yield tmp
        for path in sorted(tmp.rglob("*")):
            if path.is_file():
                target = out / path.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty: nothing of ours was moved in
        if isinstance(exc, HepfmError) and str(exc.where or "").startswith(str(tmp)):
            # a writer's own error names the temporary, gone now: name the folder instead
            raise type(exc)(exc.what, out, exc.todo) from exc
        failure = as_os_error(exc)  # polars writes Parquet and says "os error 28"
        if failure is None:
            raise
        raise output_error(failure, out, what) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
