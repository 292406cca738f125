"""The DataSet (data.dataset): its samples and features, and the checks that every sample of
a folder shares the background's features and that a signal normalisation is known."""

from __future__ import annotations

import numpy as np
import pytest

from hepfm_core.data.dataset import DataSet, check_consistent, check_signal_normalisation
from hepfm_core.data.samples import Provenance, Sample
from hepfm_core.errors import DataError, FeatureMismatchError
from hepfm_core.vocabulary import SIGNAL_NORMALISATIONS


def _sample(name: str, n_features: int = 3, names: tuple[str, ...] | None = None) -> Sample:
    names = names or tuple(f"f{i}" for i in range(n_features))
    role = "background" if name == "background" else "signal"
    x = np.zeros((4, n_features), np.float32)
    return Sample(name, role, x, names, Provenance(f"{name}.h5", "/", f"fp-{name}"))


def test_samples_background_first():
    bkg, a, b = _sample("background"), _sample("zprime_ee"), _sample("wprime_qq")
    ds = DataSet("hepfm", "/data", bkg, {"zprime_ee": a, "wprime_qq": b})
    assert list(ds.samples) == ["background", "zprime_ee", "wprime_qq"]
    assert ds.samples["wprime_qq"] is b and ds.feature_names == ("f0", "f1", "f2")
    assert ds.signal_normalisation == "background"
    assert "background's parameters" in ds.describe_normalisation()
    own = DataSet("upstream", "/data", bkg, {}, signal_normalisation="own")
    assert "own parameters" in own.describe_normalisation() and own.samples == {"background": bkg}


def test_signal_normalisations():
    for value in SIGNAL_NORMALISATIONS:
        check_signal_normalisation(value)
    with pytest.raises(DataError) as info:
        check_signal_normalisation("signal")
    assert info.value.what == "unknown signal normalisation 'signal'"
    assert info.value.todo == "use 'background' (default) or 'own' (upstream's choice)"


def test_every_sample_must_have_the_backgrounds_features():
    bkg = _sample("background")
    check_consistent(bkg, {}, "/data")
    check_consistent(bkg, {"a": _sample("a")}, "/data")
    with pytest.raises(FeatureMismatchError) as info:
        check_consistent(bkg, {"a": _sample("a"), "b": _sample("b", 4)}, "/data")
    assert info.value.what == "sample 'b' has 4 features but the background has 3"
    assert info.value.where == "/data"
    with pytest.raises(FeatureMismatchError, match="sample 'c' has other feature names"):
        check_consistent(bkg, {"c": _sample("c", names=("f0", "f2", "f1"))}, "/data")
