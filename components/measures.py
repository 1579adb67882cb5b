"""How the pages name the measure they show (``attnviz.measures``): titles, hover labels, file names.

The measure itself is a field of the view (``ViewState.measure``, URL ``measure=``); the sidebar's
choice is ``controls.measure_control`` and the derived runs are ``data.get_measured`` / ``data.get_view``.
Attention weights, the default, keep the titles and file names they always had.
"""

from __future__ import annotations

from attnviz.measures import FLOW_MAX_TOKENS, MEASURES

__all__ = ["FLOW_MAX_TOKENS", "MEASURES", "colorbar_label", "file_tag", "mixes_heads", "noun", "title", "value_label"]


def mixes_heads(measure: str) -> bool:
    """Rollout and flow combine every head of the layers: one map per layer, no head to pick."""
    return not MEASURES[measure].per_head


def noun(measure: str) -> str:
    """The measure's name in a sentence: "attention weights", "value-weighted attention", "attention rollout"..."""
    return {"attention": "attention weights", "value": "value-weighted attention", "rollout": "attention rollout",
            "flow": "attention flow"}[measure]


def title(measure: str, layer: int) -> str:
    """What a plot of ``layer`` (1-based) shows, for its title; "" for attention weights."""
    return {"attention": "", "value": "value-weighted", "rollout": f"rollout up to layer {layer}",
            "flow": f"flow to layer {layer}"}[measure]


def file_tag(measure: str) -> str:
    """The measure's part of an export's file name; "" for attention weights (names unchanged)."""
    return "" if measure == "attention" else MEASURES[measure].label.split(" ")[0]


def value_label(measure: str) -> str:
    """The name of a cell's value on hover and in tables."""
    return {"attention": "attention", "value": "value-weighted share", "rollout": "rollout", "flow": "flow"}[measure]


def colorbar_label(measure: str) -> str:
    return {"attention": "weight", "value": "share", "rollout": "rollout", "flow": "flow"}[measure]
