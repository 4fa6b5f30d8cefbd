"""The tokenizer: built from the training corpus, saved with the model, never crashes on unseen words."""

import torch

from vla_flywheel.envs.tabletop.language import TEMPLATES, corpus
from vla_flywheel.models.tokenizer import UNK, WordTokenizer


def test_heldout_paraphrases_keep_their_known_words_and_mark_the_rest_unknown():
    tokenizer = WordTokenizer.from_corpus(corpus())
    heldout = TEMPLATES["pick_place"]["heldout"][0].format(block="red", target="blue")
    ids = tokenizer.encode(heldout)
    decoded = tokenizer.decode(ids).split()
    assert "red" in decoded and "blue" in decoded
    assert UNK in decoded  # "cube"/"target" never appear in the training corpus
    assert len(ids) == len(heldout.split())


def test_batch_encoding_pads_truncates_and_masks():
    tokenizer = WordTokenizer.from_corpus(["put the red block on the blue pad"], max_length=5)
    tokens, mask = tokenizer(["put the red block on the blue pad", "Zebra!", ""])
    assert tokens.shape == (3, 5) and mask.dtype == torch.bool
    assert mask[0].all() and mask[1].tolist() == [True, False, False, False, False] and not mask[2].any()
    assert tokens[1, 0] == tokenizer.unk_id


def test_save_and_load_give_the_same_ids(tmp_path):
    tokenizer = WordTokenizer.from_corpus(corpus())
    tokenizer.save(tmp_path)
    loaded = WordTokenizer.load(tmp_path)
    for text in corpus()[::50]:
        assert loaded.encode(text) == tokenizer.encode(text)
