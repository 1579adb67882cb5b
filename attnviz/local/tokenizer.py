"""A word-level tokenizer for the local transformer: one token per word or punctuation mark.

With a vocabulary, unknown words become ``[UNK]``. Without one (the random-weights
model), words are hashed into buckets so that different words still get different
embeddings; hashing is stable across processes (crc32, not Python's ``hash``).

A typed ``[MASK]`` (exactly so, in capitals) is one token, the mask token, and counts as a
word (not a special token), as in Hugging Face tokenizers: "the dogs [MASK] fast" asks a
masked-word model to fill in the verb.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK, CLS, SEP, MASK = range(len(SPECIALS))
MASK_TEXT = SPECIALS[MASK]  # typed in a text, it is the mask token
_WORD = re.compile(r"\[MASK\]|\w+(?:['’]\w+)*|[^\w\s]", re.UNICODE)


@dataclass
class Encoding:
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]  # character span of each token in the text; (0, 0) for specials
    special: list[bool]
    unknown: list[str] = field(default_factory=list)  # words mapped to [UNK]


class WordTokenizer:
    def __init__(self, vocab: list[str] | None = None, vocab_size: int = 4096, lowercase: bool = True):
        self.lowercase = lowercase
        if vocab is not None:
            words = [w for w in vocab if w not in SPECIALS]
            self.vocab = list(SPECIALS) + words
            self._ids = {w: i for i, w in enumerate(self.vocab)}
            self.vocab_size = len(self.vocab)
        else:
            self.vocab, self._ids, self.vocab_size = None, None, vocab_size

    def token_id(self, word: str) -> int:
        if word == MASK_TEXT:
            return MASK
        if self.lowercase:
            word = word.lower()
        if self._ids is not None:
            return self._ids.get(word, UNK)
        return len(SPECIALS) + zlib.crc32(word.encode("utf-8")) % (self.vocab_size - len(SPECIALS))

    def split(self, text: str) -> list[tuple[str, int, int]]:
        return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]

    def encode(self, text: str, max_length: int | None = None, add_special: bool = True) -> Encoding:
        pieces = self.split(text)
        budget = None if max_length is None else max_length - (2 if add_special else 0)
        if budget is not None:
            pieces = pieces[: max(budget, 0)]
        ids = [self.token_id(w) for w, _, _ in pieces]
        enc = Encoding(
            ids=ids,
            tokens=[w for w, _, _ in pieces],
            offsets=[(s, e) for _, s, e in pieces],
            special=[False] * len(ids),
            unknown=[w for (w, _, _), i in zip(pieces, ids) if i == UNK],
        )
        if add_special:
            enc.ids = [CLS, *enc.ids, SEP]
            enc.tokens = ["[CLS]", *enc.tokens, "[SEP]"]
            enc.offsets = [(0, 0), *enc.offsets, (0, 0)]
            enc.special = [True, *enc.special, True]
        return enc

    def count(self, text: str) -> int:
        """Tokens the text makes before truncation (specials included)."""
        return len(self.split(text)) + 2

    def to_dict(self) -> dict:
        return {"vocab": self.vocab, "vocab_size": self.vocab_size, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, d: dict) -> "WordTokenizer":
        return cls(vocab=d.get("vocab"), vocab_size=d["vocab_size"], lowercase=d.get("lowercase", True))
