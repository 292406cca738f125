"""What the user names (engine.compare.specs): ``--model [LABEL=]PATH[,PATH...]`` forms and
refusals, whether the models make a comparison, and a model's automatic label."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepfm_core.engine.compare.specs import ModelSpec, is_comparison, model_label, parse_model_specs
from hepfm_core.errors import SettingsError
from hepfm_core.sources import ModelInfo, describe_model


def test_model_spec_forms(tmp_path):
    assert ModelSpec.parse("a/m.keras") == ModelSpec((Path("a/m.keras"),))
    assert ModelSpec.parse("l8=a/m.keras") == ModelSpec((Path("a/m.keras"),), "l8")
    group = ModelSpec.parse(" g = a/s1.keras, a/s2.keras ")
    assert group == ModelSpec((Path("a/s1.keras"), Path("a/s2.keras")), "g")
    # a path that exists is a path, whatever it holds
    odd = tmp_path / "x=y,z.keras"
    odd.write_bytes(b"")
    assert ModelSpec.parse(str(odd)) == ModelSpec((odd,))
    # a '=' after a folder separator is part of the path
    assert ModelSpec.parse("runs/a=b.keras").paths == (Path("runs/a=b.keras"),)
    assert not is_comparison(parse_model_specs("m.keras"))
    assert not is_comparison(parse_model_specs(["l=m.keras"]))
    assert is_comparison(parse_model_specs(["m.keras", "m.keras"]))
    assert is_comparison(parse_model_specs(["g=a.keras,b.keras"]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty --model"),
        ("l=", "names no model file"),
        ("a.keras,b.keras", "needs a label"),
        ("..=a.keras", "cannot name a folder"),
    ],
)
def test_model_spec_errors(text, message):
    with pytest.raises(SettingsError, match=message):
        ModelSpec.parse(text)


def test_model_label_is_name_and_short_fingerprint(small_demo, upstream_fixture):
    info = describe_model(small_demo[1])
    assert model_label(info) == f"model@{info.fingerprint[:8]}"
    exp = upstream_fixture / "_foundation_experiments" / "001_Foundation_VAE_Model"
    up = describe_model(exp)
    assert up.fingerprint.startswith("upstream-")
    assert model_label(up) == f"001_Foundation_VAE_Model@{up.fingerprint[9:17]}"


def test_separators_and_spaces():
    assert ModelSpec.parse("g=a.keras,,b.keras,").paths == (Path("a.keras"), Path("b.keras"))
    assert ModelSpec.parse("  m.keras  ") == ModelSpec((Path("m.keras"),))
    # a folder separator before '=' makes the whole text a path (no label)
    assert ModelSpec.parse("runs/x=1/m.keras") == ModelSpec((Path("runs/x=1/m.keras"),))
    # '=' with nothing before it is no label either
    assert ModelSpec.parse("=m.keras").label is None


def test_errors_say_where_and_what_to_do():
    with pytest.raises(SettingsError) as info:
        ModelSpec.parse(".hidden=m.keras")
    assert info.value.where == "--model .hidden=m.keras"
    assert info.value.todo == "start a label with a letter or digit"
    with pytest.raises(SettingsError) as info:
        ModelSpec.parse("   ")
    assert (info.value.what, info.value.where) == ("an empty --model argument", "--model")
    with pytest.raises(SettingsError, match=r"no --model given") as info:
        parse_model_specs([])
    assert info.value.todo == "give at least one --model PATH"


def test_one_string_is_one_argument_and_groups_count_their_members():
    (spec,) = parse_model_specs("l=a.keras")
    assert spec.label == "l"
    specs = parse_model_specs(["solo.keras"])
    assert not is_comparison(specs) and not is_comparison(())
    assert is_comparison(parse_model_specs(["g=a.keras,b.keras", "c.keras"]))


def _info(path: str, kind: str, fingerprint: str) -> ModelInfo:
    return ModelInfo(path, kind, fingerprint, "exp", 16, "")  # type: ignore[arg-type]


def test_model_label_from_the_name_and_the_fingerprints_last_part():
    assert model_label(_info("runs/l8/model.keras", "hepfm", "0123456789abcdef")) == (
        "model@01234567"
    )
    up = _info("exps/001_Foundation_VAE_Model", "upstream", "upstream-fedcba9876543210")
    assert model_label(up) == "001_Foundation_VAE_Model@fedcba98"
    # a folder name with a dot keeps it (upstream), a file loses only its suffix (hepfm)
    assert model_label(_info("exps/v1.2", "upstream", "upstream-aa")) == "v1.2@aa"
    assert model_label(_info("a/b.c.keras", "hepfm", "ff")) == "b.c@ff"
