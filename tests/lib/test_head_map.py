"""Head maps over a corpus (attnviz.head_map, attnviz.figures.head_maps; #22, part 3): AttentionViz's placement of
queries and keys leaves every attention weight as the model computed it, the projection's shapes, each point's
metadata from CoNLL-U, the cap of 10,000 points per head, bad input, and the figure's escaping and click mapping."""

from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.conllu_io import read_conllu
from attnviz.figures.head_maps import COLOUR_BY, groups, head_map_figure, hover_texts, point_token
from attnviz.head_map import (
    MAX_POINTS,
    MAX_SENTENCES,
    TOKEN_COLUMNS,
    CorpusVectors,
    collect_vectors,
    head_map,
    map_heads,
    match_norms,
    pca_2d,
    place,
    translate_keys,
)
from tests.helpers.paths import FIXTURES

LAYER = 2  # 0-based: MiniLM's layer 3


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def tiny_corpus():
    return read_conllu(FIXTURES / "tiny.conllu")


@pytest.fixture(scope="module")
def vectors(minilm, tiny_corpus):
    return collect_vectors(minilm, tiny_corpus, LAYER)


def random_qk(seed: int = 0, n: int = 40, m: int = 30, d: int = 16):
    """Queries and keys with centroids and norms far apart, as real heads have them."""
    rng = np.random.default_rng(seed)
    return rng.normal(2.0, 1.5, (n, d)), rng.normal(-1.0, 4.0, (m, d))


# ---------------------------------------------------------------- the placement rule


def test_translating_the_keys_moves_their_centroid_onto_the_queries_and_shifts_each_querys_logits_alike():
    q, k = random_qk()
    moved = translate_keys(q, k)
    np.testing.assert_allclose(moved.mean(axis=0), q.mean(axis=0), atol=1e-12)
    change = q @ moved.T - q @ k.T  # (queries, keys): one amount per query, the same for all its keys
    np.testing.assert_allclose(change, np.repeat(change[:, :1], k.shape[0], axis=1), atol=1e-9)
    np.testing.assert_allclose(softmax(0.25 * q @ moved.T), softmax(0.25 * q @ k.T), atol=1e-12)


def test_scaling_makes_the_mean_norms_equal_and_keeps_every_dot_product():
    q, k = random_qk(1)
    sq, sk, c = match_norms(q, k)
    assert c > 0 and not np.isclose(c, 1.0)
    assert np.isclose(np.linalg.norm(sq, axis=1).mean(), np.linalg.norm(sk, axis=1).mean())
    np.testing.assert_allclose(sq @ sk.T, q @ k.T, rtol=1e-12, atol=1e-9)


def test_the_placement_has_one_centroid_and_changes_no_softmax():
    q, k = random_qk(2)
    placed = place(q, k)
    np.testing.assert_allclose(placed.keys.mean(axis=0), placed.queries.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(softmax(0.25 * placed.queries @ placed.keys.T), softmax(0.25 * q @ k.T), atol=1e-12)


def test_placed_vectors_give_back_the_weights_the_model_computed(minilm, tiny_corpus, vectors):
    """The placement is made over the whole corpus (one translation for every key); within each sentence, softmax of
    scale * q · k of the placed vectors is the attention the model returned."""
    runs = attnviz.capture_batch(minilm, [s.words for s in tiny_corpus])
    tokens = vectors.tokens
    for head in (0, 7):
        placed = place(vectors.queries[head], vectors.keys[head])
        norms = np.linalg.norm(placed.queries, axis=1).mean(), np.linalg.norm(placed.keys, axis=1).mean()
        assert abs(norms[0] - norms[1]) / norms[0] < 0.05  # equal but for the last translation, small for real heads
        for i, run in enumerate(runs):
            rows = np.flatnonzero(tokens["sentence"].to_numpy() == i)
            assert list(tokens["position"].iloc[rows]) == list(range(run.n_tokens))
            logits = vectors.scale * placed.queries[rows] @ placed.keys[rows].T
            np.testing.assert_allclose(softmax(logits), run.attention[LAYER, head], atol=2e-5)


def test_pca_gives_two_axes_with_their_share_of_the_variance_and_a_fixed_sign():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(200, 5)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1])
    xy, explained = pca_2d(points)
    assert xy.shape == (200, 2)
    assert explained[0] > explained[1] > 0 and explained.sum() < 1
    np.testing.assert_allclose(np.abs(xy[:, 0]).std(), np.abs(points[:, 0] - points[:, 0].mean()).std(), rtol=0.05)
    again, _ = pca_2d(-points)  # the same cloud mirrored: the same picture (each axis's largest loading positive)
    np.testing.assert_allclose(np.abs(again), np.abs(xy), atol=1e-9)


# ---------------------------------------------------------------- shapes and metadata


def test_every_head_of_the_layer_is_projected(minilm, vectors):
    hm = map_heads(vectors)
    n = vectors.n_tokens
    assert hm.xy.shape == (12, 2, n, 2) and hm.xy.dtype == np.float32
    assert hm.explained.shape == (12, 2) and np.all((hm.explained >= 0) & (hm.explained <= 1))
    assert hm.scales.shape == (12,) and np.all(hm.scales > 0)
    assert hm.layer == LAYER and vectors.queries.shape == vectors.keys.shape == (12, n, 32)
    points = hm.points(5)
    assert len(points) == 2 * n and list(points["kind"][:n].unique()) == ["query"] and list(points["kind"][n:].unique()) == ["key"]
    np.testing.assert_array_equal(points[["x", "y"]].to_numpy()[n:], hm.xy[5, 1])
    assert list(points.columns) == ["x", "y", "kind", *TOKEN_COLUMNS]


def test_a_map_keeps_what_it_draws_without_its_vectors(vectors):
    hm = map_heads(vectors)
    light = hm.drawn_only()
    assert light.vectors.queries.size == light.vectors.keys.size == 0 and light.vectors.n_tokens == vectors.n_tokens
    assert light.xy is hm.xy and light.tokens is hm.tokens and light.n_heads == 12
    assert len(head_map_figure(light, "pos", hover="events").data) == len(head_map_figure(hm, "pos", hover="events").data)


def test_each_point_knows_its_sentence_token_word_pos_and_relation(vectors, tiny_corpus):
    t = vectors.tokens
    assert len(t) == vectors.n_tokens and vectors.meta["n_sentences"] == 3 and vectors.meta["sampled"] is None
    assert list(t["sentence"].unique()) == [0, 1, 2]  # in corpus order, whatever the batches' order
    dog = t[(t["sentence"] == 1) & (t["token"] == "dog")].iloc[0]
    assert (dog["word"], dog["pos"], dog["relation"], dog["position"], dog["word_index"]) == ("dog", "NOUN", "nsubj", 2, 1)
    nt = t[(t["sentence"] == 0) & (t["word"] == "n't")]  # one word, several word pieces: each gets the word's tags
    assert len(nt) > 1 and set(nt["pos"]) == {"PART"} and set(nt["relation"]) == {"advmod"}
    cls = t[t["special"]]
    assert set(cls["token"]) == {"[CLS]", "[SEP]"} and (cls["word_index"] == -1).all() and cls["pos"].isna().all()
    text = vectors.texts[1]
    assert text == "The dog chased a red ball ." and text[dog["start"]:dog["end"]] == "dog"
    assert vectors.originals[1] == "The dog chased a red ball."  # the sentence as written (# text), for the explorer
    assert vectors.has_pos and vectors.has_relations


def test_texts_have_no_tags_and_special_tokens_can_be_left_out(minilm):
    vectors = collect_vectors(minilm, ["Birds sing.", "The dog chased a red ball."], LAYER, specials=False)
    t = vectors.tokens
    assert not t["special"].any() and t["position"].min() == 1  # [CLS] (0) left out
    assert not vectors.has_pos and not vectors.has_relations and t["pos"].isna().all()
    assert t[t["sentence"] == 0]["word"].tolist() == ["Birds", "sing.", "sing."]


def test_progress_counts_sentences(minilm, tiny_corpus):
    seen = []
    collect_vectors(minilm, tiny_corpus, LAYER, batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 3) and seen[-1] == (3, 3) and len(seen) == 3


# ---------------------------------------------------------------- the cap of points per head


def synthetic(n_tokens: int) -> CorpusVectors:
    import pandas as pd

    rng = np.random.default_rng(0)
    tokens = pd.DataFrame([(i // 10, i % 10, 10, f"t{i}", False, i % 10, f"t{i}", None, None, 0, 1) for i in range(n_tokens)],
                          columns=list(TOKEN_COLUMNS))
    return CorpusVectors(layer=0, queries=rng.normal(size=(2, n_tokens, 4)).astype(np.float32),
                         keys=rng.normal(size=(2, n_tokens, 4)).astype(np.float32), tokens=tokens,
                         texts=["x"] * (n_tokens // 10 + 1), originals=["x"] * (n_tokens // 10 + 1),
                         meta={"n_tokens": n_tokens, "sampled": None})


def test_at_most_10000_points_per_head_sampled_with_a_seed():
    big = synthetic(12_345)
    sampled = big.sample()
    assert MAX_POINTS == 10_000 and sampled.n_tokens == 5_000 and 2 * sampled.n_tokens <= MAX_POINTS
    assert sampled.meta["sampled"] == (5_000, 12_345) and sampled.meta["seed"] == 0
    kept = sampled.tokens["token"].str[1:].astype(int).to_numpy()
    assert np.all(np.diff(kept) > 0)  # corpus order
    np.testing.assert_array_equal(sampled.queries[1], big.queries[1, kept])  # the same tokens in every head
    np.testing.assert_array_equal(sampled.keys[0], big.keys[0, kept])
    assert sampled.tokens.equals(big.sample().tokens)  # the same seed, the same sample
    assert not sampled.tokens.equals(big.sample(seed=1).tokens)
    small = synthetic(4_000)
    assert small.sample() is small and small.meta["sampled"] is None  # 8,000 points fit
    assert map_heads(big.sample(max_points=100)).xy.shape == (2, 2, 50, 2)


def test_head_map_samples_a_corpus_too_large_for_the_cap(minilm, tiny_corpus):
    hm = head_map(minilm, tiny_corpus, LAYER, max_points=20, seed=3)
    assert hm.vectors.n_tokens == 10 and hm.meta["sampled"][0] == 10 and hm.meta["sampled"][1] > 10
    assert hm.xy.shape == (12, 2, 10, 2)


# ---------------------------------------------------------------- bad input


def test_a_one_word_sentence_is_mapped(minilm):
    hm = head_map(minilm, ["Hello"], LAYER)
    assert hm.tokens["token"].tolist() == ["[CLS]", "hello", "[SEP]"] and hm.xy.shape == (12, 2, 3, 2)
    alone = head_map(minilm, ["Hello"], LAYER, specials=False)  # one token: its query and its key, two points
    assert alone.tokens["token"].tolist() == ["hello"] and np.isfinite(alone.xy).all()


@pytest.mark.parametrize("corpus", [[], ["", "   "]])
def test_a_corpus_without_words_is_refused(minilm, corpus):
    with pytest.raises(attnviz.EmptyInputError, match="no sentences to map"):
        head_map(minilm, corpus, LAYER)


def test_nothing_left_after_cutting_is_refused_with_the_reason(minilm):
    with pytest.raises(attnviz.EmptyInputError, match="No tokens are left to map: the model reads no word of the sentence "
                                                      "cut to 2 tokens"):
        head_map(minilm, ["The dog chased a red ball."], LAYER, specials=False, max_tokens=2)  # [CLS] [SEP]
    with pytest.raises(attnviz.EmptyInputError, match="no word of any sentence .only characters its tokenizer drops"):
        head_map(minilm, ["\u200b", "\u200b \u200b"], LAYER)  # zero-width spaces


def test_more_than_500_sentences_are_refused_with_the_limit_named(minilm):
    """The app's hosted limit is the same number (components/hosting.py HOSTED_MAX_SENTENCES, passed as max_sentences)."""
    with pytest.raises(ValueError, match=r"at most 500 sentences per request; 501 were asked for"):
        head_map(minilm, ["the dog runs"] * 501, LAYER)
    assert MAX_SENTENCES == 500
    with pytest.raises(ValueError, match="at most 20 sentences"):
        head_map(minilm, ["the dog runs"] * 21, LAYER, max_sentences=20)


def test_a_layer_the_model_lacks_is_refused(minilm):
    with pytest.raises(ValueError, match=r"layer 6 does not exist.*0\.\.5"):
        head_map(minilm, ["the dog runs"], 6)


# ---------------------------------------------------------------- the figure


def test_the_figure_has_a_plot_per_head_and_a_click_names_head_and_token(vectors):
    hm = map_heads(vectors)
    for colour in COLOUR_BY:
        fig = head_map_figure(hm, colour, "t", hover="events")
        heads = {t.meta[0] for t in fig.data}
        assert heads == set(range(12)) and len({t.xaxis for t in fig.data}) == 12
        assert all(t.type == "scattergl" and t.hoverinfo == "none" and t.hovertext is None for t in fig.data)
        n_points = sum(len(t.x) for t in fig.data)
        assert n_points == 12 * 2 * hm.vectors.n_tokens
    fig = head_map_figure(hm, "pos", "t", hover="events")
    curve = next(i for i, t in enumerate(fig.data) if list(t.meta) == [4, 1] and t.name == "NOUN")
    head, kind, row = point_token(fig, curve, 0)
    assert (head, kind) == (4, "key") and hm.tokens["pos"].iloc[row] == "NOUN"
    np.testing.assert_allclose((fig.data[curve].x[0], fig.data[curve].y[0]), hm.xy[4, 1, row])
    assert point_token(fig, len(fig.data), 0) is None and point_token(fig, curve, 10_000) is None
    exported = head_map_figure(hm, "kind", "t", hover="none")
    assert {t.hoverinfo for t in exported.data} == {"skip"} and exported.layout.width > 0


def test_colour_groups_name_every_token():
    big = synthetic(60)
    codes, names, colours = groups(map_heads(big), "position")
    assert names[:5] == ["0", "1", "2", "3", "4–5"] and len(names) == len(colours) and codes.max() < len(names)


def test_user_text_in_the_hover_labels_stays_text(minilm):
    hostile = "<img src=x onerror=alert(1)> & $x$"
    hm = head_map(minilm, [hostile], LAYER)
    texts = hover_texts(hm)
    assert not any("<img" in t for t in texts)
    assert any("&lt;img" in t for t in texts) and all("$x$" not in t for t in texts)
    fig = head_map_figure(hm, "kind", hostile, hover="labels")
    assert "<img" not in fig.to_json()
