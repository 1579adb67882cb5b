"""How the pages name the measure they show: every word comes from its ``attnviz.measures.Measure``.

The measure itself is a field of the view (``ViewState.measure``, URL ``measure=``); the sidebar's
choice is ``controls.measure_control`` and the derived runs are ``data.get_measured`` / ``data.get_view``.
Attention weights, the default, keep the titles and file names they always had (their ``name`` is "").
A measure registered with ``attnviz.measures.register`` is shown by every page with its own words.
"""

from __future__ import annotations

from attnviz.measures import MEASURES


def mixes_heads(measure: str) -> bool:
    """Rollout and flow combine every head of the layers: one map per layer, no head to pick."""
    return not MEASURES[measure].per_head


def by_layer(measure: str) -> bool:
    """Flow is computed one layer at a time: its runs and statistics are keyed by the layer too."""
    return MEASURES[measure].by_layer


def noun(measure: str) -> str:
    """The measure's name in a sentence: "attention weights", "value-weighted attention", "attention rollout"..."""
    return MEASURES[measure].noun or MEASURES[measure].label


def name(measure: str) -> str:
    """The measure's short name in titles ("value-weighted", "rollout"); "" for attention weights."""
    return MEASURES[measure].name


def title(measure: str, layer: int) -> str:
    """What a plot of ``layer`` (1-based) shows, for its title; "" for attention weights."""
    return MEASURES[measure].title(layer)


def file_tag(measure: str) -> str:
    """The measure's part of an export's file name; "" for attention weights (names unchanged)."""
    return MEASURES[measure].name


def value_label(measure: str) -> str:
    """The name of a cell's value on hover and in tables."""
    return MEASURES[measure].value_label or MEASURES[measure].name


def colorbar_label(measure: str) -> str:
    return MEASURES[measure].colorbar_label or MEASURES[measure].name


def described(measure: str) -> str:
    """The measure named and explained: "Value-weighted attention. ‖α_ij f_h(x_j)‖: the weight times ..."."""
    return f"{noun(measure).capitalize()}. {MEASURES[measure].explanation}"


def mixing_note(measure: str) -> str:
    """For a measure that mixes the heads, what one layer's map holds: "Rollout: the attention of every head ..."."""
    m = MEASURES[measure]
    return f"{m.name.capitalize()}: {m.mixes}." if m.mixes else f"{m.name.capitalize()} mixes every head of the layers."


def the_mixing_ones() -> str:
    """The short names of the measures that mix the heads, in a sentence: "rollout and flow"."""
    names = [m.name for m in MEASURES.values() if not m.per_head]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
