"""How attnviz names an attention head: "layer-head", 1-based, as in Clark et al. (2019).

    head_label(2, 0)   # "3-1": layer 3, head 1 (arguments are 0-based)
"""

from __future__ import annotations


def head_label(layer: int, head: int) -> str:
    """0-based (layer, head) -> the 1-based label "layer-head"."""
    return f"{int(layer) + 1}-{int(head) + 1}"
