"""How attnviz names an attention head ("layer-head", 1-based, as in Clark et al. 2019) and the kinds of attention.

    head_label(2, 0)   # "3-1": layer 3, head 1 (arguments are 0-based)
    KINDS              # ("self", "decoder", "cross"): the kinds of attention a run can hold
    kind_label("cross")                # "Cross-attention"
    kind_label("self", seq2seq=False)  # "Self-attention": a model without a decoder of its own
"""

from __future__ import annotations

#: The kinds of attention a run can hold, as attnviz names them everywhere (the hooks, the views, the app):
#: "self" the encoder's (or the only stack's) self-attention, ``Run.attention``; "decoder" an encoder-decoder's
#: masked decoder self-attention, ``Run.decoder_attention``; "cross" its target x source cross-attention,
#: ``Run.cross_attention``.
KINDS = ("self", "decoder", "cross")
#: Each kind's name on screen, for an encoder-decoder (``kind_label``).
KIND_LABELS = {"self": "Encoder self-attention", "decoder": "Decoder self-attention", "cross": "Cross-attention"}


def head_label(layer: int, head: int) -> str:
    """0-based (layer, head) -> the 1-based label "layer-head"."""
    return f"{int(layer) + 1}-{int(head) + 1}"


def kind_label(kind: str, seq2seq: bool = True) -> str:
    """The name of ``kind`` on screen; a model with no decoder of its own (``seq2seq=False``) has only "Self-attention"."""
    return KIND_LABELS[kind] if seq2seq else "Self-attention"
