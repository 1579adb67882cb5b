"""Heads vs. syntax: which attention heads track which dependency relations (Clark et al. 2019).

    sentences = attnviz.conllu_io.read_conllu("en_ewt-ud-dev.conllu")
    scores = score_heads(model, sentences, progress=lambda done, total: ...)
    scores.table()           # relation, arcs, best head "L-H", direction, accuracy, baseline,
                             # hard arcs, the best head beyond position, Voita's flag
    scores.matrix_frame()    # relation x head accuracy, for a heatmap
    scores.credits()         # per relation, the head credited beyond position

The result type, ``HeadScores``, and what counts beyond position (hard arcs, credits,
Voita's flag) are in ``attnviz.head_scores``; one sentence's arcs against every head in
``attnviz.sentence_scores``.

The method of "What Does BERT Look At?" (Clark et al., 2019), section 4.2:

* attention is taken at the word level: attention *to* a word is the sum over its
  tokens, attention *from* a word the mean over its tokens;
* a head's prediction for a word is the other word it attends to most (the word itself
  and special tokens are excluded);
* for a relation, a head's accuracy is the share of the relation's arcs it predicts,
  counted separately in both directions - dependent->head (the dependent's most-attended
  word is its head) and head->dependent (the head's most-attended word is the
  dependent) - and the better direction is reported;
* the baseline of a relation is the best fixed offset: always predict the word k
  positions from the dependent, k in -3..3 except 0;
* the hard arcs of a relation are those whose head is not at that best offset, and a
  head's beyond-position accuracy is the share of them it predicts.

Layers and heads are 1-based in labels and tables ("3-1" = layer 3, head 1), as in the paper.

Corpus scoring runs the model in the length-sorted, padded batches of ``capture_batch``
(its two steps ``plan_batches`` and ``run_batch``) and scores with array operations: per
batch, one merge of token attention into words and one argmax for all layers and heads
(torch, on the recorded weights); the arcs of the whole corpus are then compared and
counted at once (numpy). No Python loop runs per word or per arc.

Command line: ``attnviz heads`` (``attnviz.cli``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from itertools import chain

import numpy as np
import torch

from attnviz.alignment import Alignment, align_rows
from attnviz.capturing import run_batch
from attnviz.encoding import Batch, plan_batches
from attnviz.head_scores import NEAREST_FIRST, OFFSETS, HeadScores
from attnviz.measures import MeasureUnavailableError
from attnviz.tree import Sentence, base_relation, joined_spans
from attnviz.words import pool

Progress = Callable[[int, int], None]
STACK_BYTES = 128 * 2**20  # scoring stacks the layers of a batch up to this size
RECORD_BYTES = 512 * 2**20  # a batch is split when its recorded attention would exceed this


# ---------------------------------------------------------------- scoring core


class _Scorer:
    """Collects per-sentence predictions; compares and counts all arcs at once in ``result``.

    Per sentence only its predictions are kept; heads, relations and the word -> unit maps
    of all sentences are concatenated and compared as whole arrays at the end.
    """

    def __init__(self, subtypes: bool = False):
        self.subtypes = subtypes
        self.preds: list[np.ndarray] = []  # [L, H, U]: the most-attended unit, as a global unit index
        self.unit_of_word: list[np.ndarray] = []  # global unit index of each word, -1 if absent
        self.sentences: list[Sentence] = []
        self.n_units = 0
        self.shape: tuple[int, int] | None = None

    def add(self, unit_attention: np.ndarray, unit_of_word: np.ndarray, sentence: Sentence, owned: bool = False) -> None:
        """unit_attention [L, H, U, U]; unit_of_word [n words] (-1 = not in the model's input).

        ``owned=True``: the array may be changed in place (its diagonal is overwritten).
        """
        att = np.asarray(unit_attention, dtype=np.float32)
        if att.ndim != 4 or att.shape[-1] != att.shape[-2]:
            raise ValueError(f"attention must be [layers, heads, words, words], not {att.shape}")
        if len(unit_of_word) != len(sentence.words):
            raise ValueError(f"{len(unit_of_word)} unit indexes for {len(sentence.words)} words")
        if self.shape is None:
            self.shape = att.shape[:2]
        elif att.shape[:2] != self.shape:
            raise ValueError(f"every sentence needs the same layers and heads: {att.shape[:2]} after {self.shape}")
        att = np.ascontiguousarray(att) if owned else att.copy()
        n_units = att.shape[-1]
        att.reshape(-1, n_units * n_units)[:, :: n_units + 1] = -np.inf  # a word never predicts itself
        self.add_predictions(att.argmax(axis=-1)[None], [n_units], [unit_of_word], [sentence])

    def add_predictions(self, pred: np.ndarray, n_units: Sequence[int], unit_of_word: Sequence[np.ndarray],
                        sentences: Sequence[Sentence]) -> None:
        """A batch of sentences at once: pred [rows, L, H, U], the most-attended other unit of each unit of each
        row (row r's first ``n_units[r]`` units are its own; the rest, padding, is never read); ``unit_of_word``
        of each row as in ``add``. The rows' units are numbered on from the sentences before, in one pass
        (per sentence, these steps took 14 ms of 2.7 s over UD EWT dev)."""
        if self.shape is None:
            self.shape = pred.shape[1:3]
        sizes = np.asarray(n_units, dtype=np.int64)
        first = self.n_units + np.cumsum(sizes) - sizes  # the global index of each row's first unit
        own = np.arange(pred.shape[-1]) < sizes[:, None]  # [rows, U]: the row's own units
        numbered = (pred + first[:, None, None, None].astype(pred.dtype)).astype(np.int32, copy=False)
        self.preds.append(numbered.transpose(1, 2, 0, 3)[:, :, own])  # [L, H, the batch's units, row by row]
        words = np.concatenate([np.asarray(u, dtype=np.int64) for u in unit_of_word])
        at = np.repeat(first, [len(u) for u in unit_of_word])
        self.unit_of_word.append(np.where(words >= 0, words + at, -1))
        self.sentences.extend(sentences)
        self.n_units += int(sizes.sum())

    def result(self, model_name: str = "", meta: dict | None = None) -> HeadScores:
        if not self.preds:
            raise ValueError("no sentences were scored")
        layers, heads = self.shape
        sentences = self.sentences
        sizes = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        first_word = np.cumsum(sizes) - sizes
        local_head = np.fromiter(chain.from_iterable(s.syntactic_heads for s in sentences), dtype=np.int64, count=int(sizes.sum()))
        local_dep = np.arange(len(local_head)) - np.repeat(first_word, sizes)
        unit_of_word = np.concatenate(self.unit_of_word)
        has_head = local_head >= 0
        dep = np.flatnonzero(has_head)  # global word index of every dependent
        head = (local_head + np.repeat(first_word, sizes))[dep]
        ud, uh = unit_of_word[dep], unit_of_word[head]
        ok = (ud >= 0) & (uh >= 0) & (ud != uh)  # both ends read by the model, as different units
        dep, ud, uh = dep[ok], ud[ok], uh[ok]
        offsets = local_head[dep] - local_dep[dep]
        labels = np.asarray(list(chain.from_iterable(s.relations for s in sentences)), dtype=object)[dep]

        names, inverse = np.unique(labels.astype(str), return_inverse=True)
        if not self.subtypes:  # nmod:poss -> nmod, on the distinct labels only
            names, remap = np.unique(np.asarray([base_relation(n) for n in names], dtype=str), return_inverse=True)
            inverse = remap[inverse] if len(inverse) else inverse
        n_rel = len(names)
        counts = np.bincount(inverse, minlength=n_rel)
        order = np.lexsort((names, -counts))  # most frequent first, then by name
        rank = np.empty(n_rel, dtype=np.int64)
        rank[order] = np.arange(n_rel)
        onehot = np.zeros((len(inverse), n_rel), dtype=np.float32)
        onehot[np.arange(len(inverse)), rank[inverse]] = 1.0

        pred = np.concatenate(self.preds, axis=-1).reshape(layers * heads, -1)  # [L*H, all units]
        baseline = ((offsets[:, None] == np.asarray(OFFSETS)[None, :]).astype(np.float32).T @ onehot).T.round()
        k_star = np.asarray(OFFSETS)[NEAREST_FIRST[baseline[:, NEAREST_FIRST].argmax(axis=1)]]  # [R]: the baseline offset
        hard = onehot * (offsets != k_star[rank[inverse]])[:, None]  # [arcs, R]: the arcs whose head is not at k*
        per = np.concatenate([onehot, hard], axis=1)  # all arcs, then hard arcs, of each relation
        hits = np.empty((2 * n_rel, layers * heads, 2), dtype=np.int64)
        hits[..., 0] = ((pred[:, ud] == uh).astype(np.float32) @ per).T.round()  # dependent -> head
        hits[..., 1] = ((pred[:, uh] == ud).astype(np.float32) @ per).T.round()  # head -> dependent
        hits = hits.reshape(2, n_rel, layers, heads, 2)
        return HeadScores(
            relations=[str(n) for n in names[order]], counts=counts[order].astype(np.int64),
            hits=hits[0], baseline_hits=baseline.astype(np.int64),
            hard_counts=hard.sum(axis=0).round().astype(np.int64), hard_hits=hits[1],
            model_name=model_name, n_sentences=len(sentences), n_words=int(sizes.sum()),
            n_skipped_arcs=int(len(ok) - ok.sum()), meta=dict(meta or {}),
        )


def scores_from_attention(
    word_attentions: Sequence[np.ndarray], sentences: Sequence[Sentence], subtypes: bool = False, model_name: str = ""
) -> HeadScores:
    """The pure scoring core: word-level attention [layers, heads, W, W] per sentence -> HeadScores.

    Row i of each array is how much word i attends to each word of its sentence (special
    tokens already left out; rows need not sum to 1). An array may cover only the first
    W' < W words (a truncated sentence): arcs touching the missing words are skipped.
    ``subtypes=False`` counts ``nmod:poss`` as ``nmod``.
    """
    if len(word_attentions) != len(sentences):
        raise ValueError(f"{len(word_attentions)} attention arrays for {len(sentences)} sentences")
    scorer = _Scorer(subtypes)
    for att, sentence in zip(word_attentions, sentences):
        n, width = len(sentence.words), np.shape(att)[-1]
        if width > n:
            raise ValueError(f"attention over {width} words for a sentence of {n} words")
        unit_of_word = np.where(np.arange(n) < width, np.arange(n), -1)
        scorer.add(att, unit_of_word, sentence)
    return scorer.result(model_name)


# ---------------------------------------------------------------- corpus scoring with a model


def _batch_predictions(batch, weights: torch.Tensor, sentences: Sequence[Sentence]) -> tuple[np.ndarray, list[Alignment]]:
    """Most-attended other unit of every unit, for a whole recorded batch at once.

    ``weights``: (layers, rows, heads, T, T), the recording's own array (``Recording.stack``: read in
    place, never copied). Each row's tokens are lined up with its sentence's words by ``align_rows``
    (character offsets in the space-joined words), then pooled into units by ``words.pool`` for all
    heads and a few layers at a time. Returns (pred [rows, layers, heads, U], the alignment of each row);
    U = the most units.
    """
    rows, width = batch.ids.shape
    alignments = align_rows([joined_spans(s.words) for s in sentences], [e.offsets for e in batch.encoded],
                            [e.special for e in batch.encoded])
    n_max = max(1, max(a.n_units for a in alignments))
    member = np.zeros((rows, n_max, width), dtype=np.float32)  # [rows, U, T]
    for row, a in enumerate(alignments):  # per sentence: plain array copies
        member[row, : a.n_units, : a.membership.shape[1]] = a.membership
    member_t = torch.from_numpy(member)[:, None]  # [rows, 1, U, T]: broadcast over heads (and layers, in front)
    layers, _, heads = weights.shape[:3]
    per = max(1, STACK_BYTES // (4 * rows * heads * n_max * width))  # layers per step: [per, rows, heads, U, T] at most
    preds = []
    with torch.inference_mode():
        for k in range(0, layers, per):
            units = pool(weights[k : k + per].float(), member_t)  # [per, rows, heads, U, U], a new tensor
            # a unit never predicts itself: one write of the diagonals (a -inf mask added over every value took 8 ms
            # of 2.7 s over UD EWT dev). Padding units need no mask: their columns are 0 and come after the row's own
            # units (>= 0; max picks the first of equal values), and their rows are never read. A row of one unit
            # may predict one, which no arc compares (an arc joins two different units of one sentence).
            units.diagonal(dim1=-2, dim2=-1).fill_(-torch.inf)
            # max's indices, not argmax: the same first index among equal values, twice as fast on rows this
            # short (2.5 ms vs 4.9 ms for a [6, 32, 12, 34, 34] batch here)
            preds.append(units.max(dim=-1).indices)  # [per, rows, heads, U]
    return torch.cat(preds).permute(1, 0, 2, 3).numpy(), alignments


def corpus_batches(model, sentences: Sequence[Sentence], batch_size: int = 32, max_tokens: int | None = None):
    """The batches ``score_heads`` runs: ``plan_batches`` of the sentences' words (length-sorted,
    padded; unreadable sentences left out), with a batch of long sentences split so that its
    recorded attention (rows x layers x heads x width^2 floats) stays under 512 MB.
    """
    out = []
    for batch in plan_batches(model, [s.words for s in sentences], max_tokens, batch_size, skip_empty=True):
        width = batch.ids.shape[1]
        rows = max(1, RECORD_BYTES // (4 * model.n_layers * model.n_heads * width * width))
        for k in range(0, len(batch.indexes), rows):
            part = slice(k, k + rows)
            encoded = batch.encoded[part]
            w = max(len(e.ids) for e in encoded)
            out.append(Batch(batch.indexes[part], encoded, batch.ids[part, :w], batch.attention_mask[part, :w]))
    return out


def score_heads(
    model,
    sentences: Sequence[Sentence],
    batch_size: int = 32,
    progress: Progress | None = None,
    subtypes: bool = False,
    max_tokens: int | None = None,
    measure: str = "attention",
) -> HeadScores:
    """Score every head of ``model`` (a LoadedModel) against every relation in ``sentences``.

    ``measure="value"`` scores value-weighted attention ‖α_ij f_h(x_j)‖ (``attnviz.measures``)
    instead of the raw weights: the norms come from the same forward pass.

    The model reads each sentence's words (joined by spaces; tokens are mapped back to the
    words by character offsets), in the length-sorted, padded batches of ``capture_batch``
    (``corpus_batches``: ``plan_batches``, then ``run_batch``); words are merged and the
    most-attended word found for the whole batch at once. ``progress(done, total)`` gets
    sentence counts after every batch. Words cut off by the model's maximum length are
    skipped (``HeadScores.n_skipped_arcs``); sentences the model cannot read at all are
    left out (``meta["unreadable_sentences"]``).
    """
    sentences = [s for s in sentences if len(s.words)]
    if not sentences:
        raise ValueError("There are no sentences to score.")
    if measure not in ("attention", "value"):
        raise ValueError(f"heads are scored on 'attention' or 'value' (value-weighted) attention, not {measure!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    start = time.perf_counter()
    total = len(sentences)
    if progress:
        progress(0, total)
    batches = corpus_batches(model, sentences, batch_size, max_tokens)
    scorer = _Scorer(subtypes)
    done = 0
    for batch in batches:
        rec = run_batch(model, batch, values=measure == "value")
        group = [sentences[i] for i in batch.indexes]
        weights = rec.stack("self")  # (layers, rows, heads, T, T)
        if measure == "value":
            if rec.values_missing:
                raise MeasureUnavailableError(f"value-weighted attention is not available: {rec.values_missing}")
            weights = weights * rec.norms("self")[:, :, :, None, :]  # α_ij ‖f_h(x_j)‖
        pred, alignments = _batch_predictions(batch, weights, group)
        del rec
        scorer.add_predictions(pred, [a.n_units for a in alignments], [a.unit_of_word for a in alignments], group)
        done += len(group)
        if progress:
            progress(done, total)
    if progress and done < total:
        progress(total, total)
    seconds = time.perf_counter() - start
    return scorer.result(
        getattr(model, "name", ""),
        meta={"seconds": seconds, "batch_size": batch_size, "unreadable_sentences": total - done, "subtypes": subtypes,
              "measure": measure},
    )
