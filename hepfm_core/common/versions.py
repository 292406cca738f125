"""One place that says which library versions stand behind a result, a model file or a report.

Versions are read from the installed distributions' metadata (nothing is imported), except
hepfm's own (``hepfm_core.__version__``) and the Vega versions vl-convert bundles.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence

from .. import __version__

__all__ = [
    "RESULT_LIBRARIES",
    "installed_version",
    "library_versions",
    "model_versions",
    "vega_versions",
]

RESULT_LIBRARIES = (
    "hepfm",
    "numpy",
    "scipy",
    "keras",
    "tensorflow-cpu",
    "tensorflow",
    "h5py",
)
"""What an evaluation's provenance records (those installed)."""


def installed_version(name: str) -> str | None:
    """The version of the distribution ``name`` (hepfm: this package's), or None."""
    if name == "hepfm":
        return __version__
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def library_versions(names: Sequence[str] = RESULT_LIBRARIES) -> dict[str, str]:
    """name -> version of each installed distribution among ``names``, in that order."""
    return {name: v for name in names if (v := installed_version(name)) is not None}


def model_versions() -> dict[str, str]:
    """What a hepfm model file records: hepfm, keras, tensorflow, numpy. TensorFlow's
    distribution is ``tensorflow-cpu`` on Linux; it is recorded as ``tensorflow`` either way."""
    found = {
        "hepfm": installed_version("hepfm"),
        "keras": installed_version("keras"),
        "tensorflow": installed_version("tensorflow") or installed_version("tensorflow-cpu"),
        "numpy": installed_version("numpy"),
    }
    return {name: v for name, v in found.items() if v is not None}


def vega_versions() -> dict[str, str]:
    """The Vega, Vega-Lite and vega-embed versions vl-convert inlines in a report."""
    import vl_convert as vlc

    return {
        "vega": vlc.get_vega_version(),
        "vega-lite": vlc.get_vegalite_versions()[-1],
        "vega-embed": vlc.get_vega_embed_version(),
        "vl-convert": getattr(vlc, "__version__", "?"),
    }
