"""Heads vs. syntax: the sentence's parse next to a head's attention, the heads the corpus credits with each
arc's relation, and the corpus scores (shipped for the default model; made here for any model)."""

import streamlit as st

import attnviz  # noqa: F401 - the package before its modules (see app.py)
from components import controls
from components.navigation import ensure_app

ensure_app()
view = controls.sidebar()  # the model menu first; then the modules below and the model load (components/startup.py)

from dataclasses import replace

from attnviz.measures import MeasureUnavailableError
from components import data
from components.measures import mixes_heads, name, noun
from components.syntax_corpus import corpus_section
from components.syntax_sentence import sentence_section

s = view.state
st.title("Heads vs. syntax")
st.caption("Do heads follow grammar? Each arc of the parse links a word to its syntactic head; a head *gets* an arc when "
           "the word it attends to most is the arc's other end (Clark et al. 2019, “What Does BERT Look At?”). A head is "
           "credited with a relation only for the arcs that position alone does not explain: those whose head is not at "
           "the relation's usual offset. Layers and heads are 1-based: 3-1 = layer 3, head 1.")
controls.sentence_box()  # its text reaches the page inside the view (s.text)
#: The measure heads are scored on: attention weights or value-weighted attention. Rollout and flow mix
#: the heads (one map per layer), so there is no head of theirs to score: the weights are scored instead.
measure = s.measure
if mixes_heads(measure):
    st.info(f"Heads vs. syntax scores single heads, and {noun(measure)} mixes every head of the layers: scoring "
            "attention weights instead. Value-weighted attention scores single heads too.", icon=":material/info:")
    measure = "attention"

run = controls.captured(view) if s.text.strip() else None
if run is not None:
    weights_run = data.get_run(view.model, s.run_key())  # token level: the parse's words are aligned to it
    try:  # value-weighted from the same forward pass
        shown_run = data.get_measured(view.model, replace(s.run_key(all_layers=True), measure=measure))
    except MeasureUnavailableError as exc:
        controls.unavailable(exc)
        measure, shown_run = "attention", weights_run
named = f" ({name(measure)})" if name(measure) else ""
if run is not None:
    sentence_section(s, shown_run, weights_run, named)
corpus_section(view, measure, named)
controls.write_url()
