"""One head's attention matrix as self-contained SVG: plain data in, SVG out (like ``arcs_svg``).

The explorer draws sentence-length inputs (up to ``MAX_TICKS`` tokens, where every token is
labelled) with this instead of a plotly heatmap: the browser swaps an SVG in a few milliseconds,
where Streamlit mounts a new plotly chart for every new figure (0.2-0.3 s of the page's main
thread per head change on a 2-core machine, measured with ``benchmarks/bench_latency.py``).
Longer inputs keep plotly's heatmap (``heatmaps.heatmap``), whose box zoom they need.

Colours are plotly's ``COLORSCALE`` sampled by ``plotly.colors`` (256 levels, 0 to 1), so both
heatmaps look alike. Each cell carries its value (``data-w``, the float32 exactly); the cells'
group carries the geometry (``data-x0``, ``data-y0``, ``data-cell``, ``data-rows``, ``data-cols``)
so that a viewer can name the cell under the pointer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from plotly.colors import sample_colorscale

from attnviz.figures.safe_text import xml_attr, xml_text
from attnviz.figures.style import COLORSCALE, FONT, short_label, text_width

#: Longest token label drawn (characters); longer ones end in "…" (the readout names them whole).
MAX_LABEL = 16
MARGIN = 12
TITLE_H = 30
BAR_H = 34          # the colour bar's row: bar, its ticks and its label
BAR_W = 150
AXIS_TITLE_H = 18
LEVELS = 256
_COLOURS = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in
            (tuple(int(float(c)) for c in s[s.index("(") + 1:-1].split(","))
             for s in sample_colorscale(COLORSCALE, list(np.linspace(0.0, 1.0, LEVELS))))]


def _font(n: int) -> int:
    return 13 if n <= 12 else 11 if n <= 24 else 10 if n <= 40 else 8


def _cell(n: int) -> int:
    """px per cell: large for a few tokens, at least the label font's line for many."""
    return int(min(40, max(_font(n) + 3, 560 // max(n, 1))))


def _exact(value: np.float32) -> str:
    """The shortest decimal that reads back as the same float32: the page holds the computed value."""
    return np.format_float_positional(value, unique=True, trim="-")


def colour(value: float) -> str:
    """The heatmap colour of ``value`` (clipped to [0, 1])."""
    v = 0.0 if not np.isfinite(value) else min(1.0, max(0.0, float(value)))
    return _COLOURS[int(round(v * (LEVELS - 1)))]


@dataclass(frozen=True)
class _Frame:
    """Where ``heatmap_svg`` puts things, in px: the cells' top-left corner and side, the labels' font and room."""

    x0: float
    y0: float
    cell: int
    size: int            # the labels' font size
    row_w: float         # room for the query labels, left of the cells
    width: float
    height: float
    title_size: float


def heatmap_svg(
    matrix: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str], title: str = "",
    colorbar_label: str = "weight", background: str | None = "white",
) -> str:
    """``matrix [query, key]`` as an SVG heatmap: query tokens down (first at the top), keys across,
    every token labelled, a colour bar from 0 to 1 named ``colorbar_label`` above the cells."""
    z = np.asarray(matrix, dtype=np.float32)
    if z.ndim != 2 or z.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"matrix of shape {z.shape} does not match {len(query_tokens)} x {len(key_tokens)} tokens")
    rows, cols = [short_label(str(t), MAX_LABEL) for t in query_tokens], [short_label(str(t), MAX_LABEL) for t in key_tokens]
    f = _frame(z.shape, rows, cols, title)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{f.width:.0f}" height="{f.height:.0f}" '
        f'viewBox="0 0 {f.width:.0f} {f.height:.0f}" class="attnviz-heatmap" data-rows="{z.shape[0]}" data-cols="{z.shape[1]}" '
        f'font-family={xml_attr(FONT)} font-size="{f.size}">',
        f"<title>{xml_text(title or 'Attention heatmap')}</title>",
    ]
    if background:
        out.append(f'<rect width="100%" height="100%" fill={xml_attr(background)}/>')
    if title:
        out.append(f'<text class="title" x="{f.width / 2:.1f}" y="{MARGIN + 18}" text-anchor="middle" font-size="{f.title_size:.1f}" '
                   f'font-weight="bold">{xml_text(title)}</text>')
    out += _colorbar(f, z.shape[1], colorbar_label)
    out += _cells(z, f)
    out += _labels(rows, cols, f)
    out += _axis_titles(f, *z.shape)
    out.append("</svg>")
    return "".join(out)


def _frame(shape: tuple[int, int], rows: Sequence[str], cols: Sequence[str], title: str) -> _Frame:
    """Cells sized by the token count; room for the labels, the title and the colour bar around them."""
    n_q, n_k = shape
    n = max(n_q, n_k, 1)
    size, cell = _font(n), _cell(n)
    row_w = max([text_width(t, size) + 2 for t in rows] + [20.0])
    col_h = max([text_width(t, size) + 2 for t in cols] + [20.0])  # column labels run upwards (rotated -90)
    x0 = MARGIN + AXIS_TITLE_H + row_w + 6
    y0 = MARGIN + (TITLE_H if title else 0) + BAR_H
    width = x0 + n_k * cell + MARGIN
    # a long title: smaller (down to 11 px) before the drawing widens (cells centred), at 0.7 em a bold character
    title_size = max(11.0, min(16.0, (width - 2 * MARGIN) / (0.7 * max(len(title), 1))))
    spare = 0.7 * title_size * len(title) + 2 * MARGIN - width
    if spare > 0:
        x0, width = x0 + spare / 2, width + spare
    height = y0 + n_q * cell + 6 + col_h + AXIS_TITLE_H + MARGIN
    return _Frame(x0, y0, cell, size, row_w, width, height, title_size)


def _colorbar(f: _Frame, n_k: int, label: str) -> list[str]:
    """The colour bar, centred above the cells: 0 on the left, 1 on the right, ``label`` under it."""
    bx, by = f.x0 + (n_k * f.cell - BAR_W) / 2, f.y0 - BAR_H + 4
    step = BAR_W / 32
    return ['<g class="colorbar">',
            *(f'<rect x="{bx + i * step:.2f}" y="{by:.1f}" width="{step + 0.5:.2f}" height="10" fill="{colour(i / 31)}"/>'
              for i in range(32)),
            f'<text x="{bx - 4:.1f}" y="{by + 9:.1f}" text-anchor="end" font-size="10">0</text>'
            f'<text x="{bx + BAR_W + 4:.1f}" y="{by + 9:.1f}" font-size="10">1</text>'
            f'<text x="{bx + BAR_W / 2:.1f}" y="{by + 23:.1f}" text-anchor="middle" font-size="11" fill="#444">'
            f"{xml_text(label)}</text></g>"]


def _cells(z: np.ndarray, f: _Frame) -> list[str]:
    """The cells, row by row, each with its value; the group says where they are (a cell's row and column
    follow from its x, y), and a grey frame goes round them."""
    n_q, n_k = z.shape
    out = [f'<g class="cells" data-x0="{f.x0:.1f}" data-y0="{f.y0:.1f}" data-cell="{f.cell}" data-rows="{n_q}" '
           f'data-cols="{n_k}" shape-rendering="crispEdges">']
    for q in range(n_q):
        y = f.y0 + q * f.cell
        out += [f'<rect x="{f.x0 + k * f.cell:.0f}" y="{y:.0f}" width="{f.cell}" height="{f.cell}" '
                f'fill="{colour(w)}" data-w="{_exact(w)}"/>' for k, w in enumerate(z[q])]
    out.append("</g>")
    out.append(f'<rect x="{f.x0:.1f}" y="{f.y0:.1f}" width="{n_k * f.cell}" height="{n_q * f.cell}" fill="none" stroke="#bbb"/>')
    return out


def _labels(rows: Sequence[str], cols: Sequence[str], f: _Frame) -> list[str]:
    """Queries right-aligned left of their row, keys rotated under their column."""
    yb = f.y0 + len(rows) * f.cell + 6
    return [f'<g class="labels" fill="#222" font-size="{f.size}">',
            *(f'<text class="row" data-index="{q}" x="{f.x0 - 6:.1f}" y="{f.y0 + (q + 0.5) * f.cell:.1f}" text-anchor="end" '
              f'dominant-baseline="central">{xml_text(t)}</text>' for q, t in enumerate(rows)),
            *(f'<text class="col" data-index="{k}" transform="translate({f.x0 + (k + 0.5) * f.cell:.1f},{yb:.1f}) rotate(-90)" '
              f'text-anchor="end" dominant-baseline="central">{xml_text(t)}</text>' for k, t in enumerate(cols)),
            "</g>"]


def _axis_titles(f: _Frame, n_q: int, n_k: int) -> list[str]:
    return [f'<text class="axis" x="{f.x0 + n_k * f.cell / 2:.1f}" y="{f.height - MARGIN:.1f}" text-anchor="middle" '
            f'font-size="12" fill="#444">key (attended to)</text>',
            f'<text class="axis" transform="translate({f.x0 - 6 - f.row_w - 6:.1f},{f.y0 + n_q * f.cell / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle" font-size="12" fill="#444">query (attending)</text>']
