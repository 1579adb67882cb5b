"""Write attnviz/data/head_relations_minilm.csv: for each head of the default model, the dependency
relation it tracks best on the built-in sample (180 sentences parsed by spaCy), for the grid's labels.

    HF_HUB_OFFLINE=1 python scripts/make_head_relations.py

Relations with fewer than MIN_ARCS arcs in the sample are left out (an accuracy over a handful of
arcs says little); a head's accuracy is in the better direction (Clark et al. 2019).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import attnviz
from attnviz.parsing import load_parser, load_sample
from attnviz.scoring import score_heads

MIN_ARCS = 20
OUT = Path(__file__).resolve().parents[1] / "attnviz" / "data" / "head_relations_minilm.csv"


def main() -> None:
    model = attnviz.load_model(attnviz.DEFAULT_MODEL)
    scores = score_heads(model, load_sample(load_parser()))
    matrix = scores.matrix()  # [relations, layers * heads]
    counts = np.asarray(scores.counts)
    usable = counts >= MIN_ARCS
    m = np.where(usable[:, None], np.nan_to_num(matrix, nan=-1.0), -1.0)
    best = m.argmax(axis=0)
    rows = [{"head": label, "relation": scores.relations[r], "accuracy": round(float(matrix[r, i]), 3), "arcs": int(counts[r])}
            for i, (label, r) in enumerate(zip(scores.head_labels, best))]
    pd.DataFrame(rows).to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(rows)} heads, relations with at least {MIN_ARCS} arcs, {scores.n_sentences} sentences)")


if __name__ == "__main__":
    main()
