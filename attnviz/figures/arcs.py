"""The arc view as self-contained SVG, in the style of displaCy: plain data in, SVG out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.figures.safe_text import xml_attr, xml_text
from attnviz.figures.style import FONT, short_label, text_width


@dataclass(frozen=True)
class ArcDrawing:
    """What ``arcs_svg`` drew: the SVG document and how many arcs it holds or left out.

    svg:        the self-contained SVG (``str(drawing)`` gives it too)
    n_drawn:    arcs in the drawing
    n_dropped:  arcs that passed ``top_k``/``threshold`` but were left out by ``max_arcs``
    """

    svg: str
    n_drawn: int
    n_dropped: int

    def __str__(self) -> str:
        return self.svg


#: Head colours (plotly's D3 without its red and grey, plus four more); more heads get
#: evenly spaced hues. The accent (red) marks ``highlight`` arcs.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#7b4173", "#e7ba52",
)
ACCENT = "#d62728"
#: Arcs drawn at most (strongest kept); ``ArcDrawing.n_dropped`` says how many were left out.
MAX_ARCS = 20_000

FONT_SIZE = 14
MIN_TOKEN_WIDTH = 30
TOKEN_GAP = 14
MARGIN = 20
MAX_ARC_HEIGHT = 240            # control-point height of the longest arcs, px
LOOP_HEIGHT = 22


LAYOUTS = ("arcs", "columns")
KEY_H = 14                      # the line under the drawing that says what an arrow means
KEY = "arrow → the token attended to"
#: The columns layout: px per token row, label font size, longest label shown (characters).
ROW = 18
COLUMN_FONT = 12
MAX_LABEL = 18
COLUMN_GAP = 150                # px between the two columns of labels, where the links run


def _arc_path(d: str, q: int, k: int, h: int, wt: float, sink: bool, highlighted: bool) -> str:
    """One ``<path class="arc">``; sinks dashed and faint. (No ``<title>`` per arc: at 1,536 arcs it would
    push a 512-token rerun past 2 MB; the arc view writes the hovered arc's weight under the drawing.)"""
    extra = f' data-highlight="1" stroke="{ACCENT}"' if highlighted else ""
    if q == k:
        extra += ' marker-end="none"'  # no arrowhead on a loop
    elif highlighted:
        extra += ' marker-end="url(#ah-accent)"'
    opacity = 0.2 + 0.8 * wt
    if sink:
        extra += ' data-sink="1" stroke-dasharray="3 3"'
        opacity = 0.1 + 0.3 * wt
    return (f'<path class="arc" data-from="{q}" data-to="{k}" data-head="{h}" data-weight="{wt:.4f}" '
            f'd="{d}" stroke-width="{0.6 + 3.4 * wt:.2f}" stroke-opacity="{opacity:.2f}"{extra}/>')


def _legend_positions(names: Sequence[str], width: float) -> list[tuple[float, int]]:
    """(x, row) of each legend entry, wrapped to ``width``."""
    out, x, row = [], MARGIN, 0
    for nm in names:
        w = 34 + text_width(nm, 12) + 14
        if x > MARGIN and x + w > width - MARGIN:
            x, row = MARGIN, row + 1
        out.append((x, row))
        x += w
    return out


def _legend(names: Sequence[str], colors: Sequence[str], positions: list[tuple[float, int]], y: float) -> list[str]:
    """One ``<g class="legend" data-head>`` per head (the arc view's script toggles heads with them)."""
    out = []
    for h, (nm, (x, row)) in enumerate(zip(names, positions)):
        yy = y + 24 * row
        out.append(f'<g class="legend" data-head="{h}"><line x1="{x}" y1="{yy + 10}" x2="{x + 26}" y2="{yy + 10}" '
                   f'stroke={xml_attr(colors[h])} stroke-width="3"/><text x="{x + 32}" y="{yy + 14}" '
                   f'font-size="12">{xml_text(nm)}</text></g>')
    return out


def _key_text(width: float, y: float, key: str) -> str:
    return (f'<text class="key" x="{width - MARGIN:.1f}" y="{y:.1f}" text-anchor="end" font-size="11" '
            f'fill="#666">{xml_text(key)}</text>')


def _preamble(width: float, height: float, layout_attr: str, n: int, n_heads: int, n_arcs: int, dropped: int,
              font_size: float, title: str | None, title_h: float, colors, background: str | None,
              legend_names, legend_pos, key: str = KEY) -> tuple[list[str], float]:
    """The SVG's opening: root element, arrowhead markers (one per head and the accent), background,
    the direction key, the title and the legend (when ``legend_names`` is given). Returns (parts, y below
    the title)."""
    doc_title = title if title else "Attention arcs"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" class="attnviz-arcs"{layout_attr} data-tokens="{n}" '
        f'data-heads="{n_heads}" data-arcs="{n_arcs}" data-arcs-dropped="{dropped}" '
        f'font-family={xml_attr(FONT)} font-size="{font_size}">',
        f"<title>{xml_text(doc_title)}</title>", "<defs>",
    ]
    for h, c in enumerate([*colors[:n_heads], ACCENT]):
        mid = f"ah{h}" if h < n_heads else "ah-accent"
        out.append(f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill={xml_attr(c)}/></marker>')
    out.append("</defs>")
    if background:
        out.append(f'<rect width="100%" height="100%" fill={xml_attr(background)}/>')
    out.append(_key_text(width, height - 6, key))
    y = MARGIN
    if title:
        out.append(f'<text class="title" x="{width / 2:.1f}" y="{y + 18}" text-anchor="middle" '
                   f'font-size="16" font-weight="bold">{xml_text(title)}</text>')
        y += title_h
    if legend_names is not None:
        out += _legend(legend_names[:n_heads], colors, legend_pos, y)
    return out, y


def _columns_svg(tokens, hs, qs, ks, ws, is_sink, n_heads, colors, names, highlight, title, dropped, background,
                 key: str = KEY) -> ArcDrawing:
    """BertViz's head view: queries on the left, keys on the right, a line per link."""
    n = len(tokens)
    labels = [short_label(t, MAX_LABEL) for t in tokens]
    label_w = max([text_width(t, COLUMN_FONT) for t in labels] + [30.0])
    left_x = MARGIN + label_w                       # right edge of the left labels
    right_x = left_x + COLUMN_GAP                   # left edge of the right labels
    body_w = right_x + label_w + MARGIN
    show_legend = n_heads > 1
    width = max(body_w, MARGIN * 2 + text_width(title or "", 16), 220)
    legend_pos = _legend_positions(names[:n_heads], width) if show_legend else []
    title_h = 30 if title else 0
    legend_h = 24 * (1 + max(r for _, r in legend_pos)) if show_legend else 0
    head_h = 18                                     # "attending" / "attended to" headers
    top = MARGIN + title_h + legend_h + head_h
    ys = top + ROW * np.arange(n) + ROW / 2
    height = top + ROW * n + MARGIN + KEY_H
    out, y = _preamble(width, height, ' data-layout="columns"', n, n_heads, len(ws), dropped, COLUMN_FONT, title,
                       title_h, colors, background, names if show_legend else None, legend_pos, key)
    y += legend_h
    out.append(f'<text x="{left_x:.1f}" y="{y + 12}" text-anchor="end" font-size="11" fill="#666">attending</text>')
    out.append(f'<text x="{right_x:.1f}" y="{y + 12}" font-size="11" fill="#666">attended to</text>')
    a, b = left_x + 6, right_x - 6
    offset = (hs - (n_heads - 1) / 2) * min(2.0, (ROW - 4) / max(n_heads, 1))  # heads of an overlay apart
    for h, (group, arcs) in enumerate(head_groups(hs, n_heads, names, colors)):
        out.append(group)
        for i in arcs:
            q, k, wt = int(qs[i]), int(ks[i]), float(ws[i])
            y1, y2 = ys[q] + offset[i], ys[k] + offset[i]
            d = f"M{a:.1f},{y1:.1f} C{a + 50:.1f},{y1:.1f} {b - 50:.1f},{y2:.1f} {b:.1f},{y2:.1f}"
            out.append(_arc_path(d, q, k, h, wt, bool(is_sink[i]), (q, k) in highlight))
        out.append("</g>")
    out.append(f'<g class="tokens" fill="#222" font-size="{COLUMN_FONT}">')
    for i, t in enumerate(labels):
        out.append(f'<text class="token" data-index="{i}" x="{left_x:.1f}" y="{ys[i] + 4:.1f}" '
                   f'text-anchor="end">{xml_text(t)}</text>')
    for i, t in enumerate(labels):
        out.append(f'<text class="key-token" data-index="{i}" x="{right_x:.1f}" y="{ys[i] + 4:.1f}">{xml_text(t)}</text>')
    out.append("</g></svg>")
    return ArcDrawing("\n".join(out), n_drawn=len(ws), n_dropped=dropped)


def natural_width(tokens: Sequence[str]) -> float:
    """Width in px of the "arcs" layout of ``tokens`` (before any shrinking to fit)."""
    box = np.maximum(MIN_TOKEN_WIDTH, np.array([text_width(str(t), FONT_SIZE) for t in tokens] or [0.0]) + TOKEN_GAP)
    return float(MARGIN * 2 + box.sum())


#: "auto" draws arcs in a row up to this natural width (px): shrunk to a ~460 px column that is
#: a scale of 0.65 at most, so 14 px labels stay 9 px or larger; wider inputs get two columns.
AUTO_ARCS_WIDTH = 700


def auto_layout(tokens: Sequence[str]) -> str:
    """"arcs" when a row of ``tokens`` fits a column at a readable size, else "columns"."""
    return "arcs" if natural_width(tokens) <= AUTO_ARCS_WIDTH else "columns"


def _palette(n: int) -> list[str]:
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [f"hsl({round(210 + 360 * i / n) % 360}, 70%, 42%)" for i in range(n)]


def keep_arcs(w: np.ndarray, top_k: int | None, threshold: float) -> np.ndarray:
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


def strongest(keep: np.ndarray, w: np.ndarray, max_arcs: int) -> tuple[np.ndarray, int]:
    """``keep`` cut to its ``max_arcs`` strongest arcs, and how many were left out."""
    if keep.sum() <= max_arcs:
        return keep, 0
    kept = np.flatnonzero(keep)
    chosen = kept[np.argsort(-w.ravel()[kept], kind="stable")[:max_arcs]]
    out = np.zeros_like(keep)
    out.ravel()[chosen] = True
    return out, kept.size - chosen.size


def head_groups(hs: np.ndarray, n_heads: int, names: Sequence[str], colors: Sequence[str], markers: bool = True):
    """For each head h: its opening ``<g class="head">`` tag and the indexes of its arcs (``hs`` sorted by head)."""
    starts = np.searchsorted(hs, np.arange(n_heads + 1))
    for h in range(n_heads):
        marker = f' marker-end="url(#ah{h})"' if markers else ""
        yield (f'<g class="head" data-head="{h}" data-label={xml_attr(names[h])} stroke={xml_attr(colors[h])} '
               f'fill="none"{marker}>', range(starts[h], starts[h + 1]))


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
    layout: str = "arcs",
    sinks: Collection[int] | None = None,
    key: str = KEY,
) -> ArcDrawing:
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

    layout:    "arcs" (tokens in a row, arcs above; height grows with the log of the
               distance, so arcs of different lengths stay apart) or "columns" (BertViz's
               head view: attending tokens on the left, attended-to tokens on the right, one
               row per token; as wide as two labels at any length, it grows downwards).
    sinks:     key positions (e.g. [CLS]/[SEP]) whose arcs are drawn dashed, faint and below
               the others (``data-sink="1"``), so that sink attention never hides the rest.
    key:       the line under the drawing that says what an arrow means (a parse: "arrow → the syntactic head").

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
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    highlight = {(int(q), int(k)) for q, k in (highlight or ())}
    sink_set = {int(k) for k in (sinks or ())}
    labels = {(int(q), int(k)): str(v) for (q, k), v in (labels or {}).items()}

    keep, dropped = strongest(keep_arcs(w, top_k, threshold), w, max_arcs)
    hs, qs, ks = np.nonzero(keep)
    ws = w[hs, qs, ks]
    is_sink = np.isin(ks, list(sink_set)) & (qs != ks) if sink_set else np.zeros(len(ks), bool)
    order = np.lexsort((ws, ~is_sink, hs))  # by head, sinks first (beneath), then weakest first: strong arcs on top
    hs, qs, ks, ws, is_sink = hs[order], qs[order], ks[order], ws[order], is_sink[order]
    if layout == "columns":
        return _columns_svg(tokens, hs, qs, ks, ws, is_sink, n_heads, colors, names, highlight, title, dropped, background, key)

    # -- horizontal layout: each token gets a box as wide as its text (rough estimate)
    box = np.maximum(MIN_TOKEN_WIDTH, np.array([text_width(t, FONT_SIZE) for t in tokens]) + TOKEN_GAP)
    centres = MARGIN + np.cumsum(box) - box / 2                          # (n,)
    # height by log distance: neighbours low, far links high, and long links of different
    # lengths still apart (a linear height put every long arc on one flat band at the cap)
    dist = np.abs(ks - qs).astype(np.float64)
    dx = np.abs(centres[ks] - centres[qs]) if len(ks) else np.zeros(0)
    span = np.log2(1 + max(n - 1, 1))
    heights = np.where(qs == ks, LOOP_HEIGHT, np.minimum(
        np.minimum(MAX_ARC_HEIGHT, 16 + 0.5 * dx), 18 + (MAX_ARC_HEIGHT - 18) * np.log2(1 + dist) / span))
    heights += np.where(qs == ks, 0, 3.0 * (hs - (n_heads - 1) / 2))  # heads of an overlay apart
    apex = 0.75 * heights.max(initial=LOOP_HEIGHT)                       # a cubic's peak is 3/4 of its control height

    show_legend = n_heads > 1 or layers is not None
    title_h = 30 if title else 0
    body_w = MARGIN * 2 + box.sum()
    legend_w = max(body_w, 360) if show_legend else 0  # the legend wraps at the drawing's width
    legend_pos = _legend_positions(names[:n_heads], legend_w) if show_legend else []
    legend_h = (24 * (1 + max(r for _, r in legend_pos))) if show_legend else 0
    top = MARGIN + title_h + legend_h + (16 if labels else 0)
    baseline = top + apex + 6                                            # arcs end here
    height = baseline + FONT_SIZE + 14 + MARGIN + KEY_H
    width = max(body_w, legend_w, MARGIN * 2 + text_width(title or "", 16), 120)

    out, y = _preamble(width, height, "", n, n_heads, len(ws), dropped, FONT_SIZE, title, title_h, colors, background,
                       names if show_legend else None, legend_pos, key)

    # -- arcs, one group per head
    x_from, x_to = centres[qs] - 3, centres[ks] + 3   # q -> k and k -> q do not coincide
    for h, (group, arcs) in enumerate(head_groups(hs, n_heads, names, colors)):
        out.append(group)
        for i in arcs:
            q, k, wt = int(qs[i]), int(ks[i]), float(ws[i])
            if q == k:
                c = centres[q]
                d = (f"M{c - 5:.1f},{baseline:.1f} C{c - 13:.1f},{baseline - LOOP_HEIGHT:.1f} "
                     f"{c + 13:.1f},{baseline - LOOP_HEIGHT:.1f} {c + 5:.1f},{baseline:.1f}")
            else:
                a, b, hh = x_from[i], x_to[i], heights[i]
                d = f"M{a:.1f},{baseline:.1f} C{a:.1f},{baseline - hh:.1f} {b:.1f},{baseline - hh:.1f} {b:.1f},{baseline:.1f}"
            out.append(_arc_path(d, q, k, h, wt, bool(is_sink[i]), (q, k) in highlight))
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
                       f"{xml_text(text)}</text>")
        out.append("</g>")

    # -- tokens (after the arcs: on top, so they stay hoverable)
    out.append('<g class="tokens" text-anchor="middle" fill="#222">')
    ty = baseline + FONT_SIZE + 6
    for i, t in enumerate(tokens):
        out.append(f'<text class="token" data-index="{i}" x="{centres[i]:.1f}" y="{ty:.1f}">{xml_text(t)}</text>')
    out.append("</g></svg>")
    return ArcDrawing("\n".join(out), n_drawn=len(ws), n_dropped=dropped)
