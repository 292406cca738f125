"""The one vocabulary: every choice has its words, every cause its label, each sample a colour."""

from __future__ import annotations

from hepfm_core import vocabulary as vocab


def test_every_choice_has_its_words():
    assert tuple(vocab.SCORE_LABELS) == tuple(vocab.SCORE_TITLES) == vocab.SCORES
    assert set(vocab.POLICY_LABELS) == set(vocab.POLICIES)
    assert set(vocab.FILL_LABELS) == set(vocab.FILL_DESCRIPTIONS) == set(vocab.FILLS)
    assert set(vocab.SIGNAL_NORMALISATION_LABELS) == set(vocab.SIGNAL_NORMALISATIONS)
    assert set(vocab.SIGNAL_NORMALISATION_DESCRIPTIONS) == set(vocab.SIGNAL_NORMALISATIONS)
    labels = [*vocab.SCORE_LABELS.values(), *vocab.POLICY_LABELS.values()]
    assert len(set(labels)) == len(labels)  # a dropdown or radio maps labels back to keys


def test_cause_labels_and_descriptions() -> None:
    assert [c.label for c in vocab.Cause] == [
        "ok",
        "input_nonfinite",
        "encoder_nonfinite",
        "decoder_nonfinite",
        "kl_overflow",
        "reconstruction_overflow",
        "radius_overflow",
    ]
    assert [int(c) for c in vocab.Cause] == list(range(7))
    assert all(c.description and isinstance(c.description, str) for c in vocab.Cause)


def test_sample_colours_stable_and_distinct():
    a = vocab.sample_colours(["zprime_tt", "wprime_qq"])
    b = vocab.sample_colours(["wprime_qq", "zprime_tt"])
    assert a == b and a["background"] == vocab.BACKGROUND_COLOUR
    assert len(set(vocab.sample_colours([f"s{i}" for i in range(10)]).values())) == 11


def test_every_column_is_named_once():
    titles = [c.title for c in vocab.COLUMNS.values()]
    assert len(set(titles)) == len(titles)  # one title, one column: a note is found by it
    assert all(key == c.key for key, c in vocab.COLUMNS.items())
    causes = [c.label for c in vocab.Cause if c != vocab.Cause.OK]
    assert all(vocab.column_note(c) == vocab.Cause[c.upper()].description for c in causes)


def test_a_column_s_title_unit_note_and_terminal_header():
    residual = vocab.COLUMNS["residual"]
    assert residual.title == "squared residual (x − x̂)² [standardised units²]"
    assert vocab.column_note("max SIC") == "max over cuts of ε_S / √ε_B"
    assert vocab.column_note("kept / total") == vocab.column_note("no such column") == ""
    eff = vocab.COLUMNS["eff_at_bkg_eff"]
    assert eff.at("1e-3") == "ε_S at ε_B=1e-3" and eff.at("1e-3", terminal=True) == "eff@1e-3"
    f32 = vocab.COLUMNS["nonfinite_unguarded_float32"]
    assert (f32.terminal, f32.terminal_width) == ("nonfinite f32", 13)
    plain = vocab.Column("k", "a name")
    assert (plain.title, plain.terminal, plain.terminal_width, plain.note) == (
        "a name",
        "a name",
        6,
        "",
    )
