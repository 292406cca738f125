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
