"""Which heads link two tokens: pick a token and another, see every head ranked by that link."""

from __future__ import annotations

import streamlit as st

from attnviz import Run
from attnviz.stats import heads_linking
from components import session_keys as keys

_COLUMNS = {
    "label": st.column_config.TextColumn("head", help="layer-head, 1-based"),
    "weight": st.column_config.ProgressColumn("attention", min_value=0.0, max_value=1.0, format="%.3f"),
    "rank": st.column_config.NumberColumn(
        "rank", help="1 = the most-attended token of the first one in this head; 2 = one token gets more; …"),
}
#: The query parameters that carry the chosen pair (token positions, 0-based as in the pickers).
URL_FROM, URL_TO = "from", "to"


def allowed_keys(run: Run, query: int) -> list[int]:
    """The positions ``query`` may attend to in this run (all of them, or up to itself under the mask)."""
    n = len(run.tokens)
    if run.mask is None:
        return list(range(n))
    allowed = [k for k in range(n) if bool(run.mask[query, k])]
    return allowed or [query]


def _from_url(link: dict, name: str, options: list[int]) -> int | None:
    """``link``'s value of ``name`` if it is one of ``options``."""
    raw = link.get(name)
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value in options else None


def heads_linking_view(run: Run, key: str, shown: int = 12, value_label: str = "attention") -> tuple[int, int] | None:
    """Two token pickers and the heads ranked by how much the first attends to the second.

    The defaults are the middle word and the last word it may attend to (in the default sentence,
    "makes" and "difficult"; under the look-ahead mask only earlier tokens are offered). The pair
    is written to the URL (``from``, ``to``). Returns the 1-based (layer, head) of a row the
    person just clicked, else None: the table is a new widget for every pair, so changing the pair
    clears the selection instead of replaying it as a click on the new ranking. ``value_label`` names
    the ranked value (e.g. "value-weighted share" when ``run`` holds that measure).
    """
    n = len(run.tokens)
    real = [i for i in range(n) if not run.special[i]] or list(range(n))
    label = lambda i: f"{i}: {run.tokens[i]}"  # noqa: E731 - plain text in a selectbox, never Markdown
    k_from, k_to = f"{key}_from", f"{key}_to"
    options = list(range(n))
    default_from = real[(len(real) - 1) // 2]
    # a pair names positions: new tokens (sentence, level, special tokens) start again from the defaults,
    # except on the first run, where the link the session was opened with may name the pair (read from
    # the link as it came: the page's fragment may already have rewritten the address)
    seen = keys.tokens_seen(key)
    link = st.session_state.get(keys.URL_SEED, {}) if seen not in st.session_state else {}
    if st.session_state.get(seen) != run.tokens:
        st.session_state[seen] = run.tokens
        for k in (k_from, k_to):
            st.session_state.pop(k, None)
    if st.session_state.get(k_from) not in options:
        st.session_state[k_from] = _from_url(link, URL_FROM, options)
        if st.session_state[k_from] is None:
            st.session_state[k_from] = default_from
    left, right = st.columns(2)
    query = left.selectbox("From (attending)", options, format_func=label, key=k_from)
    targets = allowed_keys(run, query)
    default_to = ([k for k in targets if k in real and k != query] or targets)[-1]
    if st.session_state.get(k_to) not in targets:
        from_url = _from_url(link, URL_TO, targets)
        st.session_state[k_to] = from_url if from_url is not None else default_to
    target = right.selectbox("To (attended to)", targets, format_func=label, key=k_to,
                             help="Under the look-ahead mask a token may attend only to itself and earlier tokens.")
    if (query, target) != (default_from, default_to):  # like every parameter: only when not the default
        st.session_state[keys.URL_EXTRA] = {URL_FROM: str(query), URL_TO: str(target)}
    table = heads_linking(run.attention, query, target)
    columns = {**_COLUMNS, "weight": st.column_config.ProgressColumn(value_label, min_value=0.0, max_value=1.0, format="%.3f")}
    event = st.dataframe(table.drop(columns=["layer", "head"]).head(shown), key=f"{key}_table_{query}_{target}",
                         hide_index=True, on_select="rerun", selection_mode="single-row", column_config=columns)
    rows = event.selection.rows if event else []
    picked = (query, target, rows[0]) if rows else None
    if picked is None or st.session_state.get(keys.click_handled(key)) == picked:
        return None  # nothing clicked, or a click already acted on (the selection stays on later reruns)
    st.session_state[keys.click_handled(key)] = picked
    row = table.iloc[rows[0]]
    return int(row["layer"]) + 1, int(row["head"]) + 1
