"""The number of each drawing a component of the app shows, so that a late call never replaces a newer drawing.

Streamlit runs a v2 component's JavaScript function asynchronously, once per new data, and a call made for an
older run can arrive after a newer one (seen in the browser tests: the first run's arcs, late, replaced the ones a
toggle had just drawn, and stayed). Each drawing therefore carries its number in the session (``number``): it grows
with every new drawing of a view and stays the same while the drawing is the same. The components' functions
(``attnviz/static/attnviz_views.js``, ``components/js/head_strip.js``) draw nothing older than what they show.
"""

from __future__ import annotations

import streamlit as st

from components import session_keys as keys


def number(key: str, content: str) -> int:
    """The number of view ``key``'s drawing ``content`` in this session: one more than the last one's when it is
    new, the same while it is the same drawing (the component then has nothing to redraw)."""
    drawn = st.session_state.setdefault(keys.DRAWN, {})
    digest = hash(content)
    last_digest, last = drawn.get(key, (None, 0))
    if digest != last_digest:
        drawn[key] = (digest, last + 1)
    return drawn[key][1]
