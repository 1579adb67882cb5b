"""Plain data in, figures out: plotly figures and self-contained SVG, and their export.

In the style of spaCy's displaCy, every function takes plain data (lists of str, numpy
arrays) and returns a plotly Figure, an SVG string or bytes; nothing here knows about
Streamlit or about models.

    heatmap(run.head(2, 0), run.tokens, run.tokens, "MiniLM 3-1")      -> go.Figure   (heatmaps)
    heatmap_svg(run.head(2, 0), run.tokens, run.tokens, "MiniLM 3-1")  -> str         (heatmap_svg)
    arcs_svg(run.tokens, run.attention[2, :3], top_k=3)                 -> ArcDrawing  (arcs)
    grid(run.attention, special=run.special)                            -> go.Figure   (heatmaps)
    to_png(fig_or_svg), to_svg(fig)                                     -> bytes       (export)
    matrix_csv(run.head(2, 0), run.tokens, run.tokens)                  -> bytes       (matrix_csv)

Tokens are user text: every label is escaped (``safe_text``), so nothing typed is ever
interpreted as markup.
"""

from attnviz.errors import ExportUnavailableError
from attnviz.figures.arc_parts import ACCENT, MAX_ARCS, PALETTE, ArcDrawing
from attnviz.figures.arcs import AUTO_ARCS_WIDTH, LAYOUTS, arcs_svg, auto_layout, natural_width
from attnviz.figures.export import ENABLE_EXPORT_HELP, MAX_PNG_SIDE, export_available, export_browser, to_png, to_svg
from attnviz.figures.heatmap_svg import heatmap_svg
from attnviz.figures.heatmaps import MAX_TICKS, THUMB, clickable_cells, downsample, grid, heatmap, score_heatmap
from attnviz.figures.matrix_csv import matrix_csv
from attnviz.figures.style import COLORSCALE, FONT

__all__ = [
    "ACCENT", "AUTO_ARCS_WIDTH", "COLORSCALE", "ENABLE_EXPORT_HELP", "FONT", "LAYOUTS", "MAX_ARCS", "MAX_PNG_SIDE",
    "MAX_TICKS", "PALETTE", "THUMB", "ArcDrawing", "ExportUnavailableError", "arcs_svg", "auto_layout",
    "clickable_cells", "downsample", "export_available", "export_browser", "grid", "heatmap", "heatmap_svg", "matrix_csv",
    "natural_width", "score_heatmap", "to_png", "to_svg",
]
