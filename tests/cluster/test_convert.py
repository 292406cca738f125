"""``hepfm convert --scheduler``: the files converted on the cluster's workers, the folder the
same as one process writes."""

from __future__ import annotations

import json

import numpy as np

from hepfm_core.cli import main
from hepfm_core.cli.demo_command import write_physlite_demo
from hepfm_core.data.hepfm_format import read_header, read_identity, read_sample


def without_timings(doc):
    """The summary without its wall-clock fields (the only ones that may differ)."""
    if isinstance(doc, dict):
        return {k: without_timings(v) for k, v in doc.items() if "second" not in k}
    if isinstance(doc, list):
        return [without_timings(v) for v in doc]
    return doc


def test_convert_on_the_cluster_equals_one_process(small_data, dask_cluster, tmp_path):
    root = tmp_path / "physlite"
    written = write_physlite_demo(small_data, root, seed=3, quiet=True)
    signals = [f"--signal={n}={p}" for n, p in written.items() if n != "background"]
    common = ["convert", "--background", str(written["background"]), *signals, "--quiet"]
    common += ["--step-size", "1500"]
    outs = {}
    for name, extra in (("single", []), ("cluster", ["--scheduler", dask_cluster])):
        outs[name] = tmp_path / name
        argv = [*common, "--out", str(outs[name]), "--json", str(tmp_path / f"{name}.json")]
        assert main(argv + extra) == 0
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("single", "cluster"))
    assert without_timings(a["samples"]) == without_timings(b["samples"])
    for sample in written:
        fa, fb = outs["single"] / f"{sample}.h5", outs["cluster"] / f"{sample}.h5"
        ha, hb = read_header(fa), read_header(fb)
        assert ha["fingerprint"] == hb["fingerprint"], sample
        np.testing.assert_array_equal(np.asarray(read_sample(fa).x), np.asarray(read_sample(fb).x))
        ia, ib = read_identity(fa), read_identity(fb)
        assert ia.keys() == ib.keys()
        for column in ia:
            np.testing.assert_array_equal(ia[column], ib[column])
