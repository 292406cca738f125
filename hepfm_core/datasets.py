"""Open a data folder (hepfm's layout or upstream's) as one background and its signals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import DataError, DataNotFoundError, FeatureMismatchError, NoSignalsError
from .hepfm_format import read_header, read_sample
from .samples import Sample

SignalNormalisation = Literal["background", "own"]


@dataclass(frozen=True, eq=False)
class DataSet:
    """A background sample and named signal samples that share their features."""

    kind: Literal["hepfm", "upstream"]
    path: str
    background: Sample
    signals: dict[str, Sample]
    signal_normalisation: SignalNormalisation = "background"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.background.feature_names

    @property
    def samples(self) -> dict[str, Sample]:
        return {"background": self.background, **self.signals}

    def describe_normalisation(self) -> str:
        if self.signal_normalisation == "background":
            return "signals standardised with the background's parameters"
        return "each signal standardised with its own parameters (upstream's choice)"


def check_consistent(background: Sample, signals: dict[str, Sample], where: str | Path) -> None:
    """Every sample must have the background's features, in the same order."""
    for name, sample in signals.items():
        if sample.n_features != background.n_features:
            raise FeatureMismatchError(
                f"sample '{name}' has {sample.n_features} features but the background has "
                f"{background.n_features}",
                where,
                "all samples of a data folder must come from the same preprocessing",
            )
        if sample.feature_names != background.feature_names:
            raise FeatureMismatchError(
                f"sample '{name}' has other feature names than the background",
                where,
                "all samples of a data folder must come from the same preprocessing",
            )


def detect_kind(path: str | Path) -> Literal["hepfm", "upstream"]:
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(
            f"data folder not found: {path}",
            path,
            "check the path; `hepfm demo` writes the demo folder data/demo/",
        )
    if not path.is_dir():
        raise DataError(
            f"{path.name} is a file; hepfm expects a data folder",
            path,
            "point at the folder holding the .h5 files",
        )
    if (path / "dataset.h5").exists():
        return "upstream"
    if any(path.glob("*.h5")):
        return "hepfm"
    raise DataNotFoundError(
        f"no data in {path}: neither hepfm sample files (*.h5) nor an upstream dataset.h5",
        path,
        "run `hepfm demo --out DIR`, or point at an upstream _processed_datasets/<id>/ folder",
    )


def open_hepfm_folder(
    path: str | Path,
    *,
    signal_normalisation: SignalNormalisation = "background",
    fill: str = "median",
) -> DataSet:
    """Read a hepfm data folder: exactly one background file and any number of signals."""
    path = Path(path)
    files = sorted(path.glob("*.h5"))
    headers = {f: read_header(f) for f in files}
    backgrounds = [f for f, h in headers.items() if h["role"] == "background"]
    if len(backgrounds) != 1:
        raise DataError(
            f"{path} holds {len(backgrounds)} background samples; hepfm expects exactly one",
            path,
            "keep one file with role 'background' in the folder",
        )
    background = read_sample(backgrounds[0], fill=fill)
    bg_norm = background.x.normalisation  # type: ignore[attr-defined]
    signals: dict[str, Sample] = {}
    for f, h in headers.items():
        if h["role"] != "signal":
            continue
        norm = bg_norm if signal_normalisation == "background" else _own_normalisation(f, h)
        signals[h["name"]] = read_sample(f, norm, fill=fill)
    if not signals:
        raise NoSignalsError(
            f"{path} holds a background but no signal sample",
            path,
            "add signal files (role 'signal'), e.g. with `hepfm demo`",
        )
    check_consistent(background, signals, path)
    return DataSet("hepfm", str(path), background, signals, signal_normalisation)


def _own_normalisation(path: Path, header: dict):
    """A signal's own per-branch statistics (upstream's choice), computed chunk by chunk."""
    import numpy as np

    from .h5io import H5Matrix
    from .normalisation import Normalisation

    n_b = len(header["branch_names"])
    raw = H5Matrix(path, ["events"], None, header["n_events"], header["n_features"])
    s = np.zeros(n_b)
    s2 = np.zeros(n_b)
    cnt = np.zeros(n_b)
    for start in range(0, header["n_events"], 65536):
        block = raw.raw(slice(start, start + 65536)).astype(np.float64).reshape(-1, n_b)
        fin = np.isfinite(block)
        b = np.where(fin, block, 0.0)
        s += b.sum(0)
        s2 += (b * b).sum(0)
        cnt += fin.sum(0)
    means = s / np.maximum(cnt, 1)
    stds = np.sqrt(np.maximum(s2 / np.maximum(cnt, 1) - means**2, 0.0))
    stored = header["normalisation"]
    return Normalisation(
        np.tile(means, header["n_tracks"]),
        np.tile(stds, header["n_tracks"]),
        stored.fill,
        stored.clip,
        source=f"{header['name']} (own)",
    )


def open_data(
    path: str | Path,
    *,
    signal_normalisation: SignalNormalisation = "background",
    fill: str = "median",
) -> DataSet:
    """Open a hepfm data folder or an upstream dataset folder, whichever ``path`` is."""
    if signal_normalisation not in ("background", "own"):
        raise DataError(
            f"unknown signal normalisation {signal_normalisation!r}",
            None,
            "use 'background' (default) or 'own' (upstream's choice)",
        )
    kind = detect_kind(path)
    if kind == "upstream":
        from .upstream_data import open_upstream_dataset

        return open_upstream_dataset(path, signal_normalisation=signal_normalisation, fill=fill)
    return open_hepfm_folder(path, signal_normalisation=signal_normalisation, fill=fill)


__all__ = ["DataSet", "open_data"]
