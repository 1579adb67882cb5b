"""One look for every figure: the colour scale of attention and the font."""

from __future__ import annotations

#: One colour scale for every attention heatmap; zmin=0, zmax=1 so heads compare.
COLORSCALE = "Blues"
FONT = "DejaVu Sans, Verdana, Arial, sans-serif"
