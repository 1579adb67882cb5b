"""Measures beyond raw attention weights, computed from one captured run (no second model run).

    value_weighted(run)         ‖α_ij f_h(x_j)‖ per head (Kobayashi et al. 2020)
    rollout(run.attention)      attention rollout through layers 0..l (Abnar & Zuidema 2020)
    flow(run.attention, layer)  attention flow to ``layer`` (Abnar & Zuidema 2020), short inputs only
    measure_run(run, "value")   the run with its attention replaced by a measure, for every view
    MEASURES, register(Measure(...))   every measure the app offers, with all the words it shows about it

Value-weighted attention scales each weight by the size of the vector the head actually adds
for that key, f_h(x_j) = (x_j W_V^h + b_V^h) W_O^h: a head may put most of its weight on [SEP]
and still add almost nothing from it. Rollout and flow follow how information moves through
the layers: each layer's attention is averaged over heads and the residual connection added,
Â = 0.5 A + 0.5 I with rows renormalised; rollout multiplies these matrices, flow treats them as
the capacities of a layered graph and asks how much can flow from each input to each position
(a maximum flow per pair, solved by SciPy's ``scipy.sparse.csgraph.maximum_flow``, Dinic's
algorithm, on capacities scaled to integers (1e-7 resolution); it grows with the square of the
length, so ``flow`` refuses inputs longer than ``FLOW_MAX_TOKENS``).

``measure_run`` gives every view (arcs, heatmaps, the grid, statistics) a measure in the shape
of attention: rows of the value-weighted matrix are normalised to sum to 1 (the share of the
row's total), and rollout and flow have one "head" per layer (they mix all heads).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from attnviz.errors import UnsupportedModelError
from attnviz.run import Run

FLOW_MAX_TOKENS = 32
FLOW_SCALE = 10**7  # capacities (at most 1) become integers up to 1e7: SciPy's maximum flow needs integers


@dataclass(frozen=True)
class Measure:
    """One measure: how it is computed from a captured run, and every word the app and its figures use for it.

    key:            its name in code and in links (``measure=``)
    label:          the menu's label
    explanation:    one line under the menu, with ``paper`` linked to ``url``
    compute:        ``compute(run, layer)`` -> ``[layers, heads (1 if not per_head), query, key]`` from a
                    token-level run, each row summing to 1; ``layer`` (0-based) is given only when ``by_layer``
                    (None: every layer). None: the run's attention weights themselves
    per_head:       False for a measure that mixes every head of the layers (one map per layer)
    by_layer:       computed one layer at a time (costly): ``measure_run`` needs the layer, caches key by it
    name:           its short name in titles and file names ("" for the weights, which are never named)
    noun:           its name in a sentence ("value-weighted attention")
    value_label:    a cell's value on hover and in tables
    colorbar_label: the colour bar's title
    layer_title:    what one layer's map shows, for a measure that mixes the heads ("rollout up to layer {layer}")
    mixes:          how such a map mixes the heads (after "rollout: ")
    """

    key: str
    label: str
    explanation: str
    paper: str
    url: str
    compute: Callable[[Run, int | None], np.ndarray] | None = None
    per_head: bool = True
    by_layer: bool = False
    name: str = ""
    noun: str = ""
    value_label: str = ""
    colorbar_label: str = ""
    layer_title: str = ""
    mixes: str = ""

    def title(self, layer: int) -> str:
        """What a plot of ``layer`` (1-based) shows, for its title: the short name ("" for the weights), or,
        for a measure that mixes the heads, what that layer's map holds."""
        if self.per_head:
            return self.name
        return (self.layer_title or f"{self.name} up to layer {{layer}}").format(layer=layer)


class MeasureUnavailableError(UnsupportedModelError):
    """A measure cannot be computed for this run (no value norms, or too long for flow)."""


def value_weighted(run: Run, normalise: bool = False) -> np.ndarray:
    """‖α_ij f_h(x_j)‖ = α_ij ‖f_h(x_j)‖, ``[layers, heads, query, key]``, from the token-level run's
    weights and value norms (recorded in the same pass). ``normalise``: each row divided by its sum."""
    if run.value_norms is None:
        why = run.meta.get("values_missing") or "the run has no value norms (a word-level view: use the token-level run)"
        raise MeasureUnavailableError(f"value-weighted attention is not available: {why}")
    weighted = run.attention * run.value_norms[:, :, None, :]
    return _rows_to_one(weighted) if normalise else weighted.astype(np.float32)


def _rows_to_one(a: np.ndarray) -> np.ndarray:
    sums = a.sum(-1, keepdims=True)
    return np.divide(a, sums, out=np.zeros_like(a, dtype=np.float32), where=sums > 0).astype(np.float32)


def with_residual(attention: np.ndarray) -> np.ndarray:
    """Â = 0.5 mean_h(A) + 0.5 I, rows renormalised: ``[layers, heads, n, n]`` -> ``[layers, n, n]``."""
    a = attention.mean(axis=1)
    n = a.shape[-1]
    return _rows_to_one(0.5 * a + 0.5 * np.eye(n, dtype=a.dtype))


def rollout(attention: np.ndarray) -> np.ndarray:
    """Attention rollout: R_l = Â_l R_(l-1), R_0 = Â_0; ``[layers, heads, n, n]`` -> ``[layers, n, n]``.
    Row i of R_l: how much of each input token position i holds after layer l."""
    steps = with_residual(attention.astype(np.float64))
    out = np.empty_like(steps)
    current = np.eye(steps.shape[-1])
    for layer, a in enumerate(steps):
        current = a @ current
        out[layer] = current
    return out.astype(np.float32)


def flow_graph(attention: np.ndarray, layer: int) -> np.ndarray:
    """The layered graph of layers 0..``layer`` as a capacity matrix: node k * n + p is position p
    before layer k (k = 0: the inputs); the edge from (k + 1, i) to (k, j) has capacity Â_k[i, j]."""
    steps = with_residual(attention[: layer + 1].astype(np.float64))
    n = steps.shape[-1]
    capacity = np.zeros(((layer + 2) * n, (layer + 2) * n))
    for k, a in enumerate(steps):
        capacity[(k + 1) * n:(k + 2) * n, k * n:(k + 1) * n] = a
    return capacity


def flow(attention: np.ndarray, layer: int, max_tokens: int = FLOW_MAX_TOKENS, rows: Sequence[int] | None = None) -> np.ndarray:
    """Attention flow to ``layer`` (0-based): ``[n, n]``, entry (i, j) the maximum flow from position i
    after ``layer`` to input token j (Abnar & Zuidema 2020). Raises for inputs over ``max_tokens``.
    ``rows``: compute only these positions' rows (n maximum flows each); the other rows stay 0."""
    n = attention.shape[-1]
    if n > max_tokens:
        raise MeasureUnavailableError(
            f"attention flow is limited to {max_tokens} tokens (this input has {n}): it solves a maximum-flow "
            "problem per pair of tokens; use rollout for longer inputs")
    # SciPy is imported here, by its one user: its sparse graphs take ~0.1 s to import, and this module's
    # measure names are on the app's first screen, drawn before anything heavy loads (components/startup.py)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    graph = csr_matrix(np.round(flow_graph(attention, layer) * FLOW_SCALE).astype(np.int32))
    top = (layer + 1) * n
    out = np.zeros((n, n), dtype=np.float32)
    for i in range(n) if rows is None else rows:
        for j in range(n):
            out[i, j] = maximum_flow(graph, top + i, j, method="dinic").flow_value / FLOW_SCALE
    return out


def _flow_layers(run: Run, layer: int | None) -> np.ndarray:
    """Flow to ``layer`` in the shape of attention (the other layers zero), or to every layer (None)."""
    attention = np.zeros((run.n_layers, 1, run.n_tokens, run.n_tokens), dtype=np.float32)
    for k in range(run.n_layers) if layer is None else [layer]:
        attention[k, 0] = _rows_to_one(flow(run.attention, k))
    return attention


#: Every measure the app offers, by key, in the menu's order (``register`` adds one).
MEASURES: dict[str, Measure] = {}


def register(measure: Measure) -> Measure:
    """Add ``measure`` to ``MEASURES``: the app's menu, links, titles and file names then offer it."""
    if measure.key in MEASURES:
        raise ValueError(f"a measure named {measure.key!r} is registered already")
    if measure.compute is None and MEASURES:
        raise ValueError(f"{measure.key!r} needs a compute function (only the attention weights have none)")
    MEASURES[measure.key] = measure
    return measure


register(Measure("attention", "attention weights", "The softmax weights α_ij each head computed: where it looks.",
                 "Vaswani et al. 2017", "https://arxiv.org/abs/1706.03762",
                 noun="attention weights", value_label="attention", colorbar_label="weight"))
register(Measure("value", "value-weighted", "‖α_ij f_h(x_j)‖: the weight times the size of the vector the head adds from "
                 "that token, shown as each row's share; small where a head looks at [CLS]/[SEP] but adds little.",
                 "Kobayashi et al. 2020", "https://arxiv.org/abs/2004.10102",
                 compute=lambda run, layer: value_weighted(run, normalise=True),
                 name="value-weighted", noun="value-weighted attention", value_label="value-weighted share",
                 colorbar_label="share"))
register(Measure("rollout", "rollout (up to this layer)", "Attention of every head and layer up to this one, multiplied "
                 "through the residual connections (0.5 A + 0.5 I): which input tokens each position mixes in.",
                 "Abnar & Zuidema 2020", "https://arxiv.org/abs/2005.00928",
                 compute=lambda run, layer: rollout(run.attention)[:, None], per_head=False,
                 name="rollout", noun="attention rollout", value_label="rollout", colorbar_label="rollout",
                 layer_title="rollout up to layer {layer}",
                 mixes="the attention of every head and layer up to this one, multiplied through the residual connections"))
register(Measure("flow", f"flow (up to {FLOW_MAX_TOKENS} tokens)", "The maximum flow from each input token to each position "
                 "through the layers' attention graph (0.5 A + 0.5 I as capacities); slow, so for short inputs only.",
                 "Abnar & Zuidema 2020", "https://arxiv.org/abs/2005.00928",
                 compute=_flow_layers, per_head=False, by_layer=True,
                 name="flow", noun="attention flow", value_label="flow", colorbar_label="flow",
                 layer_title="flow to layer {layer}", mixes="the maximum flow through every head and layer up to this one"))


def measure_run(run: Run, measure: str, layer: int | None = None, all_layers: bool = False) -> Run:
    """``run`` (token level) with ``attention`` replaced by ``measure`` (a key of ``MEASURES``), so
    that ``.view()`` and every figure work unchanged.

    "value": ``[layers, heads, n, n]``, each row the share of its total; "rollout": ``[layers, 1, n, n]``;
    "flow" (``by_layer``): ``[layers, 1, n, n]`` with only ``layer`` computed (the others zero: flow costs
    a maximum flow per pair), or every layer with ``all_layers=True`` (about the number of layers times
    one layer's time), each row normalised to sum to 1.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    m = MEASURES[measure]
    if m.compute is None:
        return run
    if run.level != "token" or run.specials_removed:
        raise ValueError("measures are computed on the token-level run with its special tokens (then use .view())")
    if m.by_layer and layer is None and not all_layers:
        raise ValueError(f"{m.key!r} is computed one layer at a time: give the layer (or all_layers=True)")
    attention = m.compute(run, None if all_layers or not m.by_layer else layer)
    return replace(run, attention=attention, value_norms=None, meta={**run.meta, "measure": measure})
