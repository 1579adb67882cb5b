"""Which heads link two tokens: pick a token and another, see every head ranked by that link."""

from __future__ import annotations

import streamlit as st

from attnviz import Run
from attnviz.stats import heads_linking

_COLUMNS = {
    "label": st.column_config.TextColumn("head", help="layer-head, 1-based"),
    "weight": st.column_config.ProgressColumn("attention", min_value=0.0, max_value=1.0, format="%.3f"),
    "rank": st.column_config.NumberColumn(
        "rank", help="1 = the most-attended token of the first one in this head; 2 = one token gets more; …"),
}


def heads_linking_view(run: Run, key: str, shown: int = 12) -> tuple[int, int] | None:
    """Two token pickers and the heads ranked by how much the first attends to the second.

    The defaults are the middle word and the last word (in the default sentence, "makes" and
    "difficult"). Returns the 1-based (layer, head) of a row the person just clicked, else None.
    """
    n = len(run.tokens)
    real = [i for i in range(n) if not run.special[i]] or list(range(n))
    label = lambda i: f"{i}: {run.tokens[i]}"  # noqa: E731 - plain text in a selectbox, never Markdown
    left, right = st.columns(2)
    query = left.selectbox("From (attending)", range(n), index=real[(len(real) - 1) // 2], format_func=label,
                           key=f"{key}_from")
    target = right.selectbox("To (attended to)", range(n), index=real[-1], format_func=label, key=f"{key}_to")
    table = heads_linking(run.attention, query, target)
    event = st.dataframe(table.drop(columns=["layer", "head"]).head(shown), key=f"{key}_table", hide_index=True,
                         on_select="rerun", selection_mode="single-row", column_config=_COLUMNS)
    rows = event.selection.rows if event else []
    picked = (query, target, rows[0]) if rows else None
    if picked is None or st.session_state.get(f"_{key}_handled") == picked:
        return None  # nothing clicked, or a click already acted on (the selection stays on later reruns)
    st.session_state[f"_{key}_handled"] = picked
    row = table.iloc[rows[0]]
    return int(row["layer"]) + 1, int(row["head"]) + 1
