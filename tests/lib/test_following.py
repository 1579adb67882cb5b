"""attnviz.ud_relations (spaCy's scheme in UD terms) and attnviz.following (credited heads met on one sentence)."""

import numpy as np
import pytest

import attnviz
from attnviz.evidence import shipped_scores
from attnviz.following import followed_arcs
from attnviz.head_scores import Credit
from attnviz.sentence_scores import sentence_hits
from attnviz.tree import Sentence
from attnviz.ud_relations import links_words, to_ud
from components.state import DEFAULT_TEXT


def tree(words, heads, relations, pos):
    """A Sentence from 1-based heads (0 = root), as written in CoNLL-U."""
    return Sentence(words.split(), [h - 1 for h in heads], relations.split(), pos=pos.split())


def arcs(sentence):
    return {(sentence.words[d], sentence.words[h], r) for d, h, r in sentence.arcs}


def test_a_prepositional_phrase_is_headed_by_its_noun_as_in_ud():
    # ClearNLP: went -prep-> to -pobj-> school ; UD: went -obl-> school -case-> to
    s = tree("She went to the school", [2, 0, 2, 5, 3], "nsubj root prep det pobj", "PRON VERB ADP DET NOUN")
    ud = to_ud(s)
    assert arcs(ud) == {("She", "went", "nsubj"), ("school", "went", "obl"), ("to", "school", "case"), ("the", "school", "det")}
    assert ud.meta["spacy_relations"] == s.relations and ud.problems() == []


def test_a_phrase_on_a_noun_is_nmod_and_the_prepositions_other_dependents_move_to_the_noun():
    s = tree("keys right to the cabinet", [0, 3, 1, 5, 3], "root advmod prep det pobj", "NOUN ADV ADP DET NOUN")
    assert arcs(to_ud(s)) == {("cabinet", "keys", "nmod"), ("to", "cabinet", "case"), ("the", "cabinet", "det"),
                              ("right", "cabinet", "advmod")}


def test_a_copular_clause_is_headed_by_its_predicate():
    s = tree("The sky is blue", [2, 3, 0, 3], "det nsubj root acomp", "DET NOUN AUX ADJ")
    assert arcs(to_ud(s)) == {("The", "sky", "det"), ("sky", "blue", "nsubj"), ("is", "blue", "cop")}
    assert to_ud(s).relations[3] == "root"


def test_labels_are_renamed_and_a_label_without_counterpart_becomes_dep():
    s = tree("he ate it oh", [2, 0, 2, 2], "nsubj root dobj weirdlabel", "PRON VERB PRON INTJ")
    assert to_ud(s).relations == ["nsubj", "root", "obj", "dep"]


def test_one_word_or_only_punctuation_links_no_words():
    assert not links_words(tree("snow", [0], "root", "NOUN"))
    assert not links_words(tree("! ! !", [0, 1, 1], "root punct punct", "PUNCT PUNCT PUNCT"))
    assert links_words(tree("snow falls", [2, 0], "nsubj root", "NOUN VERB"))


def test_a_stranded_preposition_is_dep_not_case():
    s = tree("what she looked at", [3, 3, 0, 3], "dobj nsubj root prep", "PRON PRON VERB ADP")
    assert to_ud(s).relations == ["obj", "nsubj", "root", "dep"]


@pytest.fixture(scope="module")
def default_sentence(minilm):
    """The first screen: the default sentence, its hand-checked UD tree, its run and hits."""
    words = DEFAULT_TEXT.split()
    assert words == ["heavy", "snow", "often", "keeps", "the", "children", "in", "the", "house"]
    ud = tree(DEFAULT_TEXT, [2, 4, 4, 0, 6, 4, 9, 9, 6], "amod nsubj advmod root det obj case det nmod",
              "ADJ NOUN ADV VERB DET NOUN ADP DET NOUN")  # "in the house" read on "children" (nmod), one of its readings
    run = attnviz.capture(minilm, DEFAULT_TEXT)
    return ud, run, sentence_hits(run, ud)


def recount(run, sentence, layer, head, looker):
    """The word the looker attends to most in that head, written out: token rows averaged, columns summed."""
    tokens_of = [[t for t, (a, b) in enumerate(run.offsets) if not run.special[t] and a < end and b > start]
                 for start, end in sentence.offsets]
    att = np.asarray(run.attention[layer, head], dtype=np.float64)
    row = att[tokens_of[looker]].mean(axis=0)
    scores = [row[toks].sum() if i != looker else -np.inf for i, toks in enumerate(tokens_of)]
    return int(np.argmax(scores))


def test_the_default_sentence_shows_three_different_heads_each_on_its_own_relation(default_sentence):
    ud, run, hits = default_sentence
    followed = followed_arcs(run, hits, shipped_scores(attnviz.DEFAULT_MODEL).credits())
    # one card per credited relation, in the order of the sentence; 3-2 is credited with advmod and nmod
    assert [(f.credit.label, f.relation) for f in followed] == [("3-2", "advmod"), ("3-1", "obj"), ("2-8", "case"), ("3-2", "nmod")]
    assert all(f.credit.passes and f.credit.accuracy >= f.credit.baseline_accuracy + 0.10 for f in followed)
    for f in followed:  # hit or miss = the looking word's most-attended other word, recounted from the run
        predicted = recount(run, ud, f.credit.layer, f.credit.head, f.looker)
        assert f.predicted == predicted and f.hit == (predicted == f.target)
        assert {f.looker, f.target} == {f.dependent, f.syntactic_head}
        assert (f.looker == f.dependent) == (f.credit.direction == 0)
        assert len(f.links) == len(ud.words) and all(q != k for q, k, _ in f.links)


def test_only_credits_that_pass_voitas_flag_are_shown(default_sentence):
    _, run, hits = default_sentence
    failing = Credit("obj", 2, 0, 0, accuracy=0.40, beyond=0.70, arcs=100, hard_arcs=80, baseline_offset=-2,
                     baseline_accuracy=0.35, passes=False)
    assert followed_arcs(run, hits, [failing]) == []
    passing = Credit(**{**failing.__dict__, "passes": True})
    assert [f.relation for f in followed_arcs(run, hits, [passing])] == ["obj"]
    second = Credit(**{**passing.__dict__, "rank": 2, "layer": 0})
    assert [f.credit.layer for f in followed_arcs(run, hits, [second, passing])] == [2]  # only the best head is shown


def test_the_card_data_carries_words_as_plain_text(minilm):
    s = tree("<img saw the dog", [2, 0, 4, 2], "nsubj root det obj", "PROPN VERB DET NOUN")
    run = attnviz.capture(minilm, s.text)
    credit = Credit("obj", 2, 0, 0, 0.74, 0.70, 1211, 778, -2, 0.36, True)
    (f,) = followed_arcs(run, sentence_hits(run, s), [credit])
    data = f.as_data(s, "caption <b>")
    assert data["words"] == ["<img", "saw", "the", "dog"] and data["caption"] == "caption <b>"
    assert data["parse"] == [[0, 1], [2, 3], [3, 1]] and data["key"] == "3-1" and (data["layer"], data["head"]) == (3, 1)


def test_a_card_of_a_long_text_carries_only_a_window_around_its_arc(minilm):
    words = ("the farmer who lived near the old river often sold his three brown horses to a young woman "
             "from the next village in the hills").split()
    tail = len(words) - 1  # "hills", made the object of "sold" (9): an arc far from the start of the text
    heads = [1] + [8] * (len(words) - 2) + [9]
    heads[8] = -1  # "often" heads every other word: one tree
    relations = ["det"] + ["dep"] * 7 + ["root"] + ["dep"] * (len(words) - 10) + ["obj"]
    s = Sentence(words=words, syntactic_heads=heads, relations=relations)
    run = attnviz.capture(minilm, s.text)
    credit = Credit("obj", 2, 0, 0, 0.74, 0.70, 1211, 778, -2, 0.36, True)
    (f,) = followed_arcs(run, sentence_hits(run, s), [credit])
    assert (f.dependent, f.syntactic_head) == (tail, 9)
    data = f.as_data(s, "")
    first, end = f.window(len(words))
    assert len(words) > 16 and data["words"] == words[first:end] and first > 0 and data["cut_left"]
    assert data["words"][data["dependent"]] == "hills" and data["words"][data["head_word"]] == words[9]
    assert all(0 <= q < len(data["words"]) and 0 <= k < len(data["words"]) for q, k, _ in data["links"])
    assert all(0 <= d < len(data["words"]) and 0 <= h < len(data["words"]) for d, h in data["parse"])
