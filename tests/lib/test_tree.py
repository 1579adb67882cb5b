"""A dependency tree's validation: self-heads, cycles and roots are refused (bug: only out-of-range numbers were)."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz.tree import Sentence, joined_spans, joined_starts

WORDS = ["heavy", "snow", "makes", "driving"]


def sentence(heads: list[int]) -> Sentence:
    return Sentence(words=WORDS, syntactic_heads=heads, relations=["dep"] * len(heads))


def test_a_good_tree_has_no_problems():
    good = sentence([1, 2, -1, 2])
    assert good.problems(single_root=True) == [] and good.validate(single_root=True) is good


@pytest.mark.parametrize("heads, words", [
    ([1, 1, -1, 2], "own head"),            # snow headed by itself
    ([1, 2, 1, 2], "no word is the root"),  # a cycle and no root
    ([1, 2, 3, 2], "cycle"),                # makes <-> driving
    ([1, 2, -1, -1], "2 words are roots"),  # two roots, in one sentence
])
def test_broken_trees_are_refused(heads, words):
    broken = sentence(heads)
    assert any(words in p for p in broken.problems(single_root=True)), broken.problems(single_root=True)
    with pytest.raises(ValueError, match=words):
        broken.validate(single_root=True)


def test_several_roots_are_fine_for_a_parse_of_several_sentences():
    two = sentence([1, -1, -1, 2])
    assert two.problems() == []
    assert two.problems(single_root=True)


def test_a_cycle_is_named_once_with_its_words():
    assert sentence([1, 2, 3, 2]).problems() == ["no word is the root (head 0)", "a cycle: #3 → #4 → #3"]


@pytest.mark.parametrize("words", [["heavy", "snow", "makes"], ["one"], [], ["a", "", "b"], ("tuple", "of", "words")])
def test_joined_starts_and_spans_point_at_each_word_in_the_joined_text(words):
    """Word lists (CoNLL-U) are read as their words joined by spaces; each word's span is where it is in that text."""
    text = " ".join(words)
    starts, spans = joined_starts(words), joined_spans(words)
    assert spans.shape == (len(words), 2) and spans.dtype == np.int64
    assert starts == spans[:, 0].tolist() and all(type(s) is int for s in starts)
    assert [text[a:b] for a, b in spans.tolist()] == list(words)
