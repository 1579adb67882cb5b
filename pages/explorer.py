"""Explorer: one sentence, one model, one layer; a head's arcs, heatmap and statistics."""

import streamlit as st

from attnviz import figures
from attnviz.labels import head_label
from attnviz.stats import top_links
from components import controls, data
from components.arcs import arc_view
from components.downloads import export_buttons, file_stem
from components.kinds import explorer_view  # seq2seq
from components.links import heads_linking_view
from components.navigation import ensure_app
from components.tables import head_stats_table

ensure_app()

#: Arcs drawn at most (the strongest): 512 tokens x top-3, so that one rerun stays near 2 MB even
#: with every head of the layer or every link (about 200 bytes per arc, unbounded otherwise).
MAX_SHOWN_ARCS = 3 * 512

view, text, run = controls.sentence_page("Attention explorer")
s = view.state
if explorer_view(view, text, run):  # seq2seq: target, kind of attention, generation (components/kinds.py)
    controls.write_url(view)
    st.stop()

layer = s.layer - 1
heads = list(range(run.n_heads)) if s.all_heads else [s.head - 1]
weights = run.attention[layer, heads]  # (heads shown, query, key)
stem = file_stem(s.model.split("/")[-1], f"L{s.layer}", "all-heads" if s.all_heads else f"H{s.head}",
                 "masked" if s.causal else "unmasked", s.level)

left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("Dependency arcs")
    top_k = controls.top_k_control()
    def arcs(title: str) -> figures.ArcDrawing:
        return figures.arcs_svg(run.tokens, weights if s.all_heads else weights[0], title=title, top_k=top_k or None,
                                layers=[head_label(layer, h) for h in heads] if s.all_heads else None,
                                max_arcs=MAX_SHOWN_ARCS)

    drawing = arcs(view.short_title)
    arc_view(drawing.svg, key="explorer_arcs")
    if drawing.n_dropped:
        st.caption(f"Showing the {drawing.n_drawn:,} strongest of {drawing.n_drawn + drawing.n_dropped:,} links; "
                   "fewer links per token or a single head shows the rest.")
    export_buttons(lambda: arcs(view.title).svg, stem + "_arcs", key="arcs", svg_native=True)

matrix = weights[0] if not s.all_heads else weights.mean(axis=0)
with right:
    st.subheader(f"Heatmap, head {head_label(layer, s.head - 1)}" if not s.all_heads else f"Heatmap, layer {s.layer} (mean of heads)")
    st.plotly_chart(figures.heatmap(matrix, run.tokens, run.tokens, title=view.short_title, side=360),
                    key="explorer_heatmap", config={"displaylogo": False}, width="stretch")
    export_buttons(lambda: figures.heatmap(matrix, run.tokens, run.tokens, title=view.title), stem + "_heatmap",
                   key="heatmap", matrix=matrix, query_tokens=run.tokens, key_tokens=run.tokens)

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Strongest links")
    st.dataframe(top_links(matrix, run.tokens), key="explorer_links", hide_index=True)
with right:
    st.subheader(f"Heads of layer {s.layer}")
    stats = data.get_stats(run, s.model, text, s.causal, s.level, s.hide_special)
    head_stats_table(stats[stats["layer"] == layer], key="explorer_stats")

st.subheader("Which heads link two tokens")
st.caption("Different heads follow different links: pick a token and one it may attend to, and see every head of "
           "the model ranked by that link. Click a row to show that head above.")
if (picked := heads_linking_view(run, key="link")) is not None:
    controls.open_in_explorer(*picked)
controls.write_url(view)
