"""The batched corpus scorer against a plain per-sentence reference (tests/helpers/scoring_reference.py).

``attnviz.scoring.score_heads`` runs the model in padded batches and merges tokens into
words with batched tensor products. The reference scores the same sentences a second way,
one sentence at a time with plain loops and numpy, following Clark et al. (2019)
directly and deliberately NOT using attnviz's merge (``attnviz.words``) or alignment
(``attnviz.syntax.align`` / ``_joined_spans``) code:

* the model reads the sentence's words: ``attnviz.capture(model, sentence.words)``, whose
  text is the words joined by single spaces;
* a token belongs to the word whose characters its offsets overlap in that text
  (special tokens and empty tokens belong to no word);
* attention to a word is the sum over its tokens, attention from a word the mean over
  its tokens; a word's prediction is the other word (not itself, not a special token)
  it attends to most, the first one on a tie;
* an arc (dependent, head, relation) counts when both ends are in the model's input as
  different words; it is a dependent->head hit when the dependent predicts its head and
  a head->dependent hit when the head predicts the dependent; relation subtypes are
  stripped (``base_relation``) as ``score_heads`` does by default.

The beyond-position figures are recounted from the same per-arc predictions: per relation,
the baseline offset k* (the most frequent offset in -3..3 except 0, ties to the nearer one,
-1 first), the hard arcs (head not at k*), their hits per head and direction, and the credited
head (the most hard hits, ties to the lower layer, head, then dependent->head) with Voita's flag
in exact fractions (``beyond_reference``).

Counts and hits must be exactly equal per relation, layer, head and direction. Both data
sets are part of the repository (the built-in sample, parsed by spaCy; the toy grammar's
held-out corpus with the committed checkpoint), so this runs on every clone, with or
without ../shared.

The sample with MiniLM has words made of several word pieces; there "to a word = sum"
decides predictions, and the test checks that summing and averaging the pieces really
give different scores on this data, so that swapping sum and mean in the batched path
cannot pass. ("From a word = mean" scales a whole row by a constant, so it never changes
which word is most attended; no prediction-based score can tell it from a sum.)
"""

from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.errors import ParserUnavailableError
from attnviz.parsing import load_sample
from attnviz.scoring import score_heads
from attnviz.toygrammar.grammar import held_out_corpus
from tests.helpers.scoring_reference import assert_beyond_equal_to_reference, assert_equal_to_reference, reference_scores


@pytest.fixture(scope="module")
def sample_sentences():
    try:
        return load_sample()
    except ParserUnavailableError as exc:
        pytest.skip(f"the built-in sample needs a spaCy English parser: {exc}")


@pytest.mark.slow
def test_batched_scores_of_the_sample_with_minilm_equal_the_reference(minilm, sample_sentences):
    scores = score_heads(minilm, sample_sentences)
    runs: dict = {}
    ref = reference_scores(minilm, sample_sentences, runs=runs)
    assert ref["multi_piece"] >= 5, "the sample must have words of several word pieces, or sum vs mean is untested"
    assert scores.n_arcs > 500 and scores.hits.sum() > 0
    assert_equal_to_reference(scores, ref)
    beyond = assert_beyond_equal_to_reference(scores, ref, min_hard=20)  # the sample is small: 20 hard arcs
    assert sum(c is not None for c in beyond["credit"].values()) >= 3 and 0 < scores.hard_counts.sum() < scores.n_arcs
    # The data can tell "to a word = sum of its pieces" from "= mean": scores built with the
    # mean differ from the batched ones, so a batched path that averaged would fail above.
    mean_ref = reference_scores(minilm, sample_sentences, to="mean", runs=runs)
    assert any(not np.array_equal(ref["hits"][rel], mean_ref["hits"][rel]) for rel in ref["hits"])


@pytest.mark.slow
def test_batched_scores_of_the_toy_corpus_with_the_trained_model_equal_the_reference():
    model = attnviz.load_model("local-trained")
    sentences = held_out_corpus(200)
    scores = score_heads(model, sentences)
    ref = reference_scores(model, sentences)
    assert scores.n_sentences == 200 and scores.n_arcs > 500 and scores.hits.sum() > 0
    assert_equal_to_reference(scores, ref)
    beyond = assert_beyond_equal_to_reference(scores, ref)
    # the grammar's determiners and subjects: found by their heads beyond position (see test_head_scores.py)
    assert beyond["credit"]["det"][:2] == (2, 0) and beyond["credit"]["nsubj"][:2] == (2, 1)
