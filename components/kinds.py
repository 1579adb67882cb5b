"""Encoder-decoder and decoder-only views: the target, the kind of attention, greedy generation.

Right after the sentence box the explorer and the all-heads page call ``decoder_controls``. For a model with a
decoder (``LoadedModel.kind`` "decoder" or "encoder-decoder") it draws the controls this kind of model needs and
returns what to show (a ``Shown``), or None for the page's usual view of the (encoder's) self-attention; the page
then draws a ``Shown`` with ``explorer_body`` / ``all_heads_body`` itself, writes the URL and stops. ``Shown`` and
the numbers read off it (the first-token share, a generation step's row) are plain data, in ``components.shown``.

- Encoder-decoder (T5, BART, Marian; attnviz's local transformer): a **target** sentence (typed, or generated greedily
  from the source when the model can generate) and a **kind** selector: encoder self-attention (the page's usual view),
  decoder self-attention (square, over the target) or cross-attention (target x source: two rows of tokens joined by
  curves, ``attnviz.figures.cross``, and a rectangular heatmap).
- Decoder-only (GPT-2, Llama, ...): **continue by N tokens** (greedy, at most 50); the first-token
  ("attention sink") share of the shown head is reported, and flagged when most attention goes to position 0.
- Generated tokens: a **step slider**. Step k's token (at position p) was chosen from the output at p - 1
  (``Run.predicted_by``); that query's attention over everything before it is drawn alone in the arcs and outlined in the heatmap.

The view's ``kind``, ``target`` and ``new`` live in ``components.state.ViewState`` (URL ``kind=``, ``target=``, ``new=``);
a value this model cannot use falls back with a notice.

Measures (``ViewState.measure``): a decoder-only model's continuation is shown in the chosen measure like the page's
own view. Measures are computed for the self-attention stack only, so the decoder self-attention and cross-attention
of an encoder-decoder are shown as attention weights, with an info saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st

import attnviz
from attnviz import LoadedModel, Run, figures
from attnviz.figures.cross import cross_svg
from attnviz.html_view import View
from attnviz.labels import KINDS, head_label, kind_label
from attnviz.measures import MeasureUnavailableError
from components import controls, data
from components import measures as measure_names
from components import session_keys as keys
from components.arcs import arc_view
from components.charts import LAYER_THUMB, chart
from components.downloads import export_buttons, file_stem, html_button
from components.shown import SINK_SHARE, Shown, select, sink_heads, sink_share, step_row
from components.state import MAX_NEW_TOKENS, MAX_TEXT_CHARS, RunKey

#: Arcs drawn at most (the strongest), here and on the explorer: 512 tokens x top-3, so that one rerun
#: stays near 2 MB even with every head of the layer or every link (about 200 bytes per arc, unbounded otherwise).
MAX_SHOWN_ARCS = 3 * 512


# ---------------------------------------------------------------- controls
def _fit(model: LoadedModel) -> list[str]:
    """Reset kind / target / new that this model cannot use; a notice for each."""
    ss, notices, values = st.session_state, [], {}
    if ss.get(keys.KIND, "self") != "self" and model.kind != "encoder-decoder":
        notices.append(f"This model ({model.kind}) has no {kind_label(ss[keys.KIND]).lower()}; showing its self-attention.")
        values[keys.KIND] = "self"
    if ss.get(keys.TARGET) and model.kind != "encoder-decoder":
        notices.append(f"This model ({model.kind}) has no separate decoder input; the target sentence is ignored.")
        values[keys.TARGET] = ""
    if ss.get(keys.NEW, 0) and not model.can_generate:
        notices.append("This model has no language-model head, so it cannot generate; showing the typed text.")
        values[keys.NEW] = 0
    ss.update(values)  # the one writer of these keys after controls.arrive
    return notices


def _controls(model: LoadedModel) -> None:
    """Target box, kind selector and generation input, as this model needs them."""
    for notice in _fit(model):
        st.warning(notice, icon=":material/info:")
    if model.kind == "encoder-decoder":
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        with left:
            st.text_input("Target sentence (what the decoder reads)", key=keys.TARGET, max_chars=MAX_TEXT_CHARS,
                          disabled=bool(st.session_state.get(keys.NEW, 0)),
                          placeholder="e.g. a translation of the sentence above",
                          help="The decoder reads its start token, then these tokens; cross-attention links each "
                               "of them to the sentence above (the source). Unused while the target is generated.")
        with right:
            if model.can_generate:
                st.number_input("…or generate the target: new tokens (0 = typed target)", min_value=0,
                                max_value=MAX_NEW_TOKENS, step=1, key=keys.NEW,
                                help="Greedy decoding from the source, at most 50 tokens (stops at the end token).")
        st.radio("Attention", list(KINDS), key=keys.KIND, horizontal=True, format_func=kind_label,
                 help="Encoder self-attention: source x source. Decoder self-attention: target x target (the "
                      "decoder's own look-ahead mask). Cross-attention: each target token over the source tokens.")
    elif model.can_generate:
        st.number_input("Continue the text greedily by N tokens (0 = off)", min_value=0, max_value=MAX_NEW_TOKENS,
                        step=1, key=keys.NEW, help="The model picks its most likely next token, at most 50 times.")


def _run_key(view: controls.View) -> RunKey | None:
    """The key of the run the decoder-side views need (``data.get_run`` generates or captures the pair from it),
    in attention weights; None: the page's own run is the one to show."""
    model, s = view.model, view.state
    causal = s.causal if model.kind == "encoder-decoder" else False  # a decoder's own mask is always there
    key = replace(s.run_key(), causal=causal, measure="attention")
    if s.new and model.can_generate:
        return replace(key, new=int(s.new))
    if model.kind == "encoder-decoder" and s.target.strip():
        return replace(key, target=s.target)
    return None


# ---------------------------------------------------------------- drawing
def _outline_row(fig, row: int, n_keys: int):
    fig.add_shape(type="rect", xref="x", yref="y", x0=-0.5, x1=n_keys - 0.5, y0=row - 0.5, y1=row + 0.5,
                  line=dict(color=figures.ACCENT, width=3), fillcolor="rgba(0,0,0,0)")
    return fig


def _step_control(shown: Shown) -> tuple[int, int] | None:
    n = len(shown.generated)
    if n == 0:
        if shown.run.generated is not None:
            st.info("No generated token is left in this view (the model ended at once, or its tokens are hidden).")
        return None
    if not 0 <= st.session_state.get(keys.GEN_STEP, 1) <= n:  # a shorter continuation than before
        st.session_state[keys.GEN_STEP] = n
    st.session_state.setdefault(keys.GEN_STEP, 1)
    step = st.slider("Generation step (0 = every token)", 0, n, key=keys.GEN_STEP,
                     help="Step k: the model's output at the token before the k-th new token chose it. That query's "
                          "attention over everything before the new token is drawn alone, and outlined in the heatmap.")
    picked = step_row(shown, step)
    if picked is not None:
        row, position = picked
        st.caption(f"Step {step} of {n}: at position {row} the model chose the token at position {position}; "
                   f"shown: row {row}, its attention over positions 0–{row}.")
    return picked


@dataclass(frozen=True, eq=False)
class _Plan:
    """What ``_draw`` shows of a ``Shown``: one head, every head of the layer, or a measure's map of the layer."""

    layer: int  # 0-based
    heads: list[int]  # the heads drawn (0-based)
    all_heads: bool  # every head of the layer, overlaid in the arcs and averaged in the heatmap
    mixed: bool  # rollout / flow: one map per layer, no head to pick
    named: str  # the measure's title for this layer ("" for attention weights)
    row: int | None  # the generation step's query row, drawn alone
    title: str  # short: it sets the SVG's width
    stem: str  # the downloads' file name
    weights: np.ndarray  # (heads drawn, query, key)
    matrix: np.ndarray  # the heatmap's [query, key]: the head's, or the mean of the layer's heads

    @property
    def labels(self) -> list[str] | None:
        """The overlaid heads' labels (the arcs' legend); None for one head."""
        return [head_label(self.layer, h) for h in self.heads] if self.all_heads else None


def _plan(view: controls.View, shown: Shown, picked: tuple[int, int] | None) -> _Plan:
    """Which head(s) of the view's layer to draw, the title and the file name."""
    s = view.state
    layer, mixed = s.layer - 1, measure_names.mixes_heads(shown.measure)
    all_heads = s.all_heads and not mixed
    head = 0 if mixed else s.head - 1
    named = measure_names.title(shown.measure, s.layer)
    which = named if mixed else f"layer {s.layer}, all heads" if all_heads else f"head {head_label(layer, head)}"
    if named and not mixed:
        which = f"{named} · {which}"
    name = shown.word if view.model.kind == "encoder-decoder" else "self"
    title = f"{name} · {which}" + (f" · step {st.session_state.get(keys.GEN_STEP)}" if picked else "")
    stem = file_stem(s.model.split("/")[-1], shown.word, measure_names.file_tag(shown.measure), f"L{s.layer}",
                     "" if mixed else "all-heads" if all_heads else f"H{s.head}")
    heads = list(range(shown.attention.shape[1])) if all_heads else [head]
    weights = shown.attention[layer, heads]
    return _Plan(layer, heads, all_heads, mixed, named, picked[0] if picked else None, title, stem, weights,
                 weights.mean(axis=0) if all_heads else weights[0])


def _arcs(shown: Shown, plan: _Plan, title: str, top_k: int) -> figures.ArcDrawing:
    """The arcs of the planned head(s): self-attention on one row (the step's query alone), cross-attention on two."""
    w = plan.weights if plan.all_heads else plan.weights[0]
    row = plan.row
    if not shown.square:
        return cross_svg(shown.key_tokens, shown.query_tokens, w, title=title, top_k=top_k or None, layers=plan.labels,
                         rows=None if row is None else [row], max_arcs=MAX_SHOWN_ARCS)
    highlight = None
    if row is not None:
        w = np.where(np.arange(w.shape[-2])[:, None] == row, w, 0.0)
        highlight = [(row, k) for k in range(w.shape[-1])]
    return figures.arcs_svg(shown.query_tokens, w, title=title, top_k=top_k or None, layers=plan.labels,
                            highlight=highlight, max_arcs=MAX_SHOWN_ARCS)


def _heatmap(shown: Shown, plan: _Plan, title: str, side: int | None = None):
    """The planned matrix as a heatmap, the step's query row outlined."""
    fig = figures.heatmap(plan.matrix, shown.query_tokens, shown.key_tokens, title=title, side=side,
                          value_label=measure_names.value_label(shown.measure),
                          colorbar_label=measure_names.colorbar_label(shown.measure))
    return _outline_row(fig, plan.row, len(shown.key_tokens)) if plan.row is not None else fig


def _arcs_column(model_name: str, shown: Shown, plan: _Plan) -> None:
    """Left: the links to keep per token, the arcs, how many were left out, the downloads."""
    st.subheader("Cross-attention: target → source" if not shown.square else "Arcs")
    top_k = controls.top_k_control()
    drawing = _arcs(shown, plan, plan.title, top_k)
    arc_view(drawing.svg, key="kind_arcs")
    if drawing.n_dropped:
        st.caption(f"Showing the {drawing.n_drawn:,} strongest of {drawing.n_drawn + drawing.n_dropped:,} links.")
    export_buttons(lambda: _arcs(shown, plan, f"{model_name.split('/')[-1]} · {plan.title}", top_k).svg,
                   plan.stem + "_arcs", key="kind_arcs_dl", svg_native=True)


def _heatmap_column(model_name: str, shown: Shown, plan: _Plan) -> None:
    """Right: the heatmap and its downloads (the matrix as CSV too)."""
    label = (plan.named if plan.mixed else f"layer {plan.layer + 1} (mean of heads)" if plan.all_heads
             else head_label(plan.layer, plan.heads[0]))
    st.subheader(f"Heatmap, {label}" + (f", {plan.named}" if plan.named and not plan.mixed else ""))
    chart(_heatmap(shown, plan, plan.title, 360), key="kind_heatmap")
    export_buttons(lambda: _heatmap(shown, plan, f"{model_name.split('/')[-1]} · {plan.title}"), plan.stem + "_heatmap",
                   key="kind_heatmap_dl", matrix=plan.matrix, query_tokens=list(shown.query_tokens),
                   key_tokens=list(shown.key_tokens))


def _step_table(shown: Shown, plan: _Plan) -> None:
    """The generation step's query: the (at most 10) keys it attends to most, strongest first."""
    matrix, row = plan.matrix, plan.row
    order = [k for k in np.argsort(-matrix[row], kind="stable") if matrix[row, k] > 0][:10]  # keys it can see
    st.subheader("What the step's query attends to")
    st.dataframe(pd.DataFrame({"position": order, "token": [shown.key_tokens[k] for k in order],
                               measure_names.value_label(shown.measure): np.round(matrix[row, order], 4)}),
                 key="kind_step_row", hide_index=True)


def _draw(view: controls.View, shown: Shown, picked: tuple[int, int] | None) -> None:
    """The arcs and the heatmap of ``shown`` side by side, for the view's layer and head (and generation step)."""
    plan = _plan(view, shown, picked)
    if plan.mixed:
        st.caption(f"{plan.named.capitalize()} mixes every head of the layers up to this one: the Head slider and "
                   "“All heads of the layer” do not apply here.")
    left, right = st.columns([1, 1], gap="large")
    with left:
        _arcs_column(view.state.model, shown, plan)
    with right:
        _heatmap_column(view.state.model, shown, plan)
    if plan.row is not None:
        _step_table(shown, plan)


def _sink_notice(model: LoadedModel, shown: Shown, s) -> None:
    """For a decoder's self-attention: the shown head's share on position 0, flagged above SINK_SHARE."""
    if model.kind != "decoder" or not shown.square:
        return
    layer = s.layer - 1
    if s.all_heads:
        sinks = sink_heads(shown.attention[layer], layer)
        st.caption(f"First-token share per head: {len(sinks)} of {shown.attention.shape[1]} heads of layer {s.layer} "
                   f"send more than half of their attention to position 0.")
        if sinks:
            st.warning("Attention sink: " + ", ".join(f"head {lab} ({sh:.0%})" for lab, sh in sinks)
                       + " put most of their attention on the first token. Decoders park attention there when "
                         "nothing else is relevant; it says little about that token itself.", icon=":material/anchor:")
        return
    share = sink_share(shown.attention[layer, s.head - 1])
    st.caption(f"First-token share: head {head_label(layer, s.head - 1)} sends {share:.0%} of its attention "
               "(mean over the tokens after the first) to position 0.")
    if share > SINK_SHARE:
        st.warning(f"Attention sink: head {head_label(layer, s.head - 1)} puts {share:.0%} of its attention on the "
                   "first token (position 0). Decoders park attention there when nothing else is relevant; it says "
                   "little about that token itself.", icon=":material/anchor:")


# ---------------------------------------------------------------- the pages' hooks
def _prepare(view: controls.View, base: Run) -> Shown | None:
    """Controls, then what to show (None: the page's own view). Errors are shown, never raised."""
    model = view.model
    _controls(model)
    view = view.refreshed()  # kind, target and new as the controls just left them
    kind = view.state.kind if model.kind == "encoder-decoder" else "self"
    key = _run_key(view)
    try:
        run = data.get_view(model, key) if key is not None else None
    except attnviz.EmptyInputError as exc:
        st.info(str(exc))
        run = None
    except (ValueError, attnviz.UnsupportedModelError, RuntimeError) as exc:
        st.error(f"attnviz cannot show this: {controls.literal(str(exc))}", icon=":material/block:")
        run = None
    if run is not None and run.has_target and run.generated is not None:
        st.caption(controls.literal(f"Generated target: {run.target.text}"))
    if kind == "self":
        # a decoder-only model's continuation is drawn here; an encoder's self-attention is the page's own view
        return select(run, "self", key) if run is not None and model.kind == "decoder" else None
    if view.state.measure != "attention":
        st.info(f"{measure_names.noun(view.state.measure).capitalize()} is computed for the encoder's self-attention "
                f"only: showing the {kind_label(kind).lower()}'s attention weights.", icon=":material/info:")
    if run is None:
        run = base
        if not run.has_target:
            st.caption("The decoder reads the sentence itself (this model's decoder and encoder share the input). "
                       "Type a target to give the decoder its own sentence.")
        elif len(run.target.tokens) <= 1:
            st.info("Type a target sentence" + (" or generate one" if model.can_generate else "")
                    + ": the decoder now reads only its start token.")
    return select(run, kind)


def _measured(view: controls.View, shown: Shown, all_layers: bool = False) -> Shown:
    """``shown`` in the view's measure when it is a decoder-only model's continuation (the other kinds were
    told in ``_prepare`` that they stay attention weights), or as it is with an info saying why not."""
    measure = view.state.measure
    if measure == "attention" or shown.kind != "self":
        return shown
    key = replace(shown.key, measure=measure, layer=None if all_layers else view.state.layer - 1)
    try:
        run = data.get_view(view.model, key)
    except MeasureUnavailableError as exc:
        controls.unavailable(exc)
        return shown
    return select(run, "self", key, measure)


def decoder_controls(view: controls.View, base: Run) -> Shown | None:
    """For a model with a decoder: its controls (target, kind of attention, generation), then what the page
    shows with ``explorer_body`` / ``all_heads_body``; None: the page's own view of ``base``. For an encoder:
    why a link's values for a decoder's views were reset (``_fit``), and None."""
    if view.model.kind not in ("decoder", "encoder-decoder"):
        for notice in _fit(view.model):
            st.warning(notice, icon=":material/info:")
        return None
    return _prepare(view, base)


def first_token_share(view: controls.View, base: Run) -> None:
    """Under a decoder-only model's own view (``decoder_controls`` gave None): its first-token share."""
    _sink_notice(view.model, select(base, "self"), view.state)


def explorer_body(view: controls.View, shown: Shown) -> None:
    """The explorer below the controls for ``shown``: the generation step, the first-token share, arcs and heatmap."""
    picked = _step_control(shown)
    _sink_notice(view.model, shown, view.state)  # the first-token share of the attention weights, whatever is drawn
    _draw(view, _measured(view, shown), picked)
    s = view.state  # every kind, layer and head of this run in one file, opening on this view (attnviz.html_view)
    html_button(lambda: View(shown.run, measure=shown.measure, level=s.level, kind=shown.kind,
                             layer=s.layer, head="all" if s.all_heads else s.head).html(),
                file_stem(s.model.split("/")[-1], shown.word, measure_names.file_tag(shown.measure), f"L{s.layer}"), key="kind")


def all_heads_body(view: controls.View, shown: Shown) -> None:
    """The all-heads grid of the chosen kind (decoder self, cross, or a generated run)."""
    shown = _measured(view, shown, all_layers=True)
    s = view.state
    name = kind_label(shown.kind, seq2seq=view.model.kind == "encoder-decoder")
    named = measure_names.name(shown.measure)  # "" for attention weights
    if measure_names.mixes_heads(shown.measure):
        st.caption(f"{named.capitalize()} mixes every head: one map per layer ({named} up to that layer).")
        n = shown.attention.shape[0]
        fig = figures.grid(shown.attention.transpose(1, 0, 2, 3), names=[[f"layer {k + 1}" for k in range(n)]],
                           title=f"{s.model} · {named} up to each layer (all heads)", special=shown.query_special,
                           thumb=LAYER_THUMB, colorbar_label=measure_names.colorbar_label(shown.measure))
    else:
        st.caption(f"{name}{' (' + named + ')' if named else ''}: each thumbnail is one head (rows: layers, columns: heads; "
                   "labels are layer-head, 1-based). " + ("Rows are target tokens, columns source tokens." if not shown.square else ""))
        fig = figures.grid(shown.attention, title=f"{s.model} · {name.lower()}{' · ' + named if named else ''} · all heads",
                           special=shown.query_special if shown.square else None,
                           colorbar_label=measure_names.colorbar_label(shown.measure))
    chart(fig, key="kind_grid")
    export_buttons(lambda: fig, file_stem(s.model.split("/")[-1], "all-heads", shown.word, measure_names.file_tag(shown.measure)),
                   key="kind_grid_dl")
