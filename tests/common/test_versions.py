"""Which library versions stand behind a result (common.versions): the installed
distributions' metadata, hepfm's own version, what a model file records, the Vega versions
a report inlines."""

from __future__ import annotations

import importlib.metadata
import re

import h5py
import numpy as np
import scipy

import hepfm_core
from hepfm_core.common import versions
from hepfm_core.common.versions import (
    RESULT_LIBRARIES,
    installed_version,
    library_versions,
    model_versions,
    vega_versions,
)


def test_installed_versions_are_the_distributions():
    assert installed_version("hepfm") == hepfm_core.__version__
    assert installed_version("numpy") == np.__version__
    assert installed_version("h5py") == h5py.__version__
    assert installed_version("no-such-distribution-hepfm") is None


def test_library_versions_keep_the_order_and_leave_out_the_missing():
    got = library_versions(["scipy", "no-such-distribution-hepfm", "hepfm"])
    assert list(got.items()) == [("scipy", scipy.__version__), ("hepfm", hepfm_core.__version__)]
    result = library_versions()
    assert list(result) == [n for n in RESULT_LIBRARIES if n in result]
    assert {"hepfm", "numpy", "scipy", "h5py"} <= set(result)
    assert "scikit-learn" not in result  # the tests' reference, not what the numbers depend on


def test_a_model_records_tensorflow_under_one_name(monkeypatch):
    found = {"hepfm": "0.1.0", "keras": "3.1", "tensorflow-cpu": "2.16.1", "numpy": "2.0"}
    monkeypatch.setattr(versions, "installed_version", found.get)
    assert model_versions() == {"hepfm": "0.1.0", "keras": "3.1", "tensorflow": "2.16.1",
                                "numpy": "2.0"}  # fmt: skip
    found["tensorflow"] = "2.17.0"  # the plain distribution wins where both are installed
    assert model_versions()["tensorflow"] == "2.17.0"
    del found["keras"]
    assert "keras" not in model_versions()


def test_vega_versions_name_the_inlined_libraries():
    import vl_convert as vlc

    got = vega_versions()
    assert list(got) == ["vega", "vega-lite", "vega-embed", "vl-convert"]
    for name in ("vega", "vega-embed"):
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", got[name]), got
    assert got["vega-lite"] in vlc.get_vegalite_versions()
    assert importlib.metadata.version("vl-convert-python").startswith(got["vl-convert"])
