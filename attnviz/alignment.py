"""Parser words lined up with a run's positions by character offsets.

    alignment = align(sentence, run)                     # parser words -> the run's positions
    alignment.attention(run.attention)                   # [..., units, units]: word-level attention

One rule for "which token belongs to which word" (a word covers every position whose
character span overlaps its own; words that share a position form one unit), used by
the app's one-sentence view and by the corpus scorer alike.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from itertools import chain

import numpy as np

from attnviz.tree import Sentence, joined_spans
from attnviz.words import pool


@dataclass(frozen=True, eq=False)
class Alignment:
    """Parser words lined up with a run's positions by character offsets.

    A parser word covers every run position (token, or word at word level) whose span
    overlaps its own; parser words that share a position are merged into one *unit*
    (e.g. spaCy's "do" + "n't" when the model reads "don't" as one token).

    unit_of_word:  unit index of each parser word; -1 if no position overlaps it
                   (the word was cut off by truncation, or the model dropped it)
    membership:    bool [units, run positions]: the positions of each unit
    usable:        bool [run positions]: not a special token and not empty
    units, positions, unaligned (properties): the same as lists, see below
    """

    unit_of_word: np.ndarray
    membership: np.ndarray
    usable: np.ndarray

    @property
    def n_units(self) -> int:
        return self.membership.shape[0]

    @functools.cached_property
    def units(self) -> list[list[int]]:
        """Parser word indexes of each unit, in reading order."""
        out: list[list[int]] = [[] for _ in range(self.n_units)]
        for w, u in enumerate(self.unit_of_word.tolist()):
            if u >= 0:
                out[u].append(w)
        return out

    @functools.cached_property
    def positions(self) -> list[list[int]]:
        """Run positions of each unit (never special tokens)."""
        return [np.flatnonzero(row).tolist() for row in self.membership]

    @property
    def unaligned(self) -> list[int]:
        """Non-special run positions that overlap no parser word."""
        return np.flatnonzero(self.usable & ~self.membership.any(axis=0)).tolist()

    @property
    def merged(self) -> bool:
        """True when some unit holds more than one parser word."""
        return int((self.unit_of_word >= 0).sum()) > self.n_units

    def attention(self, attention: np.ndarray) -> np.ndarray:
        """[..., P, P] run attention -> [..., U, U] unit attention (to = sum, from = mean; ``words.pool``).

        Special tokens and unaligned positions are left out (rows are not renormalised,
        so a value is the share of the unit's whole attention that goes to the other unit).
        """
        return pool(attention, self.membership.astype(np.float64 if attention.dtype == np.float64 else np.float32))


def _spans(words) -> np.ndarray:
    if isinstance(words, Sentence):
        return np.asarray(words.offsets, dtype=np.int64).reshape(-1, 2)
    if isinstance(words, np.ndarray):
        return words.astype(np.int64, copy=False).reshape(-1, 2)
    items = list(words)
    if items and hasattr(items[0], "idx") and hasattr(items[0], "text"):  # spaCy tokens (a Doc or Span)
        return np.asarray([(t.idx, t.idx + len(t.text)) for t in items], dtype=np.int64).reshape(-1, 2)
    return np.asarray(items, dtype=np.int64).reshape(-1, 2)


def align(words, run) -> Alignment:
    """Line up parser words with ``run``'s positions by character offsets.

    ``words``: a Sentence (its offsets into its text), spaCy tokens (a Doc), or a list of
    (start, end) spans. The offsets must refer to ``run.text``. ``run`` may be token-level
    (exact merging) or word-level. See ``Alignment``.
    """
    spans = _spans(words)
    if isinstance(words, Sentence) and words.text != run.text:
        if run.text == " ".join(words.words):  # captured from the word list: spans in the joined text
            spans = joined_spans(words.words)
        else:
            raise ValueError(
                "the run and the parsed sentence are of different texts: capture the sentence's text "
                f"(run: {run.text[:60]!r}, sentence: {words.text[:60]!r})"
            )
    return align_spans(spans, run.offsets, run.special)


def align_spans(spans, offsets, special) -> Alignment:
    """``align`` on plain arrays: word spans [W, 2], token offsets [T, 2] and special flags [T],
    all character positions in one text."""
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    usable = ~np.asarray(special, dtype=bool) & (offsets[:, 1] > offsets[:, 0])
    overlap = (
        (offsets[None, :, 0] < spans[:, None, 1]) & (offsets[None, :, 1] > spans[:, None, 0]) & usable[None, :]
    )  # [words, positions]
    present = overlap.any(axis=1)
    kept = np.flatnonzero(present)
    unit_of_word = np.full(len(spans), -1, dtype=np.int64)
    # consecutive present words that share a position belong to one unit
    shared = (overlap[kept[:-1]] & overlap[kept[1:]]).any(axis=1)
    if not shared.any():  # the usual case: one unit per word
        unit_of_word[kept] = np.arange(len(kept))
        return Alignment(unit_of_word, overlap[kept], usable)
    unit_ids = np.concatenate([[0], np.cumsum(~shared)])
    unit_of_word[kept] = unit_ids
    membership = np.zeros((int(unit_ids[-1]) + 1, len(offsets)), dtype=bool)
    np.logical_or.at(membership, unit_ids, overlap[kept])
    return Alignment(unit_of_word, membership, usable)


def align_rows(spans: list, offsets: list, special: list) -> list[Alignment]:
    """``align_spans`` of many rows at once (a corpus batch: each row's word spans, token offsets and special flags):
    one comparison over the padded rows. A row where a word has no position, or two words share one, is aligned
    by ``align_spans`` itself; every other row's alignment is its slice of the batch's overlap (the same arrays
    ``align_spans`` gives, a quarter of its time per sentence over UD EWT dev)."""
    n_words = np.fromiter(map(len, spans), dtype=np.int64, count=len(spans))
    n_positions = np.fromiter(map(len, offsets), dtype=np.int64, count=len(offsets))
    if not spans or not n_words.max() or not n_positions.max():
        return [align_spans(s, o, x) for s, o, x in zip(spans, offsets, special)]
    rows = len(spans)
    # the rows' values flattened, then put in their padded places at once (a loop of array copies per row took
    # three times as long: UD EWT dev, batches of 32)
    words_in = np.arange(n_words.max()) < n_words[:, None]  # [rows, words]: a real word
    positions_in = np.arange(n_positions.max()) < n_positions[:, None]  # [rows, positions]: a real position
    word_span = np.full((rows, words_in.shape[1], 2), -1, dtype=np.int64)  # padding words overlap nothing
    word_span[words_in] = np.concatenate([np.asarray(s, dtype=np.int64).reshape(-1, 2) for s in spans])
    position = np.zeros((rows, positions_in.shape[1], 2), dtype=np.int64)
    position[positions_in] = np.fromiter(chain.from_iterable(chain.from_iterable(offsets)), dtype=np.int64,
                                         count=2 * int(n_positions.sum())).reshape(-1, 2)
    usable = np.zeros(positions_in.shape, dtype=bool)
    usable[positions_in] = ~np.fromiter(chain.from_iterable(special), dtype=bool, count=int(n_positions.sum()))
    usable &= position[..., 1] > position[..., 0]
    overlap = ((position[:, None, :, 0] < word_span[:, :, None, 1]) & (position[:, None, :, 1] > word_span[:, :, None, 0])
               & usable[:, None, :])  # [rows, words, positions]
    present = overlap.any(axis=2)
    shared = (overlap[:, :-1] & overlap[:, 1:]).any(axis=2)  # consecutive words sharing a position
    simple = (present | ~words_in).all(axis=1) & ~shared.any(axis=1)  # one unit per word, in order
    out = []
    for row, (w, t) in enumerate(zip(n_words.tolist(), n_positions.tolist())):
        if simple[row]:
            out.append(Alignment(np.arange(w, dtype=np.int64), overlap[row, :w, :t], usable[row, :t]))
        else:
            out.append(align_spans(spans[row], offsets[row], special[row]))
    return out
