"""The look-ahead mask of a decoder-only model: the model's own, so it cannot be turned off.

The sidebar's "Look-ahead mask" toggle adds attnviz's mask to an encoder. A decoder-only
model (GPT-2, Llama, ...) always applies its own: for it the toggle is forced on and
disabled (``lock_mask``, before the toggle exists; ``mask_locked`` for its ``disabled=``), with a
note saying why (``mask_note``). Leaving a decoder puts back the value the toggle had before.
"""

from __future__ import annotations

import streamlit as st

from attnviz import LoadedModel

_LOCKED = "_mask_locked"
_BEFORE = "_mask_before_lock"


def mask_locked(model: LoadedModel) -> bool:
    return model.kind == "decoder"


def lock_mask(model: LoadedModel) -> None:
    """Force the mask on for a decoder-only model; restore the person's choice after leaving one."""
    if mask_locked(model):
        if not st.session_state.get(_LOCKED):
            st.session_state[_BEFORE] = bool(st.session_state.get("causal", False))
        st.session_state[_LOCKED] = True
        st.session_state["causal"] = True
    elif st.session_state.pop(_LOCKED, False):
        st.session_state["causal"] = st.session_state.pop(_BEFORE, False)


def mask_note(container, model: LoadedModel) -> None:
    if mask_locked(model):
        container.caption("This is a decoder-only model: it always hides later tokens with its own look-ahead "
                          "mask, so the mask is on and cannot be turned off.")
