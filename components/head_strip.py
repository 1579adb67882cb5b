"""The explorer's first claim: the heads that follow this sentence's dependencies, beyond position.

The evidence is corpus scores (``attnviz.evidence.shipped_scores`` for the default model, or scores
this session made on "Heads vs. syntax"); the sentence is only the example. The sentence's spaCy
parse is put in UD terms (``attnviz.ud_relations``) to meet scores made on UD trees. Each card is
drawn in the page from plain data by components/js/head_strip.js; clicking one opens its head.
No forward pass of its own: it reads the explorer's run.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from attnviz.errors import EmptyInputError, ParserUnavailableError
from attnviz.evidence import CORPUS_LABEL, shipped_scores
from attnviz.following import followed_arcs
from attnviz.head_scores import HeadScores
from attnviz.run import Run
from attnviz.sentence_scores import sentence_hits
from attnviz.tree import Sentence
from attnviz.ud_relations import links_words, to_ud
from components import data, drawn
from components import session_keys as keys
from components.markdown import literal
from components.state import ViewState

_JS_DIR = Path(__file__).resolve().parent / "js"
_mount = st.components.v2.component("attnviz.head_strip", css=(_JS_DIR / "head_strip.css").read_text(encoding="utf-8"),
                                    js=(_JS_DIR / "head_strip.js").read_text(encoding="utf-8"))
NO_DEPENDENCY = ("The parse links no two words (one word, or only punctuation), so there is no dependency to compare "
                 "with the heads. Type a sentence of a few words.")
HOW_TO_SCORE = ("score it once on **Heads vs. syntax → Over a corpus** (one click), or on the command line: "
                "`attnviz heads --conllu FILE --model NAME`")


def corpus_scores(model_name: str) -> tuple[HeadScores | None, str]:
    """(scores, corpus label): the shipped scores of the model, else this session's latest on attention weights."""
    shipped = shipped_scores(model_name)
    if shipped is not None:
        return shipped, CORPUS_LABEL
    made = [scores for key, scores in st.session_state.get(keys.CORPUS_SCORES, {}).items()
            if key[0] == model_name and scores.meta.get("measure", "attention") == "attention"]
    if made:
        return made[-1], made[-1].meta.get("corpus", "the scored corpus")
    return None, ""


def parsed(text: str) -> Sentence | str:
    """The text's spaCy parse in UD terms (``attnviz.ud_relations``), or a sentence saying why there is none
    (Markdown-safe): the strip's and the Heads vs. syntax page's one way to a parse."""
    try:
        return to_ud(data.get_parse(text))
    except ParserUnavailableError as exc:
        return f"No parser here, so no dependencies to show: {literal(str(exc))}"
    except EmptyInputError:
        return "There are no words to parse in this text."
    except ValueError as exc:  # not a tree after the conversion: say so rather than guess
        return f"The parse could not be read as a dependency tree ({literal(str(exc))})."


def head_strip(view: ViewState, run: Run) -> tuple[int, int] | None:
    """Draw the strip for the view's sentence and head; returns the (layer, head), 1-based, of a card clicked
    in this rerun."""
    st.markdown("**Heads that follow this sentence's dependencies**")
    scores, corpus = corpus_scores(view.model)
    if scores is None:
        st.info("No corpus scores for this model yet, so no head is credited with a dependency: " + HOW_TO_SCORE + ".",
                icon=":material/query_stats:")
        return None
    credits = scores.credits()
    if not any(c.passes for c in credits):
        st.info(f"No head of this model passes Voita's flag on {corpus} (its best accuracy at least 10 points above "
                "the best fixed-offset baseline) for any relation with enough arcs where position alone fails.",
                icon=":material/query_stats:")
        return None
    tree = parsed(view.text)
    if isinstance(tree, str) or not links_words(tree):
        st.info(tree if isinstance(tree, str) else NO_DEPENDENCY, icon=":material/account_tree:")
        return None
    arcs = followed_arcs(run, sentence_hits(run, tree), credits)
    if not arcs:
        st.info(f"None of this sentence's relations ({', '.join(sorted({r for _, _, r in tree.arcs}))}) has a head credited "
                f"on {corpus}. Try one of the examples above.", icon=":material/account_tree:")
        return None
    cards = [arc.as_data(tree, arc.credit.caption(corpus).split(": ", 1)[1]) for arc in arcs]
    payload = {"cards": cards, "selected": f"{view.layer}-{view.head}"}
    payload["drawn"] = drawn.number("head_strip", repr(payload))
    result = _mount(data=payload, key="head_strip", on_open_change=lambda: None)
    st.caption(f"Credited on {corpus}: the head that best predicts each relation where the relation's usual offset "
               "is wrong, shown only if it beats that offset baseline by 10 points (Voita et al. 2019). Green: this head "
               "attends most to the arc's other end in this sentence; red: it looks elsewhere here. One sentence is an "
               "example, not evidence. Parsed by spaCy, labels in UD terms.")
    opened = getattr(result, "open", None)
    if opened:
        layer, head = (int(x) for x in str(opened).split("-"))
        return layer, head
    return None
