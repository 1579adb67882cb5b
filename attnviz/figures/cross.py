"""Cross-attention as self-contained SVG: source tokens on one row, target tokens on another.

An encoder-decoder's cross-attention is ``[target, source]``: each target (decoder) token
attends to the source (encoder) tokens. ``cross_svg`` draws the source row on top and the
target row below it, with a curve from each target token (query) up to the source tokens
it attends to (keys). Plain data in, SVG out, in the markup style of ``arcs.arcs_svg``:

    <text class="token source" data-index="s3" data-side="source" data-position="3">
    <text class="token target" data-index="t1" data-side="target" data-position="1">
    <path class="arc" data-from="t1" data-to="s3" data-query="1" data-key="3" data-head="0" data-weight="0.4120">

The ``s``/``t`` prefixes keep the two rows' indices apart, so a viewer that matches a
token's ``data-index`` against ``data-from``/``data-to`` (hover isolation) picks only
that token's links.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.figures.arc_parts import (
    ACCENT,
    MAX_ARCS,
    PALETTE,
    ArcDrawing,
    background_rect,
    head_groups,
    keep_arcs,
    legend,
    legend_positions,
    strongest,
    title_text,
)
from attnviz.figures.safe_text import xml_attr, xml_text
from attnviz.figures.style import FONT, text_width

FONT_SIZE = 14
MIN_TOKEN_WIDTH = 30
TOKEN_GAP = 14
MARGIN = 20
ROW_GAP = 150  # px between the two rows' baselines (the curves live here)
LABEL_W = 64  # the row labels ("source", "target") on the left


@dataclass(frozen=True)
class _Links:
    """The links to draw, as parallel arrays sorted by head, weakest first (strong links lie on top)."""

    heads: np.ndarray
    targets: np.ndarray  # the query: a target token
    sources: np.ndarray  # the key: a source token
    weights: np.ndarray
    dropped: int  # passed top_k/threshold, left out by max_arcs


@dataclass(frozen=True)
class _Layout:
    """Where things go, in px: the two rows' token centres and baselines, and the band the links cross."""

    source_x: np.ndarray
    target_x: np.ndarray
    width: float
    height: float
    source_y: float  # baseline of the source row's text
    top_y: float     # links start just below the source tokens
    bottom_y: float  # ... and end just above the target tokens
    target_y: float


def _centres(tokens: Sequence[str], left: float, span: float) -> tuple[np.ndarray, float]:
    """Token centres on a row of width ``span`` starting at ``left`` (centred), and the row's own width."""
    box = np.maximum(MIN_TOKEN_WIDTH, np.array([text_width(t, FONT_SIZE) for t in tokens], dtype=float) + TOKEN_GAP)
    own = float(box.sum())
    return left + (span - own) / 2 + np.cumsum(box) - box / 2, own


def cross_svg(
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    weights: np.ndarray,
    *,
    title: str | None = None,
    top_k: int | None = None,
    threshold: float = 0.0,
    rows: Collection[int] | None = None,
    colors: Sequence[str] | None = None,
    layers: Sequence[str] | None = None,
    max_arcs: int = MAX_ARCS,
    background: str | None = "white",
) -> ArcDrawing:
    """Two rows of tokens (source on top, target below) joined by the cross-attention.

    weights:  ``[T, S]`` (one head) or ``[H, T, S]`` (heads overlaid, one colour each), T = len(target_tokens),
              S = len(source_tokens); a link goes from target token t (query) to source token s (key).
    top_k:    keep each target token's k strongest links (per head); threshold: drop weights below it;
              zero weights are never drawn; at most ``max_arcs`` (the strongest) are drawn.
    rows:     target positions to draw links for (e.g. one generation step); the others' tokens are
              still drawn. Their tokens and links get the accent colour (``data-highlight="1"``).
    """
    source = [str(t) for t in source_tokens]
    target = [str(t) for t in target_tokens]
    w, colors, names = _checked(source, target, weights, colors, layers)
    n_heads = w.shape[0]
    picked = None if rows is None else {int(r) for r in rows}
    links = _select(w, top_k, threshold, picked, max_arcs)
    show_legend = n_heads > 1 or layers is not None
    at = _layout(source, target, names[:n_heads] if show_legend else None, title)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{at.width:.0f}" height="{at.height:.0f}" '
        f'viewBox="0 0 {at.width:.0f} {at.height:.0f}" class="attnviz-arcs attnviz-cross" data-source-tokens="{len(source)}" '
        f'data-target-tokens="{len(target)}" data-heads="{n_heads}" data-arcs="{len(links.weights)}" '
        f'data-arcs-dropped="{links.dropped}" font-family={xml_attr(FONT)} font-size="{FONT_SIZE}">',
        f"<title>{xml_text(title or 'Cross-attention')}</title>",
    ]
    out += _heading(at.width, title, background, names[:n_heads] if show_legend else None, colors)
    out += _link_groups(links, at, n_heads, names, colors, picked is not None)
    out += _token_rows(source, target, at, picked)
    return ArcDrawing("\n".join(out), n_drawn=len(links.weights), n_dropped=links.dropped)


def _checked(source: list[str], target: list[str], weights: np.ndarray, colors: Sequence[str] | None,
             layers: Sequence[str] | None) -> tuple[np.ndarray, list[str], list[str]]:
    """The weights as ``[H, T, S]`` (NaN and infinities as 0), a colour and a name per head; ValueError if they do not fit."""
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1:] != (len(target), len(source)):
        raise ValueError(f"weights must be [T, S] or [H, T, S] with T = {len(target)} target and S = {len(source)} "
                         f"source tokens, not shape {w.shape}")
    n_heads = w.shape[0]
    colors = list(colors) if colors is not None else [PALETTE[h % len(PALETTE)] for h in range(n_heads)]
    names = [str(x) for x in layers] if layers is not None else [f"head {h + 1}" for h in range(n_heads)]
    if len(colors) < n_heads or len(names) < n_heads:
        raise ValueError(f"{len(colors)} colours and {len(names)} labels for {n_heads} heads")
    return w, colors, names


def _select(w: np.ndarray, top_k: int | None, threshold: float, picked: set[int] | None, max_arcs: int) -> _Links:
    """The links that pass ``top_k`` and ``threshold`` (of the ``picked`` target rows only), the ``max_arcs`` strongest."""
    keep = keep_arcs(w, top_k, threshold)
    if picked is not None:
        keep &= np.isin(np.arange(w.shape[1]), sorted(picked))[None, :, None]
    keep, dropped = strongest(keep, w, max_arcs)
    hs, ts, ss = np.nonzero(keep)
    ws = w[hs, ts, ss]
    order = np.lexsort((ws, hs))  # by head, weakest first so strong links lie on top
    return _Links(hs[order], ts[order], ss[order], ws[order], dropped)


def _layout(source: list[str], target: list[str], legend_names: Sequence[str] | None, title: str | None) -> _Layout:
    """Both rows centred on the wider one's width, right of the row labels; the title and legend above."""
    span = max(sum(max(MIN_TOKEN_WIDTH, text_width(t, FONT_SIZE) + TOKEN_GAP) for t in row) for row in (source, target)) if (
        source or target) else MIN_TOKEN_WIDTH
    left = MARGIN + LABEL_W
    sx, _ = _centres(source, left, span)
    tx, _ = _centres(target, left, span)
    legend_w = sum(34 + text_width(nm, 12) + 14 for nm in legend_names) if legend_names is not None else 0
    width = max(left + span + MARGIN, MARGIN * 2 + legend_w, MARGIN * 2 + text_width(title or "", 16), 160)
    source_y = MARGIN + (30 if title else 0) + (24 if legend_names is not None else 0) + FONT_SIZE + 4
    top_y = source_y + 8
    bottom_y = top_y + ROW_GAP
    target_y = bottom_y + FONT_SIZE + 6
    return _Layout(sx, tx, width, target_y + MARGIN, source_y, top_y, bottom_y, target_y)


def _heading(width: float, title: str | None, background: str | None, legend_names: Sequence[str] | None,
             colors: Sequence[str]) -> list[str]:
    """The background, the title and the legend (one row; unless ``legend_names`` is None)."""
    out = [background_rect(background)] if background else []
    y = MARGIN
    if title:
        out.append(title_text(width, y, title))
        y += 30
    if legend_names is not None:
        out += legend(legend_names, colors, legend_positions(legend_names, math.inf), y)
    return out


def _link_groups(links: _Links, at: _Layout, n_heads: int, names: Sequence[str], colors: Sequence[str],
                 accent: bool) -> list[str]:
    """One ``<g class="head">`` per head holding its links: each a curve from its target token up to its source token."""
    mid = (at.top_y + at.bottom_y) / 2
    extra = f' data-highlight="1" stroke="{ACCENT}"' if accent else ""
    out = []
    for h, (group, indexes) in enumerate(head_groups(links.heads, n_heads, names, colors, markers=False)):
        out.append(group)
        for i in indexes:
            t, s, wt = int(links.targets[i]), int(links.sources[i]), float(links.weights[i])
            a, b = at.target_x[t], at.source_x[s]
            d = f"M{a:.1f},{at.bottom_y:.1f} C{a:.1f},{mid:.1f} {b:.1f},{mid:.1f} {b:.1f},{at.top_y:.1f}"
            out.append(f'<path class="arc" data-from="t{t}" data-to="s{s}" data-query="{t}" data-key="{s}" '
                       f'data-head="{h}" data-weight="{wt:.4f}" d="{d}" stroke-width="{0.6 + 3.4 * wt:.2f}" '
                       f'stroke-opacity="{0.2 + 0.8 * wt:.2f}"{extra}/>')
        out.append("</g>")
    return out


def _token_rows(source: list[str], target: list[str], at: _Layout, picked: set[int] | None) -> list[str]:
    """The row labels and both rows of tokens (``picked`` target tokens in the accent colour), then the SVG's end."""
    out = ['<g class="row-labels" font-size="11" fill="#888">'
           f'<text x="{MARGIN}" y="{at.source_y:.1f}">source</text>'
           f'<text x="{MARGIN}" y="{at.target_y:.1f}">target</text></g>',
           '<g class="tokens" text-anchor="middle" fill="#222">']
    rows = (("source", source, at.source_x, at.source_y, "s"), ("target", target, at.target_x, at.target_y, "t"))
    for side, tokens, xs, ty, prefix in rows:
        for i, tok in enumerate(tokens):
            accent = f' data-highlight="1" fill="{ACCENT}" font-weight="bold"' if (
                side == "target" and picked is not None and i in picked) else ""
            out.append(f'<text class="token {side}" data-index="{prefix}{i}" data-side="{side}" data-position="{i}" '
                       f'x="{xs[i]:.1f}" y="{ty:.1f}"{accent}>{xml_text(tok)}</text>')
    out.append("</g></svg>")
    return out
