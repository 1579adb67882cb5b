""""Switch this head off": run the text again without one head and show what changes
(``attnviz.ablation.head_effect``). The explorer shows it under a single head's views:

    head_off_view(model, run, layer, head, key="explorer_head_off")
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import EmptyInputError, LoadedModel, Run, UnsupportedModelError, head_label
from attnviz.ablation import HeadEffect, has_lm_head, head_effect, mask_token_id, token_label

MODES = {"zero": "zero (nothing)", "mean": "its average over the text"}


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Running the model with the head on and off…")
def cached_effect(_model: LoadedModel, model_name: str, text: str, heads: tuple[tuple[int, int], ...], mode: str) -> HeadEffect:
    """``head_effect`` per (model name, text, heads, mode); ``_model`` is not hashed (``model_name`` keys it).
    Errors are not cached: they are raised again on the next call."""
    return head_effect(_model, text, heads, mode)


def predictions_table(effect: HeadEffect) -> pd.DataFrame:
    """One row per rank and masked position: the top tokens with the head on and off (plain text)."""
    rows = []
    for p in effect.predictions:
        for rank, ((on, p_on), (off, p_off)) in enumerate(zip(p.top, p.top_off), start=1):
            rows.append({"position": f"{p.position}: {p.word}", "rank": rank, "head on": on, "p (on)": p_on,
                         "head off": off, "p (off)": p_off})
    return pd.DataFrame(rows, columns=["position", "rank", "head on", "p (on)", "head off", "p (off)"])


def change_table(effect: HeadEffect) -> pd.DataFrame:
    """One row per token: how much its final output vector moved, ‖Δh‖ / ‖h‖."""
    return pd.DataFrame({"position": np.arange(len(effect.tokens)), "token": effect.tokens,
                         "change": effect.change.astype(float)})


def head_off_view(model: LoadedModel, run: Run, layer: int, head: int, key: str) -> None:
    """A toggle "Switch head L-H off" (the model runs again only while it is on): a zero / mean choice, then for a model with a masked-word head
    the top predictions at each masked position with the head on and off, otherwise the change of each
    token's output vector. Problems are shown as messages (``st.info`` / ``st.warning``), never tracebacks."""
    on = st.toggle(f"Switch head {head_label(layer, head)} off", key=f"{key}-on",
                   help="Runs the model again without this head (two more forward passes, only while this is on).")
    if not on:
        return
    with st.container(border=True):
        st.caption("Switching a head off replaces what it hands on (its share of the layer's output) by zero or by its "
                   "average over the text, and runs the model again: what changes is what this head contributed.")
        mode = st.radio("Replace the head's output by", list(MODES), format_func=MODES.get, horizontal=True,
                        key=f"{key}-mode")
        try:
            effect = cached_effect(model, model.name, run.text, ((int(layer), int(head)),), mode)
        except UnsupportedModelError as exc:
            st.warning(f"This model's heads cannot be switched off: {exc}")
            return
        except EmptyInputError as exc:
            st.info(str(exc))
            return
        except ValueError as exc:
            st.warning(str(exc))
            return
        if effect.predictions:
            st.dataframe(
                predictions_table(effect), key=f"{key}-predictions", hide_index=True, width="stretch",
                column_config={
                    "position": st.column_config.TextColumn("masked position", help="token position: the token in the text"),
                    "head on": st.column_config.TextColumn("with every head"),
                    "p (on)": st.column_config.NumberColumn("p", format="%.3f"),
                    "head off": st.column_config.TextColumn(f"without {head_label(layer, head)}"),
                    "p (off)": st.column_config.NumberColumn("p ", format="%.3f"),
                },
            )
            return
        if has_lm_head(model):
            mask = mask_token_id(model)
            if mask is not None:
                st.info(f"Type {token_label(model, mask)} in the text where the model should fill in a word, to see its "
                        "predictions with and without this head. Below: how much each token's output changes.")
        table = change_table(effect)
        st.dataframe(
            table, key=f"{key}-change", hide_index=True, width="stretch",
            column_config={
                "position": st.column_config.NumberColumn("position"),
                "token": st.column_config.TextColumn("token"),
                "change": st.column_config.ProgressColumn(
                    "change of the output vector", help="‖h_off − h_on‖ ÷ ‖h_on‖ of the token's final vector",
                    format="%.3f", min_value=0.0, max_value=max(float(table["change"].max()), 1e-9)),
            },
        )
