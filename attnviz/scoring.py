"""Heads vs. syntax: which attention heads track which dependency relations (Clark et al. 2019).

    sentences = attnviz.conllu_io.read_conllu("en_ewt-ud-dev.conllu")
    scores = score_heads(model, sentences, progress=lambda done, total: ...)
    scores.table()           # relation, arcs, best head "L-H", direction, accuracy, baseline
    scores.matrix_frame()    # relation x head accuracy, for a heatmap

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
  positions from the dependent, k in -3..3 except 0.

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
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import pandas as pd
import torch

from attnviz.alignment import Alignment, align, align_spans
from attnviz.capture import Batch, plan_batches, run_batch
from attnviz.labels import head_label
from attnviz.measures import MeasureUnavailableError
from attnviz.tree import Sentence, base_relation, joined_spans
from attnviz.words import pool

OFFSETS = (-3, -2, -1, 1, 2, 3)
_NEAREST_FIRST = np.argsort([abs(k) for k in OFFSETS], kind="stable")  # ties go to -1, 1, -2, 2, -3, 3
DIRECTIONS = ("dependent->head", "head->dependent")
TABLE_COLUMNS = ["relation", "arcs", "best head", "direction", "accuracy", "baseline offset", "baseline accuracy"]

Progress = Callable[[int, int], None]
STACK_BYTES = 128 * 2**20  # scoring stacks the layers of a batch up to this size
RECORD_BYTES = 512 * 2**20  # a batch is split when its recorded attention would exceed this


# ---------------------------------------------------------------- the result


@dataclass(eq=False)
class HeadScores:
    """Per relation, how often each head's most-attended word is the other end of an arc.

    relations:      relation labels, most frequent first
    counts:         int [R]: arcs of each relation that were scored
    hits:           int [R, layers, heads, 2]: arcs predicted, per direction (see DIRECTIONS)
    baseline_hits:  int [R, len(OFFSETS)]: arcs whose head is k words from the dependent
    """

    relations: list[str]
    counts: np.ndarray
    hits: np.ndarray
    baseline_hits: np.ndarray
    model_name: str = ""
    n_sentences: int = 0
    n_words: int = 0
    n_skipped_arcs: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return self.hits.shape[1]

    @property
    def n_heads(self) -> int:
        return self.hits.shape[2]

    @property
    def n_arcs(self) -> int:
        return int(self.counts.sum())

    @property
    def head_labels(self) -> list[str]:
        """"1-1", "1-2", ... in the column order of ``matrix``."""
        return [head_label(layer, head) for layer in range(self.n_layers) for head in range(self.n_heads)]

    @property
    def accuracy(self) -> np.ndarray:
        """float [R, layers, heads, 2]: hits / arcs (NaN for a relation without arcs)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.hits / self.counts[:, None, None, None]

    @property
    def baseline(self) -> np.ndarray:
        """float [R, len(OFFSETS)]: accuracy of each fixed offset."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.baseline_hits / self.counts[:, None]

    def best_baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """(offset [R], accuracy [R]) of the best fixed offset of each relation (ties: the nearer offset)."""
        k = _NEAREST_FIRST[self.baseline_hits[:, _NEAREST_FIRST].argmax(axis=1)]
        return np.asarray(OFFSETS)[k], self.baseline[np.arange(len(self.relations)), k]

    def matrix(self, direction: str | None = None) -> np.ndarray:
        """float [R, layers * heads] for a heatmap: the better direction, or one of DIRECTIONS."""
        acc = self.accuracy
        acc = acc.max(axis=-1) if direction is None else acc[..., DIRECTIONS.index(direction)]
        return acc.reshape(len(self.relations), self.n_layers * self.n_heads)

    def matrix_frame(self, direction: str | None = None) -> pd.DataFrame:
        """``matrix`` as a DataFrame: index = relations, columns = "L-H" labels."""
        return pd.DataFrame(self.matrix(direction), index=pd.Index(self.relations, name="relation"), columns=self.head_labels)

    def best(self) -> pd.DataFrame:
        """Per relation: the best head as 0-based layer and head, its direction and accuracy."""
        flat = self.hits.reshape(len(self.relations), self.n_layers * self.n_heads * 2)  # (layer, head, direction)
        k = flat.argmax(axis=1)  # ties: the lowest layer, then head, then dependent->head
        layer, head, direction = np.unravel_index(k, self.hits.shape[1:])
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = flat[np.arange(len(k)), k] / self.counts
        return pd.DataFrame({"relation": self.relations, "layer": layer, "head": head, "direction": direction, "accuracy": acc})

    def table(self, min_count: int = 1) -> pd.DataFrame:
        """relation, arcs, best head ("L-H"), direction, accuracy, baseline offset and accuracy.

        Relations with fewer than ``min_count`` arcs are left out; most frequent first.
        """
        best = self.best()
        offset, base = self.best_baseline()
        frame = pd.DataFrame({
            "relation": self.relations,
            "arcs": self.counts.astype(int),
            "best head": [head_label(layer, head) for layer, head in zip(best["layer"], best["head"])],
            "direction": [DIRECTIONS[d] for d in best["direction"]],
            "accuracy": best["accuracy"].to_numpy(dtype=float),
            "baseline offset": offset.astype(int),
            "baseline accuracy": np.asarray(base, dtype=float),
        }, columns=TABLE_COLUMNS)
        return frame[frame["arcs"] >= max(min_count, 1)].reset_index(drop=True)

    def to_csv(self, path=None, min_count: int = 1) -> str | None:
        """The table as CSV: written to ``path``, or returned as a string."""
        return self.table(min_count).to_csv(path, index=False, float_format="%.4f")


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
        self.add_predictions(att.argmax(axis=-1), unit_of_word, sentence)

    def add_predictions(self, pred: np.ndarray, unit_of_word: np.ndarray, sentence: Sentence) -> None:
        """pred [L, H, U]: the most-attended other unit of each unit; unit_of_word as in ``add``."""
        if self.shape is None:
            self.shape = pred.shape[:2]
        n_units = pred.shape[-1]
        self.preds.append(pred.astype(np.int32) + self.n_units)
        unit_of_word = np.asarray(unit_of_word, dtype=np.int64)
        self.unit_of_word.append(np.where(unit_of_word >= 0, unit_of_word + self.n_units, -1))
        self.sentences.append(sentence)
        self.n_units += n_units

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
        hits = np.empty((n_rel, layers * heads, 2), dtype=np.int64)
        hits[..., 0] = ((pred[:, ud] == uh).astype(np.float32) @ onehot).T.round()  # dependent -> head
        hits[..., 1] = ((pred[:, uh] == ud).astype(np.float32) @ onehot).T.round()  # head -> dependent
        baseline = ((offsets[:, None] == np.asarray(OFFSETS)[None, :]).astype(np.float32).T @ onehot).T.round()
        return HeadScores(
            relations=[str(n) for n in names[order]], counts=counts[order].astype(np.int64),
            hits=hits.reshape(n_rel, layers, heads, 2), baseline_hits=baseline.astype(np.int64),
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


def _batch_predictions(batch, weights: list, sentences: Sequence[Sentence]) -> tuple[np.ndarray, list[Alignment]]:
    """Most-attended other unit of every unit, for a whole recorded batch at once.

    ``weights``: per layer (rows, heads, T, T) as recorded. Each row's tokens are lined up
    with its sentence's words by ``align_spans`` (character offsets in the space-joined
    words), then pooled into units by ``words.pool`` for all layers and heads at once.
    Returns (pred [rows, layers, heads, U], the alignment of each row); U = the most units.
    """
    rows, width = batch.ids.shape
    alignments = [align_spans(joined_spans(s.words), e.offsets, e.special) for e, s in zip(batch.encoded, sentences)]
    n_max = max(1, max(a.n_units for a in alignments))
    member = np.zeros((rows, n_max, width), dtype=np.float32)  # [rows, U, T]
    present = np.zeros((rows, n_max), dtype=bool)
    for row, a in enumerate(alignments):  # per sentence: plain array copies
        member[row, : a.n_units, : a.membership.shape[1]] = a.membership
        present[row, : a.n_units] = True
    member_t = torch.from_numpy(member)[:, None]  # [rows, 1, U, T]: broadcast over layers x heads
    blocked = torch.from_numpy(~present[:, None, :] | np.eye(n_max, dtype=bool))[:, None]  # [rows, 1, U, U]
    heads = weights[0].shape[1]
    per = max(1, STACK_BYTES // (4 * rows * heads * width * width))  # layers per step
    preds = []
    with torch.inference_mode():
        for k in range(0, len(weights), per):
            att = torch.stack(weights[k : k + per], dim=1).float()  # [rows, layers, heads, T, T]
            n = att.shape[1] * heads
            units = pool(att.view(rows, n, width, width), member_t)  # [rows, n, U, U]
            pred = units.masked_fill(blocked, float("-inf")).argmax(dim=-1)  # [rows, n, U]
            preds.append(pred.view(rows, -1, heads, n_max))
    return torch.cat(preds, dim=1).numpy(), alignments


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
        weights = rec.weights["self"]
        if measure == "value":
            if rec.values_missing:
                raise MeasureUnavailableError(f"value-weighted attention is not available: {rec.values_missing}")
            weights = [w * n[:, :, None, :] for w, n in zip(weights, rec.value_norms["self"])]  # α_ij ‖f_h(x_j)‖
        pred, alignments = _batch_predictions(batch, weights, group)
        del rec
        for row, (sentence, alignment) in enumerate(zip(group, alignments)):  # per sentence: a slice and appends
            scorer.add_predictions(pred[row, :, :, : alignment.n_units], alignment.unit_of_word, sentence)
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


# ---------------------------------------------------------------- one sentence (the app's Dependencies page)


@dataclass(frozen=True, eq=False)
class SentenceHits:
    """Every arc of one sentence against every head.

    dependents, syntactic_heads:  int [A]: word indexes of each arc (arcs with a root excluded)
    relations:          label of each arc
    scorable:           bool [A]: both ends are in the model's input, in different units
    hits:               bool [A, layers, heads, 2]: the head's most-attended word is the
                        arc's other end (direction 0: dependent->head, 1: head->dependent)
    weights:            float [A, layers, heads, 2]: attention from that end to the other
    """

    sentence: Sentence
    alignment: Alignment
    dependents: np.ndarray
    syntactic_heads: np.ndarray
    relations: list[str]
    scorable: np.ndarray
    hits: np.ndarray
    weights: np.ndarray

    def found(self, layer: int, head: int) -> set[tuple[int, int]]:
        """The (looking word, looked-at word) pairs, 0-based, where that head's (0-based) most-attended
        word is the other end of an arc: (dependent, head) for dependent->head, (head, dependent) for
        head->dependent."""
        found = set()
        for d, h, (to_head, to_dependent) in zip(self.dependents.tolist(), self.syntactic_heads.tolist(),
                                                 self.hits[:, layer, head].tolist()):
            if to_head:
                found.add((d, h))
            if to_dependent:
                found.add((h, d))
        return found


def sentence_hits(run, sentence: Sentence) -> SentenceHits:
    """Score one captured run against the parse of the same text (see ``align``)."""
    alignment = align(sentence, run)
    att = alignment.attention(np.asarray(run.attention, dtype=np.float32))  # [L, H, U, U]
    n_units = att.shape[-1]
    pred = np.zeros(att.shape[:2] + (0,), dtype=np.int64)
    if n_units:
        masked = att.copy()
        masked.reshape(-1, n_units * n_units)[:, :: n_units + 1] = -np.inf  # a word never predicts itself
        pred = masked.argmax(axis=-1)
    heads_all = np.asarray(sentence.syntactic_heads, dtype=np.int64)
    deps = np.flatnonzero(heads_all >= 0)
    heads = heads_all[deps]
    ud, uh = alignment.unit_of_word[deps], alignment.unit_of_word[heads]
    scorable = (ud >= 0) & (uh >= 0) & (ud != uh)
    sd, sh = np.where(scorable, ud, 0), np.where(scorable, uh, 0)
    layers, n_heads = att.shape[:2]
    hits = np.zeros((len(deps), layers, n_heads, 2), dtype=bool)
    weights = np.zeros((len(deps), layers, n_heads, 2), dtype=np.float32)
    if n_units:
        hits[..., 0] = np.moveaxis(pred[:, :, sd] == sh, -1, 0)
        hits[..., 1] = np.moveaxis(pred[:, :, sh] == sd, -1, 0)
        weights[..., 0] = np.moveaxis(att[:, :, sd, sh], -1, 0)
        weights[..., 1] = np.moveaxis(att[:, :, sh, sd], -1, 0)
    hits &= scorable[:, None, None, None]
    weights *= scorable[:, None, None, None]
    return SentenceHits(sentence, alignment, deps, heads, [sentence.relations[d] for d in deps], scorable, hits, weights)


def _status(alignment: Alignment, d: int, h: int) -> str:
    ud, uh = alignment.unit_of_word[d], alignment.unit_of_word[h]
    if ud < 0 or uh < 0:
        return "not in the model's input"
    return "one model unit" if ud == uh else "ok"


def sentence_relations(run, sentence: Sentence) -> pd.DataFrame:
    """One row per dependency arc of ``sentence``: which heads put their maximum attention on the other end.

    ``run``: ``attnviz.capture(model, sentence.text)`` (token level is exact; a word-level
    view works too). Columns: dependent, dependent word, head, head word, relation; for
    each direction in DIRECTIONS: the heads ("L-H", comma-separated), how many, the head
    with the most weight on the other end and that weight; status ("ok", "one model
    unit" when the model reads both words as one, "not in the model's input").
    """
    return relations_table(sentence_hits(run, sentence))


def relations_table(sh: SentenceHits) -> pd.DataFrame:
    """``sentence_relations`` from hits already computed (``sentence_hits``)."""
    layers, n_heads = sh.hits.shape[1:3]
    labels = np.asarray([head_label(layer, head) for layer in range(layers) for head in range(n_heads)])
    flat_hits = sh.hits.reshape(len(sh.dependents), layers * n_heads, 2)
    flat_w = sh.weights.reshape(len(sh.dependents), layers * n_heads, 2)
    strongest = flat_w.argmax(axis=1) if len(sh.dependents) else np.zeros((0, 2), int)
    words = sh.sentence.words
    rows = []
    for a, (d, h) in enumerate(zip(sh.dependents.tolist(), sh.syntactic_heads.tolist())):
        row = {"dependent": d, "dependent word": words[d], "head": h, "head word": words[h], "relation": sh.relations[a]}
        for k, direction in enumerate(DIRECTIONS):
            row[f"{direction} heads"] = ", ".join(labels[flat_hits[a, :, k]])
            row[f"{direction} n"] = int(flat_hits[a, :, k].sum())
            row[f"{direction} strongest"] = labels[strongest[a, k]] if sh.scorable[a] else ""
            row[f"{direction} weight"] = float(flat_w[a, strongest[a, k], k])
        row["status"] = _status(sh.alignment, d, h)
        rows.append(row)
    columns = ["dependent", "dependent word", "head", "head word", "relation"] + [
        f"{direction} {what}" for direction in DIRECTIONS for what in ("heads", "n", "strongest", "weight")
    ] + ["status"]
    return pd.DataFrame(rows, columns=columns)


def best_heads_for_sentence(run, sentence: Sentence, top: int = 3, subtypes: bool = False) -> pd.DataFrame:
    """Per relation of ``sentence``, the ``top`` heads that predict most of its arcs.

    Ranked by arcs predicted (either direction), then by mean attention weight on the
    other end; a head that predicts none of a relation's arcs is left out (so a relation
    may have fewer than ``top`` rows, or none). Columns: relation, arcs, rank, head ("L-H"),
    direction, predicted, share, mean weight.
    """
    return best_heads(sentence_hits(run, sentence), top, subtypes)


def best_heads(sh: SentenceHits, top: int = 3, subtypes: bool = False) -> pd.DataFrame:
    """``best_heads_for_sentence`` from hits already computed (``sentence_hits``)."""
    layers, n_heads = sh.hits.shape[1:3]
    rels = np.asarray([r if subtypes else base_relation(r) for r in sh.relations], dtype=object)
    columns = ["relation", "arcs", "rank", "head", "direction", "predicted", "share", "mean weight"]
    rows = []
    for rel in dict.fromkeys(rels[sh.scorable].tolist()):  # relations in order of first arc
        mask = sh.scorable & (rels == rel)
        n = int(mask.sum())
        hits = sh.hits[mask].sum(axis=0).reshape(-1)  # [(layer, head, direction)]
        weight = sh.weights[mask].mean(axis=0).reshape(-1)
        order = np.lexsort((-weight, -hits))[:top]
        order = order[hits[order] > 0]
        layer, head, direction = np.unravel_index(order, (layers, n_heads, 2))
        for rank, (k, lay, hd, dr) in enumerate(zip(order, layer, head, direction), start=1):
            rows.append({
                "relation": rel, "arcs": n, "rank": rank, "head": head_label(int(lay), int(hd)),
                "direction": DIRECTIONS[int(dr)], "predicted": int(hits[k]), "share": hits[k] / n,
                "mean weight": float(weight[k]),
            })
    return pd.DataFrame(rows, columns=columns)
