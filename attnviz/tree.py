"""The dependency-tree type: words, the syntactic head of each word, and the relation to it.

"Head" means two things in this project. An *attention head* is one of a layer's
attention heads (``attnviz.labels.head_label``: "3-1"). A word's *syntactic head* is
the word it depends on in a dependency tree; here it is always spelled out as
``syntactic_heads`` so that the two never meet under one name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def base_relation(label: str) -> str:
    """The universal relation of a label: ``nmod:poss`` -> ``nmod``."""
    return label.split(":", 1)[0]


def joined_spans(words: Sequence[str]) -> np.ndarray:
    """int [n, 2]: character spans of ``words`` in ``" ".join(words)``."""
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    ends = np.cumsum(lengths + 1) - 1
    return np.stack([ends - lengths, ends], axis=1)


@dataclass
class Sentence:
    """A dependency tree over words.

    words:            the words, in order
    syntactic_heads:  0-based index of each word's syntactic head; -1 for a root
    relations:        the relation of each word to its syntactic head (``root`` for a root)
    text:             the text the words come from (default: the words joined by spaces)
    offsets:          character span of each word in ``text``
    pos:              part-of-speech tags (UPOS from CoNLL-U, spaCy's ``pos_``), if known
    sent_id:          the sentence's id (CoNLL-U ``# sent_id``), if any
    """

    words: list[str]
    syntactic_heads: list[int]
    relations: list[str]
    text: str = ""
    offsets: list[tuple[int, int]] | None = None
    pos: list[str] | None = None
    sent_id: str | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.words)
        if len(self.syntactic_heads) != n or len(self.relations) != n:
            raise ValueError(
                f"a Sentence needs one head and one relation per word: {n} words, "
                f"{len(self.syntactic_heads)} syntactic heads, {len(self.relations)} relations"
            )
        if any(h < -1 or h >= n for h in self.syntactic_heads):
            raise ValueError(f"syntactic heads must be word indexes 0..{n - 1} or -1 for a root: {self.syntactic_heads}")
        if self.offsets is None:
            if self.text and self.text != " ".join(self.words):
                raise ValueError("give the words' character offsets when the text is not the words joined by spaces")
            self.text = " ".join(self.words)
            self.offsets = list(map(tuple, joined_spans(self.words).tolist()))
        elif len(self.offsets) != n:
            raise ValueError(f"{len(self.offsets)} offsets for {n} words")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def arcs(self) -> list[tuple[int, int, str]]:
        """(dependent, syntactic head, relation) for every word that has a head."""
        return [(d, h, r) for d, (h, r) in enumerate(zip(self.syntactic_heads, self.relations)) if h >= 0]
