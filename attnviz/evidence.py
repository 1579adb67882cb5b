"""Corpus evidence shipped with attnviz: the default model's heads scored on UD English EWT dev.

    scores = shipped_scores(attnviz.DEFAULT_MODEL)     # HeadScores, or None for another model
    scores.credits()                                   # which head follows which relation beyond position
    head_credits(scores)                               # {"3-1": ["obj"], ...}: heads with a relation passing Voita's flag

The scores count arcs only (no text of the corpus beyond relation names); they were made by
``scripts/make_evidence.py`` from the gold trees of the UD English EWT development split,
which is CC BY-SA 4.0 (``ATTRIBUTION``). ``scores.meta`` records the corpus, its licence,
the model, the counts, the attnviz version, the date and the command.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from attnviz.catalog import DEFAULT_MODEL
from attnviz.head_scores import DIRECTIONS, MIN_HARD, HeadScores

EVIDENCE_DIR = Path(__file__).resolve().parent / "data" / "evidence"
#: model name -> its shipped scores (a file in EVIDENCE_DIR)
SHIPPED = {DEFAULT_MODEL: "minilm_ud_ewt_dev.json"}
CORPUS_NAME = "UD English EWT dev"
CORPUS_LABEL = "UD EWT dev"  # short, for captions ("... of 1,234 arcs in UD EWT dev")
CORPUS_LICENSE = "CC BY-SA 4.0"
ATTRIBUTION = (
    "Scores computed on the gold dependency trees of the Universal Dependencies English Web Treebank "
    "(UD_English-EWT, development split, v2.15 release line), licensed CC BY-SA 4.0 "
    "(https://creativecommons.org/licenses/by-sa/4.0/). Annotations (c) The Board of Trustees of the "
    "Leland Stanford Junior University; underlying texts from the LDC English Web Treebank (LDC2012T13). "
    "Source: https://github.com/UniversalDependencies/UD_English-EWT. attnviz ships counts only, no text."
)


def evidence_path(model_name: str) -> Path | None:
    """The file of ``model_name``'s shipped scores, or None when there is none."""
    name = SHIPPED.get(model_name)
    return EVIDENCE_DIR / name if name else None


@lru_cache(maxsize=4)
def shipped_scores(model_name: str) -> HeadScores | None:
    """The shipped corpus scores of ``model_name`` (one shared object: do not change it), or None
    for a model without shipped scores (or a missing file)."""
    path = evidence_path(model_name)
    if path is None or not path.is_file():
        return None
    return HeadScores.from_json(path.read_text(encoding="utf-8"))


def head_credits(scores: HeadScores, min_hard: int = MIN_HARD) -> dict[str, list[str]]:
    """{"L-H": [relations]}: the relations each head is credited with (the best head beyond position,
    ``HeadScores.credits``) and that pass Voita's flag; heads without one are left out."""
    out: dict[str, list[str]] = {}
    for credit in scores.credits(min_hard):
        if credit.passes:
            out.setdefault(credit.label, []).append(credit.relation)
    return out


def markdown_table(scores: HeadScores, min_hard: int = MIN_HARD) -> str:
    """The claim as a Markdown table (the README's): per relation with at least ``min_hard`` hard arcs, Clark et
    al.'s best head and accuracy, the baseline offset k* and its accuracy, Voita's flag, the hard arcs, the best
    head beyond position (its direction, beyond-position accuracy and accuracy) and whether that head is credited
    (passes the flag itself); then the relations with too few hard arcs."""
    arrow = {DIRECTIONS[0]: "d→h", DIRECTIONS[1]: "h→d"}
    credited = {c.relation: c.passes for c in scores.credits(min_hard)}
    lines = ["| relation | arcs | best head (accuracy) | baseline k\\*: accuracy | flag | hard arcs "
             "| beyond-position head: beyond, its accuracy | credited |",
             "|---|---:|---|---|:-:|---:|---|:-:|"]
    table = scores.table(min_count=1, min_hard=min_hard)
    for _, r in table[table["hard arcs"] >= min_hard].iterrows():
        lines.append(f"| {r['relation']} | {r['arcs']:,} | {r['best head']} ({r['accuracy']:.2f}) "
                     f"| {r['baseline offset']:+d}: {r['baseline accuracy']:.2f} | {'yes' if r['voita'] else 'no'} "
                     f"| {r['hard arcs']:,} | {r['beyond head']} {arrow[r['beyond direction']]}: {r['beyond accuracy']:.2f}, "
                     f"{r['beyond-head accuracy']:.2f} | {'**yes**' if credited[r['relation']] else 'no'} |")
    few = table[table["hard arcs"] < min_hard]
    if len(few):
        lines += ["", f"Too few hard arcs (under {min_hard}) to credit a head: "
                  + ", ".join(f"{r['relation']} ({r['hard arcs']})" for _, r in few.iterrows()) + "."]
    return "\n".join(lines)
