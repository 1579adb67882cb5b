"""The arc view and the heatmap view: attnviz's SVGs in a small custom component.

The SVG comes from ``attnviz.figures.arcs_svg`` or ``heatmap_svg`` (token text escaped
there). The component parses it as XML (never as HTML), drops anything that is not plain
SVG drawing (no scripts, no event-handler attributes), and adds behaviour. Both live in the
library, ``attnviz/static/attnviz_views.js`` (its ``mountView`` needs no Streamlit; the notebook views and
the interactive HTML file of ``attnviz.html_view`` use the same file), styled by ``attnviz_views.css``.
Heatmap: hovering a cell writes its query, key and value under the drawing and marks the two
tokens. Arcs:

- hovering a token shows only its links: outgoing (where it looks) in orange, incoming
  (who looks at it) in blue; a click pins it. The pin is kept per view (``key``) in the
  page and survives reruns: a new head, layer, model option or sentence finds the same
  token again (same text, nearest position) and isolates it there;
- hovering an arc writes its tokens and weight under the drawing;
- clicking a legend entry of "all heads of the layer" hides or shows that head;
- the drawing always fits its column's width (never a horizontal scroll bar); the
  two-column layout scrolls vertically inside a box at most 640 px high.

Each drawing carries its number in the session (``components.drawn``): the component draws nothing older than
what it shows, as Streamlit's calls for an older run can arrive after a newer one's.
"""

from __future__ import annotations

import streamlit as st

from attnviz.static import VIEWS_CSS, VIEWS_JS
from components import drawn

#: The views' JavaScript and CSS, files of the library's own (linted by eslint). Streamlit takes a path only
#: for a component of an installed package (an ``asset_dir`` in its manifest), so the text is passed.
_mount = st.components.v2.component("attnviz.arcs", css=VIEWS_CSS, js=VIEWS_JS)


def heatmap_view(svg: str, key: str) -> None:
    """Show a heatmap SVG (from ``attnviz.figures.heatmap_svg``); hovering a cell names it and its value."""
    _mount(data={"svg": svg, "key": key, "scroll": 0, "drawn": drawn.number(key, svg)}, key=key)


def arc_view(svg: str, key: str, scroll: int = 0) -> None:
    """Show an arcs SVG (from ``attnviz.figures.arcs_svg``) with hover/click isolation.

    ``scroll``: a new number brings the drawing into view (e.g. after a head was picked below it).
    """
    _mount(data={"svg": svg, "key": key, "scroll": scroll, "drawn": drawn.number(key, svg)}, key=key)
