"""A hepfm data folder written back as PhysLite-like ROOT files (the demo's --physlite):
what hepfm convert reads, to try the conversion without ATLAS data."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ..common.atomic import AtomicFolder
from ..common.progress import Progress
from ..errors import (
    DataNotFoundError,
)
from .convert import MERGE_ROWS
from .h5io import H5Matrix
from .hepfm_format import EVENTS, read_header, read_identity
from .physlite import (
    IDENTITY_BRANCHES,
    raw_from_features,
)
from .root_io import (
    DEFAULT_TREE,
    PhysliteWriter,
)

__all__ = [
    "export_physlite",
]


# -- back to ROOT (the demo) --------------------------------------------------------------
def _is_root_output(path: Path) -> bool:
    return path.is_file() and path.suffix == ".root"


def export_physlite(
    data_dir: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    tree: str = DEFAULT_TREE,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Write every sample of the hepfm folder ``data_dir`` as a PhysLite-like ROOT file.

    ``out/<sample>.root`` holds a TTree ``tree`` with the ``InDetTrackParticlesAuxDyn``
    branches (``physlite.raw_from_features``: the physical definition derives them back to
    the stored features within float32 rounding) and the sample's identity as ``EventInfo``
    branches. The charges and numbers of degrees of freedom the features do not fix are
    drawn from ``seed``. The folder is replaced as a whole, atomically, and only if it holds
    nothing but ``.root`` files.
    """
    data_dir = Path(data_dir)
    files = sorted(data_dir.glob("*.h5"))
    if not files:
        raise DataNotFoundError(
            f"{data_dir} holds no hepfm sample files", data_dir, "write the demo first"
        )
    headers = {f: read_header(f) for f in files}
    folder = AtomicFolder(Path(out), _is_root_output, ".root files")
    written: dict[str, Path] = {}
    try:
        for f, header in headers.items():
            name = header["name"]
            n, d = header["n_events"], header["n_features"]
            columns = [c for c in IDENTITY_BRANCHES if c in header["identity"]]
            rows = H5Matrix(f, [EVENTS], None, n, d)
            with PhysliteWriter(folder.tmp / f"{name}.root", columns, tree) as writer:
                for i, (start, block) in enumerate(rows.blocks(MERGE_ROWS)):
                    k = block.shape[0]
                    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), i])
                    shape = (k, header["n_tracks"])
                    charge = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
                    ndf = rng.integers(8, 32, shape).astype(np.float64)
                    counts, raw = raw_from_features(block, charge, ndf)
                    ids = read_identity(f, slice(start, start + k)) or {}
                    writer.write(counts, raw, {c: ids[c] for c in columns})
                    if progress is not None:
                        progress(f"{name}.root", start + k, n)
            written[name] = Path(out) / f"{name}.root"
        folder.commit()
    except BaseException:
        folder.discard()
        raise
    return written
