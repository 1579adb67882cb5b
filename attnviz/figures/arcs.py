"""The arc view as self-contained SVG, in the style of displaCy: plain data in, SVG out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.figures.safe_text import xml_attr, xml_text
from attnviz.figures.style import FONT


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
        f'font-family={xml_attr(FONT)} font-size="{FONT_SIZE}">',
        f"<title>{xml_text(doc_title)}</title>",
        "<defs>",
    ]
    for h, c in enumerate([*colors[:n_heads], ACCENT]):
        mid = f"ah{h}" if h < n_heads else "ah-accent"
        out.append(f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill={xml_attr(c)}/></marker>')
    out.append("</defs>")
    if background:
        out.append(f'<rect width="100%" height="100%" fill={xml_attr(background)}/>')
    y = MARGIN
    if title:
        out.append(f'<text class="title" x="{width / 2:.1f}" y="{y + 18}" text-anchor="middle" '
                   f'font-size="16" font-weight="bold">{xml_text(title)}</text>')
        y += title_h
    if show_legend:
        x = MARGIN
        for h in range(n_heads):
            out.append(f'<g class="legend" data-head="{h}"><line x1="{x}" y1="{y + 10}" x2="{x + 26}" y2="{y + 10}" '
                       f'stroke={xml_attr(colors[h])} stroke-width="3"/><text x="{x + 32}" y="{y + 14}" '
                       f'font-size="12">{xml_text(names[h])}</text></g>')
            x += 34 + _text_width(names[h], 12) + 14

    # -- arcs, one group per head
    x_from, x_to = centres[qs] - 3, centres[ks] + 3   # q -> k and k -> q do not coincide
    starts = np.searchsorted(hs, np.arange(n_heads + 1))
    for h in range(n_heads):
        out.append(f'<g class="head" data-head="{h}" data-label={xml_attr(names[h])} stroke={xml_attr(colors[h])} '
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
                       f"{xml_text(text)}</text>")
        out.append("</g>")

    # -- tokens
    out.append('<g class="tokens" text-anchor="middle" fill="#222">')
    ty = baseline + FONT_SIZE + 6
    for i, t in enumerate(tokens):
        out.append(f'<text class="token" data-index="{i}" x="{centres[i]:.1f}" y="{ty:.1f}">{xml_text(t)}</text>')
    out.append("</g></svg>")
    return ArcDrawing("\n".join(out), n_drawn=len(ws), n_dropped=dropped)
