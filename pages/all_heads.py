"""All heads: a layers x heads grid of small attention maps; a click opens a head in the explorer."""

import streamlit as st

from components import controls, data
from components.downloads import export_buttons, file_stem
from components.grid import grid_figures, grid_view
from components.kinds import all_heads_view  # seq2seq
from components.navigation import ensure_app
from components.tables import head_stats_table

ensure_app()

view, text, run = controls.sentence_page("All heads")
s = view.state
if all_heads_view(view, text, run):  # seq2seq: the grid of decoder self- or cross-attention (components/kinds.py)
    controls.write_url(view)
    st.stop()

stats = data.get_stats(run, s.model, text, s.causal, s.level, s.hide_special)
st.caption("Each thumbnail is one head (rows: layers, columns: heads; labels are layer-head, 1-based, "
           "with the head's dominant pattern: prev/next token, self, [CLS]/[SEP] sink, broad). Click a thumbnail to open that head in the explorer.")
fig, clickable = grid_figures(run, stats, s.model, text, s.causal, s.level, s.hide_special)
picked = grid_view(clickable, key="heads_grid")
if picked is None:
    with st.container(horizontal=True, vertical_alignment="bottom"):
        layer = st.selectbox("Layer", range(1, run.n_layers + 1), index=s.layer - 1, key="open_layer")
        head = st.selectbox("Head", range(1, run.n_heads + 1), index=s.head - 1, key="open_head")
        if st.button("Open in the explorer", key="open_head_button"):
            picked = (layer, head)
if picked is not None:
    controls.open_in_explorer(*picked)

export_buttons(lambda: fig, file_stem(s.model.split("/")[-1], "all-heads", "masked" if s.causal else "unmasked"), key="grid")
st.subheader("Head statistics")
head_stats_table(stats, key="heads_stats")
controls.write_url(view)
