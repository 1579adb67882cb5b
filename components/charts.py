"""Every plotly figure of the app goes to the page through ``chart``.

The figure is shown as attnviz drew it (``theme=None``): the same look as its PNG/SVG export,
and a new figure draws about 0.4 s sooner in the browser than with Streamlit's theme, which the
browser merges into every figure it receives (measured on the explorer's heatmap, a new
20-word sentence: 0.76-0.89 s to the arcs drawn without the theme, 1.13-1.65 s with it).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

CONFIG = {"displaylogo": False}
#: px per map of an all-heads grid when a measure mixes the heads: one map per layer in a row, bigger than a head's thumbnail.
LAYER_THUMB = 150


def chart(fig: go.Figure, key: str, width: str = "stretch", **selection):
    """``st.plotly_chart`` of ``fig`` under ``key``; ``selection``: ``on_select`` and ``selection_mode``
    for a clickable figure (its event is returned)."""
    return st.plotly_chart(fig, key=key, config=CONFIG, width=width, theme=None, **selection)
