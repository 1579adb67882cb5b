"""One look for every figure: the colour scale of attention, the font, and how wide its text runs."""

from __future__ import annotations

#: One colour scale for every attention heatmap; zmin=0, zmax=1 so heads compare.
COLORSCALE = "Blues"
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"

#: Rough width of one character of ``FONT``, in em (for laying out SVG text before a browser measures it).
CHAR_EM = 0.62


def text_width(text: str, size: float) -> float:
    """Rough width in px of ``text`` set at ``size`` px."""
    return len(text) * CHAR_EM * size


def short_label(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last one "…" when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
