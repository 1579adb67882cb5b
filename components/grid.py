"""The all-heads grid as a clickable plotly chart.

Plotly heatmaps report no selection to Streamlit (an open upstream bug), so an
invisible scatter point covers each thumbnail; clicking it selects that head.
"""

from __future__ import annotations

from functools import partial

import plotly.graph_objects as go
import streamlit as st

from attnviz import figures
from attnviz.evidence import head_credits, shipped_scores
from attnviz.labels import head_label
from attnviz.stats import rest_patterns
from components import session_keys as keys
from components.charts import LAYER_THUMB, chart
from components.measures import colorbar_label, mixes_heads, name
from components.state import RunKey


def _with_click_targets(fig: go.Figure, n_heads: int, head: int | None = None) -> go.Figure:
    """Add one invisible, clickable point over each thumbnail (heatmaps come layer-major). ``head`` (0-based):
    the thumbnails are one per layer (a measure that mixes the heads), and a click opens that layer with this head."""
    fig = go.Figure(fig)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    for i, trace in enumerate(heatmaps):
        layer, h = divmod(i, n_heads) if head is None else (i, head)
        n_rows, n_cols = len(trace.z), len(trace.z[0])
        fig.add_trace(go.Scatter(
            x=[(n_cols - 1) / 2], y=[(n_rows - 1) / 2], xaxis=trace.xaxis, yaxis=trace.yaxis,
            mode="markers", marker={"size": 60, "opacity": 0}, customdata=[[layer, h]],
            hovertemplate=(f"layer {layer + 1}, head {h + 1}" if head is None else f"layer {layer + 1}")
            + ": click to open<extra></extra>", showlegend=False,
        ))
    return fig


SHORT = {"previous token": "prev", "next token": "next", "self": "self", "[CLS]/[SEP] sink": "sink",
         "broad": "broad", "other": ""}


def _short_rest(label: str) -> str:
    """A thumbnail-sized form of ``attnviz.stats.rest_patterns``'s label."""
    if label.startswith("offset "):
        return label.removeprefix("offset ")
    if label.startswith("mostly to "):
        return "→" + label.removeprefix("mostly to ").strip("'\"")[:6]
    return SHORT.get(label, label)


@st.cache_data(show_spinner=False)
def head_relations(model_name: str) -> dict[str, str]:
    """{"2-8": "case/cop", ...}: the relations each head is credited with beyond position, passing Voita's
    flag, by the model's shipped scores on UD EWT dev (``attnviz.evidence``); empty without shipped scores."""
    scores = shipped_scores(model_name)
    return {} if scores is None else {label: "/".join(rels) for label, rels in head_credits(scores).items()}


def sublabels(run, stats, rest: list[str], model_name: str) -> list[list[str]]:
    """Second title line per thumbnail: what a sink head does apart from the sink, and for the default
    model the relations it follows beyond position on UD EWT dev (shipped scores)."""
    relations = head_relations(model_name) if model_name else {}
    out = []
    for layer in range(run.n_layers):
        row = []
        for head in range(run.n_heads):
            i = layer * run.n_heads + head
            bits = []
            if stats["pattern"].iloc[i] == "[CLS]/[SEP] sink" and rest[i] != stats["pattern"].iloc[i]:
                bits.append(_short_rest(rest[i]))
            if rel := relations.get(head_label(layer, head)):
                bits.append(rel)
            row.append(" · ".join(b for b in bits if b))
        out.append(row)
    return out


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def grid_figures(_run, _stats, key: RunKey, head: int = 0) -> tuple[go.Figure, go.Figure]:
    """(the grid for export, the same with click targets) of ``_run``, the run of ``key``: 72 MiniLM subplots
    take plotly ~0.4 s to build, so each view's figures are built once and shared (never mutated).

    A measure that mixes the heads (rollout, flow: ``[layers, 1, n, n]``) gets one map per layer, in one
    row, each titled "layer N" with its pattern; a click opens that layer with ``head`` (0-based), the
    head picked for the other measures."""
    model_name, measure = key.model, key.measure
    mask = "look-ahead mask" if key.causal else "no mask"
    if mixes_heads(measure):
        patterns = _stats["pattern"].replace(SHORT).tolist()
        n = _run.n_layers
        fig = figures.grid(_run.attention.transpose(1, 0, 2, 3), [patterns], names=[[f"layer {k + 1}" for k in range(n)]],
                           title=f"{model_name} · {name(measure)} up to each layer (all heads) · {mask}",
                           thumb=LAYER_THUMB, colorbar_label=colorbar_label(measure))
        fig.update_annotations(font=dict(size=12))  # a few big maps: titles a size up from the thumbnails'
        return fig, _with_click_targets(fig, n, head=head)
    labels = _stats.pivot(index="layer", columns="head", values="pattern").replace(SHORT).to_numpy().tolist()
    rest = rest_patterns(_run.attention, _run.special, _run.mask, tokens=_run.tokens).reshape(-1).tolist()
    named = f" · {name(measure)}" if name(measure) else ""
    fig = figures.grid(_run.attention, labels, title=f"{model_name}{named} · all heads · {mask}",
                       # the shipped scores are of attention weights: named under those only
                       sublabels=sublabels(_run, _stats, rest, model_name if measure == "attention" else ""),
                       colorbar_label=colorbar_label(measure))
    return fig, _with_click_targets(fig, _run.n_heads)


def _remember_pick(key: str) -> None:
    """``on_select`` callback of the grid: keep the clicked (layer, head), 1-based, for ``picked_thumbnail``."""
    event = st.session_state.get(key)
    for point in (event.selection.points if event else []):
        custom = point.get("customdata")
        if custom:
            st.session_state[keys.GRID_PICKED] = (int(custom[0]) + 1, int(custom[1]) + 1)
            return


def picked_thumbnail() -> tuple[int, int] | None:
    """The (layer, head) a click on the grid picked, once: the page can open it before drawing anything
    (the page's run after the click need not rebuild the grid only to leave it)."""
    return st.session_state.pop(keys.GRID_PICKED, None)


def grid_view(clickable: go.Figure, key: str) -> None:
    """Show the grid (from ``grid_figures``); a click on a thumbnail is kept for ``picked_thumbnail``."""
    chart(clickable, key=key, on_select=partial(_remember_pick, key), selection_mode="points")
