"""Explorer: one sentence, one model, one layer; a head's arcs, heatmap and statistics."""

import streamlit as st

import attnviz  # noqa: F401 - the package before its modules (see app.py)
from components import controls
from components.navigation import ensure_app

ensure_app()
# The sidebar, title and sentence box are drawn first; then the modules below and the model load (components/startup.py)
LEAD = ("Type a sentence and see where each attention head of a transformer looks. Different heads follow different "
        "grammatical relations: the cards below show the heads that follow this sentence's, credited on a treebank only "
        "where position alone does not explain them.")
view, weights_run = controls.sentence_page("Attention explorer", head_controls_in_page=True, lead=LEAD)  # the weights

from dataclasses import replace

from attnviz import figures
from attnviz.html_view import View
from attnviz.labels import head_label
from attnviz.stats import top_links
from components import data
from components import session_keys as keys
from components.arcs import arc_view, heatmap_view
from components.charts import chart
from components.downloads import export_buttons, file_stem, html_button
from components.head_off import head_off_view
from components.head_strip import head_strip
from components.kinds import MAX_SHOWN_ARCS, decoder_controls, explorer_body, first_token_share  # seq2seq
from components.links import heads_linking_view
from components.measures import colorbar_label, file_tag, mixes_heads, mixing_note, name, noun, the_mixing_ones, value_label
from components.measures import title as measure_title
from components.qk_view import qk_view
from components.state import ViewState
from components.tables import get_stats, head_stats_table, with_rest_patterns

LAYOUTS = {"auto": "auto", "arcs": "arcs in a row", "columns": "two columns"}

# seq2seq (components/kinds.py): a model with a decoder gets its controls (target, kind of attention, generation);
# a decoder's attention or a continuation is drawn by the seq2seq body, else the page goes on with its own view
if (decoder_shown := decoder_controls(view, weights_run)) is not None:
    explorer_body(view, decoder_shown)
    qk_view(view.model, view.refreshed().state, decoder_shown.kind, decoder_shown.run)  # queries and keys, opened
    controls.write_url()
    st.stop()
first_token_share(view, weights_run)  # a decoder-only model's first-token share (nothing for the others)
n_tokens = len(weights_run.tokens)
# the claim, under the sentence box: filled last, so a first parser load never holds up the views below
strip_slot = st.container()

@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def _heatmap(_matrix, _tokens, shown: ViewState, title: str):
    """The heatmap figure of one view (``shown``: the view as drawn, its measure, layer, head and overlay
    as they apply): plotly takes ~40 ms to build one, so each is built once and shared (never mutated)."""
    return figures.heatmap(_matrix, _tokens, _tokens, title=title, value_label=value_label(shown.measure),
                           colorbar_label=colorbar_label(shown.measure))


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _heatmap_svg(_matrix, _tokens, shown: ViewState, title: str) -> str:
    """The SVG heatmap of one view (``shown`` as for ``_heatmap``), for inputs of at most MAX_TICKS tokens."""
    return figures.heatmap_svg(_matrix, _tokens, _tokens, title=title, colorbar_label=colorbar_label(shown.measure))


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _arcs(_tokens, _weights, shown: ViewState, title: str, top_k: int, layout: str, sinks: tuple[int, ...]) -> figures.ArcDrawing:
    """The arc drawing of one view (``shown`` as for ``_heatmap``); ``_weights`` is (heads shown, query, key)."""
    return figures.arcs_svg(_tokens, _weights if shown.all_heads else _weights[0], title=title, top_k=top_k or None,
                            layers=[head_label(shown.layer - 1, h) for h in range(_weights.shape[0])] if shown.all_heads else None,
                            max_arcs=MAX_SHOWN_ARCS, layout=layout, sinks=list(sinks))


def _links_column(shown: controls.View, drawn: ViewState, run, weights, stem: str) -> None:
    """The attention links of the head(s) drawn (``weights``: heads shown, query, key), their notes and downloads."""
    s, measure = shown.state, drawn.measure
    sinks = tuple(i for i in range(n_tokens) if run.special[i])
    st.subheader("Attention links")
    c1, c2 = st.columns(2)
    with c1:
        top_k = controls.top_k_control()
    choice = c2.selectbox("Layout", list(LAYOUTS), format_func=LAYOUTS.get, key="arc_layout",
                          help="auto: arcs in a row for short inputs, two columns (attending left, attended-to "
                               "right, scrolling down) when a row would not fit the column.")
    layout = figures.auto_layout(run.tokens) if choice == "auto" else choice

    def arcs(title: str) -> figures.ArcDrawing:
        return _arcs(run.tokens, weights, drawn, title, top_k, layout, sinks)

    drawing = arcs(shown.short_title)
    arc_view(drawing.svg, key="explorer_arcs", scroll=st.session_state.pop(keys.SCROLL_ARCS, 0))
    notes = []
    if sinks:
        notes.append("Dashed, faint links go to [CLS]/[SEP] (sink attention), drawn beneath the others.")
    if drawing.n_dropped:
        notes.append(f"Showing the {drawing.n_drawn:,} strongest of {drawing.n_drawn + drawing.n_dropped:,} links; "
                     "fewer links per token or a single head shows the rest.")
    if mixes_heads(measure):
        notes.append(f"{mixing_note(measure)} The Head slider and “All heads of the layer” do not apply here.")
    if notes:
        st.caption(" ".join(notes))
    export_buttons(lambda: arcs(shown.title).svg, stem + "_arcs", key="arcs", svg_native=True)
    whole = data.get_run(view.model, s.run_key())  # here: the file is made on click, in a thread with no page
    html_button(lambda: View(whole, measure=measure, level=s.level, drop_special=s.hide_special, top_k=top_k or None,
                             layer=s.layer, head="all" if drawn.all_heads else drawn.head).html(),
                stem, key="explorer")  # every layer and head, in one file (attnviz.html_view)


def _heatmap_column(shown: controls.View, drawn: ViewState, run, matrix, stem: str) -> None:
    """The heatmap of the head drawn (or of the layer's mean over its heads) and its downloads."""
    measure, layer, head = drawn.measure, drawn.layer - 1, drawn.head - 1
    st.subheader(f"Heatmap, {measure_title(measure, drawn.layer)}" if mixes_heads(measure) else
                 f"Heatmap, head {head_label(layer, head)}" if not drawn.all_heads else
                 f"Heatmap, layer {drawn.layer} (mean of heads)")
    svg_heatmap = n_tokens <= figures.MAX_TICKS  # an SVG swaps in ms; plotly's zoom for longer inputs
    if svg_heatmap:
        heatmap_view(_heatmap_svg(matrix, run.tokens, drawn, shown.short_title), key="explorer_heatmap")
    else:
        chart(_heatmap(matrix, run.tokens, drawn, shown.short_title), key="explorer_heatmap")
        st.caption(f"{n_tokens} tokens: drag a box on the heatmap to zoom in and label every token; double-click to zoom out.")

    def heatmap_for_export():
        if svg_heatmap:
            return figures.heatmap_svg(matrix, run.tokens, run.tokens, title=shown.title, colorbar_label=colorbar_label(measure))
        return figures.heatmap(matrix, run.tokens, run.tokens, title=shown.title, value_label=value_label(measure),
                               colorbar_label=colorbar_label(measure))

    export_buttons(heatmap_for_export, stem + "_heatmap", key="heatmap", svg_native=svg_heatmap,
                   matrix=matrix, query_tokens=run.tokens, key_tokens=run.tokens)


def _layer_section(s: ViewState, run, matrix) -> None:
    """The statistics of the layer's heads (or of the layer's map) and, opened, each token's strongest links."""
    measure, layer, mixed = s.measure, s.layer - 1, mixes_heads(s.measure)
    st.subheader(measure_title(measure, s.layer).capitalize() if mixed else
                 f"Heads of layer {s.layer}" + (f", {name(measure)}" if name(measure) else ""))
    # rollout and flow: the runs are keyed by the layer for flow (computed per layer), not for the others
    run_key = s.run_key()
    stats = with_rest_patterns(get_stats(run, run_key), run, run_key)
    stats = stats[stats["layer"] == layer]
    if mixed:
        stats = stats.assign(label=f"L{s.layer}")
    head_stats_table(stats, key="explorer_stats", label="layer" if mixed else "head")
    # each token's strongest links as a table: drawn only while opened (a data grid costs the browser
    # ~40 ms on every head change, measured with benchmarks/bench_latency.py)
    links_box = st.expander("Strongest links, as a table", key="explorer_links_open", on_change="rerun")
    if links_box.open:
        with links_box:
            st.caption(f"Each token's three {'most-attended tokens' if measure == 'attention' else 'strongest links (' + value_label(measure) + ')'}"
                       + (" it may see (the look-ahead mask hides later ones)" if s.causal else "") + ".")
            st.dataframe(top_links(matrix, run.tokens, mask=run.mask), key="explorer_links", hide_index=True,
                         column_config={f"#{r} weight": st.column_config.NumberColumn(
                             f"#{r} {colorbar_label(measure)}", format="%.3f") for r in (1, 2, 3)})


@st.fragment
def head_views() -> None:
    """Layer, head and everything they change: arcs, heatmap, the layer's table, "switch this head off".

    A fragment: a new layer, head or view option reruns only this, not the sentence box, the model
    or the ranking below (the run and every measure of it are cached)."""
    shown = view
    if view.head_controls_in_page:
        controls.head_controls(view.model, *st.columns([3, 3, 2], vertical_alignment="bottom"))
        shown = view.refreshed()
    shown, run = controls.measured(shown, weights_run)  # the chosen measure (or weights, with an info saying why)
    s = shown.state
    mixed = mixes_heads(s.measure)  # rollout and flow: one map per layer (index 0); head and overlay do not apply
    all_heads = s.all_heads and not mixed
    layer, head = s.layer - 1, 0 if mixed else s.head - 1
    drawn = replace(s.without_qk(), head=head + 1, all_heads=all_heads)  # the view as drawn: the key of its figures
    weights = run.attention[layer, list(range(run.n_heads)) if all_heads else [head]]  # (heads shown, query, key)
    stem = file_stem(s.model.split("/")[-1], file_tag(s.measure), f"L{s.layer}",
                     "" if mixed else "all-heads" if all_heads else f"H{s.head}", "masked" if s.causal else "unmasked", s.level)
    long_input = figures.auto_layout(run.tokens) == "columns"
    left, right = st.columns([2, 3] if long_input else [1, 1], gap="large")
    with left:
        _links_column(shown, drawn, run, weights, stem)
    matrix = weights[0] if not all_heads else weights.mean(axis=0)
    with right:
        _heatmap_column(shown, drawn, run, matrix, stem)
    qk_view(view.model, s)  # why this head attends: one query's logits term by term (drawn only while opened)
    _layer_section(s, run, matrix)
    if not mixed and not all_heads:  # "switch this head off": the model again without it (components/head_off.py)
        head_off_view(view.model, weights_run, layer, head, key="explorer_head_off")
    controls.write_url()

head_views()

st.subheader("Which heads link two tokens")
st.caption("Different heads follow different links: pick a token and one it may attend to, and see every head of "
           "the model ranked by that link. Click a row to show that head above."
           + (f" Ranked by attention weights: {the_mixing_ones()} mix the heads." if mixes_heads(view.state.measure) else
              f" Ranked by {noun(view.state.measure)}." if name(view.state.measure) else ""))
# ranked by each head's measure (value-weighted...), else its weights (rollout and flow mix the heads)
ranked_view, ranked = (controls.measured(view, weights_run, quiet=True)
                       if name(view.state.measure) and not mixes_heads(view.state.measure) else (view, weights_run))
if (picked := heads_linking_view(ranked, key="link", value_label=value_label(ranked_view.state.measure))) is not None:
    st.session_state[keys.SCROLL_ARCS] = st.session_state.get(keys.SCROLL_COUNT, 0) + 1
    st.session_state[keys.SCROLL_COUNT] = st.session_state[keys.SCROLL_ARCS]
    controls.open_in_explorer(*picked)

with strip_slot:
    if (clicked := head_strip(view.state, weights_run)) is not None:
        controls.open_in_explorer(*clicked)

controls.write_url()
