"""Descriptions read back into their meaning, and near misses really mean something else."""

import numpy as np

from vla_flywheel.envs.tabletop.describe import (
    explanation_corpus,
    near_misses,
    parse_description,
    render_description,
)
from vla_flywheel.envs.tabletop.scene import COLOURS


def test_every_description_pattern_parses_back_to_itself():
    for sentence in explanation_corpus():
        meaning = parse_description(sentence)
        assert meaning is not None, sentence
        assert render_description(meaning) == sentence


def test_ill_formed_sentences_have_no_meaning():
    for text in ("put the red block", "put the teal block on the blue pad", "stack the red block on the blue pad", ""):
        assert parse_description(text) is None


def test_near_misses_change_exactly_what_they_name():
    rng = np.random.default_rng(0)
    for sentence in explanation_corpus():
        original = parse_description(sentence)
        for kind, miss in near_misses(sentence, list(COLOURS), rng):
            meaning = parse_description(miss)
            assert meaning is not None and meaning != original, (sentence, miss)
            changed = {f for f in original._fields if getattr(meaning, f) != getattr(original, f)}
            expected = {"wrong colour": {"block"}, "wrong relation": {"relation"}}.get(kind, {"reference"})
            assert changed == expected, (kind, sentence, miss)
