"""Streamlit's caches around attnviz: one model per process, bounded cached runs.

Changing layer, head, the measure or any display option reuses the cached run: the model runs
again only for a new (model, text, mask). Measures (``attnviz.measures``: value-weighted,
rollout, flow) are derived from that run's weights and value norms by ``get_measured``. Runs live in ``st.cache_resource`` (shared,
not copied: a 512-token MiniLM run holds 75 MB of attention) with a bounded number
of entries and a time to live, so a busy server's memory settles. Because every session
gets the same Run object, its numpy arrays are made read-only (``read_only``): a page
that tried to change them in place would raise instead of changing another session's view.
"""

from __future__ import annotations

import streamlit as st

import attnviz
from attnviz import LoadedModel, Run
from attnviz.measures import measure_run
from attnviz.parsing import load_parser, parse
from attnviz.stats import head_stats

#: The numpy arrays of a Run that ``read_only`` locks.
RUN_ARRAYS = ("attention", "decoder_attention", "cross_attention", "mask", "special",
              "target_special", "decoder_mask", "cross_mask", "generated", "value_norms")


def read_only(run: Run) -> Run:
    """``run``, with its arrays marked non-writeable (in place), for sharing between sessions."""
    for name in RUN_ARRAYS:
        array = getattr(run, name)
        if array is not None:
            array.flags.writeable = False
    return run


@st.cache_resource(max_entries=3, show_spinner="Loading the model…")
def get_model(name: str) -> LoadedModel:
    """The model, loaded once per process and shared by every session (raises ModelLoadError).
    Refused before loading when it would not fit in the memory left (``attnviz.load_model`` checks)."""
    return attnviz.load_model(name)


@st.cache_data(max_entries=64, ttl=300, show_spinner=False)
def model_error(name: str) -> str | None:
    """Why ``name`` cannot be loaded, or None; failures are remembered for 5 minutes."""
    try:
        get_model(name)
    except attnviz.ModelLoadError as exc:
        return str(exc)
    return None


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Running the model…")
def get_run(_model: LoadedModel, model_name: str, text: str, causal: bool) -> Run:
    """One captured run per (model, text, mask); ``model_name`` is the cache key for ``_model``.

    Shared by every session: its arrays are read-only."""
    return read_only(attnviz.capture(_model, text, causal=causal))


def get_measured(_model: LoadedModel, model_name: str, text: str, causal: bool, measure: str = "attention",
                 layer: int | None = None) -> Run:
    """The token-level run with ``attention`` replaced by ``measure`` (``attnviz.measures.measure_run``),
    derived from ``get_run``'s cached run: the model never runs again for another measure.

    ``layer`` (0-based) matters only for "flow", which is computed for one layer at a time; None there
    means every layer (the all-heads page). Raises ``attnviz.measures.MeasureUnavailableError`` when the
    measure cannot be computed (flow above its token limit, value norms this model does not give)."""
    run = get_run(_model, model_name, text, causal)
    if measure == "attention":
        return run
    return _measured(_model, model_name, text, causal, measure, layer if measure == "flow" else None)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner="Computing the measure…")
def _measured(_model: LoadedModel, model_name: str, text: str, causal: bool, measure: str, layer: int | None) -> Run:
    return read_only(measure_run(get_run(_model, model_name, text, causal), measure, layer, all_layers=layer is None))


def get_view(_model: LoadedModel, model_name: str, text: str, causal: bool, level: str, hide_special: bool,
             measure: str = "attention", layer: int | None = None) -> Run:
    """The run (of ``measure``, see ``get_measured``) at token or word level, with or without special
    tokens (derived, never re-run). ``layer`` is used by "flow" only (None: every layer).

    Shared by every session like ``get_run``'s: its arrays are read-only too."""
    return _view(_model, model_name, text, causal, level, hide_special, measure, layer if measure == "flow" else None)


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def _view(_model: LoadedModel, model_name: str, text: str, causal: bool, level: str, hide_special: bool,
          measure: str, layer: int | None) -> Run:
    return read_only(get_measured(_model, model_name, text, causal, measure, layer).view(level, drop_special=hide_special))


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def get_stats(_run: Run, model_name: str, text: str, causal: bool, level: str, hide_special: bool,
              measure: str = "attention", layer: int | None = None):
    """Per-head statistics and pattern labels for every head of the run (a pandas DataFrame; a
    small table, so each caller gets its own copy, unlike the shared runs). ``measure`` and ``layer``
    (flow) are part of the key: the statistics of value-weighted attention are not those of the weights."""
    return head_stats(_run.attention, _run.special, _run.mask)


@st.cache_resource(show_spinner="Loading the spaCy parser…")
def get_parser():
    """The spaCy English pipeline (raises attnviz.ParserUnavailableError with how to install one)."""
    return load_parser()


@st.cache_data(max_entries=64, show_spinner=False)
def get_parse(text: str):
    """The spaCy parse of ``text`` as an attnviz Sentence."""
    return parse(text, get_parser())
