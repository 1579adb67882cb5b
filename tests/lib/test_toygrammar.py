"""The toy grammar: English sentences with agreement, each with its UD dependency tree."""

import random
from collections import Counter

import pytest

from attnviz.local.tokenizer import UNK, WordTokenizer
from attnviz.toygrammar import grammar, lexicon
from attnviz.toygrammar.grammar import NP, RC, Clause, build
from attnviz.tree import Sentence

ISSUE_EXAMPLES = ("the heavy snow makes the driving more difficult", "the dogs that the cat sees run fast")


@pytest.fixture(scope="module")
def corpus() -> list[Sentence]:
    return grammar.generate_corpus(2000, seed=11)


def tree(sentence: Sentence) -> list[tuple[str, str, str]]:
    """(dependent, relation, head word) per word; the root's head is "ROOT"."""
    return [
        (w, r, "ROOT" if h < 0 else sentence.words[h])
        for w, h, r in zip(sentence.words, sentence.syntactic_heads, sentence.relations)
    ]


def test_examples_include_the_issue_sentences_and_are_in_the_vocabulary():
    examples = grammar.examples()
    assert list(examples[:2]) == list(ISSUE_EXAMPLES)
    assert len(examples) >= 5
    vocab = set(lexicon.vocabulary())
    for text in examples:
        assert set(text.split()) <= vocab, text


def test_issue_example_trees_are_ud():
    snow, dogs = grammar.example_sentences()[:2]
    assert tree(snow) == [
        ("the", "det", "snow"), ("heavy", "amod", "snow"), ("snow", "nsubj", "makes"), ("makes", "root", "ROOT"),
        ("the", "det", "driving"), ("driving", "obj", "makes"), ("more", "advmod", "difficult"),
        ("difficult", "xcomp", "makes"),
    ]
    assert tree(dogs) == [
        ("the", "det", "dogs"), ("dogs", "nsubj", "run"), ("that", "obj", "sees"), ("the", "det", "cat"),
        ("cat", "nsubj", "sees"), ("sees", "acl:relcl", "dogs"), ("run", "root", "ROOT"), ("fast", "advmod", "run"),
    ]
    assert dogs.pos == ["DET", "NOUN", "PRON", "DET", "NOUN", "VERB", "VERB", "ADV"]
    # run agrees with dogs across "cat" (an attractor); sees agrees with cat
    assert dogs.meta["agreement"] == [(5, 4, "verb"), (6, 1, "verb")]
    assert dogs.meta["attractor"] == [False, True]


def test_a_prepositional_phrase_on_the_subject_and_on_the_verb():
    s = build(Clause(NP("kings", pp=("with", NP("dog", "a", ("small",)))), "walk", adverb="slowly",
                     obl=("in", NP("park"))))
    assert s.text == "the kings with a small dog walk slowly in the park"
    assert tree(s) == [
        ("the", "det", "kings"), ("kings", "nsubj", "walk"), ("with", "case", "dog"), ("a", "det", "dog"),
        ("small", "amod", "dog"), ("dog", "nmod", "kings"), ("walk", "root", "ROOT"), ("slowly", "advmod", "walk"),
        ("in", "case", "park"), ("the", "det", "park"), ("park", "obl", "walk"),
    ]
    assert s.meta["agreement"] == [(3, 5, "det"), (6, 1, "verb")]
    assert s.meta["attractor"] == [False, True]


def test_the_same_seed_gives_the_same_corpus():
    a, b = grammar.generate_corpus(50, seed=3), grammar.generate_corpus(50, seed=3)
    assert [s.words for s in a] == [s.words for s in b]
    assert [s.syntactic_heads for s in a] == [s.syntactic_heads for s in b]
    assert [s.words for s in a] != [s.words for s in grammar.generate_corpus(50, seed=4)]
    assert a[0].sent_id == "toy-3-1"
    assert grammar.generate_corpus(0) == []
    with pytest.raises(ValueError):
        grammar.generate_corpus(-1)


def test_every_tree_is_a_well_formed_ud_tree(corpus):
    vocab = set(lexicon.vocabulary())
    for s in corpus:
        assert set(s.words) <= vocab
        assert s.text == " ".join(s.words)
        assert s.syntactic_heads.count(-1) == 1 and s.relations[s.syntactic_heads.index(-1)] == "root"
        assert set(s.relations) <= set(grammar.RELATIONS), s.relations
        for i in range(len(s)):  # every word reaches the root without a cycle
            seen, j = set(), i
            while s.syntactic_heads[j] != -1:
                assert j not in seen, (s.text, s.syntactic_heads)
                seen.add(j)
                j = s.syntactic_heads[j]
        for d, h, rel in s.arcs:
            if rel in ("det", "amod", "case"):
                assert h > d  # before their noun
            if rel in ("det", "amod", "nsubj", "obj", "nmod", "obl"):
                assert s.pos[h if rel in ("det", "amod") else d] in ("NOUN", "PRON")
            if rel == "nsubj":
                assert s.pos[h] == "VERB" and s.pos[d] == "NOUN"


def test_verbs_and_determiners_agree_in_number(corpus):
    items = Counter()
    for s in corpus:
        number = s.meta["number"]
        verbs = [i for i, p in enumerate(s.pos) if p == "VERB"]
        assert sorted(t for t, _, k in s.meta["agreement"] if k == "verb") == verbs
        for target, controller, kind in s.meta["agreement"]:
            items[kind] += 1
            assert number[target] == number[controller] == lexicon.number_of(s.words[controller])
            if kind == "verb":
                assert s.syntactic_heads[controller] == target and s.relations[controller] == "nsubj"
            else:
                assert s.syntactic_heads[target] == controller and s.relations[target] == "det"
        for d, h, rel in s.arcs:
            if rel == "det" and s.words[d] != "the":
                assert (d, h, "det") in s.meta["agreement"]
    assert items["verb"] > 2000 and items["det"] > 1000


def test_the_corpus_has_every_relation_and_agreement_across_other_nouns(corpus):
    relations = Counter(r for s in corpus for r in s.relations)
    assert set(relations) == set(grammar.RELATIONS)
    crossing = [
        (s, t, c) for s in corpus for (t, c, k), a in zip(s.meta["agreement"], s.meta["attractor"]) if k == "verb" and a
    ]
    assert len(crossing) > 300  # verbs whose subject is separated from them by a noun of the other number
    across_relcl = [1 for s, t, c in crossing if "acl:relcl" in s.relations[c + 1 : t]]
    across_pp = [1 for s, t, c in crossing if "nmod" in s.relations[c + 1 : t]]
    assert len(across_relcl) > 100 and len(across_pp) > 100
    # both numbers, both for subjects and for the nouns in between
    assert Counter(s.meta["number"][c] for s, t, c in crossing).keys() == {"Sing", "Plur"}


def test_train_and_test_splits_are_disjoint():
    test = grammar.generate_corpus(300, seed=5, split="test")
    train = grammar.generate_corpus(3000, seed=5, split="train")
    assert all(grammar.in_split(s.words, "test") for s in test)
    assert not {s.text for s in test} & {s.text for s in train}
    with pytest.raises(ValueError, match="split"):
        grammar.in_split(["the", "dog", "runs"], "dev")


def test_the_sampler_can_make_the_examples():
    """Every choice in the examples is one the random sampler can make (same lexicon classes)."""
    sampled_words = set()
    rng = random.Random(0)
    for _ in range(5000):
        sampled_words.update(build(grammar.sample_clause(rng)).words)
    assert sampled_words == set(lexicon.vocabulary())


def test_vocabulary_works_with_the_word_tokenizer():
    vocab = lexicon.vocabulary()
    assert len(vocab) == len(set(vocab)) and 100 <= len(vocab) <= 200
    tok = WordTokenizer(vocab=vocab)
    enc = tok.encode("The dogs that the cat sees run to Paris")
    assert enc.unknown == ["to", "Paris"]
    assert enc.ids.count(UNK) == 2
    assert lexicon.OTHER_NUMBER["sees"] == "see" and lexicon.OTHER_NUMBER["these"] == "this"
    assert lexicon.number_of("children") == "Plur" and lexicon.number_of("snow") == "Sing"
    assert lexicon.number_of("the") is None


def test_relative_clause_builder_marks_that_as_the_object():
    s = build(Clause(NP("cat", "every", rc=RC(NP("dogs", None), "chase")), "sleeps"))
    assert s.text == "every cat that dogs chase sleeps"
    assert tree(s)[2:5] == [("that", "obj", "chase"), ("dogs", "nsubj", "chase"), ("chase", "acl:relcl", "cat")]


def test_fronted_pp_and_a_relative_clause_with_its_own_pp_and_adverb():
    s = build(Clause(
        NP("teacher", rc=RC(NP("dog", pp=("near", NP("birds"))), "sees", adverb="often")), "sings",
        fronted=("in", NP("park")),
    ))
    assert s.text == "in the park the teacher that the dog near the birds often sees sings"
    assert tree(s) == [
        ("in", "case", "park"), ("the", "det", "park"), ("park", "obl", "sings"), ("the", "det", "teacher"),
        ("teacher", "nsubj", "sings"), ("that", "obj", "sees"), ("the", "det", "dog"), ("dog", "nsubj", "sees"),
        ("near", "case", "birds"), ("the", "det", "birds"), ("birds", "nmod", "dog"), ("often", "advmod", "sees"),
        ("sees", "acl:relcl", "teacher"), ("sings", "root", "ROOT"),
    ]
    assert s.meta["agreement"] == [(12, 7, "verb"), (13, 4, "verb")]
    assert s.meta["attractor"] == [True, True]  # both verbs cross the plural "birds"
    assert [grammar.nsubj_kind(s, i) for i in (4, 7)] == ["across-relcl", "in-relcl"]


def test_nsubj_kinds_as_subtypes(corpus):
    labelled = grammar.with_nsubj_kinds(corpus[:300])
    kinds = Counter(r for s in labelled for r in s.relations if r.startswith("nsubj"))
    assert set(kinds) == {f"nsubj:{k}" for k in grammar.NSUBJ_KINDS}
    assert sum(kinds.values()) == sum(s.relations.count("nsubj") for s in corpus[:300])
    assert [s.syntactic_heads for s in labelled] == [s.syntactic_heads for s in corpus[:300]]
    assert corpus[0].relations.count("nsubj") >= 1  # the originals are left as they were


def test_numbers_of_nouns_are_independent(corpus):
    """No noun's number predicts another's: agreement can only be learnt from the subject itself."""
    pairs = Counter()
    for s in corpus:
        for (_t, c, kind), attractor in zip(s.meta["agreement"], s.meta["attractor"]):
            if kind == "verb" and grammar.nsubj_kind(s, c) in ("across-relcl", "across-pp"):
                pairs[attractor] += 1
    share = pairs[True] / (pairs[True] + pairs[False])
    assert 0.4 < share < 0.6
