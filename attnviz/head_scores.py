"""The result of scoring heads against dependency relations: ``HeadScores`` and the heads it credits.

    scores.table()            # per relation: best head, accuracy, baseline, beyond-position head, flag
    scores.matrix_frame()     # relation x head accuracy, for a heatmap
    scores.beyond_matrix_frame()  # the same on the hard arcs only
    scores.credits()          # per relation, the head credited beyond position (``Credit``)

Clark et al. (2019) give each relation the best fixed-offset baseline: always predict the
word k positions from the dependent, k in -3..3 except 0. Here that offset is also used to
set position aside:

* the **baseline offset k\\*** of a relation is its most frequent offset (head position
  minus dependent position) in -3..3 except 0 (``best_baseline``; ties: the nearer offset,
  -1, 1, -2, 2, -3, 3);
* its **hard arcs** are the arcs whose head is not k\\* words from the dependent;
* a head's **beyond-position accuracy** (``beyond``) is the share of the hard arcs it gets
  right, by the same word-level attention and prediction rule as the accuracy;
* a relation's head is **credited** when it is the best head and direction by
  beyond-position accuracy and the relation has at least ``min_hard`` (50) hard arcs
  (fewer: "too few", no head credited);
* **Voita's flag** (Voita et al. 2019): the accuracy is at least the baseline accuracy
  + 0.10. Compared in whole arcs (10 x (hits - baseline hits) >= arcs), so that 0.10
  exactly passes whatever the float rounding.

Layers and heads are 0-based in arrays and ``Credit``; labels are 1-based ("3-1").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attnviz.labels import head_label

OFFSETS = (-3, -2, -1, 1, 2, 3)
NEAREST_FIRST = np.argsort([abs(k) for k in OFFSETS], kind="stable")  # ties go to -1, 1, -2, 2, -3, 3
DIRECTIONS = ("dependent->head", "head->dependent")
MIN_HARD = 50  # fewer hard arcs than this: "too few", no head credited
TOO_FEW = "too few"
TABLE_COLUMNS = ["relation", "arcs", "best head", "direction", "accuracy", "baseline offset", "baseline accuracy",
                 "hard arcs", "beyond head", "beyond direction", "beyond accuracy", "beyond-head accuracy", "voita"]
FORMAT = "attnviz.HeadScores/1"
_ARRAYS = ("counts", "hits", "baseline_hits", "hard_counts", "hard_hits")


def passes_flag(hits, baseline_hits, arcs) -> np.ndarray:
    """Voita's flag in whole arcs: hits / arcs >= baseline_hits / arcs + 0.10 (False without arcs)."""
    hits, baseline_hits, arcs = (np.asarray(x, dtype=np.int64) for x in (hits, baseline_hits, arcs))
    return (10 * (hits - baseline_hits) >= arcs) & (arcs > 0)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return part / whole


@dataclass(frozen=True)
class Credit:
    """A head credited with a relation beyond position (``HeadScores.credits``); layer, head 0-based.

    accuracy:   that head and direction on all the relation's arcs
    beyond:     on the hard arcs (head not at the baseline offset)
    passes:     Voita's flag for this head (accuracy >= baseline_accuracy + 0.10), with enough hard arcs
    rank:       1 = the best head by beyond-position accuracy
    """

    relation: str
    layer: int
    head: int
    direction: int  # index into DIRECTIONS
    accuracy: float
    beyond: float
    arcs: int
    hard_arcs: int
    baseline_offset: int
    baseline_accuracy: float
    passes: bool
    rank: int = 1

    @property
    def label(self) -> str:
        """The 1-based "layer-head" label, e.g. "3-1"."""
        return head_label(self.layer, self.head)

    @property
    def direction_name(self) -> str:
        return DIRECTIONS[self.direction]

    def caption(self, corpus: str = "UD EWT dev") -> str:
        """e.g. "3-1 follows obj: 74% of 1,234 arcs in UD EWT dev, 69% where position alone fails (baseline 35%)"."""
        return (f"{self.label} follows {self.relation}: {self.accuracy:.0%} of {self.arcs:,} arcs in {corpus}, "
                f"{self.beyond:.0%} where position alone fails (baseline {self.baseline_accuracy:.0%})")


@dataclass(eq=False)
class HeadScores:
    """Per relation, how often each head's most-attended word is the other end of an arc.

    relations:      relation labels, most frequent first
    counts:         int [R]: arcs of each relation that were scored
    hits:           int [R, layers, heads, 2]: arcs predicted, per direction (see DIRECTIONS)
    baseline_hits:  int [R, len(OFFSETS)]: arcs whose head is k words from the dependent
    hard_counts:    int [R]: hard arcs (head not at the relation's baseline offset k*)
    hard_hits:      int [R, layers, heads, 2]: hard arcs predicted
    """

    relations: list[str]
    counts: np.ndarray
    hits: np.ndarray
    baseline_hits: np.ndarray
    hard_counts: np.ndarray
    hard_hits: np.ndarray
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
        return _share(self.hits, self.counts[:, None, None, None])

    @property
    def beyond(self) -> np.ndarray:
        """float [R, layers, heads, 2]: hard hits / hard arcs, the beyond-position accuracy (NaN without hard arcs)."""
        return _share(self.hard_hits, self.hard_counts[:, None, None, None])

    @property
    def baseline(self) -> np.ndarray:
        """float [R, len(OFFSETS)]: accuracy of each fixed offset."""
        return _share(self.baseline_hits, self.counts[:, None])

    def _baseline_index(self) -> np.ndarray:
        return NEAREST_FIRST[self.baseline_hits[:, NEAREST_FIRST].argmax(axis=1)]

    def best_baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """(offset [R], accuracy [R]) of the best fixed offset of each relation (ties: the nearer offset)."""
        k = self._baseline_index()
        return np.asarray(OFFSETS)[k], self.baseline[np.arange(len(self.relations)), k]

    def _flat(self, values: np.ndarray, direction: str | None) -> np.ndarray:
        values = values.max(axis=-1) if direction is None else values[..., DIRECTIONS.index(direction)]
        return values.reshape(len(self.relations), self.n_layers * self.n_heads)

    def _frame(self, matrix: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(matrix, index=pd.Index(self.relations, name="relation"), columns=self.head_labels)

    def matrix(self, direction: str | None = None) -> np.ndarray:
        """float [R, layers * heads] for a heatmap: the better direction, or one of DIRECTIONS."""
        return self._flat(self.accuracy, direction)

    def matrix_frame(self, direction: str | None = None) -> pd.DataFrame:
        """``matrix`` as a DataFrame: index = relations, columns = "L-H" labels."""
        return self._frame(self.matrix(direction))

    def beyond_matrix(self, direction: str | None = None) -> np.ndarray:
        """``matrix`` of the beyond-position accuracy (NaN rows: relations without hard arcs)."""
        return self._flat(self.beyond, direction)

    def beyond_matrix_frame(self, direction: str | None = None) -> pd.DataFrame:
        """``beyond_matrix`` as a DataFrame: index = relations, columns = "L-H" labels."""
        return self._frame(self.beyond_matrix(direction))

    def _argbest(self, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """0-based (layer, head, direction) [R] of the most hits (ties: lowest layer, head, then dependent->head)."""
        k = hits.reshape(len(self.relations), int(np.prod(hits.shape[1:]))).argmax(axis=1)
        return np.unravel_index(k, hits.shape[1:])

    def best(self) -> pd.DataFrame:
        """Per relation: the best head as 0-based layer and head, its direction and accuracy."""
        layer, head, direction = self._argbest(self.hits)
        acc = self.accuracy[np.arange(len(self.relations)), layer, head, direction]
        return pd.DataFrame({"relation": self.relations, "layer": layer, "head": head, "direction": direction, "accuracy": acc})

    def voita(self) -> np.ndarray:
        """bool [R]: Voita's flag, the best accuracy is at least the baseline accuracy + 0.10."""
        rows = np.arange(len(self.relations))
        layer, head, direction = self._argbest(self.hits)
        return passes_flag(self.hits[rows, layer, head, direction], self.baseline_hits[rows, self._baseline_index()], self.counts)

    def table(self, min_count: int = 1, min_hard: int = MIN_HARD) -> pd.DataFrame:
        """Per relation (``TABLE_COLUMNS``): arcs, best head ("L-H"), direction, accuracy, baseline offset and
        accuracy; hard arcs, the best head and direction on them ("too few" with fewer than ``min_hard``),
        its beyond-position accuracy and its accuracy on all arcs; Voita's flag of the best accuracy.

        Relations with fewer than ``min_count`` arcs are left out; most frequent first.
        """
        rows = np.arange(len(self.relations))
        best = self.best()
        offset, base = self.best_baseline()
        layer, head, direction = self._argbest(self.hard_hits)
        credited = self.hard_counts >= max(min_hard, 1)
        frame = pd.DataFrame({
            "relation": self.relations,
            "arcs": self.counts.astype(int),
            "best head": [head_label(la, hd) for la, hd in zip(best["layer"], best["head"])],
            "direction": [DIRECTIONS[d] for d in best["direction"]],
            "accuracy": best["accuracy"].to_numpy(dtype=float),
            "baseline offset": offset.astype(int),
            "baseline accuracy": np.asarray(base, dtype=float),
            "hard arcs": self.hard_counts.astype(int),
            "beyond head": [head_label(la, hd) if ok else TOO_FEW for la, hd, ok in zip(layer, head, credited)],
            "beyond direction": [DIRECTIONS[d] if ok else "" for d, ok in zip(direction, credited)],
            "beyond accuracy": np.where(credited, self.beyond[rows, layer, head, direction], np.nan),
            "beyond-head accuracy": np.where(credited, self.accuracy[rows, layer, head, direction], np.nan),
            "voita": self.voita(),
        }, columns=TABLE_COLUMNS)
        return frame[frame["arcs"] >= max(min_count, 1)].reset_index(drop=True)

    def to_csv(self, path=None, min_count: int = 1, min_hard: int = MIN_HARD) -> str | None:
        """The table as CSV: written to ``path``, or returned as a string."""
        return self.table(min_count, min_hard).to_csv(path, index=False, float_format="%.4f")

    def credits(self, min_hard: int = MIN_HARD, top: int = 1) -> list[Credit]:
        """Per relation with at least ``min_hard`` hard arcs, its ``top`` heads by beyond-position accuracy.

        A head counts once, in its better direction on the hard arcs (ties: dependent->head);
        heads are ranked by hard arcs predicted (ties: lowest layer, then head). Relations with
        fewer hard arcs are left out (``too_few``). Relations most frequent first, then by rank.
        """
        n_rel = len(self.relations)
        per_head = self.hard_hits.reshape(n_rel, self.n_layers * self.n_heads, 2)
        best_dir = per_head.argmax(axis=-1)  # ties: dependent->head
        head_hits = np.take_along_axis(per_head, best_dir[..., None], axis=-1)[..., 0]
        order = np.argsort(-head_hits, axis=1, kind="stable")[:, : max(top, 0)]
        offset, base = self.best_baseline()
        base_hits = self.baseline_hits[np.arange(n_rel), self._baseline_index()]
        out = []
        for r in np.flatnonzero(self.hard_counts >= max(min_hard, 1)):  # per relation and rank: a few fields
            for rank, flat in enumerate(order[r].tolist(), start=1):
                layer, head = divmod(flat, self.n_heads)
                d = int(best_dir[r, flat])
                hits = int(self.hits[r, layer, head, d])
                out.append(Credit(
                    relation=self.relations[r], layer=layer, head=head, direction=d,
                    accuracy=hits / int(self.counts[r]), beyond=int(self.hard_hits[r, layer, head, d]) / int(self.hard_counts[r]),
                    arcs=int(self.counts[r]), hard_arcs=int(self.hard_counts[r]), baseline_offset=int(offset[r]),
                    baseline_accuracy=float(base[r]), passes=bool(passes_flag(hits, base_hits[r], self.counts[r])), rank=rank,
                ))
        return out

    def too_few(self, min_hard: int = MIN_HARD) -> list[str]:
        """The relations that get no credited head: fewer than ``min_hard`` hard arcs."""
        return [rel for rel, n in zip(self.relations, self.hard_counts.tolist()) if n < max(min_hard, 1)]

    def to_dict(self) -> dict:
        """Every array as nested int lists, plus the model name, totals and meta (JSON-ready)."""
        out = {"format": FORMAT, "relations": list(self.relations), "model_name": self.model_name,
               "n_sentences": self.n_sentences, "n_words": self.n_words, "n_skipped_arcs": self.n_skipped_arcs,
               "shape": [self.n_layers, self.n_heads], "meta": self.meta}
        out.update({name: np.asarray(getattr(self, name)).astype(int).tolist() for name in _ARRAYS})
        return out

    @classmethod
    def from_dict(cls, data: dict) -> HeadScores:
        """The inverse of ``to_dict``; raises ValueError for anything else."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not attnviz head scores (format {data.get('format')!r}, expected {FORMAT!r})")
        n_rel, (layers, heads) = len(data["relations"]), data["shape"]
        shapes = {"counts": (n_rel,), "hits": (n_rel, layers, heads, 2), "baseline_hits": (n_rel, len(OFFSETS)),
                  "hard_counts": (n_rel,), "hard_hits": (n_rel, layers, heads, 2)}
        arrays = {name: np.asarray(data[name], dtype=np.int64).reshape(shape) for name, shape in shapes.items()}
        return cls(relations=[str(r) for r in data["relations"]], **arrays, model_name=str(data.get("model_name", "")),
                   n_sentences=int(data.get("n_sentences", 0)), n_words=int(data.get("n_words", 0)),
                   n_skipped_arcs=int(data.get("n_skipped_arcs", 0)), meta=dict(data.get("meta") or {}))

    def to_json(self, path=None) -> str:
        """``to_dict`` as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=False) + "\n"
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    @classmethod
    def from_json(cls, text: str) -> HeadScores:
        """The inverse of ``to_json`` (the text, not a path)."""
        return cls.from_dict(json.loads(text))
