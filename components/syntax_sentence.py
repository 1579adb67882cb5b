"""Heads vs. syntax, one sentence: its parse, a head's attention links beside it, and per arc the heads the
corpus credits with its relation (beyond position) and whether they get this arc.

One sentence is an example, not evidence: the credit comes from corpus scores (shipped for the default
model, or made on this page); this section only reads them against the sentence.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import figures
from attnviz.labels import head_label
from attnviz.run import Run
from attnviz.sentence_scores import SentenceHits, sentence_evidence, sentence_hits
from attnviz.tree import Sentence
from attnviz.ud_relations import links_words
from components import data
from components.arcs import arc_view
from components.head_strip import HOW_TO_SCORE, NO_DEPENDENCY, corpus_scores, parsed
from components.markdown import literal
from components.state import ViewState

PARSE_COLOUR = "#555555"


def edited_tree(parsed: Sentence) -> Sentence:
    """The parse, as corrected by the person in the table (1-based heads, 0 = root)."""
    table = pd.DataFrame({
        "word": parsed.words,
        "head": [h + 1 for h in parsed.syntactic_heads],
        "relation": parsed.relations,
    }, index=pd.RangeIndex(1, len(parsed.words) + 1, name="#"))
    with st.expander("Correct the parse (the small parser gets some attachments wrong)"):
        edited = st.data_editor(
            table, key=f"tree_{hashlib.sha1(parsed.text.encode()).hexdigest()[:12]}", disabled=["word"],
            num_rows="fixed", width="stretch",
            column_config={"head": st.column_config.NumberColumn("head (#, 0 = root)", min_value=0,
                                                                 max_value=len(parsed.words), step=1)},
        )
    heads = [int(h) - 1 if pd.notna(h) else -1 for h in edited["head"]]
    relations = [str(r).strip() or "dep" for r in edited["relation"]]
    try:
        tree = Sentence(words=parsed.words, syntactic_heads=heads, relations=relations, text=parsed.text,
                        offsets=parsed.offsets, pos=parsed.pos, meta=parsed.meta)
        # self-heads and cycles always; exactly one root unless the parser found several sentences
        return tree.validate(single_root=sum(h < 0 for h in parsed.syntactic_heads) <= 1)
    except ValueError as exc:
        st.error(literal(f"That correction is not a valid tree: {exc}. Using the parser's tree."))
        return parsed


def parsed_tree(text: str) -> Sentence | None:
    """The typed text's parse in UD terms, as corrected; None after saying why there is none."""
    tree = parsed(text)
    if isinstance(tree, str):
        st.info(tree, icon=":material/account_tree:")
        return None
    st.caption(f"Parsed by {data.get_parser().label}; labels and prepositional phrases in UD terms, as in the corpus scores.")
    tree = edited_tree(tree)
    if not links_words(tree):
        st.info(NO_DEPENDENCY, icon=":material/account_tree:")
        return None
    return tree


def parse_drawing(tree: Sentence) -> None:
    n = len(tree.words)
    syntax = np.zeros((n, n), dtype=np.float32)
    labels = {}
    for d, h, rel in tree.arcs:
        syntax[d, h] = 1.0
        labels[(d, h)] = rel
    st.subheader("The parse")
    # the parse in grey, labelled, its arrow naming the syntactic head: never drawn like attention
    arc_view(figures.arcs_svg(tree.words, syntax, labels=labels, title="parse: dependent → syntactic head", colors=[PARSE_COLOUR],
                              key="arrow → the syntactic head").svg, key="dep_syntax")


def head_drawing(run: Run, hits: SentenceHits, layer: int, head: int, named: str) -> None:
    """The chosen head's attention links at the word level (each word's most-attended word)."""
    n = len(hits.sentence.words)
    units = hits.alignment.attention(run.attention[layer, head])  # [units, units]
    word_of_unit = [ws[0] for ws in hits.alignment.units]
    head_view = np.zeros((n, n), dtype=np.float32)
    if word_of_unit:
        idx = np.asarray(word_of_unit)
        head_view[np.ix_(idx, idx)] = units
        np.fill_diagonal(head_view, 0.0)
    found = hits.found(layer, head)
    to_head = int(hits.hits[:, layer, head, 0].sum())
    label = head_label(layer, head)
    st.subheader(f"Head {label}: attention links{named}")
    arc_view(figures.arcs_svg(hits.sentence.words, head_view, top_k=1, highlight=found,
                              title=f"head {label}{named}: each word's most-attended word (red: an arc of the parse, either way)").svg,
             key="dep_head")
    st.caption(f"In head {label}, {to_head} of {len(hits.sentence.arcs)} words attend most to their syntactic "
               f"head (dependent→head), and {len(found) - to_head} words attend most to one of their own dependents "
               "(head→dependent).")


def evidence_table(model_name: str, hits: SentenceHits) -> None:
    """Per arc, the heads the corpus credits with its relation, and whether each gets this arc."""
    st.subheader("Which heads follow each arc, by the corpus")
    scores, corpus = corpus_scores(model_name)
    if scores is None:
        st.info("No corpus scores for this model yet, so no head is credited with a relation: " + HOW_TO_SCORE + " (below).",
                icon=":material/query_stats:")
        return
    frame = sentence_evidence(hits, scores, top=3)
    shown = pd.DataFrame({
        "arc": [f"{d} → {h}" for d, h in zip(frame["dependent word"], frame["head word"])],
        "relation": frame["relation"],
        "credited head": frame["credited head"],
        "here": [("gets it" if hit else "misses it") if pd.notna(hit) else "" for hit in frame["hit"]],
        "beyond position": frame["beyond accuracy"],
        "accuracy": frame["accuracy"],
        "baseline": frame["baseline accuracy"],
        "flag": frame["passes"],
        "note": frame["reason"],
    })
    st.dataframe(shown, key="dep_evidence", hide_index=True, width="stretch",
                 column_config={
                     "credited head": st.column_config.TextColumn(help="The three best heads for the relation on the corpus, "
                                                                       "by accuracy where the usual offset is wrong"),
                     "here": st.column_config.TextColumn("in this sentence", help="Whether the head's most-attended word is "
                                                         "the arc's other end in this sentence"),
                     "beyond position": st.column_config.NumberColumn(format="%.2f", help=f"On {corpus}, where position alone fails"),
                     "accuracy": st.column_config.NumberColumn(format="%.2f", help=f"On all the relation's arcs in {corpus}"),
                     "baseline": st.column_config.NumberColumn(format="%.2f", help="The best fixed offset's accuracy"),
                     "flag": st.column_config.CheckboxColumn("≥ baseline + 0.10", help="Voita et al. 2019's flag for this head"),
                 })
    st.caption(f"Credit comes from {corpus}, not from this sentence: a head that gets an arc here is not thereby "
               "tracking its relation, and on one sentence nearly every head gets some arc. Read the corpus table below.")


def sentence_section(view: ViewState, run: Run, weights_run: Run, named: str) -> None:
    """The view's sentence and head. ``run``: the measure the page shows (weights or value-weighted);
    ``weights_run``: the attention weights, which the corpus scores are made on."""
    layer, head = view.layer - 1, view.head - 1
    tree = parsed_tree(view.text)
    if tree is None:
        return
    hits = sentence_hits(run, tree)  # every arc against every head, once for this rerun
    parse_drawing(tree)
    head_drawing(run, hits, layer, head, named)
    evidence_table(view.model, hits if run is weights_run else sentence_hits(weights_run, tree))
