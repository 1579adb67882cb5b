"""The look-ahead mask of a decoder-only model: the model's own, so it cannot be turned off.

The sidebar's "Look-ahead mask" toggle adds attnviz's mask to an encoder. A decoder-only
model (GPT-2, Llama, ...) always applies its own: for it the toggle is forced on and
disabled (``locked_mask``, before the toggle exists; ``mask_locked`` for its ``disabled=``), with a
note saying why (``mask_note``). Leaving a decoder puts back the value the toggle had before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components import session_keys as keys

if TYPE_CHECKING:  # the first screen is drawn before torch is imported (components.startup)
    from attnviz import LoadedModel


def mask_locked(model: LoadedModel) -> bool:
    return model.kind == "decoder"


def locked_mask(model: LoadedModel) -> bool | None:
    """The value the mask must take for ``model`` (``controls.settle`` writes it): on for a decoder-only model,
    the person's choice again after leaving one; None: leave it as it is."""
    ss = st.session_state
    if mask_locked(model):
        if not ss.get(keys.MASK_LOCKED):
            ss[keys.MASK_BEFORE] = bool(ss.get(keys.CAUSAL, False))
        ss[keys.MASK_LOCKED] = True
        return True
    if ss.pop(keys.MASK_LOCKED, False):
        return ss.pop(keys.MASK_BEFORE, False)
    return None


def mask_note(container, model: LoadedModel) -> None:
    if mask_locked(model):
        container.caption("This is a decoder-only model: it always hides later tokens with its own look-ahead "
                          "mask, so the mask is on and cannot be turned off.")
