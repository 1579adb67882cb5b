"""What the arc drawings (``arcs.arcs_svg``, ``cross.cross_svg``) share: which arcs to keep, the head
colours, and the SVG pieces both draw alike: a head's group, an arc, the legend, the title, the background."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnviz.figures.safe_text import xml_attr, xml_text
from attnviz.figures.style import text_width


@dataclass(frozen=True)
class ArcDrawing:
    """What ``arcs_svg`` (or ``cross_svg``) drew: the SVG document and how many arcs it holds or left out.

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
MARGIN = 20  # px around a drawing


# -- which arcs


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


# -- drawn things


def palette(n: int) -> list[str]:
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    return [f"hsl({round(210 + 360 * i / n) % 360}, 70%, 42%)" for i in range(n)]


def markers(colors: Sequence[str], n_heads: int) -> list[str]:
    """An arrowhead ``<marker>`` per head colour (``ah0``...) and one in the accent (``ah-accent``)."""
    out = []
    for h, c in enumerate([*colors[:n_heads], ACCENT]):
        mid = f"ah{h}" if h < n_heads else "ah-accent"
        out.append(f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0L10,5L0,10z" fill={xml_attr(c)}/></marker>')
    return out


def head_groups(hs: np.ndarray, n_heads: int, names: Sequence[str], colors: Sequence[str], markers: bool = True):
    """For each head h: its opening ``<g class="head">`` tag and the indexes of its arcs (``hs`` sorted by head)."""
    starts = np.searchsorted(hs, np.arange(n_heads + 1))
    for h in range(n_heads):
        marker = f' marker-end="url(#ah{h})"' if markers else ""
        yield (f'<g class="head" data-head="{h}" data-label={xml_attr(names[h])} stroke={xml_attr(colors[h])} '
               f'fill="none"{marker}>', range(starts[h], starts[h + 1]))


def arc_path(d: str, q: int, k: int, h: int, wt: float, sink: bool, highlighted: bool) -> str:
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


def legend_positions(names: Sequence[str], width: float) -> list[tuple[float, int]]:
    """(x, row) of each legend entry, wrapped to ``width`` (``math.inf``: one row)."""
    out, x, row = [], MARGIN, 0
    for nm in names:
        w = 34 + text_width(nm, 12) + 14
        if x > MARGIN and x + w > width - MARGIN:
            x, row = MARGIN, row + 1
        out.append((x, row))
        x += w
    return out


def legend(names: Sequence[str], colors: Sequence[str], positions: list[tuple[float, int]], y: float) -> list[str]:
    """One ``<g class="legend" data-head>`` per head (the arc view's script toggles heads with them)."""
    out = []
    for h, (nm, (x, row)) in enumerate(zip(names, positions)):
        yy = y + 24 * row
        out.append(f'<g class="legend" data-head="{h}"><line x1="{x}" y1="{yy + 10}" x2="{x + 26}" y2="{yy + 10}" '
                   f'stroke={xml_attr(colors[h])} stroke-width="3"/><text x="{x + 32}" y="{yy + 14}" '
                   f'font-size="12">{xml_text(nm)}</text></g>')
    return out


def title_text(width: float, y: float, title: str) -> str:
    """The drawing's title, centred, its baseline 18 px below ``y``."""
    return (f'<text class="title" x="{width / 2:.1f}" y="{y + 18}" text-anchor="middle" '
            f'font-size="16" font-weight="bold">{xml_text(title)}</text>')


def background_rect(colour: str) -> str:
    return f'<rect width="100%" height="100%" fill={xml_attr(colour)}/>'
