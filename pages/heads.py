"""All heads: a layers x heads grid of small attention maps; a click opens a head in the explorer."""

import streamlit as st

import attnviz  # noqa: F401 - the package before its modules (see app.py)
from components import controls, startup
from components.navigation import ensure_app

ensure_app()
startup.ready()  # torch, transformers, attnviz: once per server, before the page's own modules below

from attnviz.html_view import View
from components import data
from components.downloads import export_buttons, file_stem, html_button
from components.grid import grid_figures, grid_view, picked_thumbnail
from components.kinds import all_heads_body, decoder_controls  # seq2seq
from components.measures import described, file_tag, mixes_heads, mixing_note, name, the_mixing_ones
from components.tables import get_stats, head_stats_table

if (picked := picked_thumbnail()) is not None:  # a click on a thumbnail: open it before drawing this page again
    controls.open_in_explorer(*picked)

view, weights_run = controls.sentence_page("All heads")
# seq2seq (components/kinds.py): a model with a decoder gets its controls; the grid of a decoder's self- or
# cross-attention or of a continuation is drawn by the seq2seq body, else the page goes on with its own grid
if (decoder_shown := decoder_controls(view, weights_run)) is not None:
    all_heads_body(view, decoder_shown)
    controls.write_url()
    st.stop()
view, run = controls.measured(view, weights_run, all_layers=True)  # flow: every layer, one map each
s = view.state
mixed = mixes_heads(s.measure)

run_key = s.run_key(all_layers=True)
stats = get_stats(run, run_key)
if mixed:
    st.caption(f"{the_mixing_ones().capitalize()} mix the heads, so there is one map per layer. {mixing_note(s.measure)} "
               "Each map is labelled with its dominant pattern. Click a map to open that layer in the explorer "
               f"(with head {s.head}, for the other measures).")
    stats = stats.assign(label=[f"L{k + 1}" for k in stats["layer"]])
else:
    st.caption((f"{described(s.measure)} " if name(s.measure) else "")
               + "Each thumbnail is one head (rows: layers, columns: heads; labels are layer-head, 1-based, "
               "with the head's dominant pattern: prev/next token, self, [CLS]/[SEP] sink, broad). "
               "Click a thumbnail to open that head in the explorer.")
fig, clickable = grid_figures(run, stats, run_key, s.head - 1)
grid_view(clickable, key="heads_grid")
with st.container(horizontal=True, vertical_alignment="bottom"):
    layer = st.selectbox("Layer", range(1, run.n_layers + 1), index=s.layer - 1, key="open_layer")
    head = st.selectbox("Head", range(1, view.model.n_heads + 1), index=s.head - 1, key="open_head")
    if st.button("Open in the explorer", key="open_head_button"):
        controls.open_in_explorer(layer, head)

export_buttons(lambda: fig, file_stem(s.model.split("/")[-1], "all-heads", file_tag(s.measure), "masked" if s.causal else "unmasked"),
               key="grid")
whole = data.get_run(view.model, run_key)  # here: the file is made on click, in a thread with no page
html_button(lambda: View(whole, measure=s.measure, level=s.level, drop_special=s.hide_special, layer=s.layer,
                         head=s.head).html(),
            file_stem(s.model.split("/")[-1], "all-heads", file_tag(s.measure), s.level), key="grid")  # attnviz.html_view
st.subheader("Statistics per layer" if mixed else "Head statistics")
head_stats_table(stats, key="heads_stats", label="layer" if mixed else "head")
controls.write_url()
