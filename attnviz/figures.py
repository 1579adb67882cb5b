"""Plain data in, figures out: plotly figures and self-contained SVG, and their export.

In the style of spaCy's displaCy, every function takes plain data (lists of str, numpy
arrays) and returns a plotly Figure, an SVG string or bytes; nothing here knows about
Streamlit.

    heatmap(run.head(2, 0), run.tokens, run.tokens, "MiniLM 3-1")      -> go.Figure
    arcs_svg(run.tokens, run.attention[2, :3], top_k=3)                 -> str (SVG)
    grid(run.attention, special=run.special)                            -> go.Figure
    to_png(fig_or_svg), to_svg(fig)                                     -> bytes
    matrix_csv(run.head(2, 0), run.tokens, run.tokens)                  -> bytes (CSV)

Tokens are user text. Plotly renders a small HTML subset in tick labels, titles and
hover text, so every label goes through ``_plotly_text`` (``&``, ``<``, ``>`` escaped);
the SVG writer escapes all text and attribute values and drops characters XML cannot
carry, so nothing typed is ever interpreted as markup.

Export (PNG and SVG) renders in one headless Chrome-family browser per process, driven
by kaleido, started on first use and stopped at exit. ``export_available()`` says
whether a browser was found; without one, ``to_png``/``to_svg`` raise
``ExportUnavailableError`` with a message saying how to enable it.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import html
import math
import os
import re
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import quoteattr as _xml_quoteattr

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from attnviz import stats as _stats

#: One colour scale for every attention heatmap; zmin=0, zmax=1 so heads compare.
COLORSCALE = "Blues"
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"


# ------------------------------------------------------------------ text safety
_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _plotly_text(text: object) -> str:
    """User text for a plotly label/title/hover: shown literally, never as markup.

    ``&``, ``<``, ``>`` are escaped (plotly decodes these entities when drawing), and
    ``$`` becomes ``&#36;`` so a label like ``$x$`` is not typeset as LaTeX.
    """
    return html.escape(str(text), quote=False).replace("$", "&#36;")


def _xml_clean(text: object) -> str:
    """Characters XML 1.0 cannot hold (NUL, most control characters) become U+FFFD."""
    return _XML_INVALID.sub("\ufffd", str(text))


def _xml_text(text: object) -> str:
    return _xml_escape(_xml_clean(text))


def _xml_attr(value: object) -> str:
    """A quoted attribute value (quotes included)."""
    return _xml_quoteattr(_xml_clean(value))


def _positional(tokens: Sequence[str]) -> list[str]:
    """Unique, escaped category names ``"{i}: token"`` so duplicate tokens stay apart."""
    return [f"{i}: {_plotly_text(t)}" for i, t in enumerate(tokens)]


# ------------------------------------------------------------------ heatmap
#: At most this many tick labels per axis; longer inputs label every n-th token.
MAX_TICKS = 60


def _ticks(categories: list[str], tokens: Sequence[str], max_ticks: int = MAX_TICKS) -> dict:
    step = max(1, math.ceil(len(tokens) / max_ticks))
    picks = range(0, len(tokens), step)
    return dict(
        type="category", tickmode="array", tickvals=[categories[i] for i in picks],
        ticktext=[_plotly_text(tokens[i]) for i in picks],
        tickfont=dict(size=11 if len(tokens) <= 40 else 9), automargin=True, showgrid=False,
    )


def heatmap(
    matrix: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str], title: str = "",
    side: int | None = None,
) -> go.Figure:
    """One head's ``[query, key]`` attention: query tokens down (first at the top), keys across.

    ``side`` is the plot area's size in px (default: grows with the tokens, 360 to 900).
    Axes are categorical with positional names (``"3: the"``), so repeated tokens stay
    separate cells; tick labels show the token alone. No per-cell annotations, so 512
    tokens are drawn as fast as 10. Hover shows query, key and the value to 4 decimals.
    """
    z = np.asarray(matrix, dtype=np.float32)  # [Q, K]
    if z.ndim != 2 or z.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"matrix of shape {z.shape} does not match {len(query_tokens)} x {len(key_tokens)} tokens")
    ys, xs = _positional(query_tokens), _positional(key_tokens)
    n = max(z.shape)
    side = side or int(min(900, max(360, 18 * n)))  # plot area in px; cells stay square (scaleanchor)
    fig = go.Figure(go.Heatmap(
        z=z, x=xs, y=ys, zmin=0.0, zmax=1.0, colorscale=COLORSCALE,
        # a horizontal colour bar above the plot leaves the width to the cells (narrow columns)
        colorbar=dict(title=dict(text="weight", side="right"), orientation="h", thickness=10, len=140, lenmode="pixels",
                      x=0.5, xanchor="center", y=1.0, yanchor="bottom", ypad=8),
        hovertemplate="query %{y}<br>key %{x}<br>attention %{z:.4f}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=_plotly_text(title), x=0.5, xanchor="center"),
        xaxis=dict(**_ticks(xs, key_tokens, min(MAX_TICKS, side // 12)), title=dict(text="key (attended to)"), tickangle=-60 if n > 12 else -30),
        yaxis=dict(**_ticks(ys, query_tokens, min(MAX_TICKS, side // 12)), title=dict(text="query (attending)"), autorange="reversed",
                   scaleanchor="x", constrain="domain", constraintoward="top"),
        width=side + 110, height=side + 190, margin=dict(l=40, r=20, t=(50 if title else 10) + 45, b=40),
        font=dict(family=FONT), plot_bgcolor="white",
    )
    return fig


def score_heatmap(
    matrix: np.ndarray, relations: Sequence[str], head_labels: Sequence[str], title: str = "",
    counts: Sequence[int] | None = None,
) -> go.Figure:
    """Relation x head accuracy ``[R, layers * heads]`` (values in [0, 1], NaN for no arcs).

    Rows are relations (with their arc counts when given), columns "layer-head" labels.
    """
    z = np.asarray(matrix, dtype=np.float32)
    if z.shape != (len(relations), len(head_labels)):
        raise ValueError(f"matrix of shape {z.shape} does not match {len(relations)} relations x {len(head_labels)} heads")
    rows = [_plotly_text(f"{r} ({n})" if counts is not None else r) for r, n in zip(relations, counts if counts is not None else relations)]
    fig = go.Figure(go.Heatmap(
        z=z, x=[_plotly_text(h) for h in head_labels], y=rows, zmin=0.0, zmax=1.0, colorscale=COLORSCALE,
        colorbar=dict(title=dict(text="accuracy"), thickness=12),
        hovertemplate="relation %{y}<br>head %{x}<br>accuracy %{z:.3f}<extra></extra>",
    ))
    fig.update_layout(
        title=dict(text=_plotly_text(title), x=0.5, xanchor="center"),
        xaxis=dict(type="category", title=dict(text="layer-head"), tickfont=dict(size=9), tickangle=-90),
        yaxis=dict(type="category", autorange="reversed", tickfont=dict(size=11)),
        width=max(600, 12 * len(head_labels) + 260), height=max(300, 20 * len(relations) + 160),
        margin=dict(l=40, r=20, t=50 if title else 20, b=60), font=dict(family=FONT), plot_bgcolor="white",
    )
    return fig


# ------------------------------------------------------------------ arcs (SVG)
#: Head colours (plotly's D3 without its red and grey, plus four more); more heads get
#: evenly spaced hues. The accent (red) marks ``highlight`` arcs.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#7b4173", "#e7ba52",
)
ACCENT = "#d62728"
#: Arcs drawn at most (strongest kept); the SVG root says how many were dropped.
MAX_ARCS = 20_000

FONT_SIZE = 14
CHAR_WIDTH = 0.62 * FONT_SIZE   # rough width of one character, px
MIN_TOKEN_WIDTH = 30
TOKEN_GAP = 14
MARGIN = 20
MAX_ARC_HEIGHT = 240            # control-point height of the longest arcs, px
LOOP_HEIGHT = 22


def _palette(n: int) -> list[str]:
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [f"hsl({round(210 + 360 * i / n) % 360}, 70%, 42%)" for i in range(n)]


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * 0.62 * size


def _keep_arcs(w: np.ndarray, top_k: int | None, threshold: float) -> np.ndarray:
    """bool ``[H, Q, K]``: weights > 0 and >= threshold, and among each query's top_k."""
    keep = (w > 0) & (w >= threshold)
    if top_k is not None:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        top = np.zeros_like(keep)
        order = np.argsort(-w, axis=-1, kind="stable")[..., :top_k]
        np.put_along_axis(top, order, True, axis=-1)
        keep &= top
    return keep


def arcs_svg(
    tokens: Sequence[str],
    weights: np.ndarray,
    *,
    title: str | None = None,
    top_k: int | None = None,
    threshold: float = 0.0,
    highlight: Collection[tuple[int, int]] | None = None,
    colors: Sequence[str] | None = None,
    layers: Sequence[str] | None = None,
    labels: Mapping[tuple[int, int], str] | None = None,
    max_arcs: int = MAX_ARCS,
    background: str | None = "white",
) -> str:
    """A self-contained SVG: tokens left to right on a baseline, attention as arcs above.

    weights:   ``[Q, K]`` (one head) or ``[H, Q, K]`` (heads overlaid, one colour each),
               with Q = K = len(tokens); an arc goes from query q to key k (arrowhead at k).
    top_k:     keep each query's k strongest links (per head); threshold: drop weights
               below it. Zero weights are never drawn. Self-attention (q == k) is a small
               loop above the token. At most ``max_arcs`` arcs (the strongest) are drawn.
    highlight: (q, k) pairs whose drawn arcs get the accent colour (``data-highlight="1"``).
    colors:    one colour per head (default ``PALETTE``); layers: one legend label per head
               (e.g. "3-1"); a legend is drawn for several heads or when labels are given.
    labels:    {(q, k): text} drawn at the top of arc q -> k, when that arc is drawn.

    Stroke width and opacity grow with the weight. Markup for scripts and tests:
    ``<text class="token" data-index="i">``, ``<g class="head" data-head="h">`` (its
    ``stroke`` is the head colour) holding ``<path class="arc" data-from="q" data-to="k"
    data-head="h" data-weight="0.1234">``. Width grows with the tokens' length, so the
    size is about 200 bytes per drawn arc: 512 tokens with top_k=3 is ~0.3 MB per head.
    """
    tokens = [str(t) for t in tokens]
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if w.ndim == 2:
        w = w[None]
    n = len(tokens)
    if w.ndim != 3 or w.shape[1:] != (n, n):
        raise ValueError(f"weights must be [Q, K] or [H, Q, K] with Q = K = {n} tokens, not shape {w.shape}")
    n_heads = w.shape[0]
    colors = list(colors) if colors is not None else _palette(n_heads)
    if len(colors) < n_heads:
        raise ValueError(f"{len(colors)} colours for {n_heads} heads")
    names = [str(x) for x in layers] if layers is not None else [f"head {h + 1}" for h in range(n_heads)]
    if len(names) < n_heads:
        raise ValueError(f"{len(names)} layer labels for {n_heads} heads")
    highlight = {(int(q), int(k)) for q, k in (highlight or ())}
    labels = {(int(q), int(k)): str(v) for (q, k), v in (labels or {}).items()}

    keep = _keep_arcs(w, top_k, threshold)
    dropped = 0
    if keep.sum() > max_arcs:  # keep the strongest max_arcs
        kept = np.flatnonzero(keep)
        strongest = kept[np.argsort(-w.ravel()[kept], kind="stable")[:max_arcs]]
        dropped = kept.size - strongest.size
        keep = np.zeros_like(keep)
        keep.ravel()[strongest] = True
    hs, qs, ks = np.nonzero(keep)
    ws = w[hs, qs, ks]
    order = np.lexsort((ws, hs))  # by head, then weakest first so strong arcs lie on top
    hs, qs, ks, ws = hs[order], qs[order], ks[order], ws[order]

    # -- horizontal layout: each token gets a box as wide as its text (rough estimate)
    box = np.maximum(MIN_TOKEN_WIDTH, np.array([_text_width(t) for t in tokens]) + TOKEN_GAP)
    centres = MARGIN + np.cumsum(box) - box / 2                          # (n,)
    dx = np.abs(centres[ks] - centres[qs])
    heights = np.where(qs == ks, LOOP_HEIGHT, np.minimum(MAX_ARC_HEIGHT, 16 + 0.5 * dx))
    apex = 0.75 * heights.max(initial=LOOP_HEIGHT)                       # a cubic's peak is 3/4 of its control height

    show_legend = n_heads > 1 or layers is not None
    title_h = 30 if title else 0
    legend_h = 24 if show_legend else 0
    top = MARGIN + title_h + legend_h + (16 if labels else 0)
    baseline = top + apex + 6                                            # arcs end here
    height = baseline + FONT_SIZE + 14 + MARGIN
    legend_w = sum(34 + _text_width(nm, 12) + 14 for nm in names[:n_heads]) if show_legend else 0
    width = max(MARGIN * 2 + box.sum(), MARGIN * 2 + legend_w, MARGIN * 2 + _text_width(title or "", 16), 120)

    doc_title = title if title else "Attention arcs"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" class="attnviz-arcs" data-tokens="{n}" '
        f'data-heads="{n_heads}" data-arcs="{len(ws)}" data-arcs-dropped="{dropped}" '
        f'font-family={_xml_attr(FONT)} font-size="{FONT_SIZE}">',
        f"<title>{_xml_text(doc_title)}</title>",
        "<defs>",
    ]
    for h, c in enumerate([*colors[:n_heads], ACCENT]):
        mid = f"ah{h}" if h < n_heads else "ah-accent"
        out.append(f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill={_xml_attr(c)}/></marker>')
    out.append("</defs>")
    if background:
        out.append(f'<rect width="100%" height="100%" fill={_xml_attr(background)}/>')
    y = MARGIN
    if title:
        out.append(f'<text class="title" x="{width / 2:.1f}" y="{y + 18}" text-anchor="middle" '
                   f'font-size="16" font-weight="bold">{_xml_text(title)}</text>')
        y += title_h
    if show_legend:
        x = MARGIN
        for h in range(n_heads):
            out.append(f'<g class="legend" data-head="{h}"><line x1="{x}" y1="{y + 10}" x2="{x + 26}" y2="{y + 10}" '
                       f'stroke={_xml_attr(colors[h])} stroke-width="3"/><text x="{x + 32}" y="{y + 14}" '
                       f'font-size="12">{_xml_text(names[h])}</text></g>')
            x += 34 + _text_width(names[h], 12) + 14

    # -- arcs, one group per head
    x_from, x_to = centres[qs] - 3, centres[ks] + 3   # q -> k and k -> q do not coincide
    starts = np.searchsorted(hs, np.arange(n_heads + 1))
    for h in range(n_heads):
        out.append(f'<g class="head" data-head="{h}" data-label={_xml_attr(names[h])} stroke={_xml_attr(colors[h])} '
                   f'fill="none" marker-end="url(#ah{h})">')
        for i in range(starts[h], starts[h + 1]):
            q, k, wt = int(qs[i]), int(ks[i]), float(ws[i])
            if q == k:
                c = centres[q]
                d = (f"M{c - 5:.1f},{baseline:.1f} C{c - 13:.1f},{baseline - LOOP_HEIGHT:.1f} "
                     f"{c + 13:.1f},{baseline - LOOP_HEIGHT:.1f} {c + 5:.1f},{baseline:.1f}")
            else:
                a, b, hh = x_from[i], x_to[i], heights[i]
                d = f"M{a:.1f},{baseline:.1f} C{a:.1f},{baseline - hh:.1f} {b:.1f},{baseline - hh:.1f} {b:.1f},{baseline:.1f}"
            extra = f' data-highlight="1" stroke="{ACCENT}"' if (q, k) in highlight else ""
            if q == k:
                extra += ' marker-end="none"'  # no arrowhead on a loop
            elif extra:
                extra += ' marker-end="url(#ah-accent)"'
            out.append(f'<path class="arc" data-from="{q}" data-to="{k}" data-head="{h}" data-weight="{wt:.4f}" '
                       f'd="{d}" stroke-width="{0.6 + 3.4 * wt:.2f}" stroke-opacity="{0.2 + 0.8 * wt:.2f}"{extra}/>')
        out.append("</g>")

    # -- arc labels (e.g. dependency relations), at the top of arcs that are drawn
    if labels:
        drawn = {}
        for i in range(len(ws)):
            drawn.setdefault((int(qs[i]), int(ks[i])), i)
        out.append('<g class="labels" font-size="11" text-anchor="middle" fill="#333" stroke="white" '
                   'stroke-width="3" paint-order="stroke">')
        for (q, k), text in labels.items():
            if (q, k) not in drawn:
                continue
            i = drawn[(q, k)]
            xm = (x_from[i] + x_to[i]) / 2 if q != k else centres[q]
            ym = baseline - 0.75 * heights[i] - 4
            out.append(f'<text class="arc-label" data-from="{q}" data-to="{k}" x="{xm:.1f}" y="{ym:.1f}">'
                       f"{_xml_text(text)}</text>")
        out.append("</g>")

    # -- tokens
    out.append('<g class="tokens" text-anchor="middle" fill="#222">')
    ty = baseline + FONT_SIZE + 6
    for i, t in enumerate(tokens):
        out.append(f'<text class="token" data-index="{i}" x="{centres[i]:.1f}" y="{ty:.1f}">{_xml_text(t)}</text>')
    out.append("</g></svg>")
    return "\n".join(out)


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
) -> go.Figure:
    """A layers x heads grid of small heatmaps of ``[L, H, Q, K]`` attention.

    Each thumbnail is ``downsample(head, max_size)``; all share one colour axis 0..1.
    Subplot titles are "layer-head" (1-based) plus ``labels[layer][head]`` (e.g. the
    pattern from ``stats.head_stats``); with labels None and ``special`` given, the
    patterns are computed here. Hover shows the (block) value only.
    """
    a = np.asarray(attention, dtype=np.float32)
    if a.ndim != 4:
        raise ValueError(f"attention must be [layers, heads, query, key], not shape {a.shape}")
    n_layers, n_heads = a.shape[:2]
    if labels is None and special is not None:
        patterns = _stats.head_stats(a, special)["pattern"].to_numpy()
        labels = patterns.reshape(n_layers, n_heads).tolist()
    names = [[f"{l + 1}-{h + 1}" + (f" {labels[l][h]}" if labels is not None else "")
              for h in range(n_heads)] for l in range(n_layers)]
    gap_x, gap_y = 14, 30  # px between thumbnails (room for the titles)
    plot_w = n_heads * THUMB + (n_heads - 1) * gap_x
    plot_h = n_layers * THUMB + (n_layers - 1) * gap_y
    fig = make_subplots(
        rows=n_layers, cols=n_heads,
        subplot_titles=[_plotly_text(nm) for row in names for nm in row],
        horizontal_spacing=gap_x / plot_w if n_heads > 1 else 0.0,
        vertical_spacing=gap_y / plot_h if n_layers > 1 else 0.0,
    )
    thumbs = downsample(a, max_size)  # [L, H, q, k]
    traces, rows, cols = [], [], []
    for l in range(n_layers):
        for h in range(n_heads):
            traces.append(go.Heatmap(
                z=thumbs[l, h], coloraxis="coloraxis",
                hovertemplate=f"{_plotly_text(names[l][h])}<br>value %{{z:.4f}}<extra></extra>",
            ))
            rows.append(l + 1)
            cols.append(h + 1)
    fig.add_traces(traces, rows=rows, cols=cols)
    n_q, n_k = thumbs.shape[-2:]
    # fixed ranges (anything drawn over a thumbnail, e.g. click targets, cannot widen them) and
    # square thumbnails at any displayed width
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain",
                     range=[-0.5, n_k - 0.5])
    fig.update_yaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain",
                     range=[n_q - 0.5, -0.5])
    for i in range(1, n_layers * n_heads + 1):
        fig.layout[f"yaxis{i if i > 1 else ''}"].scaleanchor = f"x{i if i > 1 else ''}"
    fig.update_annotations(font=dict(size=9))
    fig.update_layout(
        title=dict(text=_plotly_text(title), x=0.5, xanchor="center"),
        coloraxis=dict(cmin=0.0, cmax=1.0, colorscale=COLORSCALE, colorbar=dict(thickness=12, title=dict(text="weight"))),
        width=plot_w + 120, height=plot_h + 100, margin=dict(l=20, r=100, t=70, b=30),
        font=dict(family=FONT), plot_bgcolor="white",
    )
    return fig


# ------------------------------------------------------------------ CSV
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(text: object) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a ' prefix."""
    text = str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def matrix_csv(matrix: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str]) -> bytes:
    """The ``[Q, K]`` matrix as UTF-8 CSV (with BOM, for spreadsheets).

    Columns: ``position``, ``token`` (the query token), then one column per key named
    ``"{k}: {token}"`` (so duplicate tokens stay distinct). Formula-like tokens are
    neutralised (``'=SUM(A1)``).
    """
    m = np.asarray(matrix)
    if m.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"matrix of shape {m.shape} does not match {len(query_tokens)} x {len(key_tokens)} tokens")
    df = pd.DataFrame(m, columns=[_safe_cell(f"{k}: {t}") for k, t in enumerate(key_tokens)])
    df.insert(0, "token", [_safe_cell(t) for t in query_tokens])
    df.insert(0, "position", np.arange(len(query_tokens)))
    return df.to_csv(index=False).encode("utf-8-sig")


# ------------------------------------------------------------------ export
#: Seconds to wait for the browser to start, and for one image.
START_TIMEOUT = 60
RENDER_TIMEOUT = 60
#: Longest side of an exported PNG in px; a larger image is exported at a smaller scale
#: (Chromium cannot draw a canvas much beyond this).
MAX_PNG_SIDE = 16_000

ENABLE_EXPORT_HELP = (
    "Server-side image export needs a Chrome-family browser (Chromium or Chrome), and none "
    "was found. To enable it, install Debian's chromium package (`apt-get install chromium`; "
    "on Streamlit Community Cloud, add a line `chromium` to packages.txt) or set BROWSER_PATH "
    "to a Chrome/Chromium executable. Meanwhile, the camera button in a chart's toolbar "
    "downloads a PNG from your own browser."
)


class ExportUnavailableError(RuntimeError):
    """No browser to render images with (or it failed); the message says what to do."""


def _find_browser() -> str | None:
    """The Chrome-family executable kaleido would use, or None."""
    if path := os.environ.get("BROWSER_PATH"):
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    try:
        from choreographer.browsers.chromium import Chromium

        if path := Chromium.find_browser(skip_local=False):
            return path
    except Exception:  # noqa: BLE001 - best effort; fall back to PATH
        pass
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "msedge")
    return next((p for name in names if (p := shutil.which(name))), None)


def export_available() -> tuple[bool, str]:
    """(True, "Images are rendered with <path>") or (False, how to enable export)."""
    if path := _find_browser():
        return True, f"Images are rendered with {path}."
    if bad := os.environ.get("BROWSER_PATH"):
        return False, f"BROWSER_PATH={bad!r} is not an executable file. " + ENABLE_EXPORT_HELP
    return False, ENABLE_EXPORT_HELP


class _ExportBrowser:
    """One headless browser (a ``kaleido.Kaleido``) on its own event loop thread.

    Started on first use under a lock, reused by every export in the process (a cold
    export costs ~3 s, a warm one ~0.2 s) and closed at exit. kaleido's own
    ``start_sync_server`` is not used: when the browser fails to start, its calls wait
    forever, whereas here the failure (or a crash later) surfaces as an exception, and
    the next export starts a fresh browser.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido = None
        self._atexit = False

    def _start(self) -> None:
        import kaleido

        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="attnviz-export", daemon=True)
        thread.start()

        async def open_browser():
            k = kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT, mathjax=False)  # no MathJax: no CDN fetch
            await k.open()
            return k

        future = asyncio.run_coroutine_threadsafe(open_browser(), loop)
        try:
            k = future.result(START_TIMEOUT)
        except BaseException as e:
            future.cancel()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            raise ExportUnavailableError(f"The export browser did not start ({type(e).__name__}: {e}). "
                                         + ENABLE_EXPORT_HELP) from e
        self._loop, self._thread, self._kaleido = loop, thread, k
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True

    def stop(self) -> None:
        """Close the browser (the next export starts a new one)."""
        with self._lock:
            loop, thread, k = self._loop, self._thread, self._kaleido
            self._loop = self._thread = self._kaleido = None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(k.close(), loop).result(10)
        except Exception:  # noqa: BLE001 - already dead: nothing to close
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    @property
    def running(self) -> bool:
        return self._kaleido is not None

    def render(self, fig: dict, opts: dict) -> bytes:
        ok, message = export_available()
        if not ok:
            raise ExportUnavailableError(message)
        with self._lock:
            if self._kaleido is None or not self._thread.is_alive():
                self._start()
            loop, k = self._loop, self._kaleido
        from kaleido.errors import JavascriptError, KaleidoError

        try:  # kaleido queues concurrent renders on its tab itself
            return asyncio.run_coroutine_threadsafe(k.calc_fig(fig, opts=opts), loop).result(RENDER_TIMEOUT + 10)
        except (KaleidoError, JavascriptError):
            raise  # the figure is at fault, the browser is fine
        except Exception as e:
            self.stop()
            raise ExportUnavailableError(f"The export browser failed ({type(e).__name__}: {e}); "
                                         "the next export starts a new one.") from e


_browser = _ExportBrowser()


def _svg_size(svg: str) -> tuple[float, float]:
    """(width, height) of an SVG document from its root attributes or viewBox."""
    root = ET.fromstring(svg)
    number = lambda v: float(re.match(r"[\d.]+", v).group()) if v and re.match(r"[\d.]+", v) else None  # noqa: E731
    w, h = number(root.get("width")), number(root.get("height"))
    if (w is None or h is None) and root.get("viewBox"):
        _, _, vw, vh = (float(x) for x in root.get("viewBox").replace(",", " ").split())
        w, h = w or vw, h or vh
    return w or 800.0, h or 400.0


def _svg_figure(svg: str, width: float, height: float) -> dict:
    """An empty plotly figure showing ``svg`` as a full-size layout image (data URI).

    Chromium draws the SVG as an image: scripts and external resources inside it are
    never run or fetched, and it is rasterised at the export scale (crisp text).
    """
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    hidden = dict(visible=False, range=[0, 1], fixedrange=True)
    return {"data": [], "layout": {
        "width": width, "height": height, "margin": dict(l=0, r=0, t=0, b=0, pad=0),
        "xaxis": hidden, "yaxis": hidden, "paper_bgcolor": "white", "plot_bgcolor": "white",
        "images": [dict(source=uri, xref="paper", yref="paper", x=0, y=1, sizex=1, sizey=1,
                        xanchor="left", yanchor="top", sizing="stretch", layer="above")],
    }}


def _figure_size(fig: go.Figure, width: float | None, height: float | None) -> tuple[float, float]:
    layout = fig.layout
    return float(width or layout.width or 700), float(height or layout.height or 500)


def _capped_scale(width: float, height: float, scale: float) -> float:
    return min(float(scale), MAX_PNG_SIDE / max(width, height, 1.0))


def to_png(fig_or_svg: go.Figure | str | bytes, *, width: int | None = None, height: int | None = None,
           scale: float = 2) -> bytes:
    """PNG bytes of a plotly figure or an SVG string (e.g. from ``arcs_svg``).

    The image is ``width*scale`` x ``height*scale`` px; width/height default to the
    figure's layout (or 700 x 500) or the SVG's own size (given only one, an SVG keeps
    its aspect ratio). When the longest side would exceed MAX_PNG_SIDE the scale is
    reduced to fit. Raises ExportUnavailableError without a usable browser.
    """
    if isinstance(fig_or_svg, (str, bytes)):
        svg = fig_or_svg.decode("utf-8") if isinstance(fig_or_svg, bytes) else fig_or_svg
        w0, h0 = _svg_size(svg)
        if width and not height:
            width, height = width, h0 * width / w0
        elif height and not width:
            width, height = w0 * height / h0, height
        w, h = float(width or w0), float(height or h0)
        fig = _svg_figure(svg, w, h)
    else:
        w, h = _figure_size(fig_or_svg, width, height)
        fig = fig_or_svg.to_dict()
    opts = dict(format="png", width=round(w), height=round(h), scale=_capped_scale(w, h, scale))
    return _browser.render(fig, opts)


def to_svg(fig: go.Figure | str, *, width: int | None = None, height: int | None = None) -> bytes:
    """SVG bytes of a plotly figure (rendered by the export browser); an SVG string as is."""
    if isinstance(fig, str):
        return fig.encode("utf-8")
    w, h = _figure_size(fig, width, height)
    return _browser.render(fig.to_dict(), dict(format="svg", width=round(w), height=round(h), scale=1))
