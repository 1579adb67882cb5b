"""The views' JavaScript and CSS, read once: the same files serve the app, notebooks and HTML files.

``attnviz_views.js`` draws an attnviz SVG (arcs, heatmap, cross-attention) safely and adds hover, pin,
direction colours, readouts and legend toggles; its ``mountView`` needs only a browser DOM. The Streamlit
component (``components/arcs.py``) mounts it through its default export; ``attnviz.html_view`` inlines it,
with ``attnviz_page.js`` (layer, head and kind pickers, the all-heads grid), into a notebook output or a
self-contained HTML file. Styles: ``attnviz_views.css`` and ``attnviz_page.css``.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent


def _read(name: str) -> str:
    text = (STATIC / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "<!--" in text:  # it is inlined into <script> and <style> elements
        raise ValueError(f"{name} must not contain '</script' or '<!--'")
    return text


VIEWS_JS = _read("attnviz_views.js")
VIEWS_CSS = _read("attnviz_views.css")
PAGE_JS = _read("attnviz_page.js")
PAGE_CSS = _read("attnviz_page.css")
