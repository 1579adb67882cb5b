"""The explorer's "Why this head attends: queries and keys" (issue #22, BertViz's neuron view): for the shown head, one
query's logit to every key split into its terms (scale × q·k, position terms, the softcap, the mask) beside the weight
after softmax, and one key's q · k dimension by dimension, with how many dimensions carry half of it.

    qk_view(model, state)                                # under the head's arcs and heatmap (the explorer's fragment)
    qk_view(model, state, kind="cross", shown=run)       # an encoder-decoder's decoder self- or cross-attention

It sits in an expander that draws nothing while closed: the run with the logit terms (``components.data.get_qk_run``,
``attnviz.capture(..., qk=True)``) is made only when it is opened. Its numbers are the library's (``attnviz.qk_parts``, ``attnviz.figures.qk``).
Queries and keys belong to tokens, so it always shows the token-level run, special tokens included (``Run.view`` drops
the terms at word level); a caption says so when the page shows words or hides special tokens. Its open state and its
query and key positions are fields of the view (``ViewState.qk_open``, ``qk_query``, ``qk_key``: URL ``qk=open``,
``query=``, ``key=``); a position past the text's end is clamped with a notice, a new text starts from the defaults.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

import attnviz
from attnviz import LoadedModel, Run
from attnviz.figures.qk import dim_bars, logit_bars
from attnviz.labels import head_label
from attnviz.qk_parts import KeyDims, QueryRow, key_dims, query_row
from components import data
from components import measures as measure_names
from components import session_keys as keys
from components.charts import chart
from components.downloads import export_buttons, file_stem
from components.markdown import literal
from components.shown import select
from components.state import KIND_WORDS, RunKey, ViewState

TITLE = "Why this head attends: queries and keys"
DEFAULT = -1  # ``ViewState.qk_query`` and ``qk_key`` before a pick: the first non-special token, the most-attended key
MOST_ATTENDED = DEFAULT  # the key picker's first option


def qk_view(model: LoadedModel, state: ViewState, kind: str = "self", shown: Run | None = None) -> None:
    """The expander; while it is open, the view of head ``state.head`` of ``state.layer`` in attention ``kind`` of the
    view's text (``shown``: the run the page shows, when it may have a typed target or a generated continuation).
    Problems are shown as messages, never tracebacks."""
    box = st.expander(TITLE, key=keys.QK_OPEN, on_change="rerun", icon=":material/function:")
    if not box.open:
        return
    with box:
        _body(model, state, kind, _run_key(state, shown))


def _run_key(state: ViewState, shown: Run | None) -> RunKey:
    """The key of the run ``shown`` (``components.data``): the view's text, with its typed target if it has one, or
    with its continuation when it was generated (``data.get_qk_run`` then says why there are no terms)."""
    key = state.run_key()
    if shown is not None and shown.generated is not None:
        return replace(key, new=max(state.new, 1))
    if shown is not None and shown.has_target:
        return replace(key, target=state.target)
    return key


def _notes(state: ViewState) -> list[str]:
    notes = []
    if state.level == "word" or state.hide_special:
        notes.append("Queries and keys belong to tokens: this view shows the token-level run, special tokens included, "
                     "whatever Level and “Hide special tokens” say.")
    if state.measure != "attention":
        notes.append(f"It explains the attention weights, from which {measure_names.noun(state.measure)} is computed.")
    if state.all_heads or measure_names.mixes_heads(state.measure):
        notes.append(f"It shows one head: {head_label(state.layer - 1, state.head - 1)} (the Head slider).")
    return notes


def _terms(model: LoadedModel, kind: str, run_key: RunKey):
    """The run with the logit terms and its terms of ``kind``, or None after an info saying why there are none."""
    try:
        run = data.get_qk_run(model, run_key)
    except attnviz.UnsupportedModelError as exc:
        st.info(literal(f"attnviz cannot split this model's logits into their terms, so this view is not available: {exc}"),
                icon=":material/block:")
        return None
    except attnviz.EmptyInputError as exc:
        st.info(literal(str(exc)))
        return None
    except ValueError:  # a generated continuation (data.get_qk_run)
        st.info("This view needs typed text: a generated continuation is recorded without its queries and keys. Set the "
                "number of new tokens to 0" + (" or type the target" if kind != "self" else "") + " to see it.",
                icon=":material/info:")
        return None
    terms = (run.qk or {}).get(kind)
    if terms is None:
        st.info(f"This run holds no queries and keys for the {KIND_WORDS[kind]} attention.", icon=":material/info:")
        return None
    return run, terms


def _fit_positions(kind: str, query_tokens: list[str], key_tokens: list[str]) -> None:
    """Before the pickers: a new set of tokens starts from the defaults (except on the view's first draw, where a
    link may name the pair); a position past the last token is clamped to it, with a notice."""
    ss, seen = st.session_state, keys.tokens_seen("qk")
    tokens = (kind, tuple(query_tokens), tuple(key_tokens))
    if seen in ss and ss[seen] != tokens:
        ss[keys.QK_QUERY] = ss[keys.QK_KEY] = DEFAULT
    ss[seen] = tokens
    for what, key, n in (("query", keys.QK_QUERY, len(query_tokens)), ("key", keys.QK_KEY, len(key_tokens))):
        value = ss.get(key, DEFAULT)
        if not isinstance(value, int) or value < DEFAULT:
            ss[key] = DEFAULT
        elif value >= n:
            st.warning(f"The {what} position {value} is past this text's last token ({n - 1}): showing {n - 1}.",
                       icon=":material/warning:")
            ss[key] = n - 1


def _label(tokens: list[str], i: int) -> str:
    return f"{i}: {tokens[i]}"  # plain text in a selectbox, never Markdown


def _body(model: LoadedModel, state: ViewState, kind: str, run_key: RunKey) -> None:
    notes = _notes(state)
    got = _terms(model, kind, run_key)
    if got is None:
        return
    run, terms = got
    part = select(run, kind)
    q_tokens, k_tokens = list(part.query_tokens), list(part.key_tokens)
    layer, head = min(state.layer, terms.n_layers) - 1, min(state.head, terms.n_heads) - 1
    if (layer + 1, head + 1) != (state.layer, state.head):
        notes.append(f"This attention has {terms.n_layers} layers × {terms.n_heads} heads: showing head {head_label(layer, head)}.")
    if notes:
        st.caption(" ".join(notes))
    _fit_positions(kind, q_tokens, k_tokens)
    ss = st.session_state
    if ss.get(keys.QK_QUERY, DEFAULT) == DEFAULT:  # the first token that is not [CLS]/[SEP] (or the first)
        ss[keys.QK_QUERY] = next((i for i, sp in enumerate(part.query_special) if not sp), 0)
    left, right = st.columns(2)
    query = left.selectbox("Query (the token that attends)", list(range(len(q_tokens))), key=keys.QK_QUERY,
                           format_func=lambda i: _label(q_tokens, i))
    row = query_row(terms, layer, head, query)
    picked = right.selectbox("Key (its q · k dimension by dimension)", [MOST_ATTENDED, *range(len(k_tokens))],
                             key=keys.QK_KEY, format_func=lambda j: f"the most attended ({_label(k_tokens, row.top)})"
                             if j == MOST_ATTENDED else _label(k_tokens, j))
    key = row.top if picked == MOST_ATTENDED else picked
    where = f"head {head_label(layer, head)}" + (f" ({KIND_WORDS[kind]})" if kind != "self" else "")
    mask = "look-ahead mask" if state.causal else "no mask"
    stem = file_stem(state.model.split("/")[-1], KIND_WORDS[kind], f"L{layer + 1}", f"H{head + 1}", f"q{query}",
                     "masked" if state.causal else "unmasked")
    _logits_section(row, k_tokens, key, f"{where} · query {_label(q_tokens, query)}", state.model, mask, stem)
    dims = key_dims(terms, layer, head, query, key)
    _dims_section(row, dims, key, f"{where} · {_label(q_tokens, query)} → {_label(k_tokens, key)}", state.model, mask,
                  f"{stem}_k{key}")


def _logits_section(row: QueryRow, k_tokens: list[str], key: int, title: str, model: str, mask: str, stem: str) -> None:
    left, right = st.columns([1, 1], gap="large")
    with left:
        chart(logit_bars(row, k_tokens, title, picked=key), key="qk_logits")
        export_buttons(lambda: logit_bars(row, k_tokens, f"{model.split('/')[-1]} · {title} · {mask}", picked=key,
                                          width=max(700, 60 + 28 * len(k_tokens))), stem + "_logits", key="qk_logits_dl")
    with right:
        table = row.table(k_tokens)
        numbers = {c: st.column_config.NumberColumn(c, format="%.4f", width="small") for c in table.columns
                   if c not in ("key", "masked")}
        st.dataframe(table, key="qk_table", hide_index=True, height=min(420, 38 + 35 * len(table)),
                     column_config={**numbers, "key": st.column_config.TextColumn("key", width="small"),
                                    "masked": st.column_config.CheckboxColumn("masked", width="small")})
    st.caption(_logits_caption(row))


def _logits_caption(row: QueryRow) -> str:
    bias = ("plus **bias** (green): the position terms this model adds to every logit" if row.bias is not None
            else "(this model adds no other term to the logits)")
    cap = (f"; the sum is softcapped, {row.softcap:g} · tanh(x / {row.softcap:g}) (red ×)" if row.softcap is not None else "")
    masked = (" Faded keys are masked (look-ahead mask, padding): their logit becomes −∞, so their weight is 0."
              if not row.allowed.all() else "")
    return (f"Each key's logit is **scale × q·k** (blue; scale = {row.scale:.4g}) {bias}{cap}. Softmax over the keys turns "
            f"the logits into the **weights** (orange): this query's row of the heatmap. The outlined bars are the "
            f"key shown below.{masked}")


def _half_text(dims: KeyDims) -> str:
    """How many dimensions carry half of q · k, and what was done for q · k ≤ 0."""
    half, d, dot = dims.half, len(dims.products), dims.dot
    if half is None:
        return f"q · k is 0: no dimension carries any of it (the {d} products cancel out)."
    names = ", ".join(f"d{int(i)}" for i in half)
    if dot > 0:
        return (f"**{len(half)} of {d} dimensions carry half of q · k** ({names}, red): the fewest dimensions whose "
                "products sum to at least half of q · k (the largest products first).")
    return (f"q · k is negative: this key is pushed down. **{len(half)} of {d} dimensions carry half of it** ({names}, "
            "red): the fewest whose products sum to at most half of q · k (the most negative first).")


def _dims_section(row: QueryRow, dims: KeyDims, key: int, title: str, model: str, mask: str, stem: str) -> None:
    left, right = st.columns([3, 2], gap="large")
    with left:
        chart(dim_bars(dims, title), key="qk_dims")
        export_buttons(lambda: dim_bars(dims, f"{model.split('/')[-1]} · {title} · {mask}",
                                        width=max(700, 80 + 30 * len(dims.products))), stem + "_dims", key="qk_dims_dl")
    with right:
        lines = [f"- q · k = **{dims.dot:.4f}**; × scale {dims.scale:.4g} = **{row.qk[key]:.4f}** (the q·k part of the logit)"]
        if row.bias is not None:
            lines.append(f"- \\+ bias {row.bias[key]:.4f} = {row.summed[key]:.4f}")
        if row.softcap is not None:
            lines.append(f"- softcapped: {row.logit[key]:.4f}")
        lines.append(f"- weight after softmax: **{row.weight[key]:.4f}**" + ("" if row.allowed[key] else " (masked)"))
        st.markdown("\n".join(lines))
        st.markdown(_half_text(dims))
        st.caption("q · k is the sum of q_i · k_i over the head's dimensions: the bars, largest |q_i · k_i| first. Red: "
                   "the dimensions that carry half of it; grey: the rest (those pulling the other way among them).")
