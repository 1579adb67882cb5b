"""The query-key view's two figures (plotly, no Streamlit), from ``attnviz.qk_parts``:

    logit_bars(row, key_tokens, title)   one bar per key: scale × q·k and the other terms, stacked (the logit); below,
                                         the weight after softmax (masked keys faded, marked "masked")
    dim_bars(dims, title)                one group per dimension of the head, by |q_i k_i|: q_i, k_i and q_i k_i,
                                         the dimensions that carry half of q · k in the accent colour

Tokens are user text: the axes use ``attnviz.figures.safe_text.positional`` ("3: the", escaped) and titles go through
``plotly_text``, so nothing typed is read as markup.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attnviz.figures.arc_parts import ACCENT, PALETTE
from attnviz.figures.safe_text import plotly_text, positional
from attnviz.figures.style import FONT
from attnviz.qk_parts import KeyDims, QueryRow

QK_COLOR, BIAS_COLOR, WEIGHT_COLOR, REST_COLOR = PALETTE[0], PALETTE[2], PALETTE[1], "#9e9e9e"
FADED = 0.3  # opacity of a masked key's bars


def _layout(fig: go.Figure, title: str, height: int, width: int | None) -> go.Figure:
    fig.update_layout(title=dict(text=plotly_text(title), x=0.5, xanchor="center"), height=height, width=width,
                      font=dict(family=FONT), plot_bgcolor="white", legend=dict(orientation="h", y=-0.18, x=0.5,
                                                                                xanchor="center", yanchor="top"),
                      margin=dict(l=60, r=20, t=70 if title else 30, b=40))
    fig.update_yaxes(gridcolor="#e5e5e5", zerolinecolor="#888")
    return fig


def logit_bars(row: QueryRow, key_tokens: list[str], title: str = "", picked: int | None = None,
               width: int | None = None) -> go.Figure:
    """Above: each key's logit as stacked bars, scale × q·k and (where the family has them) the position terms, with
    a marker at their sum and, for a softcapping family, at the softcapped logit. Below: the weight after softmax.
    A masked key's bars are faded and its weight (0) is marked "masked"; ``picked``'s bars are outlined."""
    x = positional(key_tokens)
    n = len(x)
    opacity = np.where(row.allowed, 1.0, FADED).tolist()
    outline = dict(width=[2.5 if j == picked else 0 for j in range(n)], color="#222")
    masked = ["masked" if not a else "" for a in row.allowed]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.1,
                        subplot_titles=("logit = scale × q·k" + (" + bias" if row.bias is not None else "")
                                        + (", softcapped" if row.softcap is not None else ""), "weight = softmax of the logits"))
    hover = "key %{x}<br>%{fullData.name} %{y:.4f}<extra></extra>"
    fig.add_trace(go.Bar(x=x, y=row.qk, name=f"scale × q·k (scale {row.scale:.4g})", marker=dict(
        color=QK_COLOR, opacity=opacity, line=outline), hovertemplate=hover), row=1, col=1)
    if row.bias is not None:
        fig.add_trace(go.Bar(x=x, y=row.bias, name="bias (position terms)", marker=dict(
            color=BIAS_COLOR, opacity=opacity, line=outline), hovertemplate=hover), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=row.summed, mode="markers", name="scale × q·k + bias", marker=dict(
            symbol="diamond", size=9, color="#222"), hovertemplate=hover), row=1, col=1)
    if row.softcap is not None:
        fig.add_trace(go.Scatter(x=x, y=row.logit, mode="markers", name=f"softcapped: {row.softcap:g}·tanh(x / {row.softcap:g})",
                                 marker=dict(symbol="x", size=9, color=ACCENT), hovertemplate=hover), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=row.weight, name="weight", marker=dict(color=WEIGHT_COLOR, opacity=opacity, line=outline),
                         text=masked, textposition="outside", cliponaxis=False,
                         hovertemplate="key %{x}<br>weight %{y:.4f} %{text}<extra></extra>"), row=2, col=1)
    fig.update_layout(barmode="relative", bargap=0.25)
    fig.update_yaxes(title_text="logit", row=1, col=1)
    fig.update_yaxes(title_text="weight", range=[0, 1.08], row=2, col=1)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=x, tickangle=-90 if n > 24 else -45 if n > 10 else 0)
    return _layout(fig, title, 520, width)


def dim_bars(dims: KeyDims, title: str = "", width: int | None = None) -> go.Figure:
    """Above: q_i and k_i, side by side; below: q_i k_i, whose sum is q · k. One category per dimension ("d7"),
    ordered by |q_i k_i|, largest first; the products of the dimensions carrying half of q · k (``KeyDims.half``)
    in the accent colour, the others grey."""
    order = dims.order
    x = [f"d{i}" for i in order]
    half = set() if dims.half is None else {int(i) for i in dims.half}
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.5, 0.5], vertical_spacing=0.1,
                        subplot_titles=("query q_i and key k_i", "q_i · k_i (they sum to q · k)"))
    hover = "%{x}<br>%{fullData.name} %{y:.4f}<extra></extra>"
    fig.add_trace(go.Bar(x=x, y=dims.q[order], name="q_i", marker_color=PALETTE[3], offset=-0.4, width=0.4,
                         hovertemplate=hover), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=dims.k[order], name="k_i", marker_color=PALETTE[9], offset=0.0, width=0.4,
                         hovertemplate=hover), row=1, col=1)
    for name, color, keep in (("q_i · k_i, carrying half of q · k", ACCENT, True), ("q_i · k_i, the other dimensions", REST_COLOR, False)):
        picked = [i for i in order if (int(i) in half) == keep]
        if picked:
            fig.add_trace(go.Bar(x=[f"d{i}" for i in picked], y=dims.products[picked], name=name, marker_color=color,
                                 offset=-0.4, width=0.8, hovertemplate=hover), row=2, col=1)
    fig.update_layout(barmode="overlay")  # side by side through each bar's own offset and width
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=x, tickangle=-90 if len(x) > 24 else -45)
    return _layout(fig, title, 480, width)
