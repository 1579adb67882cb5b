"""Tables shown in the app, with readable headers (attnviz's DataFrames keep their plain names)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

_HEAD_STATS = {
    "label": st.column_config.TextColumn("head", help="layer-head, 1-based (3-1 = layer 3, head 1)"),
    "entropy": st.column_config.NumberColumn("entropy (bits)", help="mean over rows of -Σ a·log2 a", format="%.2f"),
    "entropy_norm": st.column_config.NumberColumn(
        "spread", help="entropy ÷ log2(keys a row may see): 1 = uniform, 0 = one key", format="%.2f"),
    "mean_distance": st.column_config.NumberColumn(
        "mean distance", help="attention-weighted |query - key|, in positions", format="%.1f"),
    "special": st.column_config.NumberColumn("on [CLS]/[SEP]", help="share of attention on special tokens", format="%.2f"),
    "previous": st.column_config.NumberColumn("on previous", help="share on the previous token", format="%.2f"),
    "next": st.column_config.NumberColumn("on next", help="share on the next token", format="%.2f"),
    "self": st.column_config.NumberColumn("on itself", help="share on the token itself", format="%.2f"),
    "pattern": st.column_config.TextColumn("pattern", help="the dominant share (≥ 0.5), else broad (spread > 0.8) or other"),
}


def head_stats_table(stats: pd.DataFrame, key: str) -> None:
    """``attnviz.stats.head_stats`` rows as a table: 1-based "layer-head" labels only, readable headers."""
    st.dataframe(stats.drop(columns=["layer", "head"]), key=key, hide_index=True, column_config=_HEAD_STATS)
