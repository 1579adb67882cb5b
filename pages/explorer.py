"""Explorer: one sentence, one model, one layer; a head's arcs, heatmap and statistics."""

import streamlit as st

from attnviz import figures
from attnviz.labels import head_label
from attnviz.stats import top_links
from components import controls, data
from components.arcs import arc_view
from components.downloads import export_buttons, file_stem
from components.head_off import head_off_view
from components.kinds import explorer_view  # seq2seq
from components.links import heads_linking_view
from components.measures import colorbar_label, file_tag, mixes_heads, value_label
from components.measures import title as measure_title
from components.navigation import ensure_app
from components.tables import head_stats_table, with_rest_patterns

ensure_app()

#: Arcs drawn at most (the strongest): 512 tokens x top-3, so that one rerun stays near 2 MB even
#: with every head of the layer or every link (about 200 bytes per arc, unbounded otherwise).
MAX_SHOWN_ARCS = 3 * 512
LAYOUTS = {"auto": "auto", "arcs": "arcs in a row", "columns": "two columns"}

view, text, weights_run = controls.sentence_page("Attention explorer")  # attention weights
if explorer_view(view, text, weights_run):  # seq2seq: target, kind of attention, generation (components/kinds.py)
    controls.write_url(view)
    st.stop()
view, run = controls.measured(view, text, weights_run)  # the chosen measure (or weights, with an info saying why)
s = view.state
measure = s.measure
#: Rollout and flow mix the heads: one map per layer (index 0), the head picker and the overlay do not apply.
mixed = mixes_heads(measure)
all_heads = s.all_heads and not mixed
head = 0 if mixed else s.head - 1
n_tokens = len(run.tokens)


@st.fragment
def head_views() -> None:
    """Arcs and heatmap of the chosen head; their own options (links per token, layout) rerun only this."""
    layer = s.layer - 1
    heads = list(range(run.n_heads)) if all_heads else [head]
    weights = run.attention[layer, heads]  # (heads shown, query, key)
    stem = file_stem(s.model.split("/")[-1], file_tag(measure), f"L{s.layer}",
                     "" if mixed else "all-heads" if all_heads else f"H{s.head}", "masked" if s.causal else "unmasked", s.level)
    sinks = [i for i in range(n_tokens) if run.special[i]]
    long_input = figures.auto_layout(run.tokens) == "columns"
    left, right = st.columns([2, 3] if long_input else [1, 1], gap="large")
    with left:
        st.subheader("Dependency arcs")
        c1, c2 = st.columns(2)
        with c1:
            top_k = controls.top_k_control()
        choice = c2.selectbox("Layout", list(LAYOUTS), format_func=LAYOUTS.get, key="arc_layout",
                              help="auto: arcs in a row for short inputs, two columns (attending left, attended-to "
                                   "right, scrolling down) when a row would not fit the column.")
        layout = figures.auto_layout(run.tokens) if choice == "auto" else choice

        def arcs(title: str) -> figures.ArcDrawing:
            return _arcs(run.tokens, weights, VIEW_KEY, title, top_k, layout, all_heads)

        drawing = arcs(view.short_title)
        arc_view(drawing.svg, key="explorer_arcs", scroll=st.session_state.pop("_scroll_arcs", 0))
        notes = []
        if sinks:
            notes.append("Dashed, faint links go to [CLS]/[SEP] (sink attention), drawn beneath the others.")
        if drawing.n_dropped:
            notes.append(f"Showing the {drawing.n_drawn:,} strongest of {drawing.n_drawn + drawing.n_dropped:,} links; "
                         "fewer links per token or a single head shows the rest.")
        if mixed:
            notes.append(f"{MEASURE_NOTE[measure]} The Head slider and “All heads of the layer” do not apply here.")
        if notes:
            st.caption(" ".join(notes))
        export_buttons(lambda: arcs(view.title).svg, stem + "_arcs", key="arcs", svg_native=True)

    matrix = weights[0] if not all_heads else weights.mean(axis=0)
    with right:
        st.subheader(HEATMAP_TITLE[measure].format(layer=s.layer, head=head_label(layer, head)) if not all_heads
                     else f"Heatmap, layer {s.layer} (mean of heads)")
        st.plotly_chart(data_heatmap(matrix, view.short_title), key="explorer_heatmap", config={"displaylogo": False},
                        width="stretch")
        if n_tokens > figures.MAX_TICKS:
            st.caption(f"{n_tokens} tokens: drag a box on the heatmap to zoom in and label every token; double-click to zoom out.")
        export_buttons(lambda: figures.heatmap(matrix, run.tokens, run.tokens, title=view.title, value_label=value_label(measure),
                                               colorbar_label=colorbar_label(measure)), stem + "_heatmap",
                       key="heatmap", matrix=matrix, query_tokens=run.tokens, key_tokens=run.tokens)

    st.subheader(measure_title(measure, s.layer).capitalize() if mixed else
                 f"Heads of layer {s.layer}" + (", value-weighted" if measure == "value" else ""))
    stats = with_rest_patterns(data.get_stats(run, *RUN_KEY), run, RUN_KEY)
    stats = stats[stats["layer"] == layer]
    if mixed:
        stats = stats.assign(label=f"L{s.layer}")
    head_stats_table(stats, key="explorer_stats", label="layer" if mixed else "head")
    st.subheader("Strongest links")
    st.caption(f"Each token's three {'most-attended tokens' if measure == 'attention' else 'strongest links (' + value_label(measure) + ')'}"
               + (" it may see (the look-ahead mask hides later ones)" if s.causal else "") + ".")
    st.dataframe(top_links(matrix, run.tokens, mask=run.mask), key="explorer_links", hide_index=True,
                 column_config={f"#{r} weight": st.column_config.NumberColumn(
                     f"#{r} {'weight' if measure == 'attention' else colorbar_label(measure)}", format="%.3f") for r in (1, 2, 3)})


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def _heatmap(_matrix, _tokens, view_key: tuple, title: str):
    """The heatmap figure of one view (keyed like its run, plus measure, layer and head): plotly takes ~40 ms
    to build one, so each is built once and shared (never mutated)."""
    measure = view_key[5]
    return figures.heatmap(_matrix, _tokens, _tokens, title=title, value_label=value_label(measure),
                           colorbar_label=colorbar_label(measure))


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _arcs(_tokens, _weights, view_key: tuple, title: str, top_k: int, layout: str, all_heads: bool) -> figures.ArcDrawing:
    layer = view_key[-3]
    heads = list(range(_weights.shape[0]))
    return figures.arcs_svg(_tokens, _weights if all_heads else _weights[0], title=title, top_k=top_k or None,
                            layers=[head_label(layer, h) for h in heads] if all_heads else None,
                            max_arcs=MAX_SHOWN_ARCS, layout=layout, sinks=[i for i, sp in enumerate(run.special) if sp])


#: What identifies the shown run: model, text, mask, level, specials, measure, and the layer for flow (computed per layer).
RUN_KEY = (s.model, text, s.causal, s.level, s.hide_special, measure, s.layer - 1 if measure == "flow" else None)
#: What identifies a figure: the run (model, text, mask, level, specials), the measure, then layer, head, overlay.
#: ``_arcs`` reads the layer at [-3] and ``_heatmap`` the measure at [5].
VIEW_KEY = (s.model, text, s.causal, s.level, s.hide_special, measure, s.layer - 1, head, all_heads)
#: (the plot's own title names the value-weighted measure: "Heatmap, head 2-10, value-weighted" wraps in its column)
HEATMAP_TITLE = {"attention": "Heatmap, head {head}", "value": "Heatmap, head {head}",
                 "rollout": "Heatmap, rollout up to layer {layer}", "flow": "Heatmap, flow to layer {layer}"}
MEASURE_NOTE = {"rollout": "Rollout multiplies the attention of every head and layer up to this one.",
                "flow": "Flow is the maximum flow through every head and layer up to this one."}


def data_heatmap(matrix, title: str):
    return _heatmap(matrix, run.tokens, VIEW_KEY, title)


head_views()

if not mixed and not all_heads:  # "switch this head off": the model again without it (components/head_off.py)
    head_off_view(view.model, weights_run, s.layer - 1, s.head - 1, key="explorer_head_off")

st.subheader("Which heads link two tokens")
st.caption("Different heads follow different links: pick a token and one it may attend to, and see every head of "
           "the model ranked by that link. Click a row to show that head above."
           + (" Ranked by value-weighted attention." if measure == "value" else
              " Ranked by attention weights: rollout and flow mix the heads." if mixed else ""))
if (picked := heads_linking_view(run if not mixed else weights_run, key="link",
                                 value_label=value_label("value" if measure == "value" else "attention"))) is not None:
    st.session_state["_scroll_arcs"] = st.session_state.get("_scroll_count", 0) + 1
    st.session_state["_scroll_count"] = st.session_state["_scroll_arcs"]
    controls.open_in_explorer(*picked)

controls.write_url(view)
