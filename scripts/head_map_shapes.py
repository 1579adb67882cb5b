"""What the head maps of the default model show, in numbers: the figures of docs/guide.md's "Head map" section.

    HF_HUB_OFFLINE=1 python scripts/head_map_shapes.py [--conllu ../shared/ud/en_ewt-ud-dev.conllu] [--limit 500]

Each head is mapped as the app maps it (``attnviz.head_map``: AttentionViz's placement, then PCA), over every token of
the corpus (no sampling here), and read three ways:

    placement      over every head of every layer: the scale c of AttentionViz's rule (``place``), and how far apart the
                   mean norms of the placed queries and keys are after its last translation
    shares         each head's mean share of attention on the previous token, the next token and [CLS]/[SEP]
                   (``attnviz.stats.head_stats``, averaged over the sentences): what kind of head it is
    clock          the median angle (about the map's centre) of the queries at each position 1..12, and the offset
                   in position from each query to its nearest key on the map (among all keys of all sentences)
    sink           how far the [CLS] keys lie from the map's centre, in medians of every point's distance, and how
                   much the queries' angles still follow position (mean resultant length per position, 1 = all alike)
    syntax         for each arc of a relation, the rank of the arc's other end's key among its sentence's keys by
                   distance on the map from the looking word's query (its first token; the direction the head is
                   credited with: the dependent looks at its syntactic head)
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import numpy as np

import attnviz
from attnviz.conllu_io import read_conllu
from attnviz.head_map import collect_vectors, place, project
from attnviz.stats import head_stats
from attnviz.tree import base_relation

UD_DEV = Path(__file__).resolve().parents[2] / "shared" / "ud" / "en_ewt-ud-dev.conllu"
CLOCKS, SINKS, OTHERS = ("1-3", "2-9"), ("3-10", "5-6"), ("3-1", "2-8")
SYNTAX = (("3-1", "obj"), ("3-1", "nsubj"), ("2-8", "case"), ("3-2", "advmod"))


class Maps:
    """Each head's map over the corpus, made once per layer."""

    def __init__(self, model, sentences):
        self.model, self.sentences, self.vectors = model, sentences, {}

    def __call__(self, label: str):
        layer, head = (int(x) - 1 for x in label.split("-"))
        if layer not in self.vectors:
            self.vectors[layer] = collect_vectors(self.model, self.sentences, layer)
        v = self.vectors[layer]
        p = project(v.queries[head], v.keys[head])
        return v.tokens, p.queries, p.keys


def angles(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))


def placement(maps: Maps) -> None:
    scales, gaps = [], []
    for layer in range(maps.model.n_layers):
        for head in range(maps.model.n_heads):
            maps(f"{layer + 1}-{head + 1}")  # the layer's vectors, collected once
            v = maps.vectors[layer]
            placed = place(v.queries[head], v.keys[head])
            nq, nk = (np.linalg.norm(a, axis=1).mean() for a in (placed.queries, placed.keys))
            scales.append(placed.scale)
            gaps.append(abs(nq - nk) / max(nq, nk))
    print(f"placement over {len(scales)} heads: c from {min(scales):.2f} to {max(scales):.2f}; mean norms of the placed "
          f"queries and keys apart by at most {max(gaps):.1%} (median {np.median(gaps):.1%})")


def shares(model, sentences, labels) -> None:
    runs = attnviz.capture_batch(model, [s.words for s in sentences])
    stats = [head_stats(r.attention, r.special).set_index("label") for r in runs]
    for label in labels:
        mean = {c: np.mean([t.loc[label, c] for t in stats]) for c in ("previous", "next", "special")}
        print(f"{label} shares: previous token {mean['previous']:.2f}, next token {mean['next']:.2f}, "
              f"[CLS]/[SEP] {mean['special']:.2f}")


def clock(maps: Maps, label: str) -> None:
    t, q, k = maps(label)
    pos, special = t["position"].to_numpy(), t["special"].to_numpy()
    centre = np.concatenate([q, k]).mean(axis=0)
    a = angles(q, centre)
    by_position = [round(float(np.median(a[(pos == p) & ~special]))) for p in range(1, 13)]
    nearest = ((q[:, None, :] - k[None, :, :]) ** 2).sum(-1).argmin(axis=1)
    offsets = Counter((pos[nearest] - pos).tolist())
    print(f"{label} clock: median query angle at positions 1..12: {by_position}")
    print(f"     nearest key's offset in position: {', '.join(f'{o:+d}: {n / len(q):.0%}' for o, n in offsets.most_common(5))}")


def sink(maps: Maps, label: str) -> None:
    t, q, k = maps(label)
    pos, special, tokens = t["position"].to_numpy(), t["special"].to_numpy(), t["token"].to_numpy()
    centre = np.concatenate([q, k]).mean(axis=0)
    median = np.median(np.linalg.norm(np.concatenate([q, k]) - centre, axis=1))
    cls_key = np.median(np.linalg.norm(k[tokens == "[CLS]"] - centre, axis=1)) / median
    a = np.radians(angles(q, centre))
    order = np.mean([abs(np.exp(1j * a[(pos == p) & ~special]).mean()) for p in range(1, 13)])
    print(f"{label} [CLS] keys at {cls_key:.1f} x the median distance from the centre; "
          f"queries' angle by position: mean resultant length {order:.2f}")


def syntax(maps: Maps, label: str, relation: str) -> None:
    t, q, k = maps(label)
    first = t[(~t["special"]) & (t["word_index"] >= 0)].drop_duplicates(["sentence", "word_index"])
    row_of = {(s, w): r for r, s, w in zip(first.index, first["sentence"], first["word_index"])}
    sentence_of = t["sentence"].to_numpy()
    ranks, sizes = [], []
    for si, s in enumerate(maps.sentences):
        for dependent, (head, rel) in enumerate(zip(s.syntactic_heads, s.relations)):
            if head < 0 or base_relation(rel) != relation or (si, dependent) not in row_of or (si, head) not in row_of:
                continue
            looker, target = row_of[(si, dependent)], row_of[(si, head)]
            rows = np.flatnonzero(sentence_of == si)
            order = rows[np.argsort(np.linalg.norm(k[rows] - q[looker], axis=1))]
            ranks.append(int(np.flatnonzero(order == target)[0]) + 1)
            sizes.append(len(rows))
    ranks = np.array(ranks)
    print(f"{label} {relation} (dependent -> head, {len(ranks)} arcs): the head's key is the nearest key of the sentence "
          f"for {np.mean(ranks == 1):.0%}, among the 3 nearest for {np.mean(ranks <= 3):.0%}; median rank "
          f"{np.median(ranks):.0f} of {np.median(sizes):.0f} keys")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conllu", type=Path, default=UD_DEV)
    parser.add_argument("--limit", type=int, default=500)
    args = parser.parse_args()
    model = attnviz.load_model(attnviz.DEFAULT_MODEL)
    sentences = read_conllu(args.conllu, limit=args.limit)
    print(f"{model.name}; {len(sentences)} sentences of {args.conllu.name}; every token, no sampling\n")
    shares(model, sentences, CLOCKS + SINKS + OTHERS + ("3-2",))
    maps = Maps(model, sentences)
    for label in CLOCKS + OTHERS:
        clock(maps, label)
    for label in CLOCKS + SINKS + OTHERS:
        sink(maps, label)
    for label, relation in SYNTAX:
        syntax(maps, label, relation)
    placement(maps)


if __name__ == "__main__":
    main()
