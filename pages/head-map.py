"""Head map: one layer's heads over a corpus, each head's queries and keys placed together in one plane (after
AttentionViz, Yeh et al. 2023); a click on a point opens its sentence in the explorer at that layer and head.

The file is named as its address (/head-map): on a server's first request Streamlit looks a deep link up among the
files of pages/ (components/navigation.py), and /head-map would not find head_map.py ("Page not found")."""

import streamlit as st

import attnviz  # noqa: F401 - the package before its modules (see app.py)
from components import controls
from components import session_keys as keys
from components.navigation import ensure_app

ensure_app()
if (picked := st.session_state.pop(keys.HEAD_MAP_PICKED, None)) is not None:  # a click on a point: open its sentence
    controls.open_in_explorer(*picked)
view = controls.sidebar(layer_only=True)  # the model menu first; then the modules below and the model load (components/startup.py)

from components.head_map import page

st.title("Head map")
st.caption("Every token of a corpus as a query and as a key of each head of one layer, placed together in one plane "
           "(AttentionViz, Yeh et al. 2023): a query lands near the keys it attends to. The layer is the sidebar's; "
           "layers and heads are 1-based (3-1 = layer 3, head 1).")
page(view)
controls.write_url()
