"""Download buttons for a head plot: PNG and SVG (server-side export), the matrix as CSV, and the
interactive HTML file (``attnviz.html_view``: every layer and head, hover, pin; opens from disk, offline).

Files are made only when the button is clicked (``data=`` a callable). Without a
Chrome-family browser on the server, PNG/SVG buttons for plotly figures are disabled
with a note on how to enable them; the plotly toolbar's camera still saves a PNG.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from attnviz import figures


def file_stem(*parts: object) -> str:
    """A safe file name from the view: letters, digits, dots, dashes and underscores only."""
    stem = "_".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-")[:120] or "attnviz"


def png_bytes(make: Callable[[], go.Figure | str]) -> bytes:
    return figures.to_png(make())


def svg_bytes(make: Callable[[], go.Figure | str]) -> bytes:
    plot = make()
    return plot.encode("utf-8") if isinstance(plot, str) else figures.to_svg(plot)


def export_buttons(
    make: Callable[[], go.Figure | str], stem: str, key: str, svg_native: bool = False,
    matrix: np.ndarray | None = None, query_tokens: list[str] | None = None, key_tokens: list[str] | None = None,
) -> None:
    """PNG and SVG of the plot that ``make()`` builds (a plotly figure or an SVG string, titled
    for export), and the attention matrix as CSV when one is given. Files are built on click."""
    available, why = figures.export_available()
    cols = st.columns(3)
    cols[0].download_button(
        "PNG", data=lambda: png_bytes(make), file_name=f"{stem}.png", mime="image/png",
        key=f"{key}_png", on_click="ignore", disabled=not available, icon=":material/image:",
    )
    cols[1].download_button(
        "SVG", data=lambda: svg_bytes(make), file_name=f"{stem}.svg", mime="image/svg+xml",
        key=f"{key}_svg", on_click="ignore", disabled=not (available or svg_native), icon=":material/draw:",
    )
    if matrix is not None:
        cols[2].download_button(
            "CSV", data=lambda: figures.matrix_csv(matrix, query_tokens, key_tokens), file_name=f"{stem}.csv",
            mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/table:",
        )
    if not available:
        st.caption(why)


def html_button(make: Callable[[], str], stem: str, key: str) -> None:
    """"Download interactive HTML": the page ``make()`` returns (``attnviz.View(...).html()``), made on click."""
    st.download_button(
        "Download interactive HTML", data=lambda: make().encode("utf-8"), file_name=f"{stem}.html", mime="text/html",
        key=f"{key}_html", on_click="ignore", icon=":material/public:",
        help="One self-contained file: every layer and head of this run (each token's strongest links), with hover, "
             "pin and the heatmap; it opens from disk in any browser, with no network and no server.",
    )
