"""Which heads follow this sentence's dependencies: corpus credit met on one sentence.

    hits = sentence_hits(run, tree)                      # every arc of the sentence against every head
    arcs = followed_arcs(run, hits, scores.credits())    # one per credited relation the sentence has

A head is credited with a relation by its beyond-position accuracy over a corpus
(``HeadScores.credits``); only credits that pass Voita's flag are shown. For each such relation
the sentence's first arc of it is read in the credited head: the looking word is the dependent
(direction dependent->head) or the syntactic head (head->dependent), and the arc is a *hit* when
that word's most-attended other word is the arc's other end (the rule of the corpus scores).
One sentence is an example, not evidence: the credit comes from the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.head_scores import Credit
from attnviz.sentence_scores import SentenceHits
from attnviz.tree import Sentence, base_relation

WHOLE = 16  # a sentence of up to this many words is drawn whole on a card
CONTEXT = 4  # in a longer text, the words shown on each side of a card's arc


@dataclass(frozen=True)
class FollowedArc:
    """One arc of the sentence read in the head credited with its relation (word indexes, 0-based).

    looker:     the word whose attention is read (the dependent, or the syntactic head: ``credit.direction``)
    target:     the arc's other end, the word the looker should attend to most
    predicted:  the word the looker attends to most in that head (-1: not in the model's input)
    links:      (word, its most-attended other word, weight) for every word the model read
    """

    credit: Credit
    dependent: int
    syntactic_head: int
    relation: str
    looker: int
    target: int
    predicted: int
    hit: bool
    links: tuple[tuple[int, int, float], ...]

    def window(self, n_words: int, context: int = CONTEXT) -> tuple[int, int]:
        """(first, end) word indexes a drawing shows: a sentence of up to WHOLE words whole; in a longer text the arc,
        the word the looker attends to, and ``context`` more words each side."""
        if n_words <= WHOLE:
            return 0, n_words
        ends = [self.dependent, self.syntactic_head] + ([self.predicted] if self.predicted >= 0 else [])
        return max(0, min(ends) - context), min(n_words, max(ends) + context + 1)

    def as_data(self, tree: Sentence, caption: str) -> dict:
        """Plain data for a drawing (components/js/head_strip.js); ``tree`` is the parse the arc is from.

        Only the words of ``window`` are sent (positions counted from its first word; ``cut_left`` /
        ``cut_right`` say words were left out), so a card stays small and readable in a 500-word text."""
        first, end = self.window(len(tree.words))

        def inside(*ends: int) -> bool:
            return all(first <= i < end for i in ends)

        return {"key": self.credit.label, "layer": self.credit.layer + 1, "head": self.credit.head + 1,
                "relation": self.credit.relation, "caption": caption, "words": list(tree.words[first:end]),
                "cut_left": first > 0, "cut_right": end < len(tree.words),
                "parse": [[d - first, h - first] for d, h, _ in tree.arcs if inside(d, h)],
                "dependent": self.dependent - first, "head_word": self.syntactic_head - first, "looker": self.looker - first,
                "target": self.target - first, "predicted": self.predicted - first if self.predicted >= 0 else -1,
                "hit": self.hit, "links": [[q - first, k - first, w] for q, k, w in self.links if inside(q, k)]}


def _word_links(run, hits: SentenceHits, layer: int, head: int) -> tuple[np.ndarray, list[tuple[int, int, float]]]:
    """(predicted word of each word or -1, the links) of one head at the word level, self excluded."""
    alignment = hits.alignment
    units = alignment.attention(np.asarray(run.attention[layer, head], dtype=np.float32)).copy()  # [U, U]
    n_words = len(hits.sentence.words)
    predicted = np.full(n_words, -1, dtype=np.int64)
    links = []
    if units.shape[-1] < 2:
        return predicted, links
    np.fill_diagonal(units, -np.inf)  # a word never predicts itself
    best = units.argmax(axis=-1)
    first_word = [words[0] for words in alignment.units]
    for word, unit in enumerate(alignment.unit_of_word.tolist()):
        if unit >= 0:
            predicted[word] = first_word[best[unit]]
            links.append((word, int(predicted[word]), float(units[unit, best[unit]])))
    return predicted, links


def followed_arcs(run, hits: SentenceHits, credits: Sequence[Credit]) -> list[FollowedArc]:
    """Per credited relation that passes Voita's flag, the sentence's first arc of it, in sentence order.

    ``run`` is the captured run that ``hits`` was computed from (``sentence_hits(run, tree)``);
    ``credits`` come from corpus scores (``HeadScores.credits()``, one per relation). Arcs the model
    cannot read as two units are skipped. Relations are compared by their base (``nsubj:pass`` is ``nsubj``).
    """
    by_relation = {c.relation: c for c in credits if c.passes and c.rank == 1}
    out = []
    for a, (dep, gov, rel) in enumerate(zip(hits.dependents.tolist(), hits.syntactic_heads.tolist(), hits.relations)):
        credit = by_relation.pop(base_relation(rel), None)
        if credit is None:
            continue
        if not hits.scorable[a]:
            by_relation[base_relation(rel)] = credit  # a later arc of the relation may be readable
            continue
        looker, target = (dep, gov) if credit.direction == 0 else (gov, dep)
        predicted, links = _word_links(run, hits, credit.layer, credit.head)
        out.append(FollowedArc(credit, dep, gov, rel, looker, target, int(predicted[looker]),
                               bool(hits.hits[a, credit.layer, credit.head, credit.direction]), tuple(links)))
    return out
