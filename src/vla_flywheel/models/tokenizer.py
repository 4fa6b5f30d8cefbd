"""A word-level tokenizer built from the task corpus and saved next to the model.

Instructions are short and generated from templates, so a word vocabulary is exact and small (~60 words). Words the
training corpus never had (held-out paraphrases, a user's own wording) become `[UNK]` rather than an error: the known
words around them (colours, targets, relations) still carry the meaning, which is what held-out evaluation probes.
That holds for acting only: fine-tuning a saved policy on instructions with words outside its vocabulary is refused
(`train.loop.check_fits`), since its embedding table is fixed and it would learn to ignore what was written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import torch

from vla_flywheel.config_check import read_json
from vla_flywheel.errors import ConfigError

PAD, UNK = "[PAD]", "[UNK]"
TOKENIZER_FILE = "tokenizer.json"
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words; punctuation and spacing never matter."""
    return _WORD.findall(text.lower())


class WordTokenizer:
    def __init__(self, vocab: list[str], max_length: int = 16):
        if vocab[:2] != [PAD, UNK]:
            raise ConfigError(f"tokenizer vocab must start with {PAD}, {UNK}; got {vocab[:2]}")
        if max_length < 1:
            raise ConfigError(f"tokenizer max_length={max_length} must be >= 1")
        self.vocab = list(vocab)
        self.max_length = max_length
        self._ids = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def from_corpus(cls, texts: Iterable[str], max_length: int = 16) -> WordTokenizer:
        seen = sorted({w for text in texts for w in words(text)})
        return cls([PAD, UNK, *seen], max_length)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        """Token ids, truncated to max_length (the longest template has 13 words)."""
        return [self._ids.get(w, self.unk_id) for w in words(text)][: self.max_length]

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens [B, max_length] int64, mask [B, max_length] bool, True where a real token is)."""
        tokens = torch.full((len(texts), self.max_length), self.pad_id, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = self.encode(text)
            tokens[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return tokens, tokens != self.pad_id

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.vocab[i] for i in ids if i != self.pad_id)

    def save(self, directory: str | Path) -> None:
        payload = {"type": "word", "vocab": self.vocab, "max_length": self.max_length}
        (Path(directory) / TOKENIZER_FILE).write_text(json.dumps(payload, indent=1))

    @classmethod
    def load(cls, directory: str | Path) -> WordTokenizer:
        """tokenizer.json, checked: a list of word strings and an integer max_length, else one clear line."""
        path = Path(directory) / TOKENIZER_FILE
        if not path.is_file():
            raise ConfigError(f"{path} is missing; a saved policy directory holds its tokenizer")
        payload = read_json(path, "a saved model directory holds its tokenizer; retrain or use another checkpoint")
        vocab, max_length = payload.get("vocab"), payload.get("max_length")
        if not (isinstance(vocab, list) and all(isinstance(w, str) for w in vocab)):
            raise ConfigError(f"{path}: 'vocab' must be a list of strings; the file is damaged, use another checkpoint")
        if isinstance(max_length, bool) or not isinstance(max_length, int):
            raise ConfigError(f"{path}: 'max_length' must be an integer, got {max_length!r}; use another checkpoint")
        return cls(vocab, max_length)
