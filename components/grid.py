"""The all-heads grid as a clickable plotly chart.

Plotly heatmaps report no selection to Streamlit (an open upstream bug), so an
invisible scatter point covers each thumbnail; clicking it selects that head.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from attnviz import figures


def _with_click_targets(fig: go.Figure, n_heads: int) -> go.Figure:
    """Add one invisible, clickable point over each thumbnail (heatmaps come layer-major)."""
    fig = go.Figure(fig)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    for i, trace in enumerate(heatmaps):
        layer, head = divmod(i, n_heads)
        n_rows, n_cols = len(trace.z), len(trace.z[0])
        fig.add_trace(go.Scatter(
            x=[(n_cols - 1) / 2], y=[(n_rows - 1) / 2], xaxis=trace.xaxis, yaxis=trace.yaxis,
            mode="markers", marker={"size": 60, "opacity": 0}, customdata=[[layer, head]],
            hovertemplate=f"layer {layer + 1}, head {head + 1}: click to open<extra></extra>", showlegend=False,
        ))
    return fig


SHORT = {"previous token": "prev", "next token": "next", "self": "self", "[CLS]/[SEP] sink": "sink",
         "broad": "broad", "other": ""}


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def grid_figures(_run, _stats, model_name: str, text: str, causal: bool, level: str, hide_special: bool,
                 ) -> tuple[go.Figure, go.Figure]:
    """(the grid for export, the same with click targets): 72 MiniLM subplots take plotly ~0.4 s to
    build, so each view's figures are built once and shared (never mutated; keyed like its run)."""
    labels = _stats.pivot(index="layer", columns="head", values="pattern").replace(SHORT).to_numpy().tolist()
    fig = figures.grid(_run.attention, labels, title=f"{model_name} · all heads · {'look-ahead mask' if causal else 'no mask'}")
    return fig, _with_click_targets(fig, _run.n_heads)


def grid_view(clickable: go.Figure, key: str) -> tuple[int, int] | None:
    """Show the grid (from ``grid_figures``); return the 1-based (layer, head) that was clicked, if any."""
    event = st.plotly_chart(clickable, key=key, on_select="rerun", selection_mode="points",
                            config={"displaylogo": False}, width="stretch")
    for point in (event.selection.points if event else []):
        custom = point.get("customdata")
        if custom:
            return int(custom[0]) + 1, int(custom[1]) + 1
    return None
