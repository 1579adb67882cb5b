"""User text in figures, shown literally: escaped for plotly labels and for SVG/XML.

Tokens are user text. Plotly renders a small HTML subset in tick labels, titles and
hover text, so every label goes through ``plotly_text``; the SVG writers escape all text
and attribute values and drop characters XML cannot carry.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import quoteattr as _xml_quoteattr

_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def plotly_text(text: object) -> str:
    """User text for a plotly label/title/hover: shown literally, never as markup.

    ``&``, ``<``, ``>`` are escaped (plotly decodes these entities when drawing), and
    ``$`` becomes ``&#36;`` so a label like ``$x$`` is not typeset as LaTeX.
    """
    return html.escape(str(text), quote=False).replace("$", "&#36;")


def xml_clean(text: object) -> str:
    """Characters XML 1.0 cannot hold (NUL, most control characters) become U+FFFD."""
    return _XML_INVALID.sub("\ufffd", str(text))


def xml_text(text: object) -> str:
    return _xml_escape(xml_clean(text))


def xml_attr(value: object) -> str:
    """A quoted attribute value (quotes included)."""
    return _xml_quoteattr(xml_clean(value))


def positional(tokens: Sequence[str]) -> list[str]:
    """Unique, escaped category names ``"{i}: token"`` so duplicate tokens stay apart."""
    return [f"{i}: {plotly_text(t)}" for i, t in enumerate(tokens)]
