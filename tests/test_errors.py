"""The errors a user can cause (errors.py): what, where and what to do in one message, the
family each belongs to (what the CLI and the app catch), pickled whole, check_exists."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hepfm_core import errors
from hepfm_core.errors import (
    DataError,
    DataNotFoundError,
    HepfmError,
    ModelError,
    ModelNotFoundError,
    SettingsError,
    SignalSpecError,
    check_exists,
)


def test_the_message_has_what_where_and_what_to_do():
    e = HepfmError("clip bounds are inverted", Path("/data/run"), "give lo <= hi")
    assert str(e) == "clip bounds are inverted\n  where: /data/run\n  what to do: give lo <= hi"
    assert (e.what, e.where, e.todo) == ("clip bounds are inverted", "/data/run", "give lo <= hi")
    assert str(HepfmError("no signal")) == "no signal"
    assert HepfmError("no signal").where is None
    assert str(HepfmError("x", todo="retry")) == "x\n  what to do: retry"
    assert str(HepfmError("x", "")) == "x"  # an empty where says nothing


def test_every_exported_error_is_a_hepfm_error_of_its_family():
    exported = [getattr(errors, n) for n in errors.__all__ if n != "check_exists"]
    assert all(isinstance(c, type) and issubclass(c, HepfmError) for c in exported)
    assert issubclass(errors.TruncatedRootFileError, DataError)
    assert issubclass(errors.MissingBranchError, errors.MissingGroupError)
    assert issubclass(errors.EmptyInputError, errors.EmptySampleError)
    assert issubclass(errors.UnknownActivationError, errors.UpstreamExperimentError)
    assert issubclass(errors.UnsafeModelError, ModelError)
    assert issubclass(errors.PathNotAllowedError, SettingsError)
    assert issubclass(errors.TrackFilterError, SettingsError)
    assert not issubclass(ModelError, DataError) and not issubclass(SettingsError, DataError)


@pytest.mark.parametrize(
    "cls", [HepfmError, DataNotFoundError, SignalSpecError, errors.ClusterError]
)
def test_pickled_whole(cls):
    e = cls("the file is cut short", "/tmp/a.h5", "regenerate it")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cls and str(back) == str(e)
    assert (back.what, back.where, back.todo) == (e.what, e.where, e.todo)
    back = pickle.loads(pickle.dumps(cls("only what")))
    assert (back.where, back.todo) == (None, None)


def test_check_exists(tmp_path):
    present = tmp_path / "model.keras"
    present.write_bytes(b"")
    assert check_exists(present, ModelNotFoundError, "model", "check the path") is present
    missing = tmp_path / "sub" / "data.h5"
    with pytest.raises(DataNotFoundError) as info:
        check_exists(missing, DataNotFoundError, "data file", "check the path")
    assert info.value.what == f"data file not found: {missing}"
    assert info.value.where == str(missing) and info.value.todo == "check the path"
    with pytest.raises(ModelNotFoundError, match=r"^model not found: data\.h5\n"):
        check_exists(missing, ModelNotFoundError, "model", "check", name_only=True)
