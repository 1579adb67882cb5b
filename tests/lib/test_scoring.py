"""attnviz.scoring, attnviz.sentence_scores and attnviz.head_scores: scoring heads against dependency relations
(Clark et al. 2019), over a corpus and for one sentence, and the command line (attnviz.cli)."""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import attnviz
from attnviz import scoring
from attnviz.conllu_io import read_conllu
from attnviz.head_scores import DIRECTIONS, OFFSETS, TABLE_COLUMNS
from attnviz.labels import head_label
from attnviz.parsing import load_parser, parse
from attnviz.run import Run, Side
from attnviz.scoring import score_heads, scores_from_attention
from attnviz.sentence_scores import best_heads, best_heads_for_sentence, relations_table, sentence_hits, sentence_relations
from attnviz.toygrammar.grammar import held_out_corpus
from attnviz.tree import Sentence
from tests.helpers.paths import FIXTURES, ROOT

TINY = FIXTURES / "tiny.conllu"
D2H, H2D = 0, 1


# ---------------------------------------------------------------- the scoring core on hand-built attention
#
# tiny.conllu, 0-based word indexes:
#   s1  My(0) cat(1) does(2) n't(3) like(4) baths(5) .(6)
#       My->cat nmod:poss, cat->like nsubj, does->like aux, n't->like advmod, baths->like obj, .->like punct
#   s2  The(0) dog(1) chased(2) a(3) red(4) ball(5) .(6)
#       The->dog det, dog->chased nsubj, a->ball det, red->ball amod, ball->chased obj, .->chased punct
#   s3  Birds(0) sing(1) .(2)
#       Birds->sing nsubj, .->sing punct
#
# One layer, two heads. Every word attends most to itself (0.9, which must be ignored),
# then to one "target" word (0.5), a little (0.01) to the rest.
#   head 1-1: target = the word's syntactic head; the roots look at word 0; but both
#             objects (baths, ball) look at word 0 too (wrong).
#   head 1-2: target = the next word; the last word looks at the word before it.
TARGETS_11 = [[1, 4, 4, 4, 0, 0, 4], [1, 2, 0, 5, 5, 0, 2], [1, 0, 1]]
TARGETS_12 = [[1, 2, 3, 4, 5, 6, 5], [1, 2, 3, 4, 5, 6, 5], [1, 2, 1]]


def hand_attention(targets_per_head):
    n = len(targets_per_head[0])
    att = np.full((1, len(targets_per_head), n, n), 0.01, dtype=np.float32)
    for h, targets in enumerate(targets_per_head):
        att[0, h, np.arange(n), targets] = 0.5
        att[0, h, np.arange(n), np.arange(n)] = 0.9
    return att


@pytest.fixture(scope="module")
def tiny():
    return read_conllu(TINY)


@pytest.fixture(scope="module")
def hand_scores(tiny):
    atts = [hand_attention([t11, t12]) for t11, t12 in zip(TARGETS_11, TARGETS_12)]
    return scores_from_attention(atts, tiny)


def test_relations_counted_and_ordered(hand_scores):
    # most frequent first, then by name; nmod:poss counted as nmod; root arcs are not arcs
    assert hand_scores.relations == ["nsubj", "punct", "det", "obj", "advmod", "amod", "aux", "nmod"]
    assert hand_scores.counts.tolist() == [3, 3, 2, 2, 1, 1, 1, 1]
    assert hand_scores.n_arcs == 14 and hand_scores.n_sentences == 3 and hand_scores.n_words == 17
    assert hand_scores.hits.shape == (8, 1, 2, 2) and hand_scores.baseline_hits.shape == (8, 6)


def test_per_relation_accuracy_both_directions(hand_scores):
    acc = {r: hand_scores.accuracy[i, 0] for i, r in enumerate(hand_scores.relations)}  # [heads, directions]
    # head 1-1, dependent->head: every arc but the two objects
    assert {r: a[0, D2H] for r, a in acc.items()} == {
        "nsubj": 1, "punct": 1, "det": 1, "obj": 0, "advmod": 1, "amod": 1, "aux": 1, "nmod": 1}
    # head 1-1, head->dependent: only "sing" (a root) looking at "Birds" is a hit
    assert {r: a[0, H2D] for r, a in acc.items()} == {
        "nsubj": pytest.approx(1 / 3), "punct": 0, "det": 0, "obj": 0, "advmod": 0, "amod": 0, "aux": 0, "nmod": 0}
    # head 1-2 (next word), dependent->head: My->cat, n't->like, The->dog, dog->chased, red->ball, Birds->sing, .->sing
    assert {r: a[1, D2H] for r, a in acc.items()} == {
        "nsubj": pytest.approx(2 / 3), "punct": pytest.approx(1 / 3), "det": 0.5, "obj": 0, "advmod": 1, "amod": 1,
        "aux": 0, "nmod": 1}
    # head 1-2, head->dependent: like->baths (obj), sing->. (punct)
    assert {r: a[1, H2D] for r, a in acc.items()} == {
        "nsubj": 0, "punct": pytest.approx(1 / 3), "det": 0, "obj": 0.5, "advmod": 0, "amod": 0, "aux": 0, "nmod": 0}


def test_baseline_is_the_best_fixed_offset(hand_scores):
    offset, accuracy = hand_scores.best_baseline()
    got = {r: (int(o), float(a)) for r, o, a in zip(hand_scores.relations, offset, accuracy)}
    assert got == {
        "nsubj": (1, pytest.approx(2 / 3)),  # cat +3, dog +1, Birds +1
        "punct": (-1, pytest.approx(1 / 3)),  # -2, -4 (out of range), -1: tie -> the nearer offset
        "det": (1, 0.5),  # The +1, a +2: tie -> +1
        "obj": (-1, 0.5),  # baths -1, ball -3: tie -> -1
        "advmod": (1, 1.0), "amod": (1, 1.0), "aux": (2, 1.0), "nmod": (1, 1.0),
    }
    nsubj = hand_scores.baseline[0]
    assert dict(zip(OFFSETS, nsubj.tolist())) == {-3: 0, -2: 0, -1: 0, 1: pytest.approx(2 / 3), 2: 0, 3: pytest.approx(1 / 3)}


def test_table(hand_scores):
    table = hand_scores.table()
    assert list(table.columns) == TABLE_COLUMNS
    rows = {r["relation"]: {k: v for k, v in r.items() if k in TABLE_COLUMNS[:7]} for r in table.to_dict("records")}
    assert rows["nsubj"] == {"relation": "nsubj", "arcs": 3, "best head": "1-1", "direction": "dependent->head",
                             "accuracy": 1.0, "baseline offset": 1, "baseline accuracy": pytest.approx(2 / 3)}
    # the objects: 1-1 misses both; 1-2 finds one, from the head's side
    assert rows["obj"] == {"relation": "obj", "arcs": 2, "best head": "1-2", "direction": "head->dependent",
                           "accuracy": 0.5, "baseline offset": -1, "baseline accuracy": 0.5}
    # a tie (1-1 and 1-2 both get nmod right) goes to the lower head
    assert (rows["nmod"]["best head"], rows["nmod"]["direction"]) == ("1-1", "dependent->head")
    assert hand_scores.table(min_count=2)["relation"].tolist() == ["nsubj", "punct", "det", "obj"]


def test_matrix_for_a_heatmap(hand_scores):
    m = hand_scores.matrix()
    assert m.shape == (8, 2) and hand_scores.head_labels == ["1-1", "1-2"]
    np.testing.assert_allclose(m[hand_scores.relations.index("obj")], [0, 0.5])
    np.testing.assert_allclose(hand_scores.matrix("head->dependent")[0], [1 / 3, 0])
    frame = hand_scores.matrix_frame()
    assert frame.loc["nsubj", "1-1"] == 1 and list(frame.columns) == ["1-1", "1-2"]


def test_csv(hand_scores, tmp_path):
    text = hand_scores.to_csv()
    assert text.splitlines()[0] == ",".join(TABLE_COLUMNS)
    hand_scores.to_csv(tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["relation"].tolist() == hand_scores.relations and back["best head"][3] == "1-2"


def test_subtypes_can_be_kept(tiny):
    atts = [hand_attention([t11, t12]) for t11, t12 in zip(TARGETS_11, TARGETS_12)]
    scores = scores_from_attention(atts, tiny, subtypes=True)
    assert "nmod:poss" in scores.relations and "nmod" not in scores.relations


def test_uniform_attention_predicts_the_first_other_word(tiny):
    # the word itself is never predicted, and argmax takes the first maximum
    atts = [np.full((1, 1, len(s), len(s)), 1.0, dtype=np.float32) for s in tiny]
    scores = scores_from_attention(atts, tiny)
    predicted = lambda i: 1 if i == 0 else 0  # noqa: E731
    expected = sum(predicted(d) == h for s in tiny for d, h, _ in s.arcs)
    assert scores.hits[..., D2H].sum() == expected


def test_truncated_attention_skips_missing_words(tiny):
    atts = [hand_attention([t11]) for t11 in TARGETS_11]
    atts[0] = hand_attention([[1, 4, 4, 4, 0]])  # s1 seen up to "like": baths and "." are cut off
    scores = scores_from_attention(atts, tiny)
    assert scores.n_arcs == 12 and scores.n_skipped_arcs == 2


def test_scores_from_attention_checks_shapes(tiny):
    with pytest.raises(ValueError, match="3 sentences"):
        scores_from_attention([], tiny)
    with pytest.raises(ValueError, match="attention over 9 words"):
        scores_from_attention([np.zeros((1, 1, 9, 9))] * 3, tiny)


def test_no_arcs_gives_an_empty_table():
    sentences = [Sentence(["Hi"], [-1], ["root"]), Sentence(["Go", "!"], [-1, 0], ["root", "punct"])]
    atts = [np.ones((1, 2, 1, 1), dtype=np.float32), np.ones((1, 2, 1, 1), dtype=np.float32)]  # "!" cut off
    scores = scores_from_attention(atts, sentences)
    assert scores.relations == [] and scores.n_skipped_arcs == 1
    assert scores.table().empty and list(scores.table().columns) == TABLE_COLUMNS
    assert scores.matrix().shape == (0, 2)


def test_head_label_is_one_based():
    assert head_label(0, 0) == "1-1" and head_label(2, 0) == "3-1" and head_label(5, 11) == "6-12"


# ---------------------------------------------------------------- with a model


def recount_word_level(model, sentences) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Arcs and hits [layers, heads, 2] per relation, recounted by hand for a model that reads one
    token per word (the local word tokenizer): each word's most-attended other word in
    ``attnviz.capture(model, words).attention``, special tokens left out. Independent of attnviz.scoring."""
    counts, hits = {}, {}
    for s in sentences:
        run = attnviz.capture(model, s.words)
        words = ~np.asarray(run.special)
        assert words.sum() == len(s.words), "one token per word"
        att = run.attention[:, :, words][:, :, :, words].astype(np.float64)
        n = len(s.words)
        att[:, :, np.arange(n), np.arange(n)] = -np.inf  # a word never predicts itself
        pred = att.argmax(axis=-1)  # [layers, heads, words]
        for d, h, relation in s.arcs:
            rel = relation.split(":")[0]
            counts[rel] = counts.get(rel, 0) + 1
            x = hits.setdefault(rel, np.zeros(pred.shape[:2] + (2,), dtype=np.int64))
            x[..., D2H] += pred[:, :, d] == h
            x[..., H2D] += pred[:, :, h] == d
    return counts, hits


def test_score_heads_local_model(tiny):
    model = attnviz.load_model(attnviz.LOCAL_MODEL)
    calls = []
    scores = score_heads(model, tiny, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (2, 3), (3, 3)]
    assert scores.hits.shape == (8, model.n_layers, model.n_heads, 2)
    assert scores.n_arcs == 14 and scores.n_skipped_arcs == 0
    assert (scores.hits <= scores.counts[:, None, None, None]).all()  # no head predicts more arcs than exist
    counts, hits = recount_word_level(model, tiny)
    assert dict(zip(scores.relations, scores.counts.tolist())) == counts
    for r, rel in enumerate(scores.relations):
        assert np.array_equal(scores.hits[r], hits[rel]), rel
        assert np.array_equal(scores.accuracy[r], hits[rel] / counts[rel]), rel


@pytest.mark.slow
def test_score_heads_equals_scoring_the_word_view(minilm, ud_dev):
    """The batched path (offsets alignment) agrees with capture -> run.view("word") -> scoring core."""
    sentences = read_conllu(ud_dev, limit=40)
    batched = score_heads(minilm, sentences, batch_size=8)
    views = [attnviz.capture(minilm, s.words).view("word", drop_special=True).attention for s in sentences]
    one_by_one = scores_from_attention(views, sentences)
    assert batched.relations == one_by_one.relations
    assert (batched.counts == one_by_one.counts).all()
    assert np.abs(batched.hits - one_by_one.hits).sum() <= 2  # float near-ties may differ, nothing else
    assert (batched.baseline_hits == one_by_one.baseline_hits).all()


def test_layers_scored_in_steps_give_the_same_result(minilm, ud_dev, monkeypatch):
    sentences = read_conllu(ud_dev, limit=24)
    at_once = score_heads(minilm, sentences, batch_size=8)
    monkeypatch.setattr(scoring, "STACK_BYTES", 1)  # one layer at a time
    one_by_one = score_heads(minilm, sentences, batch_size=8)
    assert (at_once.hits == one_by_one.hits).all() and at_once.relations == one_by_one.relations


@pytest.mark.slow
def test_batches_of_long_sentences_are_split(minilm, ud_dev, monkeypatch):
    sentences = read_conllu(ud_dev, limit=40)
    whole = scoring.corpus_batches(minilm, sentences, batch_size=32)
    assert [len(b.indexes) for b in whole] == [32, 8]
    assert sorted(i for b in whole for i in b.indexes) == list(range(40))
    before = score_heads(minilm, sentences)
    monkeypatch.setattr(scoring, "RECORD_BYTES", 4 * 6 * 12 * 40 * 40 * 3)  # 3 rows of 40 tokens
    split = scoring.corpus_batches(minilm, sentences, batch_size=32)
    assert len(split) > 2 and all(b.ids.shape[1] == max(len(e.ids) for e in b.encoded) for b in split)
    assert sorted(i for b in split for i in b.indexes) == list(range(40))
    after = score_heads(minilm, sentences)
    assert (before.hits == after.hits).all()


def test_unreadable_words_and_sentences_are_skipped(minilm):
    zw = "\u200b"  # a zero-width space: the tokenizer makes no token of it
    sentences = [
        Sentence(["Dogs", zw, "bark"], [2, 2, -1], ["nsubj", "dep", "root"]),
        Sentence([zw, zw], [-1, 0], ["root", "dep"]),
        Sentence(["Cats", "sleep"], [1, -1], ["nsubj", "root"]),
    ]
    calls = []
    scores = score_heads(minilm, sentences, progress=lambda d, t: calls.append((d, t)))
    assert scores.relations == ["nsubj"] and scores.counts.tolist() == [2]
    assert scores.n_skipped_arcs == 1 and scores.meta["unreadable_sentences"] == 1 and scores.n_sentences == 2
    assert calls[-1] == (3, 3)


@pytest.mark.slow
def test_ud_dev_first_200_sentences(minilm, ud_dev):
    sentences = read_conllu(ud_dev, limit=200)
    progress = []
    scores = score_heads(minilm, sentences, progress=lambda d, t: progress.append((d, t)))
    assert progress[0] == (0, 200) and progress[-1] == (200, 200)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    table = scores.table()
    assert list(table.columns) == TABLE_COLUMNS
    assert table["arcs"].sum() == scores.n_arcs == sum(len(s.arcs) for s in sentences)
    assert table["arcs"].is_monotonic_decreasing
    assert table["relation"].is_unique and not table["relation"].str.contains(":").any()
    # arcs per relation and the fixed-offset baseline, recounted from the trees alone (no model needed)
    arcs, offsets = {}, {}
    for s in sentences:
        for d, h, relation in s.arcs:
            rel = relation.split(":")[0]
            arcs[rel] = arcs.get(rel, 0) + 1
            offsets.setdefault(rel, []).append(h - d)
    assert dict(zip(table["relation"], table["arcs"])) == arcs
    for rel, row in table.set_index("relation").iterrows():
        per_offset = [offsets[rel].count(k) for k in OFFSETS]
        assert row["baseline accuracy"] == pytest.approx(max(per_offset) / arcs[rel]), rel
        assert per_offset[OFFSETS.index(row["baseline offset"])] == max(per_offset), rel
        r = scores.relations.index(rel)
        assert (scores.hits[r] <= arcs[rel]).all(), rel
        assert row["accuracy"] == pytest.approx(scores.hits[r].max() / arcs[rel]), rel
    assert table["direction"].isin(DIRECTIONS).all() and table["baseline offset"].isin(OFFSETS).all()
    for label in table["best head"]:
        layer, head = map(int, re.fullmatch(r"(\d+)-(\d+)", label).groups())
        assert 1 <= layer <= minilm.n_layers and 1 <= head <= minilm.n_heads
    assert scores.matrix().shape == (len(scores.relations), minilm.n_layers * minilm.n_heads)
    rows = table.set_index("relation")
    for relation in ("det", "obj", "case"):
        assert rows.loc[relation, "accuracy"] > rows.loc[relation, "baseline accuracy"], rows.loc[relation]


# ---------------------------------------------------------------- one typed sentence


def _hand_run(text, pieces, attention):
    tokens = ["[CLS]"] + [p for p, _, _ in pieces] + ["[SEP]"]
    n = len(tokens)
    return Run(
        model_name="hand",
        source=Side(text=text, tokens=tokens, offsets=[(0, 0)] + [(a, b) for _, a, b in pieces] + [(0, 0)],
                    special=np.array([True] + [False] * len(pieces) + [True]),
                    word_ids=[None] + list(range(len(pieces))) + [None]),
        attention=attention, mask=np.ones((n, n), dtype=bool),
    )


def test_sentence_relations_by_hand():
    # "dogs chase cats": dogs->chase nsubj, cats->chase obj; "chase" is two tokens: cha ##se
    text = "dogs chase cats"
    s = Sentence(["dogs", "chase", "cats"], [1, -1, 1], ["nsubj", "root", "obj"])
    pieces = [("dogs", 0, 4), ("cha", 5, 8), ("##se", 8, 10), ("cats", 11, 15)]
    a = np.full((2, 1, 6, 6), 0.02, dtype=np.float32)  # [CLS] dogs cha ##se cats [SEP]
    a[0, 0, 1, [2, 3]] = 0.3  # layer 1: dogs -> chase = 0.6 (sum over its two tokens)
    a[0, 0, 1, 0] = 0.9  # ... and more to [CLS], which does not count
    a[0, 0, 2, 4] = 0.5  # cha -> cats
    a[0, 0, 3, 4] = 0.1  # ##se -> cats (mean over cha, ##se: 0.3)
    a[0, 0, 3, 1] = 0.4  # ##se -> dogs (mean: 0.21): chase's top word is cats
    a[0, 0, 4, 1] = 0.5  # cats -> dogs
    a[1, 0, 1, 4] = 0.7  # layer 2: dogs -> cats
    a[1, 0, 4, [2, 3]] = 0.2  # cats -> chase = 0.4
    a[1, 0, 2, 1] = 0.6  # cha -> dogs (mean 0.31 > cats 0.02)
    run = _hand_run(text, pieces, a)
    frame = sentence_relations(run, s)
    assert frame["relation"].tolist() == ["nsubj", "obj"]
    nsubj, obj = frame.to_dict("records")
    assert nsubj["dependent->head heads"] == "1-1" and nsubj["dependent->head n"] == 1
    assert nsubj["dependent->head strongest"] == "1-1" and nsubj["dependent->head weight"] == pytest.approx(0.6)
    assert nsubj["head->dependent heads"] == "2-1" and obj["head->dependent heads"] == "1-1"
    assert obj["dependent->head heads"] == "2-1" and obj["dependent->head weight"] == pytest.approx(0.4)
    assert nsubj["status"] == obj["status"] == "ok"
    best = best_heads_for_sentence(run, s, top=2)
    assert best.iloc[0][["relation", "head", "direction", "predicted"]].tolist() == ["nsubj", "1-1", "dependent->head", 1]
    assert len(best) == 4 and best.groupby("relation")["rank"].max().tolist() == [2, 2]
    hits = sentence_hits(run, s)  # the same tables from hits computed once
    assert relations_table(hits).equals(frame) and best_heads(hits, top=2).equals(best)
    every = best_heads(hits, top=4)  # 2 layers x 1 head x 2 directions, but only 2 per relation predict an arc
    assert len(every) == 4 and (every["predicted"] > 0).all()
    # (looking word, looked-at word) pairs that are arcs: layer 1 dogs -> chase, chase -> cats; layer 2 the reverse
    assert hits.found(0, 0) == {(0, 1), (1, 2)} and hits.found(1, 0) == {(1, 0), (2, 1)}


def test_words_read_as_one_model_unit():
    # spaCy splits "gimme" into gim + me (me = dobj of gim); a model reading "gimme" as one token
    # cannot say anything about that arc
    text = "gimme cake"
    s = Sentence(["gim", "me", "cake"], [-1, 0, 0], ["root", "dobj", "dobj"], text=text, offsets=[(0, 3), (3, 5), (6, 10)])
    a = np.full((1, 1, 4, 4), 0.25, dtype=np.float32)
    run = _hand_run(text, [("gimme", 0, 5), ("cake", 6, 10)], a)
    frame = sentence_relations(run, s)
    assert frame["status"].tolist() == ["one model unit", "ok"]
    assert frame["dependent->head heads"].tolist() == ["", "1-1"]
    best = best_heads_for_sentence(run, s)  # only the arc to "cake" counts
    assert set(best["relation"]) == {"dobj"} and set(best["arcs"]) == {1} and len(best) == 2


def test_sentence_relations_with_spacy_and_minilm(minilm):
    parser = load_parser()
    text = "My brother doesn't eat the green apples."
    s = parse(text, parser)
    run = attnviz.capture(minilm, text)
    frame = sentence_relations(run, s)
    assert len(frame) == len(s.arcs) and (frame["status"] == "ok").all()
    hits = sentence_hits(run, s)
    # the model reads "doesn ' t": spaCy's "does" and "n't" share the token "doesn", so they are one unit
    does, nt = s.words.index("does"), s.words.index("n't")
    assert hits.alignment.unit_of_word[does] == hits.alignment.unit_of_word[nt]
    assert hits.alignment.n_units == len(s.words) - 1
    assert (frame["dependent->head n"] + frame["head->dependent n"]).sum() > 0
    # recount by hand: the tokenizer's pieces grouped into the parser's words (does + n't share "doesn")
    assert run.tokens == ["[CLS]", "my", "brother", "doesn", "'", "t", "eat", "the", "green", "apples", ".", "[SEP]"]
    assert s.words == ["My", "brother", "does", "n't", "eat", "the", "green", "apples", "."]
    pieces = [[1], [2], [3, 4, 5], [6], [7], [8], [9], [10]]  # token positions of each unit
    unit_of = [0, 1, 2, 2, 3, 4, 5, 6, 7]  # unit of each word
    att = run.attention.astype(np.float64)
    words = np.stack([np.stack([att[:, :, rows][:, :, :, cols].sum(-1).mean(-1) for cols in pieces], -1)
                      for rows in pieces], -2)  # [layers, heads, units, units]: from = mean, to = sum
    words[:, :, np.arange(len(pieces)), np.arange(len(pieces))] = -np.inf
    pred = words.argmax(-1)
    for row in frame.to_dict("records"):
        d, h = unit_of[row["dependent"]], unit_of[row["head"]]
        assert row["dependent->head n"] == int((pred[:, :, d] == h).sum()), row
        assert row["head->dependent n"] == int((pred[:, :, h] == d).sum()), row
    best = best_heads_for_sentence(run, s)
    assert set(best["relation"]) <= {r for r in s.relations if r != "root"} and "det" in set(best["relation"])
    for row in best.to_dict("records"):
        layer, head = (int(x) - 1 for x in row["head"].split("-"))
        arcs = [(unit_of[d], unit_of[h]) for d, h, r in s.arcs if r == row["relation"]]
        a, b = (0, 1) if row["direction"] == "dependent->head" else (1, 0)
        assert row["predicted"] == sum(pred[layer, head, arc[a]] == arc[b] for arc in arcs), row
        assert row["arcs"] == len(arcs) and row["share"] == pytest.approx(row["predicted"] / len(arcs)), row
    word_level = sentence_hits(run.view("word"), s)  # a word-level view works too
    assert word_level.hits.shape == hits.hits.shape == (len(s.arcs), minilm.n_layers, minilm.n_heads, 2)


# ---------------------------------------------------------------- command line


def _cli(*args, timeout=240):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "attnviz.cli", "heads", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


@pytest.mark.slow
def test_cli_local_model_and_csv(tmp_path):
    out = tmp_path / "heads.csv"
    p = _cli("--conllu", str(TINY), "--model", "local", "--csv", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    assert "relation" in p.stdout and "best head" in p.stdout and "nsubj" in p.stdout
    assert "3 sentences, 17 words, 14 arcs scored" in p.stdout
    frame = pd.read_csv(out)
    assert list(frame.columns) == TABLE_COLUMNS and frame["arcs"].sum() == 14


@pytest.mark.slow
def test_cli_default_model_with_limit():
    p = _cli("--conllu", str(TINY), "--limit", "2")
    assert p.returncode == 0, p.stderr
    assert attnviz.DEFAULT_MODEL in p.stdout and "2 sentences" in p.stdout and "Traceback" not in p.stderr


@pytest.mark.slow
def test_cli_missing_file():
    p = _cli("--conllu", "/nonexistent/x.conllu", "--model", "local")
    assert p.returncode == 2
    assert "no CoNLL-U file" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
def test_cli_bad_file(tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_bytes(b"\x00\x01\x02binary")
    p = _cli("--conllu", str(bad), "--model", "local")
    assert p.returncode == 2 and "binary" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
def test_cli_needs_an_input():
    p = _cli("--model", "local")
    assert p.returncode == 2 and "--conllu" in p.stderr


@pytest.mark.slow
def test_cli_generated_corpus_needs_no_parser():
    p = _cli("--generated", "200", "--model", "local-trained", "--quiet")
    assert p.returncode == 0, p.stderr
    assert "toy grammar, held-out split" in p.stdout and "200 sentences" in p.stdout
    nsubj = next(line.split() for line in p.stdout.splitlines() if line.split()[:1] == ["nsubj"])
    # regression snapshot: "3-2" and >= 0.95 were read from this command's own output
    assert nsubj[2:4] == ["3-2", "head->dependent"] and float(nsubj[4]) >= 0.95, nsubj
    # independent check: recount every head on the same 200 sentences from the captured attention
    counts, hits = recount_word_level(attnviz.load_model("local-trained"), held_out_corpus(200))
    layer, head, direction = np.unravel_index(hits["nsubj"].argmax(), hits["nsubj"].shape)  # ties: lowest, as printed
    assert (head_label(int(layer), int(head)), DIRECTIONS[direction]) == ("3-2", "head->dependent")
    assert nsubj[1] == str(counts["nsubj"]) and nsubj[4] == f"{hits['nsubj'].max() / counts['nsubj']:.3f}", nsubj
    assert _cli("--generated", "0", "--model", "local").returncode == 2


@pytest.mark.slow
def test_cli_piped_into_a_reader_that_stops_early():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "attnviz.cli", "heads", "--generated", "50", "--model", "local-trained"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert p.stdout.readline().startswith(b"model:")
    p.stdout.close()  # like "| head -1"
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) in (0, 1) and "Traceback" not in err, err


@pytest.mark.slow
def test_cli_sample():
    p = _cli("--sample", "--model", "local", "--limit", "30", "--quiet")
    assert p.returncode == 0, p.stderr
    assert "built-in sample, parsed by en_core_web_sm" in p.stdout and "30 sentences" in p.stdout


@pytest.mark.slow
def test_the_installed_attnviz_command():
    """``attnviz heads`` is the console script pyproject.toml installs (the test command installs attnviz)."""
    exe = shutil.which("attnviz")
    assert exe, "the attnviz command is not on PATH: install the package (pip install -e .)"
    done = subprocess.run([exe, "heads", "--generated", "30", "--model", "local-trained"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert "local (trained on the toy grammar) (3 layers x 4 heads)" in done.stdout and "det" in done.stdout
    usage = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "attnviz heads" in usage.stderr
    unknown = subprocess.run([exe, "nonsense"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "commands:" in unknown.stderr and "Traceback" not in unknown.stderr
