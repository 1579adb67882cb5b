"""Record the terms of every attention logit with the weights: queries, keys, scale, position terms, mask.

    with attnviz.logits.record_logits(model) as rec:     # ``record``, and the logit terms
        model(**inputs)
    rec.stack("self")                                     # the weights, as ``record`` gives them
    terms = rec.logits["self"]                            # a LogitTerms (attnviz.logit_terms)
    terms.weights(0)                                      # softmax of the terms: the weights of layer 0 again

Opt-in: ``record`` alone keeps none of this (``Recording.logits`` stays empty); ``attnviz.capture(model,
text, qk=True)`` puts the terms of each kind, cut to the row, in ``Run.qk``.

How each family is read is in ``attnviz.logit_readers`` (transformers' attention interface for most
Hugging Face families; hooks for DeBERTa-v2, MPNet, ``nn.MultiheadAttention`` and attnviz's own
transformer). Every call is checked: the first time a site runs in a mode on a model (the key: the site,
its look-ahead, whether its mask hides anything, whether it has position terms, the dtype), softmax of the
terms read must give the weights the module returned, within ``attnviz.checks.tolerance`` (1e-4 in float32;
the tests find 1e-6 or less for every family of docs/reliability.md); a site that fails, or that no reader
can read exactly, raises ``UnsupportedLogitsError`` naming it and saying why, before anything is kept.

Memory, per token and layer: 2 × heads × d_head × 4 bytes (queries and keys, float32; grouped-query keys
once per query head), the mask (1 byte per query x key), and for T5, MPNet and DeBERTa-v2 their position
terms (4 bytes × heads per query x key, as much as the weights). The terms are the model's own tensors
until the block ends, then copied once into numpy arrays.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from torch import Tensor, nn

from attnviz.hooks import Ablation, record
from attnviz.logit_hooks import logit_reader
from attnviz.logit_readers import (
    GENERIC,
    INTERFACE,
    LogitCall,
    LogitReader,
    UnsupportedLogitsError,
    check_call,
    register,
    routed,
    terms_of,
)
from attnviz.recording import ModelState, Recording, model_state
from attnviz.sites import Site


@dataclass
class _Sink:
    """One ``record_logits`` block: each call's terms, checked, in call order per kind (see ``logit_readers.Sink``)."""

    state: ModelState
    causal: bool
    routes: dict[int, Callable] = field(default_factory=dict)
    calls: dict[str, list[LogitCall]] = field(default_factory=lambda: defaultdict(list))
    family: dict[str, str] = field(default_factory=dict)

    def keep(self, site: Site, reader: LogitReader, call: LogitCall, weights: Tensor | None) -> None:
        key = ("logits", site.name, self.causal and site.kind != "cross", not bool(call.mask.all()), call.bias is None,
               None if weights is None else weights.dtype)
        if key not in self.state.checked:
            check_call(site, reader, call, weights)
            self.state.checked.add(key)
        self.calls[site.kind].append(call)
        self.family[site.kind] = reader.name


@contextmanager
def _implementation(model: nn.Module, sites: list[Site]) -> Iterator[None]:
    """The model on attention implementation ``INTERFACE`` for the block (from eager, where ``record`` put it)
    when ``sites`` (those read through transformers' attention interface) are any."""
    if not sites:
        yield
        return
    if not hasattr(model, "set_attn_implementation"):
        raise UnsupportedLogitsError(
            f"{sites[0].where} is read through transformers' attention interface, which only the Hugging Face model "
            f"itself can switch to attnviz's function: record the PreTrainedModel, not the {type(model).__name__} "
            "around it")
    can = getattr(model, "_can_set_attn_implementation", None)  # transformers' own test: does its code call the interface?
    if can is not None and not can():
        raise UnsupportedLogitsError(
            f"{sites[0].where} computes its attention in its own code, not through transformers' attention interface "
            f"({type(model).__name__} cannot switch to another attention implementation), so attnviz cannot see the "
            "terms of its logits")
    current = model.config._attn_implementation
    model.set_attn_implementation(INTERFACE)
    try:
        yield
    finally:
        model.set_attn_implementation(current)


@contextmanager
def record_logits(model: nn.Module, causal: bool = False, values: bool = False,
                  ablation: Ablation | None = None) -> Iterator[Recording]:
    """``attnviz.hooks.record`` (same arguments, same Recording), and the terms of every attention logit:
    ``Recording.logits`` maps each kind ("self", "decoder", "cross") to a ``LogitTerms`` when the block ends.

    Raises ``UnsupportedLogitsError`` (an ``UnsupportedModelError``) naming the module whose logits attnviz
    cannot decompose exactly, and why; nothing is approximated.
    """
    register()
    with record(model, causal=causal, values=values, ablation=ablation) as rec:
        state = model_state(model)
        readers = [(site, logit_reader(site)) for site in state.plan.sites]  # the sites record found at its start
        sink = _Sink(state, causal)
        handles: list = []
        try:
            with _implementation(model, [s for s, r in readers if r is GENERIC]), routed(sink.routes):
                for site, reader in readers:
                    handles.extend(reader.hooks(site, sink))
                yield rec
        finally:
            for handle in handles:
                handle.remove()
        rec.logits.update({kind: terms_of(calls, sink.family[kind]) for kind, calls in sink.calls.items()})
