"""The dependency-tree type: words, the syntactic head of each word, and the relation to it.

"Head" means two things in this project. An *attention head* is one of a layer's
attention heads (``attnviz.labels.head_label``: "3-1"). A word's *syntactic head* is
the word it depends on in a dependency tree; here it is always spelled out as
``syntactic_heads`` so that the two never meet under one name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np


def base_relation(label: str) -> str:
    """The universal relation of a label: ``nmod:poss`` -> ``nmod``."""
    return label.split(":", 1)[0]


def joined_starts(words: Sequence[str]) -> list[int]:
    """Where each of ``words`` starts in ``" ".join(words)`` (Python ints)."""
    return list(accumulate((len(w) + 1 for w in words[:-1]), initial=0)) if len(words) else []


def joined_spans(words: Sequence[str]) -> np.ndarray:
    """int [n, 2]: character spans of ``words`` in ``" ".join(words)`` (``joined_starts``, and each start + its length)."""
    starts = joined_starts(words)
    return np.array([starts, [s + len(w) for s, w in zip(starts, words)]], dtype=np.int64).reshape(2, -1).T


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

    def problems(self, single_root: bool = False) -> list[str]:
        """What keeps the syntactic heads from forming a tree, in words (empty when they do).

        A word headed by itself and a cycle of words (1 -> 2 -> 1) are always problems. Every
        sentence needs at least one root; with ``single_root`` exactly one (a correction editor's
        rule for one sentence; spaCy's parse of several sentences has one root per sentence).
        Word numbers in the messages are 1-based, as in CoNLL-U.
        """
        heads, out = self.syntactic_heads, []
        selfs = [i for i, h in enumerate(heads) if h == i]
        if selfs:
            out.append("a word cannot be its own head: " + ", ".join(f"#{i + 1} {self.words[i]!r}" for i in selfs))
        roots = [i for i, h in enumerate(heads) if h < 0]
        if heads and not roots:
            out.append("no word is the root (head 0)")
        elif single_root and len(roots) > 1:
            out.append(f"{len(roots)} words are roots (head 0): " + ", ".join(f"#{i + 1}" for i in roots) + "; a sentence has one")
        seen_cycles: set[frozenset[int]] = set()
        for start in range(len(heads)):
            path, node = [], start
            while node >= 0 and node not in path and heads[node] != node:
                path.append(node)
                node = heads[node]
            if node >= 0 and node in path and heads[node] != node:
                cycle = path[path.index(node):]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    out.append("a cycle: " + " → ".join(f"#{i + 1}" for i in [*cycle, cycle[0]]))
        return out

    def validate(self, single_root: bool = False) -> Sentence:
        """This sentence, or ValueError naming every problem (see ``problems``)."""
        if found := self.problems(single_root):
            raise ValueError("; ".join(found))
        return self

    @property
    def arcs(self) -> list[tuple[int, int, str]]:
        """(dependent, syntactic head, relation) for every word that has a head."""
        return [(d, h, r) for d, (h, r) in enumerate(zip(self.syntactic_heads, self.relations)) if h >= 0]
