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

from collections.abc import Collection, Sequence

import numpy as np

from attnviz.figures.arcs import ACCENT, MAX_ARCS, PALETTE, ArcDrawing, head_groups, keep_arcs, strongest
from attnviz.figures.safe_text import xml_attr, xml_text
from attnviz.figures.style import FONT, text_width

FONT_SIZE = 14
MIN_TOKEN_WIDTH = 30
TOKEN_GAP = 14
MARGIN = 20
ROW_GAP = 150  # px between the two rows' baselines (the curves live here)
LABEL_W = 64  # the row labels ("source", "target") on the left


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
    picked = None if rows is None else {int(r) for r in rows}

    keep = keep_arcs(w, top_k, threshold)
    if picked is not None:
        keep &= np.isin(np.arange(len(target)), sorted(picked))[None, :, None]
    keep, dropped = strongest(keep, w, max_arcs)
    hs, ts, ss = np.nonzero(keep)
    ws = w[hs, ts, ss]
    order = np.lexsort((ws, hs))  # by head, weakest first so strong links lie on top
    hs, ts, ss, ws = hs[order], ts[order], ss[order], ws[order]

    span = max(sum(max(MIN_TOKEN_WIDTH, text_width(t, FONT_SIZE) + TOKEN_GAP) for t in row) for row in (source, target)) if (
        source or target) else MIN_TOKEN_WIDTH
    left = MARGIN + LABEL_W
    sx, _ = _centres(source, left, span)
    tx, _ = _centres(target, left, span)
    show_legend = n_heads > 1 or layers is not None
    legend_w = sum(34 + text_width(nm, 12) + 14 for nm in names[:n_heads]) if show_legend else 0
    width = max(left + span + MARGIN, MARGIN * 2 + legend_w, MARGIN * 2 + text_width(title or "", 16), 160)
    y = MARGIN + (30 if title else 0) + (24 if show_legend else 0)
    source_y = y + FONT_SIZE + 4  # baseline of the source row's text
    top_y = source_y + 8  # links start just below the source tokens
    bottom_y = top_y + ROW_GAP  # ... and end just above the target tokens
    target_y = bottom_y + FONT_SIZE + 6
    height = target_y + MARGIN

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" class="attnviz-arcs attnviz-cross" data-source-tokens="{len(source)}" '
        f'data-target-tokens="{len(target)}" data-heads="{n_heads}" data-arcs="{len(ws)}" data-arcs-dropped="{dropped}" '
        f'font-family={xml_attr(FONT)} font-size="{FONT_SIZE}">',
        f"<title>{xml_text(title or 'Cross-attention')}</title>",
    ]
    if background:
        out.append(f'<rect width="100%" height="100%" fill={xml_attr(background)}/>')
    yy = MARGIN
    if title:
        out.append(f'<text class="title" x="{width / 2:.1f}" y="{yy + 18}" text-anchor="middle" font-size="16" '
                   f'font-weight="bold">{xml_text(title)}</text>')
        yy += 30
    if show_legend:
        x = MARGIN
        for h in range(n_heads):
            out.append(f'<g class="legend" data-head="{h}"><line x1="{x}" y1="{yy + 10}" x2="{x + 26}" y2="{yy + 10}" '
                       f'stroke={xml_attr(colors[h])} stroke-width="3"/><text x="{x + 32}" y="{yy + 14}" '
                       f'font-size="12">{xml_text(names[h])}</text></g>')
            x += 34 + text_width(names[h], 12) + 14

    mid = (top_y + bottom_y) / 2
    for h, (group, arcs) in enumerate(head_groups(hs, n_heads, names, colors, markers=False)):
        out.append(group)
        for i in arcs:
            t, s, wt = int(ts[i]), int(ss[i]), float(ws[i])
            a, b = tx[t], sx[s]
            d = f"M{a:.1f},{bottom_y:.1f} C{a:.1f},{mid:.1f} {b:.1f},{mid:.1f} {b:.1f},{top_y:.1f}"
            extra = f' data-highlight="1" stroke="{ACCENT}"' if picked is not None else ""
            out.append(f'<path class="arc" data-from="t{t}" data-to="s{s}" data-query="{t}" data-key="{s}" '
                       f'data-head="{h}" data-weight="{wt:.4f}" d="{d}" stroke-width="{0.6 + 3.4 * wt:.2f}" '
                       f'stroke-opacity="{0.2 + 0.8 * wt:.2f}"{extra}/>')
        out.append("</g>")

    out.append('<g class="row-labels" font-size="11" fill="#888">'
               f'<text x="{MARGIN}" y="{source_y:.1f}">source</text>'
               f'<text x="{MARGIN}" y="{target_y:.1f}">target</text></g>')
    out.append('<g class="tokens" text-anchor="middle" fill="#222">')
    for side, tokens, xs, ty, prefix in (("source", source, sx, source_y, "s"), ("target", target, tx, target_y, "t")):
        for i, tok in enumerate(tokens):
            accent = f' data-highlight="1" fill="{ACCENT}" font-weight="bold"' if (
                side == "target" and picked is not None and i in picked) else ""
            out.append(f'<text class="token {side}" data-index="{prefix}{i}" data-side="{side}" data-position="{i}" '
                       f'x="{xs[i]:.1f}" y="{ty:.1f}"{accent}>{xml_text(tok)}</text>')
    out.append("</g></svg>")
    return ArcDrawing("\n".join(out), n_drawn=len(ws), n_dropped=dropped)
