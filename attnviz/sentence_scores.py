"""One sentence's dependency arcs against every head: the app's Heads vs. syntax page.

    hits = sentence_hits(run, sentence)     # every arc x every head, once
    relations_table(hits)                   # per arc: the heads whose most-attended word is its other end
    best_heads(hits, top=3)                 # per relation: the heads that get most of its arcs here
    sentence_evidence(hits, scores)         # per arc: the heads the corpus credits with its relation

A head that gets an arc right in one sentence is not thereby tracking its relation: on a
short sentence nearly every head "gets" some arc. ``sentence_evidence`` therefore starts from
corpus scores (``attnviz.head_scores.HeadScores.credits``: the heads that follow a relation
beyond what position explains) and says, for each arc here, whether those heads get it.

The prediction rule is the corpus scorer's (``attnviz.scoring``): word-level attention, a
word's prediction is the other word it attends to most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from attnviz.alignment import Alignment, align
from attnviz.head_scores import DIRECTIONS, MIN_HARD, HeadScores
from attnviz.labels import head_label
from attnviz.tree import Sentence, base_relation


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


EVIDENCE_COLUMNS = ["dependent", "dependent word", "head", "head word", "relation", "offset", "hard", "rank", "credited head",
                    "direction", "hit", "weight", "accuracy", "beyond accuracy", "baseline offset", "baseline accuracy", "passes",
                    "reason"]


def _no_credit_reason(relation: str, scores: HeadScores, min_hard: int) -> str:
    if relation not in scores.relations:
        return f"no {relation} arcs in the corpus"
    n = int(scores.hard_counts[scores.relations.index(relation)])
    return f"too few hard arcs in the corpus ({n} < {min_hard})"


def sentence_evidence(hits: SentenceHits, scores: HeadScores, top: int = 3, min_hard: int = MIN_HARD) -> pd.DataFrame:
    """Per arc of the sentence, the heads the corpus credits with its relation, and whether they get this arc.

    ``scores``: corpus scores of the same model (``HeadScores``; e.g. ``attnviz.evidence.shipped_scores``).
    One row per (arc, credited head), ``top`` heads per relation ranked by beyond-position accuracy
    (``HeadScores.credits``); an arc whose relation has no credited head (not in the corpus, or
    fewer than ``min_hard`` hard arcs) gets one row with an empty "credited head" and the reason.
    Columns (``EVIDENCE_COLUMNS``; positions 0-based): the arc; offset (head - dependent); hard
    (the offset is not the relation's baseline offset; empty for a relation the corpus lacks);
    rank, credited head ("L-H") and its direction; hit (its most-attended word is the arc's other
    end, in that direction), weight (its attention from that end to the other); its corpus
    accuracy, beyond-position accuracy, the relation's baseline offset and accuracy, Voita's flag
    (passes); reason (why there is no head, or no hit to read: the arc's ends are not two model units).
    Relations are matched as the corpus was scored: without subtypes unless ``scores.meta["subtypes"]``.
    """
    if hits.hits.shape[1:3] != (scores.n_layers, scores.n_heads):
        raise ValueError(f"the corpus scores are for {scores.n_layers} layers x {scores.n_heads} heads, the sentence's run has "
                         f"{hits.hits.shape[1]} x {hits.hits.shape[2]}: score the same model")
    credited: dict[str, list] = {}
    for credit in scores.credits(min_hard, top):
        credited.setdefault(credit.relation, []).append(credit)
    k_star = dict(zip(scores.relations, scores.best_baseline()[0].tolist()))
    subtypes = bool(scores.meta.get("subtypes", False))
    words = hits.sentence.words
    rows = []
    for a, (d, h) in enumerate(zip(hits.dependents.tolist(), hits.syntactic_heads.tolist())):  # a sentence's arcs: a few dozen
        relation = hits.relations[a] if subtypes else base_relation(hits.relations[a])
        arc = {"dependent": d, "dependent word": words[d], "head": h, "head word": words[h], "relation": relation,
               "offset": h - d, "hard": (h - d) != k_star[relation] if relation in k_star else None}
        status = _status(hits.alignment, d, h)
        if relation not in credited:
            rows.append(arc | {"credited head": "", "direction": "", "reason": _no_credit_reason(relation, scores, min_hard)})
            continue
        for c in credited[relation]:
            rows.append(arc | {
                "rank": c.rank, "credited head": c.label, "direction": c.direction_name,
                "hit": bool(hits.hits[a, c.layer, c.head, c.direction]), "weight": float(hits.weights[a, c.layer, c.head, c.direction]),
                "accuracy": c.accuracy, "beyond accuracy": c.beyond, "baseline offset": c.baseline_offset,
                "baseline accuracy": c.baseline_accuracy, "passes": c.passes, "reason": "" if status == "ok" else status,
            })
    frame = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
    for column in ("hard", "hit", "passes"):
        frame[column] = frame[column].astype("boolean")
    frame["rank"] = frame["rank"].astype("Int64")
    frame["baseline offset"] = frame["baseline offset"].astype("Int64")
    return frame
