"""How to read the terms of one attention site's logits: one *logit reader* per family group.

Each reader turns one call of a site into a ``LogitCall`` (queries, keys, scale, mask, additive terms,
softcap) and hands it, with the weights the module returned, to the recording's sink
(``attnviz.logits.record_logits``), which checks that softmax of the terms reproduces those weights.

  * ``InterfaceLogits``: Hugging Face families whose attention module calls transformers' attention
    interface (``ALL_ATTENTION_FUNCTIONS.get_interface(...)(self, query, key, value, attention_mask,
    scaling=..., ...)``): BERT, RoBERTa, ALBERT, DistilBERT, ELECTRA, XLM-R, ModernBERT, GPT-2, GPT-NeoX,
    Llama, Mistral, Qwen2, Phi-3, Gemma, Gemma 2, BART, Marian, T5. While recording, the model runs on
    attention implementation ``INTERFACE``: a function registered with ``transformers.AttentionInterface``
    (with ``eager_mask`` under the same name in ``AttentionMaskInterface``, so every mask is built exactly
    as for eager attention) that calls the module's own ``eager_attention_forward`` with the very arguments
    it was given, and reads the terms from them: the queries and keys after rotary embeddings, ``scaling``,
    ``softcap`` (Gemma 2), ``position_bias`` (T5), the additive mask (sliding windows included).
  * ``DebertaLogits``, ``MPNetLogits``, ``LocalLogits`` (``attnviz.logit_hooks``): modules with their own attention code. Forward hooks
    on the query and key projections (each call's first output) and on the module itself (its arguments as
    it received them, its output): MPNet's ``position_bias`` argument; DeBERTa-v2's c2p + p2c terms are the
    value its own ``disentangled_attention_bias`` returned in that call (the method is wrapped on the
    instance while recording).
  * ``TorchLogits`` (``attnviz.logit_hooks``): ``nn.MultiheadAttention`` computes its projections inside one fused function; the
    queries and keys are computed again from the call's ``query`` and ``key`` with the module's own
    ``in_proj`` weights (the check then confirms them against the weights it returned).

The function reads only the modules routed to it in the calling context (a ``ContextVar`` set for the
block), so a forward pass of another thread, or of a model not being recorded, goes straight to eager.

A site no reader can decompose exactly raises ``UnsupportedLogitsError`` naming it and saying why: a
Hugging Face family with its own attention code (BLOOM and its ALiBi, GPT-Neo, RoFormer, DeBERTa v1, ...:
transformers itself reports that it cannot switch them to another attention implementation), GPT-2 with
``reorder_and_upcast_attn`` (its eager path skips the interface), ``nn.MultiheadAttention`` with
``add_bias_kv`` or ``add_zero_attn`` (a key the inputs do not have), and any site whose weights softmax of
the terms read does not give back (the check: a term attnviz does not know of).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from attnviz.checks import tolerance
from attnviz.errors import UnsupportedModelError
from attnviz.logit_terms import LogitTerms
from attnviz.sites import Site, context_value, eager_function, register_attention

INTERFACE = "attnviz_logits"  # the attention implementation a model runs on while its logits are recorded


class UnsupportedLogitsError(UnsupportedModelError):
    """attnviz cannot decompose a module's attention logits exactly; the message names the module and says why."""


@dataclass
class LogitCall:
    """The terms of one call of one site: float32 tensors (B batch, H heads, Q queries, K keys, d = d_head)."""

    queries: Tensor  # (B, H, Q, d)
    keys: Tensor  # (B, H, K, d): key heads repeated for the query heads that read them
    scale: float
    mask: Tensor  # bool (B|1, H|1, Q, K), True = may attend
    bias: Tensor | None = None  # (B|1, H|1, Q, K): every other additive term
    softcap: float | None = None


class Sink(Protocol):
    """Where readers put what they read (``attnviz.logits``): ``routes`` maps id(module) to the function
    that reads an attention-interface call of that module."""

    routes: dict[int, Callable]

    def keep(self, site: Site, reader: LogitReader, call: LogitCall, weights: Tensor | None) -> None: ...


def terms_of(calls: list[LogitCall], family: str) -> LogitTerms:
    """The calls of one kind (one per layer, in call order) as one ``LogitTerms``."""
    if len({(c.queries.shape, c.keys.shape) for c in calls}) > 1:
        raise UnsupportedLogitsError("the recorded calls have queries or keys of different shapes (several forward "
                                     "passes of different lengths in one block): record one forward pass per block")
    caps = {c.softcap for c in calls}
    if len(caps) > 1:
        raise UnsupportedLogitsError(f"the layers cap their logits differently ({sorted(caps, key=str)})")
    biases = [c.bias for c in calls]
    return LogitTerms(
        queries=torch.stack([c.queries for c in calls]).cpu().numpy(), keys=torch.stack([c.keys for c in calls]).cpu().numpy(),
        scale=np.array([c.scale for c in calls], dtype=np.float64), mask=_stacked([c.mask for c in calls], bool),
        bias=None if all(b is None for b in biases) else _stacked(biases, np.float32), softcap=caps.pop(), family=family)


def _stacked(parts: list[Tensor | None], dtype) -> np.ndarray:
    """(len(parts), *shape): each part broadcast to the shape they share (a missing part is 0)."""
    shape = torch.broadcast_shapes(*(p.shape for p in parts if p is not None))
    out = np.zeros((len(parts), *shape), dtype=dtype)
    for i, part in enumerate(parts):
        if part is not None:
            out[i] = part.cpu().numpy()
    return out


def check_call(site: Site, reader: LogitReader, call: LogitCall, weights: Tensor | None) -> None:
    """Raise UnsupportedLogitsError unless softmax of ``call``'s terms gives the ``weights`` the module returned
    (on every row with an allowed key; within ``attnviz.checks.tolerance`` of their dtype)."""
    if weights is None:
        raise UnsupportedLogitsError(f"{site.where} returned no weights to check its logit terms against")
    w = weights.detach().float().cpu()
    w = w.unsqueeze(0) if w.dim() == 3 else w  # unbatched nn.MultiheadAttention
    mine = torch.from_numpy(terms_of([call], reader.name).weights(0))
    if mine.shape != w.shape:
        raise UnsupportedLogitsError(f"{site.where}: its logit terms give weights of shape {tuple(mine.shape)}, "
                                     f"the module returned {tuple(w.shape)}")
    rows = call.mask.any(-1).expand(w.shape[:-1])
    off = (mine - w).abs().amax(-1)[rows]
    if off.numel() and off.max() > tolerance(weights.dtype):
        raise UnsupportedLogitsError(
            f"{site.where}: softmax of the terms attnviz reads ({reader.name}: scale * q·k, position terms, softcap, "
            f"mask) differs from the weights the module computed by up to {off.max().item():.2g}, so its logits "
            "hold a term attnviz does not record; attnviz refuses rather than approximate them")


def mask_terms(mask: Tensor | None, queries: int, keys: int) -> tuple[Tensor, Tensor | None]:
    """A mask as a module reads it (bool True = may attend, 0/1 integers, or additive float; (K), (Q, K),
    (B, Q, K) or (B, H|1, Q, K)) -> (allowed, bool (B|1, H|1, Q, K); the additive values left where allowed,
    or None when they are all 0)."""
    if mask is None:
        return torch.ones(1, 1, queries, keys, dtype=torch.bool), None
    m = mask.detach().cpu()
    m = m.unsqueeze(1) if m.dim() == 3 else m  # (B, Q, K): the same for every head
    m = m[(None,) * (4 - m.dim())] if m.dim() < 4 else m  # (K) / (Q, K) -> (1, 1, 1|Q, K)
    if m.size(-2) > queries:  # the queries are the last Q of a longer mask (a cache)
        m = m[..., -queries:, :]
    m = m[..., :keys]
    if m.dtype == torch.bool or not m.is_floating_point():
        return m.bool(), None
    allowed = m > torch.finfo(m.dtype).min / 2  # -inf or the dtype's lowest: masked
    rest = m.masked_fill(~allowed, 0)
    return allowed, rest.float() if bool(rest.any()) else None


def summed(*terms: Tensor | None) -> Tensor | None:
    present = [t for t in terms if t is not None]
    return None if not present else present[0] if len(present) == 1 else sum(present[1:], present[0])


def split_heads(x: Tensor, heads: int) -> Tensor:
    """A projection's output (B, N, heads * d) -> (B, heads, N, d)."""
    b, n, _ = x.shape
    return x.view(b, n, heads, -1).transpose(1, 2)


class LogitReader:
    """Base class: how to read the logit terms of one family group (see the module docstring)."""

    name = "logits"

    def matches(self, module: nn.Module) -> bool:
        raise NotImplementedError

    def refusal(self, site: Site) -> str | None:
        """Why this site's logits cannot be decomposed exactly (None: they can)."""
        return None

    def hooks(self, site: Site, sink: Sink) -> list:
        """Register what reads each call of ``site`` into ``sink``; return the handles (``.remove()``)."""
        raise NotImplementedError


# ---------------------------------------------------------------- transformers' attention interface


_ROUTES: ContextVar[dict[int, Callable] | None] = ContextVar("attnviz_logit_routes", default=None)


def _eager_of(module: nn.Module) -> Callable:
    """The module's own ``eager_attention_forward``: the one its forward falls back to in eager mode."""
    found = eager_function(module)
    if found is None:
        raise UnsupportedLogitsError(f"{type(module).__name__} has no eager_attention_forward in its module")
    return found


def _attention(module: nn.Module, query: Tensor, key: Tensor, value: Tensor, attention_mask: Tensor | None, *args, **kwargs):
    """The attention function registered as ``INTERFACE``: the module's own eager function called with exactly
    its arguments (so the model computes what it computes in eager mode); a module recorded in this context
    has its terms read first."""
    eager = _eager_of(module)
    output = eager(module, query, key, value, attention_mask, *args, **kwargs)
    routes = _ROUTES.get()
    read = routes.get(id(module)) if routes else None
    if read is not None:
        read(eager, module, query, key, attention_mask, args, kwargs, output[1])
    return output


@cache
def _signature(function: Callable) -> inspect.Signature:
    return inspect.signature(function)


def _arguments(eager: Callable, module, query, key, mask, args, kwargs) -> dict[str, Any]:
    """Every argument of the eager call by name, defaults included (``**kwargs`` flattened in)."""
    signature = _signature(eager)
    bound = signature.bind(module, query, key, None, mask, *args, **kwargs)
    bound.apply_defaults()
    named = dict(bound.arguments)
    for p in signature.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            named.update(named.pop(p.name, {}))
    return named


@cache
def register() -> None:
    """Register ``INTERFACE`` with transformers (once): the attention function and eager's mask function."""
    register_attention(INTERFACE, _attention)


def routed(routes: dict[int, Callable]) -> AbstractContextManager[None]:
    """Read the attention-interface calls of the modules in ``routes`` (id(module) -> reader) in this context."""
    return context_value(_ROUTES, routes)


class InterfaceLogits(LogitReader):
    """Any Hugging Face attention module that calls transformers' attention interface (see the module docstring)."""

    name = "attention interface"

    def matches(self, module):
        return type(module).__module__.startswith("transformers.")

    def refusal(self, site):
        if getattr(site.module, "reorder_and_upcast_attn", False):
            return (f"{site.where} has reorder_and_upcast_attn=True: in eager mode it computes its logits in its own "
                    "_upcast_and_reordered_attn, not through transformers' attention interface, so attnviz cannot see "
                    "their terms without changing what the model computes")
        return None

    def hooks(self, site, sink):
        calls = [0]

        def read(eager, module, query, key, mask, args, kwargs, weights):
            calls[0] += 1
            a = _arguments(eager, module, query, key, mask, args, kwargs)
            if module.training and a.get("dropout"):
                raise UnsupportedLogitsError(f"{site.where} is in training mode with attention dropout: its weights "
                                             "are not a softmax of its logits (call model.eval())")
            scaling = a.get("scaling")
            q, k = query.detach().float(), key.detach().float()
            if k.size(1) != q.size(1):  # grouped-query attention: query head h reads key head h // group (repeat_kv)
                k = k.repeat_interleave(q.size(1) // k.size(1), dim=1)
            allowed, additive = mask_terms(mask, q.size(-2), k.size(-2))
            position = a.get("position_bias")  # T5's relative position bias (zeros in its layers without one)
            position = None if position is None or not bool(position.any()) else position.detach().float()
            softcap = a.get("softcap")
            call = LogitCall(q, k, q.size(-1) ** -0.5 if scaling is None else float(scaling), allowed,
                             summed(position, additive), None if softcap is None else float(softcap))
            sink.keep(site, self, call, weights)

        def before(module, args):
            calls[0] = 0

        def after(module, args, output):
            if not calls[0]:
                raise UnsupportedLogitsError(
                    f"{site.where} did not call transformers' attention interface: it computes its attention in its "
                    "own code, so attnviz cannot see the terms of its logits")

        sink.routes[id(site.module)] = read
        return [site.module.register_forward_pre_hook(before), site.module.register_forward_hook(after)]

GENERIC = InterfaceLogits()
