"""Streamlit's caches around attnviz: one model per process, bounded cached runs; the one module that gets runs.

Every run, measure, view and statistics table is keyed by one typed value, ``components.state.RunKey``
(``ViewState.run_key``). Changing layer, head, the measure or any display option reuses the cached run: the
model runs again only for a new (model, text, mask, and a decoder's target or continuation). Measures
(``attnviz.measures``: value-weighted, rollout, flow) are derived from that run's weights and value norms by
``get_measured``. Runs live in ``st.cache_resource`` (shared, not copied: a 512-token MiniLM run holds 75 MB of
attention) with a bounded number of entries and a time to live, so a busy server's memory settles. Because every
session gets the same Run object, its numpy arrays are made read-only (``read_only``): a page that tried to
change them in place would raise instead of changing another session's view.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

import streamlit as st

import attnviz
from attnviz.measures import measure_run
from attnviz.parsing import load_parser, parse
from components.state import RunKey

if TYPE_CHECKING:  # imported after the first screen is drawn (components.startup)
    from attnviz import LoadedModel, Run

#: Tests only: seconds ``get_model`` waits before it loads, so that a browser test can act while the model loads.
LOAD_DELAY_ENV = "ATTNVIZ_TEST_LOAD_DELAY"

#: The numpy arrays of a Run that ``read_only`` locks ("special": the source's; the target's too, when there is one).
RUN_ARRAYS = ("attention", "decoder_attention", "cross_attention", "mask", "special",
              "decoder_mask", "cross_mask", "generated", "value_norms")


def read_only(run: Run) -> Run:
    """``run``, with its arrays marked non-writeable (in place), for sharing between sessions."""
    target = [run.target.special] if run.target is not None else []
    terms = [a for t in (run.qk or {}).values() for a in (t.queries, t.keys, t.scale, t.mask, t.bias)]  # qk=True
    for array in [getattr(run, name) for name in RUN_ARRAYS] + target + terms:
        if array is not None:
            array.flags.writeable = False
    return run


@st.cache_resource(show_spinner=False)
def _one_load_at_a_time() -> threading.Lock:
    """The lock that lets one model load at a time in this process. Two loads at once import transformers'
    modules in two threads: a page that asked for another model while the warm-up loaded the first one got a
    half-made ``transformers.models.auto`` ("cannot import name 'AutoConfig'", tests/e2e/test_seq2seq_browser.py).
    Both would also pass the memory check for memory only one of them may take."""
    return threading.Lock()


@st.cache_resource(max_entries=3, show_spinner=False)  # the page says so (controls.sidebar), not the warm-up
def get_model(name: str) -> LoadedModel:
    """The model, loaded once per process and shared by every session (raises ModelLoadError), one load at a time.
    Refused before loading when it would not fit in the memory left (``attnviz.load_model`` checks)."""
    time.sleep(float(os.environ.get(LOAD_DELAY_ENV) or 0))
    with _one_load_at_a_time():
        return attnviz.load_model(name)


@st.cache_data(max_entries=64, ttl=300, show_spinner=False)
def model_error(name: str) -> str | None:
    """Why ``name`` cannot be loaded, or None; failures are remembered for 5 minutes."""
    try:
        get_model(name)
    except attnviz.ModelLoadError as exc:
        return str(exc)
    return None


def get_run(model: LoadedModel, key: RunKey) -> Run:
    """The forward pass of ``key.captured`` (measure and view aside): ``attnviz.capture`` of the text, or for a
    model with a decoder ``attnviz.generate`` (``key.new`` tokens) or ``attnviz.capture_pair`` (``key.target``).

    One cached run per (model, input, mask), shared by every session: its arrays are read-only."""
    key = key.captured
    if key.new:
        return _generated(model, key)
    if key.target:
        return _pair(model, key)
    return _captured(model, key)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Running the model…")
def _captured(_model: LoadedModel, key: RunKey) -> Run:
    return read_only(attnviz.capture(_model, key.text, causal=key.causal))


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Running the model on the source and target…")
def _pair(_model: LoadedModel, key: RunKey) -> Run:
    return read_only(attnviz.capture_pair(_model, key.text, key.target, causal=key.causal))


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Generating greedily…")
def _generated(_model: LoadedModel, key: RunKey) -> Run:
    """Greedy, so the same tokens every time."""
    return read_only(attnviz.generate(_model, key.text, max_new_tokens=key.new, causal=key.causal))


def get_qk_run(model: LoadedModel, key: RunKey) -> Run:
    """The forward pass of ``key.captured`` again, keeping the terms of every logit (``Run.qk``: queries, keys, scale,
    mask and position terms; ``attnviz.capture(..., qk=True)``, or ``capture_pair`` for a typed target). Made only when
    asked (the explorer's query-key view, while it is open), cached apart from ``get_run``'s runs, read-only likewise.

    Raises ``attnviz.UnsupportedModelError`` (``attnviz.logits.UnsupportedLogitsError``) for a model whose logits
    attnviz cannot decompose (remembered like a run, so an open view does not run the model again on every rerun),
    ValueError for a generated continuation (``key.new``: ``attnviz.generate`` keeps no terms)."""
    key = key.captured
    if key.new:
        raise ValueError("a generated continuation is recorded without its queries and keys")
    run = _qk_captured(model, key)
    if isinstance(run, attnviz.UnsupportedModelError):
        raise run.with_traceback(None)
    return run


@st.cache_resource(max_entries=4, ttl=3600, show_spinner="Recording the queries and keys…")
def _qk_captured(_model: LoadedModel, key: RunKey) -> Run | attnviz.UnsupportedModelError:
    try:
        if key.target:
            return read_only(attnviz.capture_pair(_model, key.text, key.target, causal=key.causal, qk=True))
        return read_only(attnviz.capture(_model, key.text, causal=key.causal, qk=True))
    except attnviz.UnsupportedModelError as exc:
        return exc


def get_measured(model: LoadedModel, key: RunKey) -> Run:
    """The token-level run with ``attention`` replaced by ``key.measure`` (``attnviz.measures.measure_run``),
    derived from ``get_run``'s cached run: the model never runs again for another measure.

    ``key.layer`` (0-based) matters only for a measure computed per layer (flow); None there means every
    layer (the all-heads page). Raises ``attnviz.measures.MeasureUnavailableError`` when the measure cannot be
    computed (flow above its token limit, value norms this model does not give)."""
    run = get_run(model, key)
    if key.measure == "attention":
        return run
    return _measured(model, key.measured)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Computing the measure…")
def _measured(_model: LoadedModel, key: RunKey) -> Run:
    return read_only(measure_run(get_run(_model, key), key.measure, key.layer, all_layers=key.layer is None))


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def get_view(_model: LoadedModel, key: RunKey) -> Run:
    """The run of ``key`` (its measure, see ``get_measured``) at its level, with or without special tokens
    (derived, never re-run). Shared by every session like ``get_run``'s: its arrays are read-only too."""
    return read_only(get_measured(_model, key).view(key.level, drop_special=key.hide_special))


@st.cache_resource(show_spinner="Loading the spaCy parser…")
def get_parser():
    """The spaCy English pipeline (raises attnviz.ParserUnavailableError with how to install one)."""
    return load_parser()


@st.cache_data(max_entries=64, show_spinner=False)
def get_parse(text: str):
    """The spaCy parse of ``text`` as an attnviz Sentence."""
    return parse(text, get_parser())
