"""Every key of ``st.session_state`` the app reads or writes, named once, and how a view's values flow.

How a value flows (the view is ``components.state.ViewState``; each field's widget key is the field's name):

1. URL -> session. On a session's first run ``controls.arrive`` parses the link (``state.parse``, one notice per
   corrected value, kept in NOTICES) and writes its values into the view's widget keys. On a page switch it
   writes back the values SAVED at the end of the previous page's run (Streamlit gives a widget on another page a
   new identity and its default); a click that opens a head (PENDING) is written there too. ``arrive`` is the
   one writer of those values, before any widget exists.
2. Session -> widgets. The widgets draw with these keys. ``controls.opening`` draws those that do not depend on
   the model before it loads (a measure that does not exist becomes "attention" before its radio); once the
   model is loaded, ``controls.settle`` fits the others to it (layer and head clamped, a decoder's mask on) and
   is their one writer after ``arrive``; ``kinds`` fits the seq2seq keys (KIND, TARGET, NEW) to the model where their widgets are drawn.
   Streamlit allows no write to a widget's key once the widget is drawn in a run: that is why there are two steps.
3. Widgets -> view. ``controls.sidebar`` reads the widget keys into one frozen ``ViewState`` (the text too); the
   pages pass that value (with the model, ``controls.View``) and the caches are keyed by ``state.RunKey``.
4. View -> URL. Every run ends with ``controls.write_url``: the view's non-default fields (``ViewState.to_params``)
   plus a page's own parameters (URL_EXTRA) become the query string, and the view is SAVED for the next page.
"""

from __future__ import annotations

import uuid

import streamlit as st

# ---------------------------------------------------------------- the view's widgets (ViewState's fields)
TEXT = "text"
MODEL = "model"  # the loaded model's name (not a widget: MODEL_CHOICE and CUSTOM_MODEL are)
LAYER = "layer"
HEAD = "head"
ALL_HEADS = "all_heads"
CAUSAL = "causal"
LEVEL = "level"
HIDE_SPECIAL = "hide_special"
TOP_K = "top_k"
KIND = "kind"  # seq2seq: one of attnviz.labels.KINDS (self | decoder | cross)
TARGET = "target"  # seq2seq: the decoder's typed input
NEW = "new"  # seq2seq: tokens to generate
MEASURE = "measure"
QK_OPEN = "qk_open"  # the explorer's query-key view: its expander (open or closed)
QK_QUERY = "qk_query"  # its query token's position (-1: the default)
QK_KEY = "qk_key"  # its key token's position (-1: the most-attended key)
#: The keys of ``ViewState``'s fields, in its order (tests/app/test_state.py checks them against the fields).
VIEW = (TEXT, MODEL, LAYER, HEAD, ALL_HEADS, CAUSAL, LEVEL, HIDE_SPECIAL, TOP_K, KIND, TARGET, NEW, MEASURE, QK_OPEN, QK_QUERY, QK_KEY)

# ---------------------------------------------------------------- other widgets whose values the code reads or sets
MODEL_CHOICE = "model_choice"  # the sidebar's model menu
CUSTOM_MODEL = "custom_model"  # its free-text entry
GEN_STEP = "gen_step"  # seq2seq: the generation step slider

# ---------------------------------------------------------------- the flow above
URL_READ = "_url_read"  # the session's first run has read the link
URL_SEED = "_url_seed"  # the query parameters the first run found: the link it was opened with ({name: value})
URL_EXTRA = "_url_extra"  # a page's own URL parameters ({name: value}, e.g. the explorer's link pair)
NOTICES = "_notices"  # what ``arrive`` corrected in the link, shown by the next sidebar
SAVED = "_saved"  # the shared widgets' values at the end of the last run, with PAGE
PAGE = "_page"  # the url path of the page running now
PENDING = "_pending"  # values to set at the next run's arrival (a click that opens a head): {key: value}
VIA_APP = "_via_app"  # this page runs under app.py's navigation
MASK_LOCKED = "_mask_locked"  # a decoder-only model forced the mask on
MASK_BEFORE = "_mask_before_lock"  # the mask's value before that

# ---------------------------------------------------------------- the pages' own
SESSION_ID = "_session_id"  # a random id for this browser session (its jobs, its throttle)
UPLOAD = "_upload"  # the latest upload's (file id, parsed result)
UPLOAD_PARSES = "_upload_parses"  # how many uploads were parsed (tests read it)
SCROLL_ARCS = "_scroll_arcs"  # the explorer's arc view scrolls into sight once for this number
SCROLL_COUNT = "_scroll_count"  # the last such number
GRID_PICKED = "_grid_picked"  # the thumbnail a click on the all-heads grid picked
DEP_CELL = "_dep_cell"  # the heads-vs-syntax heatmap cell last acted on
DEP_JOB = "_dep_job"  # the corpus scoring job of this session (and DEP_JOB + "_error")
CORPUS_SCORES = "_dep_scores"  # corpus scores made on "Heads vs. syntax": {(model, digest, ...): HeadScores}
HEAD_MAP_JOB = "_map_job"  # the head map's corpus pass of this session (and HEAD_MAP_JOB + "_error")
HEAD_MAP_RESULTS = "_map_results"  # the head maps made in this session: {(model, corpus, count, layer, ...): HeadMap}
DRAWN = "_drawn"  # each component view's latest drawing: {key: (hash of its content, its number)} (components.drawn)
HEAD_MAP_PICKED = "_map_picked"  # the point a click on the head map picked: (layer, head, sentence text), 1-based
HEAD_MAP_SAVED = "_map_saved"  # the head map page's own widgets' values at its last run (kept across page switches)


def session_id() -> str:
    """A random id for this browser session (the owner of its jobs, the key of its rerun throttle)."""
    if SESSION_ID not in st.session_state:
        st.session_state[SESSION_ID] = uuid.uuid4().hex
    return st.session_state[SESSION_ID]


def tokens_seen(key: str) -> str:
    """The link pickers ``key``'s tokens at its last run (a new sentence resets the pair)."""
    return f"_{key}_tokens"


def click_handled(key: str) -> str:
    """The link table ``key``'s row click already acted on."""
    return f"_{key}_handled"


def job_error(slot: str) -> str:
    """Why the job in ``slot`` failed: (its key, the message)."""
    return slot + "_error"
