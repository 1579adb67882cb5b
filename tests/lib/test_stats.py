"""attnviz.stats: per-head statistics and pattern labels on hand-built matrices with known answers."""

import warnings

import numpy as np
import pytest

import attnviz
from attnviz import stats
from attnviz.stats import head_stats, pattern_of, rest_patterns

K = 6
NO_SPECIAL = np.zeros(K, dtype=bool)
CLS_SEP = np.array([True, False, False, False, False, True])


def previous_matrix(n: int = K) -> np.ndarray:
    """Every row on the previous token; row 0 (which has none) on itself."""
    a = np.eye(n, k=-1)
    a[0, 0] = 1.0
    return a


def next_matrix(n: int = K) -> np.ndarray:
    a = np.eye(n, k=1)
    a[-1, -1] = 1.0
    return a


def one(df, column):
    assert len(df) == 1
    return df[column].iloc[0]


def test_identity_is_self():
    df = head_stats(np.eye(K), NO_SPECIAL)
    assert one(df, "self") == pytest.approx(1.0)
    assert one(df, "previous") == 0.0 and one(df, "next") == 0.0
    assert one(df, "entropy") == pytest.approx(0.0)
    assert one(df, "mean_distance") == pytest.approx(0.0)
    assert one(df, "pattern") == "self"


def test_shifted_identity_is_previous_token():
    df = head_stats(previous_matrix(), NO_SPECIAL)
    assert one(df, "previous") == pytest.approx(1.0)  # over rows q >= 1 only
    assert one(df, "self") == pytest.approx(1 / K)     # row 0
    assert one(df, "mean_distance") == pytest.approx((K - 1) / K)
    assert one(df, "pattern") == "previous token"


def test_next_token():
    df = head_stats(next_matrix(), NO_SPECIAL)
    assert one(df, "next") == pytest.approx(1.0)
    assert one(df, "pattern") == "next token"


def test_all_mass_on_cls_is_a_sink():
    a = np.zeros((K, K))
    a[:, 0] = 1.0
    df = head_stats(a, CLS_SEP)
    assert one(df, "special") == pytest.approx(1.0)
    assert one(df, "pattern") == "[CLS]/[SEP] sink"
    # the same matrix without the special flag is not a sink
    assert one(head_stats(a, NO_SPECIAL), "special") == 0.0


def test_uniform_is_broad_with_maximal_entropy():
    df = head_stats(np.full((K, K), 1 / K), NO_SPECIAL)
    assert one(df, "entropy") == pytest.approx(np.log2(K))
    assert one(df, "entropy_norm") == pytest.approx(1.0)
    # mean over rows of sum_k |q - k| / K = (K^2 - 1) / (3K)
    assert one(df, "mean_distance") == pytest.approx((K * K - 1) / (3 * K))
    assert one(df, "pattern") == "broad"


def test_mean_distance_of_a_known_matrix():
    a = np.array([
        [0.5, 0.5, 0.0],   # 0.5 * 1            = 0.5
        [0.0, 0.0, 1.0],   # 1.0 * 1            = 1.0
        [0.25, 0.75, 0.0],  # 0.25 * 2 + 0.75 * 1 = 1.25
    ])
    df = head_stats(a, np.zeros(3, bool))
    assert one(df, "mean_distance") == pytest.approx((0.5 + 1.0 + 1.25) / 3)
    assert one(df, "previous") == pytest.approx((0.0 + 0.75) / 2)  # a[1,0], a[2,1]
    assert one(df, "next") == pytest.approx((0.5 + 1.0) / 2)       # a[0,1], a[1,2]
    assert one(df, "self") == pytest.approx(0.5 / 3)


def test_far_focused_head_is_other():
    a = np.zeros((K, K))
    a[np.arange(K), (np.arange(K) + 2) % K] = 1.0  # two ahead: no share, zero entropy
    df = head_stats(a, NO_SPECIAL)
    assert one(df, "pattern") == "other"


def test_ties_and_threshold_follow_the_documented_rule():
    half = 0.5 * previous_matrix() + 0.5 * np.eye(K)  # previous 0.5 (rows >= 1), self > 0.5
    half[0] = np.eye(K)[0]
    df = head_stats(half, NO_SPECIAL)
    assert one(df, "previous") == pytest.approx(0.5)
    assert one(df, "pattern") == "self"  # self = (1 + 5 * 0.5) / 6 = 0.583 > previous
    tie = np.zeros((2, 2))
    tie[0, 0] = tie[1, 0] = 1.0  # previous 1.0 (row 1), self 0.5, special share on col 0 = 1.0
    assert pattern_of(tie, np.array([True, False])) == "previous token"  # tie -> first of previous/next/self/special
    assert stats.DOMINANT_SHARE == 0.5 and 0 < stats.BROAD_ENTROPY < 1
    assert set(head_stats(np.full((K, K), 1 / K), NO_SPECIAL)["pattern"]) <= set(stats.PATTERNS)


def test_one_row_per_layer_and_head_with_clark_labels():
    heads = [np.eye(K), previous_matrix(), next_matrix(), np.full((K, K), 1 / K), np.eye(K), previous_matrix()]
    a = np.stack(heads).reshape(2, 3, K, K)
    df = head_stats(a, NO_SPECIAL)
    assert list(df.columns) == stats.COLUMNS
    assert len(df) == 6
    assert df["label"].tolist() == ["1-1", "1-2", "1-3", "2-1", "2-2", "2-3"]
    assert df["layer"].tolist() == [0, 0, 0, 1, 1, 1] and df["head"].tolist() == [0, 1, 2, 0, 1, 2]
    assert df["pattern"].tolist() == ["self", "previous token", "next token", "broad", "self", "previous token"]
    for l in range(2):
        for h in range(3):
            row = df[(df["layer"] == l) & (df["head"] == h)].iloc[0]  # df.head is the method
            assert pattern_of(a[l, h], NO_SPECIAL) == row["pattern"]


def test_mask_sets_the_entropy_normaliser():
    causal = np.tril(np.ones((K, K), dtype=bool))
    a = causal / causal.sum(axis=1, keepdims=True)  # uniform over the keys each row may see
    free = head_stats(a, NO_SPECIAL)
    masked = head_stats(a, NO_SPECIAL, mask=causal)
    assert one(free, "entropy_norm") < stats.BROAD_ENTROPY
    assert one(free, "pattern") == "other"
    assert one(masked, "entropy_norm") == pytest.approx(1.0)  # row 0 (one key) left out
    assert one(masked, "pattern") == "broad"
    assert one(masked, "entropy") == pytest.approx(one(free, "entropy"))


@pytest.mark.parametrize("matrix, special, pattern", [
    (np.ones((1, 1)), np.array([False]), "self"),        # Q = K = 1
    (np.ones((1, 1)), np.array([True]), "self"),         # self and special tie: self comes first
    (np.full((3, 3), 1 / 3), np.ones(3, bool), "[CLS]/[SEP] sink"),  # all special
    (np.zeros((4, 4)), np.zeros(4, bool), "other"),      # every row zero
])
def test_degenerate_inputs_give_numbers_not_nan(matrix, special, pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from 0/0 or log(0)
        df = head_stats(matrix, special)
    values = df[["entropy", "entropy_norm", "mean_distance", "special", "previous", "next", "self"]].to_numpy(float)
    assert np.isfinite(values).all()
    assert one(df, "pattern") == pattern


def test_zero_rows_are_left_out_of_the_means():
    a = previous_matrix()
    a[3] = 0.0  # e.g. a row that only looked at special tokens, after without_special()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = head_stats(a, NO_SPECIAL)
    assert one(df, "previous") == pytest.approx(1.0)
    assert one(df, "self") == pytest.approx(1 / (K - 1))


def test_rows_are_renormalised_and_nan_ignored():
    a = 3.0 * np.eye(K)
    a[2, 2] = np.nan
    df = head_stats(a, NO_SPECIAL)
    assert one(df, "self") == pytest.approx(1.0)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        head_stats(np.eye(3), np.zeros(4, bool))
    with pytest.raises(ValueError):
        head_stats(np.zeros((2, 3, 3)), np.zeros(3, bool))


def test_captured_run_from_the_local_model():
    run = attnviz.capture(attnviz.local_model(), "the cat sat on the mat because it was warm")
    df = head_stats(run.attention, run.special, run.mask)
    assert len(df) == run.n_layers * run.n_heads
    # every statistic recomputed per head with plain loops from the captured weights (rows sum to 1 already)
    n, mask = run.n_tokens, np.asarray(run.mask, dtype=bool)
    assert np.allclose(run.attention.sum(-1), 1, atol=1e-5)
    by_label = df.set_index("label")
    for layer in range(run.n_layers):
        for head in range(run.n_heads):
            a = run.attention[layer, head].astype(np.float64)
            entropies = [-sum(x * np.log2(x) for x in a[q] if x > 0) for q in range(n)]
            expected = {
                "entropy": np.mean(entropies),
                "entropy_norm": np.mean([e / np.log2(mask[q].sum()) for q, e in enumerate(entropies) if mask[q].sum() >= 2]),
                "mean_distance": np.mean([sum(a[q, k] * abs(q - k) for k in range(n)) for q in range(n)]),
                "special": np.mean([a[q, run.special].sum() for q in range(n)]),
                "previous": np.mean([a[q, q - 1] for q in range(1, n)]),
                "next": np.mean([a[q, q + 1] for q in range(n - 1)]),
                "self": np.mean([a[q, q] for q in range(n)]),
            }
            row = by_label.loc[f"{layer + 1}-{head + 1}"]
            for name, value in expected.items():
                assert row[name] == pytest.approx(value, abs=1e-5), (layer, head, name)
            shares = {stats.PREVIOUS: expected["previous"], stats.NEXT: expected["next"], stats.SELF: expected["self"],
                      stats.SINK: expected["special"]}
            top = max(shares, key=shares.get)  # dict order: ties go to previous, next, self, special
            pattern = top if shares[top] >= stats.DOMINANT_SHARE else (
                stats.BROAD if expected["entropy_norm"] > stats.BROAD_ENTROPY else stats.OTHER)
            assert row["pattern"] == pattern, (layer, head, dict(row))
    words = run.view("word", drop_special=True)
    assert len(head_stats(words.attention, words.special, words.mask)) == run.n_layers * run.n_heads


# ----------------------------------------------------------------------------- heads_linking


def test_heads_linking_ranks_every_head_by_one_link():
    a = np.zeros((2, 2, 3, 3), dtype=np.float32)
    a[..., :, :] = 1 / 3
    a[0, 1, 2] = [0.7, 0.2, 0.1]   # 1-2: token 2 looks mostly at token 0
    a[1, 0, 2] = [0.2, 0.2, 0.6]   # 2-1: token 2 looks at itself, token 0 shares second place
    table = stats.heads_linking(a, query=2, key=0)
    assert table["label"].tolist() == ["1-2", "1-1", "2-2", "2-1"]   # strongest first, ties in head order
    assert table["weight"].tolist() == pytest.approx([0.7, 1 / 3, 1 / 3, 0.2])
    assert table["rank"].tolist() == [1, 1, 1, 2]                      # ties share the better rank
    assert table.loc[0, ["layer", "head"]].tolist() == [0, 1]          # 0-based, as in head_stats
    with pytest.raises(IndexError):
        stats.heads_linking(a, query=3, key=0)
    with pytest.raises(ValueError):
        stats.heads_linking(a[0], query=0, key=0)


def test_different_heads_attend_to_different_dependencies(minilm):
    """The product's first claim, on the offline default model: in "heavy snow makes driving more
    difficult" one head links "makes" to its complement "difficult", others to its subject "snow"."""
    run = attnviz.capture(minilm, "heavy snow makes driving more difficult")
    makes, snow, difficult = (run.tokens.index(w) for w in ("makes", "snow", "difficult"))
    to_difficult = stats.heads_linking(run.attention, makes, difficult)
    to_snow = stats.heads_linking(run.attention, makes, snow)
    # regression snapshots: "2-8", "1-3", "6-5" and the weight bounds were read from this model's output
    assert to_difficult.loc[0, "label"] == "2-8" and to_difficult.loc[0, "rank"] == 1
    assert to_difficult.loc[0, "weight"] > 0.7
    assert to_snow.loc[:1, "label"].tolist() == ["1-3", "6-5"]  # 1-3 is a previous-token head; 6-5 is not
    assert (to_snow.loc[:1, "rank"] == 1).all() and to_snow.loc[1, "weight"] > 0.5
    # independent of heads_linking: the heads with the largest weights for each link, straight from the array
    for table, key in ((to_difficult, difficult), (to_snow, snow)):
        w = run.attention[:, :, makes, key]  # [layers, heads]
        order = np.argsort(-w.ravel(), kind="stable")
        top = [f"{i // run.n_heads + 1}-{i % run.n_heads + 1}" for i in order[:2]]
        assert table.loc[:1, "label"].tolist() == top
        assert table.loc[:1, "weight"].tolist() == pytest.approx(w.ravel()[order[:2]].tolist())
        for label, rank in zip(top, table.loc[:1, "rank"]):  # rank 1 <=> ``key`` is the head's top token from "makes"
            layer, head = (int(x) - 1 for x in label.split("-"))
            assert rank == 1 + int((run.head(layer, head)[makes] > run.head(layer, head)[makes, key]).sum())
    assert run.head(5, 4)[makes, difficult] < 0.1 and run.head(1, 7)[makes, snow] < 0.1  # they do differ
    assert head_stats(run.attention, run.special).set_index("label").loc["1-3", "pattern"] == stats.PREVIOUS


def test_rest_patterns_name_what_a_sink_head_does_apart_from_the_sink():

    n = 6
    special = np.array([True, False, False, False, False, True])
    a = np.zeros((n, n))
    a[:, 5] = 0.8  # 0.8 on [SEP]
    for q in range(n):
        a[q, max(q - 1, 1) if q > 1 else 0] += 0.2  # the rest on the previous word
    a /= a.sum(-1, keepdims=True)
    assert head_stats(a, special)["pattern"].iloc[0] == "[CLS]/[SEP] sink"
    assert rest_patterns(a[None, None], special)[0, 0] == "previous token"
