"""Plotly heatmaps: one head, relation x head scores, and the layers x heads grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attnviz.figures.safe_text import plotly_text, positional
from attnviz.figures.style import COLORSCALE, FONT, text_width
from attnviz.labels import head_label
from attnviz.stats import head_stats

# ------------------------------------------------------------------ heatmap
#: px per head column in ``score_heatmap``: enough for a 9 px rotated "6-12" on every column.
SCORE_CELL = 16
ROW_FONT = 11  # px, the relation labels of score_heatmap
#: Every token is labelled up to this many tokens; longer inputs get plotly's own ticks on the
#: positional names ("37: the"), which thin out when zoomed out and fill in when zoomed in.
MAX_TICKS = 64


def _tick_font(n: int) -> int:
    return 11 if n <= 24 else 10 if n <= 40 else 8


def _ticks(categories: list[str], tokens: Sequence[str], max_ticks: int = MAX_TICKS) -> dict:
    if len(tokens) > max_ticks:  # plotly picks the labels (positional names), so zooming shows them all
        return dict(type="category", tickmode="auto", nticks=40, tickfont=dict(size=8), automargin=True, showgrid=False)
    return dict(
        type="category", tickmode="array", tickvals=list(categories),
        ticktext=[plotly_text(t) for t in tokens],
        tickfont=dict(size=_tick_font(len(tokens))), automargin=True, showgrid=False,
    )


def heatmap(
    matrix: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str], title: str = "",
    side: int | None = None, value_label: str = "attention", colorbar_label: str = "weight",
) -> go.Figure:
    """One head's ``[query, key]`` attention: query tokens down (first at the top), keys across.

    ``side`` is the plot area's size in px (default: 13 px per token, 360 to 1,000). Axes are
    categorical with positional names (``"3: the"``), so repeated tokens stay separate cells;
    up to ``MAX_TICKS`` tokens every tick is labelled with the token alone (smaller fonts for
    more tokens), beyond that plotly labels what fits with the positional names and zooming
    (drag a box) shows the rest. No per-cell annotations, so 512 tokens are drawn as fast as 10.
    Hover shows query, key and the value to 4 decimals, named ``value_label`` (the colour bar:
    ``colorbar_label``), so that a measure other than attention weights says what it is.
    """
    z = np.asarray(matrix, dtype=np.float32)  # [Q, K]
    if z.ndim != 2 or z.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"matrix of shape {z.shape} does not match {len(query_tokens)} x {len(key_tokens)} tokens")
    ys, xs = positional(query_tokens), positional(key_tokens)
    n = max(z.shape)
    side = side or int(min(1000, max(360, 13 * n)))  # plot area in px; cells stay square (scaleanchor)
    fig = go.Figure(go.Heatmap(
        z=z, x=xs, y=ys, zmin=0.0, zmax=1.0, colorscale=COLORSCALE,
        # a horizontal colour bar above the plot leaves the width to the cells (narrow columns)
        colorbar=dict(title=dict(text=plotly_text(colorbar_label), side="right"), orientation="h", thickness=10, len=140,
                      lenmode="pixels", x=0.5, xanchor="center", y=1.0, yanchor="bottom", ypad=8),
        hovertemplate=f"query %{{y}}<br>key %{{x}}<br>{plotly_text(value_label)} %{{z:.4f}}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=plotly_text(title), x=0.5, xanchor="center"),
        xaxis=dict(**_ticks(xs, key_tokens), title=dict(text="key (attended to)"), tickangle=-90 if n > 24 else -60 if n > 12 else -30),
        yaxis=dict(**_ticks(ys, query_tokens), title=dict(text="query (attending)"), autorange="reversed",
                   scaleanchor="x", constrain="domain", constraintoward="top"),
        width=side + 110, height=side + 190, margin=dict(l=40, r=20, t=(50 if title else 10) + 45, b=40),
        font=dict(family=FONT), plot_bgcolor="white",
    )
    return fig


def score_heatmap(
    matrix: np.ndarray, relations: Sequence[str], head_labels: Sequence[str], title: str = "",
    counts: Sequence[int] | None = None, value_label: str = "accuracy",
) -> go.Figure:
    """Relation x head scores ``[R, layers * heads]`` (values in [0, 1], NaN for no arcs): accuracy, or
    accuracy beyond position (``value_label`` names it on the colour bar and in the hover).

    Rows are relations (with their arc counts when given), columns "layer-head" labels. The left
    margin fits the longest row label, so no relation name is cut.
    """
    z = np.asarray(matrix, dtype=np.float32)
    if z.shape != (len(relations), len(head_labels)):
        raise ValueError(f"matrix of shape {z.shape} does not match {len(relations)} relations x {len(head_labels)} heads")
    rows = [plotly_text(f"{r} ({n})" if counts is not None else r) for r, n in zip(relations, counts if counts is not None else relations)]
    label = plotly_text(value_label)
    fig = go.Figure(go.Heatmap(
        z=z, x=[plotly_text(h) for h in head_labels], y=rows, zmin=0.0, zmax=1.0, colorscale=COLORSCALE,
        colorbar=dict(title=dict(text=label), thickness=12),
        hovertemplate=f"relation %{{y}}<br>head %{{x}}<br>{label} %{{z:.3f}}<extra></extra>",
    ))
    left = int(max((text_width(r, ROW_FONT) for r in rows), default=0)) + 24
    fig.update_layout(
        title=dict(text=plotly_text(title), x=0.5, xanchor="center"),
        # every head and relation labelled (explicit ticks: plotly would thin them out)
        xaxis=dict(type="category", title=dict(text="layer-head"), tickfont=dict(size=9), tickangle=-90,
                   tickmode="array", tickvals=[plotly_text(h) for h in head_labels], ticktext=[plotly_text(h) for h in head_labels]),
        yaxis=dict(type="category", autorange="reversed", tickfont=dict(size=ROW_FONT), tickmode="array", tickvals=rows,
                   ticktext=rows, automargin=True),
        width=max(600, SCORE_CELL * len(head_labels) + 220 + left), height=max(300, 20 * len(relations) + 160),
        margin=dict(l=left, r=20, t=50 if title else 20, b=60), font=dict(family=FONT), plot_bgcolor="white",
    )
    return fig


def clickable_cells(fig: go.Figure) -> go.Figure:
    """``fig`` (a one-heatmap figure) with an invisible, clickable marker on every cell.

    Plotly heatmaps report no click selection to Streamlit; the markers do. Each marker's
    ``customdata`` is its column's category (for ``score_heatmap``: the "layer-head" label),
    its hover text the heatmap's own.
    """
    fig = go.Figure(fig)
    heat = fig.data[0]
    xs, ys = list(heat.x), list(heat.y)
    z = np.asarray(heat.z, dtype=float)
    px, py = np.meshgrid(np.arange(len(xs)), np.arange(len(ys)))
    fig.add_trace(go.Scatter(
        x=[xs[i] for i in px.ravel()], y=[ys[j] for j in py.ravel()], mode="markers",
        marker=dict(symbol="square", size=SCORE_CELL, opacity=0), customdata=[[xs[i]] for i in px.ravel()],
        text=[f"{v:.3f}" if np.isfinite(v) else "no arcs" for v in z.ravel()],
        hovertemplate="relation %{y}<br>head %{x}<br>accuracy %{text}<br>click to show this head<extra></extra>",
        showlegend=False,
    ))
    fig.data[0].hoverinfo = "skip"
    return fig


# ------------------------------------------------------------------ grid of heads
#: Thumbnail side in px in ``grid``.
THUMB = 64  # px per thumbnail (MiniLM's 6 x 12 grid is about 1,000 px wide; narrower columns shrink it, squares kept)


def downsample(matrix: np.ndarray, max_size: int = 32) -> np.ndarray:
    """Pool ``[..., Q, K]`` attention to at most ``max_size`` x ``max_size``, keeping its mass.

    A thumbnail cell is the share of its query block's attention that goes to its key
    block: summed over the block's keys, averaged over its queries. So rows still sum to
    1 and a sharp pattern stays sharp on the shared 0..1 scale (a previous-token head at
    512 tokens is a bright diagonal, not 1/16 of one, as a plain block average would make
    it). Blocks differ in size by at most one row/column. Sides already <= max_size are
    returned unchanged.
    """
    if max_size < 1:
        raise ValueError("max_size must be at least 1")
    m = np.asarray(matrix, dtype=np.float32)
    n_q, n_k = m.shape[-2:]
    if n_q <= max_size and n_k <= max_size:
        return m
    eq = np.linspace(0, n_q, min(n_q, max_size) + 1).round().astype(int)  # block edges
    ek = np.linspace(0, n_k, min(n_k, max_size) + 1).round().astype(int)
    sums = np.add.reduceat(np.add.reduceat(m, eq[:-1], axis=-2), ek[:-1], axis=-1)
    return (sums / np.diff(eq)[:, None]).astype(np.float32)


def grid(
    attention: np.ndarray,
    labels: Sequence[Sequence[str]] | None = None,
    title: str = "",
    max_size: int = 32,
    *,
    special: np.ndarray | None = None,
    sublabels: Sequence[Sequence[str]] | None = None,
    names: Sequence[Sequence[str]] | None = None,
    thumb: int | None = None,
    colorbar_label: str = "weight",
) -> go.Figure:
    """A layers x heads grid of small heatmaps of ``[L, H, Q, K]`` attention.

    Each thumbnail is ``downsample(head, max_size)``; all share one colour axis 0..1.
    Subplot titles are "layer-head" (1-based), or ``names[row][col]`` when given (e.g. "layer 3"
    for a measure that mixes the heads), plus ``labels[row][col]`` (e.g. the pattern from
    ``stats.head_stats``); with labels None and ``special`` given, the patterns are computed here.
    ``thumb``: px per thumbnail (default ``THUMB``). Hover shows the (block) value only.
    """
    a = np.asarray(attention, dtype=np.float32)
    if a.ndim != 4:
        raise ValueError(f"attention must be [layers, heads, query, key], not shape {a.shape}")
    n_layers, n_heads = a.shape[:2]
    if labels is None and special is not None:
        patterns = head_stats(a, special)["pattern"].to_numpy()
        labels = patterns.reshape(n_layers, n_heads).tolist()
    names = [[(names[l][h] if names is not None else head_label(l, h)) + (f" {labels[l][h]}" if labels is not None else "")
              for h in range(n_heads)] for l in range(n_layers)]
    gap_x, gap_y = 14, 30 if sublabels is None else 40  # px between thumbnails (room for the titles)
    thumb = thumb or THUMB
    plot_w = n_heads * thumb + (n_heads - 1) * gap_x
    plot_h = n_layers * thumb + (n_layers - 1) * gap_y
    fig = make_subplots(
        rows=n_layers, cols=n_heads,
        subplot_titles=_subplot_titles(names, sublabels),
        horizontal_spacing=gap_x / plot_w if n_heads > 1 else 0.0,
        vertical_spacing=gap_y / plot_h if n_layers > 1 else 0.0,
    )
    thumbs = downsample(a, max_size)  # [L, H, q, k]
    _add_thumbnails(fig, thumbs, names)
    _square_axes(fig, n_layers * n_heads, *thumbs.shape[-2:])
    fig.update_annotations(font=dict(size=9))
    fig.update_layout(
        title=dict(text=plotly_text(title), x=0.5, xanchor="center"),
        coloraxis=dict(cmin=0.0, cmax=1.0, colorscale=COLORSCALE, colorbar=dict(thickness=12, title=dict(text=plotly_text(colorbar_label)))),
        width=plot_w + 120, height=plot_h + 100, margin=dict(l=20, r=100, t=70, b=30),
        font=dict(family=FONT), plot_bgcolor="white",
    )
    return fig


def _subplot_titles(names: Sequence[Sequence[str]], sublabels: Sequence[Sequence[str]] | None) -> list[str]:
    """Each thumbnail's title, row by row: its name and, when given, a second line (escaped like the first):
    e.g. what a sink head does apart from the sink."""
    return [plotly_text(name) + (f"<br>{plotly_text(sublabels[l][h])}" if sublabels is not None and sublabels[l][h] else "")
            for l, row in enumerate(names) for h, name in enumerate(row)]


def _add_thumbnails(fig: go.Figure, thumbs: np.ndarray, names: Sequence[Sequence[str]]) -> None:
    """One heatmap per head ``thumbs[l, h]`` in subplot (l + 1, h + 1), all on the figure's one colour axis."""
    traces, rows, cols = [], [], []
    for l in range(thumbs.shape[0]):
        for h in range(thumbs.shape[1]):
            traces.append(go.Heatmap(
                z=thumbs[l, h], coloraxis="coloraxis",
                hovertemplate=f"{plotly_text(names[l][h])}<br>value %{{z:.4f}}<extra></extra>",
            ))
            rows.append(l + 1)
            cols.append(h + 1)
    fig.add_traces(traces, rows=rows, cols=cols)


def _square_axes(fig: go.Figure, n_plots: int, n_q: int, n_k: int) -> None:
    """Fixed ranges (anything drawn over a thumbnail, e.g. click targets, cannot widen them), no ticks,
    and square thumbnails at any displayed width."""
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain",
                     range=[-0.5, n_k - 0.5])
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain",
                     range=[n_q - 0.5, -0.5])
    for i in range(1, n_plots + 1):
        fig.layout[f"yaxis{i if i > 1 else ''}"].scaleanchor = f"x{i if i > 1 else ''}"
