"""Tables shown in the app, with readable headers (attnviz's DataFrames keep their plain names)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from attnviz import Run
from attnviz.stats import head_stats, rest_patterns
from components.state import RunKey

_HEAD_STATS = {
    "label": st.column_config.TextColumn("head", help="layer-head, 1-based (3-1 = layer 3, head 1)", width=48),
    "pattern": st.column_config.TextColumn("pattern", help="the dominant share (≥ 0.5), else broad (spread > 0.8) or other"),
    "rest": st.column_config.TextColumn(
        "apart from [CLS]/[SEP]", help="the pattern of the attention left when [CLS]/[SEP] are dropped and each row "
        "renormalised: what a sink head does with the rest of its attention"),
    "special": st.column_config.NumberColumn("on [CLS]/[SEP]", help="share of attention on special tokens", format="%.2f"),
    "previous": st.column_config.NumberColumn("on previous", help="share on the previous token", format="%.2f"),
    "next": st.column_config.NumberColumn("on next", help="share on the next token", format="%.2f"),
    "self": st.column_config.NumberColumn("on itself", help="share on the token itself", format="%.2f"),
    "entropy": st.column_config.NumberColumn("entropy (bits)", help="mean over rows of -Σ a·log2 a", format="%.2f"),
    "entropy_norm": st.column_config.NumberColumn(
        "spread", help="entropy ÷ log2(keys a row may see): 1 = uniform, 0 = one key", format="%.2f"),
    "mean_distance": st.column_config.NumberColumn(
        "mean distance", help="attention-weighted |query - key|, in positions", format="%.1f"),
}
ROW_PX = 35  # st.dataframe's row height


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def get_stats(_run: Run, key: RunKey):
    """Per-head statistics and pattern labels for every head of ``_run``, the view of ``key`` (a pandas DataFrame;
    a small table, so each caller gets its own copy, unlike the shared runs). The measure and its layer (flow)
    are part of the key: the statistics of value-weighted attention are not those of the weights."""
    return head_stats(_run.attention, _run.special, _run.mask)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _rest(_run: Run, run_key: RunKey) -> list[str]:
    return rest_patterns(_run.attention, _run.special, _run.mask, tokens=_run.tokens).reshape(-1).tolist()


def with_rest_patterns(stats: pd.DataFrame, run: Run, run_key: RunKey) -> pd.DataFrame:
    """``stats`` (every head of ``run``, layer-major) with a ``rest`` column: ``attnviz.stats.rest_patterns``,
    cached per ``run_key`` (what identifies the run: ``components.state.RunKey``)."""
    return stats.assign(rest=_rest(run, run_key)[: len(stats)])


def head_stats_table(stats: pd.DataFrame, key: str, max_rows: int = 16, label: str = "head") -> None:
    """``attnviz.stats.head_stats`` rows as a table: 1-based "layer-head" labels only, readable headers,
    the labels first, every column and (up to ``max_rows``) every row in view without scrolling.
    ``label``: the first column's header ("layer" for a measure with one map per layer, labelled "L3")."""
    shown = stats.drop(columns=["layer", "head"])
    order = [c for c in _HEAD_STATS if c in shown.columns]
    height = ROW_PX * (min(len(shown), max_rows) + 1) + 3
    config = _HEAD_STATS if label == "head" else {
        **_HEAD_STATS, "label": st.column_config.TextColumn(label, help="the map of layer N (1-based): every head mixed", width=48)}
    st.dataframe(shown[order], key=key, hide_index=True, column_config=config, width="stretch", height=height)
