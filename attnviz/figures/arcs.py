"""The arc view as self-contained SVG, in the style of displaCy: plain data in, SVG out."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.figures.arc_parts import (
    MARGIN,
    MAX_ARCS,
    ArcDrawing,
    arc_path,
    background_rect,
    head_groups,
    keep_arcs,
    legend,
    legend_positions,
    markers,
    palette,
    strongest,
    title_text,
)
from attnviz.figures.safe_text import xml_attr, xml_text
from attnviz.figures.style import FONT, short_label, text_width

FONT_SIZE = 14
MIN_TOKEN_WIDTH = 30
TOKEN_GAP = 14
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


def _key_text(width: float, y: float, key: str) -> str:
    return (f'<text class="key" x="{width - MARGIN:.1f}" y="{y:.1f}" text-anchor="end" font-size="11" '
            f'fill="#666">{xml_text(key)}</text>')


@dataclass(frozen=True)
class _Request:
    """What ``arcs_svg`` was asked to draw, checked: at least one entry per head in ``colors`` and ``names``."""

    tokens: list[str]
    weights: np.ndarray  # [H, Q, K], NaN and infinities as 0
    colors: list[str]
    names: list[str]
    highlight: set[tuple[int, int]]
    sinks: set[int]
    labels: dict[tuple[int, int], str]
    title: str | None
    background: str | None
    key: str
    named_heads: bool  # ``layers`` was given: a legend even for one head

    @property
    def n_heads(self) -> int:
        return self.weights.shape[0]


@dataclass(frozen=True)
class _Arcs:
    """The arcs to draw, as parallel arrays in drawing order: by head, sinks first (beneath), then weakest first."""

    heads: np.ndarray
    queries: np.ndarray
    keys: np.ndarray
    weights: np.ndarray
    sink: np.ndarray
    dropped: int  # passed top_k/threshold, left out by max_arcs


def _request(tokens, weights, title, highlight, colors, layers, labels, background, layout, sinks, key) -> _Request:
    """``arcs_svg``'s arguments checked and normalised (ValueError as ``arcs_svg`` says)."""
    tokens = [str(t) for t in tokens]
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if w.ndim == 2:
        w = w[None]
    n = len(tokens)
    if w.ndim != 3 or w.shape[1:] != (n, n):
        raise ValueError(f"weights must be [Q, K] or [H, Q, K] with Q = K = {n} tokens, not shape {w.shape}")
    n_heads = w.shape[0]
    colors = list(colors) if colors is not None else palette(n_heads)
    if len(colors) < n_heads:
        raise ValueError(f"{len(colors)} colours for {n_heads} heads")
    names = [str(x) for x in layers] if layers is not None else [f"head {h + 1}" for h in range(n_heads)]
    if len(names) < n_heads:
        raise ValueError(f"{len(names)} layer labels for {n_heads} heads")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    return _Request(
        tokens, w, colors, names, highlight={(int(q), int(k)) for q, k in (highlight or ())},
        sinks={int(k) for k in (sinks or ())}, labels={(int(q), int(k)): str(v) for (q, k), v in (labels or {}).items()},
        title=title, background=background, key=key, named_heads=layers is not None,
    )


def _select(w: np.ndarray, top_k: int | None, threshold: float, max_arcs: int, sinks: set[int]) -> _Arcs:
    """The arcs that pass ``top_k`` and ``threshold``, the ``max_arcs`` strongest of them, in drawing order."""
    keep, dropped = strongest(keep_arcs(w, top_k, threshold), w, max_arcs)
    hs, qs, ks = np.nonzero(keep)
    ws = w[hs, qs, ks]
    is_sink = np.isin(ks, list(sinks)) & (qs != ks) if sinks else np.zeros(len(ks), bool)
    order = np.lexsort((ws, ~is_sink, hs))  # by head, sinks first (beneath), then weakest first: strong arcs on top
    return _Arcs(hs[order], qs[order], ks[order], ws[order], is_sink[order], dropped)


def _preamble(r: _Request, arcs: _Arcs, width: float, height: float, layout_attr: str, font_size: float, title_h: float,
              legend_pos: list[tuple[float, int]] | None) -> tuple[list[str], float]:
    """The SVG's opening: root element, arrowhead markers, background, the direction key, the title and
    the legend (unless ``legend_pos`` is None). Returns (parts, y below the title)."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" class="attnviz-arcs"{layout_attr} data-tokens="{len(r.tokens)}" '
        f'data-heads="{r.n_heads}" data-arcs="{len(arcs.weights)}" data-arcs-dropped="{arcs.dropped}" '
        f'font-family={xml_attr(FONT)} font-size="{font_size}">',
        f"<title>{xml_text(r.title if r.title else 'Attention arcs')}</title>", "<defs>", *markers(r.colors, r.n_heads), "</defs>",
    ]
    if r.background:
        out.append(background_rect(r.background))
    out.append(_key_text(width, height - 6, r.key))
    y = MARGIN
    if r.title:
        out.append(title_text(width, y, r.title))
        y += title_h
    if legend_pos is not None:
        out += legend(r.names[:r.n_heads], r.colors, legend_pos, y)
    return out, y


def _head_paths(r: _Request, arcs: _Arcs, path_d: Callable[[int], str]) -> list[str]:
    """One ``<g class="head">`` per head holding its arcs' paths; ``path_d(i)`` is arc i's ``d``."""
    out = []
    for h, (group, indexes) in enumerate(head_groups(arcs.heads, r.n_heads, r.names, r.colors)):
        out.append(group)
        for i in indexes:
            q, k = int(arcs.queries[i]), int(arcs.keys[i])
            out.append(arc_path(path_d(i), q, k, h, float(arcs.weights[i]), bool(arcs.sink[i]), (q, k) in r.highlight))
        out.append("</g>")
    return out


def _drawing(parts: list[str], arcs: _Arcs) -> ArcDrawing:
    return ArcDrawing("\n".join(parts), n_drawn=len(arcs.weights), n_dropped=arcs.dropped)


# -- the "columns" layout


def _columns_svg(r: _Request, arcs: _Arcs) -> ArcDrawing:
    """BertViz's head view: queries on the left, keys on the right, a line per link."""
    labels = [short_label(t, MAX_LABEL) for t in r.tokens]
    label_w = max([text_width(t, COLUMN_FONT) for t in labels] + [30.0])
    left_x = MARGIN + label_w                       # right edge of the left labels
    right_x = left_x + COLUMN_GAP                   # left edge of the right labels
    width = max(right_x + label_w + MARGIN, MARGIN * 2 + text_width(r.title or "", 16), 220)
    legend_pos = legend_positions(r.names[:r.n_heads], width) if r.n_heads > 1 else None
    title_h = 30 if r.title else 0
    legend_h = 24 * (1 + max(row for _, row in legend_pos)) if legend_pos is not None else 0
    top = MARGIN + title_h + legend_h + 18          # 18: the "attending" / "attended to" headers
    ys = top + ROW * np.arange(len(r.tokens)) + ROW / 2
    height = top + ROW * len(r.tokens) + MARGIN + KEY_H
    out, y = _preamble(r, arcs, width, height, ' data-layout="columns"', COLUMN_FONT, title_h, legend_pos)
    y += legend_h
    out.append(f'<text x="{left_x:.1f}" y="{y + 12}" text-anchor="end" font-size="11" fill="#666">attending</text>')
    out.append(f'<text x="{right_x:.1f}" y="{y + 12}" font-size="11" fill="#666">attended to</text>')
    out += _head_paths(r, arcs, _column_link(arcs, ys, left_x + 6, right_x - 6, r.n_heads))
    out += _column_tokens(labels, ys, left_x, right_x)
    return _drawing(out, arcs)


def _column_link(arcs: _Arcs, ys: np.ndarray, a: float, b: float, n_heads: int) -> Callable[[int], str]:
    """The ``d`` of link i: a curve from its query's row at x=a to its key's row at x=b."""
    offset = (arcs.heads - (n_heads - 1) / 2) * min(2.0, (ROW - 4) / max(n_heads, 1))  # heads of an overlay apart

    def path_d(i: int) -> str:
        y1, y2 = ys[int(arcs.queries[i])] + offset[i], ys[int(arcs.keys[i])] + offset[i]
        return f"M{a:.1f},{y1:.1f} C{a + 50:.1f},{y1:.1f} {b - 50:.1f},{y2:.1f} {b:.1f},{y2:.1f}"

    return path_d


def _column_tokens(labels: Sequence[str], ys: np.ndarray, left_x: float, right_x: float) -> list[str]:
    """The tokens twice: right-aligned on the left (attending), left-aligned on the right (attended to)."""
    out = [f'<g class="tokens" fill="#222" font-size="{COLUMN_FONT}">']
    for i, t in enumerate(labels):
        out.append(f'<text class="token" data-index="{i}" x="{left_x:.1f}" y="{ys[i] + 4:.1f}" '
                   f'text-anchor="end">{xml_text(t)}</text>')
    for i, t in enumerate(labels):
        out.append(f'<text class="key-token" data-index="{i}" x="{right_x:.1f}" y="{ys[i] + 4:.1f}">{xml_text(t)}</text>')
    out.append("</g></svg>")
    return out


# -- the "arcs" layout


@dataclass(frozen=True)
class _Row:
    """Where the "arcs" layout puts things, in px."""

    centres: np.ndarray     # each token's centre
    heights: np.ndarray     # each arc's control-point height
    x_from: np.ndarray      # each arc's start and end: q -> k and k -> q do not coincide
    x_to: np.ndarray
    baseline: float         # where arcs end
    width: float
    height: float
    title_h: float
    legend_pos: list[tuple[float, int]] | None


def _arc_heights(centres: np.ndarray, arcs: _Arcs, n: int, n_heads: int) -> np.ndarray:
    """Control-point heights by log distance: neighbours low, far links high, and long links of different
    lengths still apart (a linear height put every long arc on one flat band at the cap)."""
    qs, ks = arcs.queries, arcs.keys
    dist = np.abs(ks - qs).astype(np.float64)
    dx = np.abs(centres[ks] - centres[qs]) if len(ks) else np.zeros(0)
    span = np.log2(1 + max(n - 1, 1))
    heights = np.where(qs == ks, LOOP_HEIGHT, np.minimum(
        np.minimum(MAX_ARC_HEIGHT, 16 + 0.5 * dx), 18 + (MAX_ARC_HEIGHT - 18) * np.log2(1 + dist) / span))
    heights += np.where(qs == ks, 0, 3.0 * (arcs.heads - (n_heads - 1) / 2))  # heads of an overlay apart
    return heights


def _row_layout(r: _Request, arcs: _Arcs) -> _Row:
    """Each token gets a box as wide as its text (rough estimate); the arcs' peaks set the baseline."""
    box = np.maximum(MIN_TOKEN_WIDTH, np.array([text_width(t, FONT_SIZE) for t in r.tokens]) + TOKEN_GAP)
    centres = MARGIN + np.cumsum(box) - box / 2
    heights = _arc_heights(centres, arcs, len(r.tokens), r.n_heads)
    apex = 0.75 * heights.max(initial=LOOP_HEIGHT)                       # a cubic's peak is 3/4 of its control height
    show_legend = r.n_heads > 1 or r.named_heads
    title_h = 30 if r.title else 0
    body_w = MARGIN * 2 + box.sum()
    legend_w = max(body_w, 360) if show_legend else 0  # the legend wraps at the drawing's width
    legend_pos = legend_positions(r.names[:r.n_heads], legend_w) if show_legend else None
    legend_h = (24 * (1 + max(row for _, row in legend_pos))) if show_legend else 0
    baseline = MARGIN + title_h + legend_h + (16 if r.labels else 0) + apex + 6
    return _Row(
        centres, heights, centres[arcs.queries] - 3, centres[arcs.keys] + 3, baseline,
        width=max(body_w, legend_w, MARGIN * 2 + text_width(r.title or "", 16), 120),
        height=baseline + FONT_SIZE + 14 + MARGIN + KEY_H, title_h=title_h, legend_pos=legend_pos,
    )


def _row_svg(r: _Request, arcs: _Arcs) -> ArcDrawing:
    """Tokens in a row, arcs above: the arcs one group per head, their labels, then the tokens on top."""
    row = _row_layout(r, arcs)
    out, _ = _preamble(r, arcs, row.width, row.height, "", FONT_SIZE, row.title_h, row.legend_pos)
    out += _head_paths(r, arcs, lambda i: _row_arc(row, int(arcs.queries[i]), int(arcs.keys[i]), i))
    if r.labels:
        out += _arc_labels(r.labels, arcs, row)
    out += _row_tokens(r.tokens, row)
    return _drawing(out, arcs)


def _row_arc(row: _Row, q: int, k: int, i: int) -> str:
    """The ``d`` of arc i, q -> k: a loop above the token when q == k."""
    base = row.baseline
    if q == k:
        c = row.centres[q]
        return (f"M{c - 5:.1f},{base:.1f} C{c - 13:.1f},{base - LOOP_HEIGHT:.1f} "
                f"{c + 13:.1f},{base - LOOP_HEIGHT:.1f} {c + 5:.1f},{base:.1f}")
    a, b, hh = row.x_from[i], row.x_to[i], row.heights[i]
    return f"M{a:.1f},{base:.1f} C{a:.1f},{base - hh:.1f} {b:.1f},{base - hh:.1f} {b:.1f},{base:.1f}"


def _arc_labels(labels: Mapping[tuple[int, int], str], arcs: _Arcs, row: _Row) -> list[str]:
    """The labels (e.g. dependency relations) of the arcs that are drawn, at each arc's top."""
    drawn: dict[tuple[int, int], int] = {}
    for i in range(len(arcs.weights)):
        drawn.setdefault((int(arcs.queries[i]), int(arcs.keys[i])), i)
    out = ['<g class="labels" font-size="11" text-anchor="middle" fill="#333" stroke="white" '
           'stroke-width="3" paint-order="stroke">']
    for (q, k), text in labels.items():
        if (q, k) not in drawn:
            continue
        i = drawn[(q, k)]
        xm = (row.x_from[i] + row.x_to[i]) / 2 if q != k else row.centres[q]
        ym = row.baseline - 0.75 * row.heights[i] - 4
        out.append(f'<text class="arc-label" data-from="{q}" data-to="{k}" x="{xm:.1f}" y="{ym:.1f}">'
                   f"{xml_text(text)}</text>")
    out.append("</g>")
    return out


def _row_tokens(tokens: Sequence[str], row: _Row) -> list[str]:
    """The tokens under the arcs (drawn after them: on top, so they stay hoverable)."""
    ty = row.baseline + FONT_SIZE + 6
    return ['<g class="tokens" text-anchor="middle" fill="#222">',
            *(f'<text class="token" data-index="{i}" x="{row.centres[i]:.1f}" y="{ty:.1f}">{xml_text(t)}</text>'
              for i, t in enumerate(tokens)),
            "</g></svg>"]


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
    r = _request(tokens, weights, title, highlight, colors, layers, labels, background, layout, sinks, key)
    arcs = _select(r.weights, top_k, threshold, max_arcs, r.sinks)
    return _columns_svg(r, arcs) if layout == "columns" else _row_svg(r, arcs)
