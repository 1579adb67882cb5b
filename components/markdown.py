"""Text for Streamlit's Markdown elements (st.warning, st.error, st.info, st.caption), shown as typed, and
the app's arrow for attnviz's "->"."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~:$&@])")
_AUTOLINK = re.compile(r"(?i)(?<=www)(?=\.)|(?=://)|(?=@)")  # where Markdown would start a bare link


def literal(text: str) -> str:
    """``text`` for st.warning/st.error (which render Markdown) shown as typed.

    Notices quote values from the link and model names; unescaped, a link could put images
    (fetched from any host), links, LaTeX or coloured text into the page. Markdown's active
    characters are backslash-escaped (quotes, ``=``, ``-``, ``.`` and ``/`` stay as they are),
    and an invisible word joiner (U+2060) keeps ``www.``, ``://`` and ``@`` from becoming links.
    """
    return _MARKDOWN.sub(r"\\\1", _AUTOLINK.sub("\u2060", str(text)))


def arrows(x):
    """attnviz's plain "->" shown as "→", the arrow used everywhere in the app (text or a table's cells and headers)."""
    if hasattr(x, "columns"):  # a pandas DataFrame (not imported here: this module is on the first screen)
        return x.rename(columns=arrows).replace(r"->", "→", regex=True)
    return str(x).replace("->", "→")
