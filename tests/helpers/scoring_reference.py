"""The plain per-sentence reference scorer that ``attnviz.scoring.score_heads`` is checked against
(tests/lib/test_scoring_reference.py, whose docstring says how it counts, and tests/lib/test_head_scores.py).

One sentence at a time with plain loops and numpy, following Clark et al. (2019) directly and deliberately
NOT using attnviz's merge (``attnviz.words``) or alignment code; the beyond-position figures recounted
from the same per-arc predictions in exact fractions (``beyond_reference``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

import attnviz
from attnviz.head_scores import OFFSETS
from attnviz.tree import base_relation


def word_spans(words: list[str]) -> list[tuple[int, int]]:
    """Character (start, end) of each word in " ".join(words), counted by hand."""
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    return spans


def tokens_of_words(run, words: list[str]) -> dict[int, list[int]]:
    """word index -> token positions, from the run's character offsets (specials belong to no word)."""
    spans = word_spans(words)
    owned: dict[int, list[int]] = {}
    for t, ((start, end), special) in enumerate(zip(run.offsets, run.special)):
        if special or end <= start:
            continue
        for w, (ws, we) in enumerate(spans):
            if start < we and end > ws:  # overlap: a token never crosses the space between words
                owned.setdefault(w, []).append(t)
                break
    return owned


def word_attention(attention: np.ndarray, owned: dict[int, list[int]], n_words: int, to: str = "sum") -> np.ndarray:
    """float64 [layers, heads, n, n]: from word i (mean over its tokens) to word j (``to`` over its tokens).

    Words absent from the input stay 0 (they are never candidates, see ``predictions``).
    """
    att = np.asarray(attention, dtype=np.float64)
    layers, heads = att.shape[:2]
    out = np.zeros((layers, heads, n_words, n_words))
    for i, rows in owned.items():
        for j, cols in owned.items():
            per_row = []
            for q in rows:
                block = att[:, :, q, cols]  # [layers, heads, tokens of j]
                per_row.append(block.sum(axis=-1) if to == "sum" else block.mean(axis=-1))
            out[:, :, i, j] = np.mean(per_row, axis=0)
    return out


def predictions(words_att: np.ndarray, present: list[int]) -> np.ndarray:
    """int [layers, heads, n]: each present word's most-attended other present word (-1: none)."""
    layers, heads, n, _ = words_att.shape
    pred = np.full((layers, heads, n), -1)
    for i in present:
        others = [j for j in present if j != i]
        if others:
            pred[:, :, i] = np.asarray(others)[words_att[:, :, i, others].argmax(axis=-1)]  # first max on a tie
    return pred


def reference_scores(model, sentences, to: str = "sum", runs: dict | None = None) -> dict:
    """Per relation: arcs, hits [layers, heads, 2], baseline hits [len(OFFSETS)], and each arc as
    (offset, hits [layers, heads, 2]) for ``beyond_reference``; plus totals.

    ``runs``: a dict that keeps each sentence's capture, to score the same runs again.
    """
    runs = {} if runs is None else runs
    counts: dict[str, int] = {}
    hits: dict[str, np.ndarray] = {}
    baseline: dict[str, np.ndarray] = {}
    arcs: dict[str, list] = {}
    skipped = n_words = n_sentences = multi_piece = 0
    for sentence in sentences:
        words = list(sentence.words)
        if not words:
            continue
        if tuple(words) not in runs:
            runs[tuple(words)] = attnviz.capture(model, words)
        run = runs[tuple(words)]
        assert run.text == " ".join(words)
        owned = tokens_of_words(run, words)
        if not owned:  # nothing the model can read: score_heads leaves the sentence out
            continue
        n_sentences += 1
        n_words += len(words)
        multi_piece += sum(len(ts) > 1 for ts in owned.values())
        present = sorted(owned)
        pred = predictions(word_attention(run.attention, owned, len(words), to), present)
        for dep, head, relation in sentence.arcs:
            if dep not in owned or head not in owned or dep == head:
                skipped += 1
                continue
            rel = base_relation(relation)
            counts[rel] = counts.get(rel, 0) + 1
            arc_hits = np.stack([pred[:, :, dep] == head, pred[:, :, head] == dep], axis=-1)  # dependent -> head, head -> dependent
            hits.setdefault(rel, np.zeros(pred.shape[:2] + (2,), dtype=np.int64))[...] += arc_hits
            arcs.setdefault(rel, []).append((head - dep, arc_hits))
            b = baseline.setdefault(rel, np.zeros(len(OFFSETS), dtype=np.int64))
            if head - dep in OFFSETS:
                b[OFFSETS.index(head - dep)] += 1
    return {"counts": counts, "hits": hits, "baseline": baseline, "arcs": arcs, "skipped": skipped, "n_words": n_words,
            "n_sentences": n_sentences, "multi_piece": multi_piece}


def assert_equal_to_reference(scores, ref: dict) -> None:
    assert dict(zip(scores.relations, scores.counts.tolist())) == ref["counts"]
    assert scores.n_skipped_arcs == ref["skipped"]
    assert (scores.n_sentences, scores.n_words) == (ref["n_sentences"], ref["n_words"])
    wrong = []
    for r, rel in enumerate(scores.relations):
        assert scores.hits[r].shape == ref["hits"][rel].shape
        for layer, head, direction in np.argwhere(scores.hits[r] != ref["hits"][rel]):
            wrong.append(f"{rel} {layer + 1}-{head + 1} dir {direction}: batched {scores.hits[r, layer, head, direction]}"
                         f" reference {ref['hits'][rel][layer, head, direction]}")
        assert scores.baseline_hits[r].tolist() == ref["baseline"][rel].tolist(), rel
    assert not wrong, f"{len(wrong)} (relation, head, direction) cells differ:\n" + "\n".join(wrong[:20])


NEAREST_FIRST = (-1, 1, -2, 2, -3, 3)


def beyond_reference(arcs: dict[str, list], min_hard: int = 50) -> dict:
    """From (offset, hits [layers, heads, 2]) per arc of each relation: k*, hard arcs, hard hits, and
    the credited head as (layer, head, direction, passes) or None with fewer than ``min_hard`` hard arcs."""
    out = {"k_star": {}, "hard_counts": {}, "hard_hits": {}, "credit": {}}
    for rel, items in arcs.items():
        k_star, best_n = NEAREST_FIRST[0], -1
        for k in NEAREST_FIRST:  # the most frequent offset; a tie keeps the nearer one
            n = sum(offset == k for offset, _ in items)
            if n > best_n:
                k_star, best_n = k, n
        hard = [h for offset, h in items if offset != k_star]
        hard_hits = sum(hard, np.zeros_like(items[0][1], dtype=np.int64))
        all_hits = sum((h for _, h in items), np.zeros_like(items[0][1], dtype=np.int64))
        out["k_star"][rel], out["hard_counts"][rel], out["hard_hits"][rel] = k_star, len(hard), hard_hits
        credit, most = None, -1
        if len(hard) >= min_hard:
            layers, heads = hard_hits.shape[:2]
            for layer in range(layers):
                for head in range(heads):
                    d = 0 if hard_hits[layer, head, 0] >= hard_hits[layer, head, 1] else 1
                    if hard_hits[layer, head, d] > most:
                        most = hard_hits[layer, head, d]
                        baseline = Fraction(best_n, len(items))
                        passes = Fraction(int(all_hits[layer, head, d]), len(items)) >= baseline + Fraction(1, 10)
                        credit = (layer, head, d, passes)
        out["credit"][rel] = credit
    return out


def assert_beyond_equal_to_reference(scores, ref: dict, min_hard: int = 50) -> dict:
    """hard arcs, hard hits, k* and credits of ``scores`` equal ``beyond_reference`` of the plain recount."""
    beyond = beyond_reference(ref["arcs"], min_hard)
    offsets, _ = scores.best_baseline()
    assert dict(zip(scores.relations, offsets.tolist())) == beyond["k_star"]
    assert dict(zip(scores.relations, scores.hard_counts.tolist())) == beyond["hard_counts"]
    for r, rel in enumerate(scores.relations):
        assert scores.hard_hits[r].tolist() == beyond["hard_hits"][rel].tolist(), rel
    credits = {c.relation: (c.layer, c.head, c.direction, c.passes) for c in scores.credits(min_hard)}
    assert credits == {rel: c for rel, c in beyond["credit"].items() if c is not None}
    for c in scores.credits(min_hard):
        assert c.hard_arcs == beyond["hard_counts"][c.relation] and c.baseline_offset == beyond["k_star"][c.relation]
        assert c.beyond == beyond["hard_hits"][c.relation][c.layer, c.head, c.direction] / c.hard_arcs
    return beyond
