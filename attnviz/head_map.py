"""Head maps over a corpus, in the manner of AttentionViz (Yeh et al., IEEE VIS 2023): every token's query and key
vector of one layer's heads, placed together in one plane per head, so that a head's habits across many sentences
show as shapes (on MiniLM, a previous-token head is a ring of positions, each query beside the key one position back;
a sink head has the [CLS] key of every sentence on one spot far outside its cloud: docs/guide.md, "Head map").

    hm = head_map(model, sentences, layer=2, progress=lambda done, total: ...)   # 0-based layer; Sentences or texts
    hm.tokens              # DataFrame, one row per token kept: sentence, position, token, word, pos, relation, ...
    hm.xy.shape            # (heads, 2, tokens, 2): head, query (0) | key (1), token, (x, y)
    hm.points(0)           # head 0's points as a DataFrame: x, y, kind ("query" | "key") and the token's columns

Three steps, each usable alone:

1. ``collect_vectors``: the corpus captured with ``qk=True`` in the length-sorted, padded batches of corpus scoring
   (``attnviz.scoring.corpus_batches``, then ``attnviz.capturing.run_batch``); of the chosen layer, every real
   token's query and key for every head is kept (padding never; special tokens unless ``specials=False``), with the
   token's sentence, position, text, word, and the word's part of speech and dependency relation when the corpus
   has them (gold CoNLL-U, or a spaCy parse: ``attnviz.tree.Sentence``). Texts (``str``) are split on whitespace.
2. ``CorpusVectors.sample``: at most ``MAX_POINTS`` points (queries + keys) per head; beyond that a random subset of
   tokens, the same for every head, drawn with a seed (so the same corpus gives the same map), and said in
   ``meta["sampled"]``.
3. ``project``: one head's queries and keys placed (``place``) and projected together to 2-D by PCA (numpy's SVD of the
   centred, joint matrix; no scikit-learn).

The placement rule (``place``), after AttentionViz, section 4.2. A head's attention of query q on key k is
``softmax_k(scale * q · k)`` over the keys of q's own sentence. Two changes of the vectors leave every weight as it
is, and the map uses both so that distance in the shared plane says something about attention:

* **Translation of the keys.** Adding one vector v to every key changes each logit of query q by ``scale * q · v``,
  the same amount for all of q's keys, so q's softmax is unchanged. The keys are translated so that their centroid
  is the queries' centroid: without it, queries and keys of most heads form two clouds apart (their means differ),
  and the map would mostly show that gap.
* **Scaling.** ``(c q) · (k / c) = q · k`` for any c > 0, so the queries are multiplied by c and the keys divided by c,
  with c = sqrt(mean ‖k‖ / mean ‖q‖): afterwards the mean norms of queries and keys are equal, and neither cloud is a
  dot in the middle of the other.

The scaling moves the two centroids apart again, to c·μ and μ/c (μ the queries' centroid; c is 0.95-1.36 over
MiniLM's 72 heads on UD EWT dev): the keys are then translated once more, by (c - 1/c)·μ, which again changes no
softmax. So the placed vectors have one centroid, mean norms equal up to that last shift (within 6%, median 1.6%, on
those heads: scripts/head_map_shapes.py), and give every attention weight of
the model back (checked in tests/lib/test_head_map.py). Distance is still only a proxy: q · k is not a distance, and
two dimensions of PCA keep only part of the variance (``HeadMap.explained``). Only the q · k part of the logits is
placed: a family's position terms (T5's bias, ...) are not in the vectors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from attnviz.capturing import run_batch
from attnviz.errors import EmptyInputError
from attnviz.scoring import corpus_batches
from attnviz.tree import Sentence

Progress = Callable[[int, int], None]
MAX_SENTENCES = 500  # a head map reads at most this many sentences
MAX_POINTS = 10_000  # points (queries + keys) per head; more are sampled down
SEED = 0
#: The columns of ``CorpusVectors.tokens``, one row per token kept.
TOKEN_COLUMNS = ("sentence", "position", "length", "token", "special", "word_index", "word", "pos", "relation", "start", "end")
KINDS = ("query", "key")


class _Words(NamedTuple):
    """What ``corpus_batches`` reads of a sentence: its words."""

    words: list[str]


@dataclass(frozen=True, eq=False)
class CorpusVectors:
    """One layer's queries and keys of every token kept from a corpus (H heads, N tokens, d = d_head).

    queries, keys:  float32 (H, N, d), as the model used them (after rotary position embeddings, where a family has them)
    tokens:         DataFrame of N rows (``TOKEN_COLUMNS``): ``sentence`` (index in the corpus given), ``position``
                    (token index in its sentence, 0 = the first token, e.g. [CLS]), ``length`` (tokens the model read
                    of that sentence), ``token``, ``special``, ``word_index`` (-1 for a special token), ``word``,
                    ``pos`` and ``relation`` (of the word; None when the corpus has none), ``start``/``end`` (the
                    token's characters in ``texts[sentence]``)
    texts:          per corpus index, the text the model read (the words joined by spaces; "" for a sentence left out)
    originals:      per corpus index, the sentence as written (CoNLL-U's ``# text``, the parsed or given text)
    scale:          the layer's factor on q · k (1/sqrt(d) for BERT)
    meta:           n_sentences (read), n_tokens (before sampling), unreadable (sentences left out), sampled
                    ((kept, of) tokens, or None), seed, seconds, specials, max_tokens
    """

    layer: int
    queries: np.ndarray
    keys: np.ndarray
    tokens: pd.DataFrame
    texts: list[str]
    originals: list[str]
    scale: float = 1.0
    model_name: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_heads(self) -> int:
        return self.queries.shape[0]

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def has_pos(self) -> bool:
        return bool(self.tokens["pos"].notna().any())

    @property
    def has_relations(self) -> bool:
        return bool(self.tokens["relation"].notna().any())

    def sample(self, max_points: int = MAX_POINTS, seed: int = SEED) -> CorpusVectors:
        """At most ``max_points`` points per head (a token is two: its query and its key): these vectors when they fit,
        else ``max_points // 2`` tokens drawn at random with ``seed`` (the same tokens for every head, kept in corpus
        order; the same seed gives the same sample). ``meta["sampled"]`` = (tokens kept, tokens there were)."""
        keep = max(1, max_points // 2)
        if self.n_tokens <= keep:
            return self
        chosen = np.sort(np.random.default_rng(seed).choice(self.n_tokens, size=keep, replace=False))
        return replace(self, queries=np.ascontiguousarray(self.queries[:, chosen]),
                       keys=np.ascontiguousarray(self.keys[:, chosen]),
                       tokens=self.tokens.iloc[chosen].reset_index(drop=True),
                       meta={**self.meta, "sampled": (keep, self.n_tokens), "seed": seed})


def _item(item: Sentence | str) -> tuple[list[str], list[str] | None, list[str] | None, str]:
    """(words, their POS or None, their relations or None, the text as written) of a corpus item."""
    if isinstance(item, Sentence):
        original = item.meta.get("text") or item.text
        return list(item.words), item.pos, item.relations, original
    if isinstance(item, str):
        return item.split(), None, None, item
    raise TypeError(f"a head map reads Sentences or texts (str), not {type(item).__name__}")


def _check(model, n_items: int, layer: int, max_sentences: int) -> None:
    if n_items > max_sentences:
        raise ValueError(f"A head map reads at most {max_sentences} sentences per request; {n_items:,} were asked for. "
                         f"Use the first {max_sentences}.")
    if not 0 <= layer < model.n_layers:
        raise ValueError(f"layer {layer} does not exist: {model.name or 'the model'} has layers 0..{model.n_layers - 1} "
                         "(0-based here; 1-based in the app)")


def collect_vectors(
    model,
    corpus: Sequence[Sentence | str],
    layer: int,
    *,
    specials: bool = True,
    causal: bool = False,
    max_sentences: int = MAX_SENTENCES,
    max_tokens: int | None = None,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> CorpusVectors:
    """Capture ``corpus`` (Sentences or texts) with ``qk=True`` and keep layer ``layer``'s (0-based) queries and keys
    of every real token, for all its heads (see the module's docstring).

    ``specials=False`` leaves [CLS]/[SEP]/... out. ``max_tokens`` cuts each sentence (the hosted app: 128).
    ``progress(done, total)`` gets sentence counts after every batch (as ``score_heads``). Raises ValueError for more
    than ``max_sentences`` sentences (the limit named) or a layer the model lacks, and EmptyInputError when nothing is
    left to map (no sentence with a word, or none with a word the model reads once cut to ``max_tokens``).
    ``UnsupportedLogitsError`` for a model whose logits attnviz cannot decompose (``attnviz.logits``).
    """
    items = [_item(x) for x in corpus]
    _check(model, len(items), layer, max_sentences)
    readable = [i for i, (words, *_) in enumerate(items) if words]
    if not readable:
        raise EmptyInputError("There are no sentences to map: the corpus is empty, or none of its sentences has a word.")
    start = time.perf_counter()
    total = len(readable)
    if progress:
        progress(0, total)
    texts, originals = [""] * len(items), [original for *_, original in items]
    queries, keys, rows = [], [], []
    scale, done = 1.0, 0
    for batch in corpus_batches(model, [_Words(items[i][0]) for i in readable], batch_size, max_tokens):
        terms = run_batch(model, batch, causal, values=False, qk=True).logits["self"]
        scale = float(terms.scale[layer])
        q, k = terms.queries[layer], terms.keys[layer]  # (rows, H, T, d)
        for row, (index, encoded) in enumerate(zip(batch.indexes, batch.encoded)):
            corpus_index = readable[index]
            words, pos, relations, _ = items[corpus_index]
            texts[corpus_index] = encoded.text
            kept = [t for t in range(len(encoded.ids)) if specials or not encoded.special[t]]
            queries.append(q[row][:, kept])  # (H, kept, d)
            keys.append(k[row][:, kept])
            rows.extend(_token_rows(corpus_index, encoded, kept, words, pos, relations))
        done += len(batch.indexes)
        if progress:
            progress(done, total)
    if not rows:  # every sentence unreadable: plan_batches left it out (a readable one keeps a non-special token)
        which = "any sentence" if total > 1 else "the sentence"
        raise EmptyInputError(f"No tokens are left to map: the model reads no word of {which}"
                              + (f" cut to {max_tokens} tokens" if max_tokens else " (only characters its tokenizer drops)") + ".")
    meta = {"n_sentences": done, "n_tokens": len(rows), "unreadable": len(items) - done, "sampled": None, "seed": None,
            "seconds": time.perf_counter() - start, "specials": specials, "max_tokens": max_tokens}
    return _in_corpus_order(layer, queries, keys, rows, texts, originals, scale, getattr(model, "name", ""), meta)


def _in_corpus_order(layer: int, queries: list, keys: list, rows: list[tuple], texts: list[str], originals: list,
                     scale: float, model_name: str, meta: dict) -> CorpusVectors:
    """The batches' vectors and token rows as one CorpusVectors, in corpus order (sentence, then position)."""
    tokens = pd.DataFrame(rows, columns=list(TOKEN_COLUMNS))
    order = np.lexsort((tokens["position"].to_numpy(), tokens["sentence"].to_numpy()))
    return CorpusVectors(
        layer=layer, queries=np.ascontiguousarray(np.concatenate(queries, axis=1)[:, order], dtype=np.float32),
        keys=np.ascontiguousarray(np.concatenate(keys, axis=1)[:, order], dtype=np.float32),
        tokens=tokens.iloc[order].reset_index(drop=True), texts=texts, originals=originals, scale=scale,
        model_name=model_name, meta=meta,
    )


def _token_rows(corpus_index: int, encoded, kept: list[int], words: list[str], pos, relations) -> list[tuple]:
    """One ``TOKEN_COLUMNS`` row per kept token of one sentence: its word found by character offsets in the words
    joined by spaces (the text the model read)."""
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    out = []
    for t in kept:
        a, b = encoded.offsets[t]
        special = bool(encoded.special[t])
        w = -1 if special else int(np.searchsorted(starts, a, side="right") - 1)
        w = w if 0 <= w < len(words) else -1
        out.append((corpus_index, t, len(encoded.ids), encoded.tokens[t], special, w, words[w] if w >= 0 else "",
                    pos[w] if pos is not None and w >= 0 else None, relations[w] if relations is not None and w >= 0 else None,
                    int(a), int(b)))
    return out


# ---------------------------------------------------------------- placement and projection


def translate_keys(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The keys moved by one vector so that their centroid is the queries' (rows are vectors): each query's logits
    all change by the same amount, so no softmax changes."""
    return keys + (queries.mean(axis=0) - keys.mean(axis=0))


def match_norms(queries: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(c·queries, keys / c, c) with c = sqrt(mean ‖k‖ / mean ‖q‖): the mean norms become equal, every q · k stays."""
    nq, nk = np.linalg.norm(queries, axis=1).mean(), np.linalg.norm(keys, axis=1).mean()
    c = float(np.sqrt(nk / nq)) if nq > 0 and nk > 0 else 1.0
    return queries * c, keys / c, c


class Placement(NamedTuple):
    queries: np.ndarray
    keys: np.ndarray
    scale: float  # c: queries multiplied by it, keys divided by it


def place(queries: np.ndarray, keys: np.ndarray) -> Placement:
    """AttentionViz's placement of one head's queries and keys (rows are vectors; see the module's docstring): keys
    translated to the queries' centroid, both scaled to equal mean norms, keys translated to the (scaled) queries'
    centroid again. Every softmax over keys is what the model computed."""
    q = np.asarray(queries, dtype=np.float64)
    k = translate_keys(q, np.asarray(keys, dtype=np.float64))
    q, k, c = match_norms(q, k)
    return Placement(q, translate_keys(q, k), c)


class Projection(NamedTuple):
    queries: np.ndarray  # float32 (N, 2)
    keys: np.ndarray  # float32 (M, 2)
    explained: np.ndarray  # float64 (2,): the share of the placed vectors' variance along each axis
    scale: float  # the placement's c


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points projected on their two principal axes (n, 2), the share of the variance along each): numpy's SVD of the
    centred points; each axis's sign is fixed (its largest loading positive) so that a map does not flip between runs."""
    x = points - points.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    vt = vt[:2]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    vt = vt * np.where(signs == 0, 1, signs)[:, None]
    xy = x @ vt.T
    if xy.shape[1] < 2:  # one dimension (d_head 1): a flat second axis
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    variance = s**2
    total = variance.sum()
    explained = np.zeros(2)
    explained[: min(2, len(variance))] = (variance[:2] / total) if total > 0 else 0.0
    return xy, explained


def project(queries: np.ndarray, keys: np.ndarray) -> Projection:
    """One head's queries (N, d) and keys (M, d) placed (``place``) and projected together by PCA (``pca_2d``)."""
    placed = place(queries, keys)
    xy, explained = pca_2d(np.concatenate([placed.queries, placed.keys]))
    n = len(placed.queries)
    return Projection(xy[:n].astype(np.float32), xy[n:].astype(np.float32), explained, placed.scale)


@dataclass(frozen=True, eq=False)
class HeadMap:
    """Every head of one layer as a map: ``xy`` (H, 2, N, 2) float32 (head, query | key, token, x | y), with
    ``explained`` (H, 2), each axis's share of the variance, and ``scales`` (H,), each head's c (``place``).
    ``vectors`` holds the tokens (``tokens``), their sentences and what was sampled (``meta``)."""

    vectors: CorpusVectors
    xy: np.ndarray
    explained: np.ndarray
    scales: np.ndarray

    @property
    def tokens(self) -> pd.DataFrame:
        return self.vectors.tokens

    @property
    def layer(self) -> int:
        return self.vectors.layer

    @property
    def n_heads(self) -> int:
        return self.xy.shape[0]

    @property
    def meta(self) -> dict:
        return self.vectors.meta

    def drawn_only(self) -> HeadMap:
        """This map without the queries and keys it was projected from (what a map needs to be drawn and hovered: 1.5 MB
        for 5,000 tokens of MiniLM's 12 heads, whose vectors are 15 MB more; the app keeps its maps so)."""
        empty = np.zeros((self.vectors.n_heads, 0, self.vectors.queries.shape[-1]), dtype=np.float32)
        return replace(self, vectors=replace(self.vectors, queries=empty, keys=empty))

    def points(self, head: int) -> pd.DataFrame:
        """Head ``head``'s (0-based) points: its queries, then its keys; columns x, y, kind and the token's."""
        n = self.vectors.n_tokens
        tokens = pd.concat([self.tokens, self.tokens], ignore_index=True)
        xy = self.xy[head].reshape(2 * n, 2)
        return tokens.assign(x=xy[:, 0], y=xy[:, 1], kind=np.repeat(KINDS, n))[["x", "y", "kind", *TOKEN_COLUMNS]]


def map_heads(vectors: CorpusVectors) -> HeadMap:
    """Every head of ``vectors`` projected (``project``)."""
    projections = [project(vectors.queries[h], vectors.keys[h]) for h in range(vectors.n_heads)]
    xy = np.stack([np.stack([p.queries, p.keys]) for p in projections]).astype(np.float32)
    return HeadMap(vectors, xy, np.stack([p.explained for p in projections]), np.array([p.scale for p in projections]))


def head_map(
    model,
    corpus: Sequence[Sentence | str],
    layer: int,
    *,
    specials: bool = True,
    causal: bool = False,
    max_points: int = MAX_POINTS,
    seed: int = SEED,
    max_sentences: int = MAX_SENTENCES,
    max_tokens: int | None = None,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> HeadMap:
    """Every head of layer ``layer`` (0-based) over ``corpus``: ``collect_vectors``, ``CorpusVectors.sample`` to at most
    ``max_points`` points per head, then ``map_heads``. The arguments and errors are ``collect_vectors``'s."""
    vectors = collect_vectors(model, corpus, layer, specials=specials, causal=causal, max_sentences=max_sentences,
                              max_tokens=max_tokens, batch_size=batch_size, progress=progress)
    return map_heads(vectors.sample(max_points, seed))
