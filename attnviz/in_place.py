"""Eager attention that writes its weights where the recording keeps them: no copy between model and Run.

While ``attnviz.record`` runs a Hugging Face model, the model is on the attention implementation ``IN_PLACE``
(transformers' attention interface; models that ``attnviz.load_model`` loads stay on it). For a recorded module
whose own eager function is the one BERT's family shares (BERT, RoBERTa, ALBERT, ELECTRA, DistilBERT, BART,
Marian, ...: the same source as BERT's), the function below computes what that eager function computes, operation
for operation, but with the weights written in their slot of the recording's array (``Recording.slot``):

    eager (transformers)                    in place (here)
    w = matmul(q, kᵀ) * scaling             s = matmul(q, kᵀ); s *= scaling
    w = w + mask                            s += mask
    w = softmax(w, -1)                      softmax of s, into slot
    out = matmul(w, v)                      out = matmul(slot, v)

The same kernels on the same numbers give the same bits; what it saves is the copy of every layer's weights
into the recording, and the tensors eager makes for the scaled, then masked scores and for the softmax: one
tensor the size of a layer's weights is made here (``s``), where eager makes up to four (at 512 tokens
MiniLM's weights are 75 MB in all). The scores ``s`` get a tensor of their own rather than the slot: torch's
softmax written over its own input is twice as slow on a batch of short rows (0.29 vs 0.14 ms for
(32, 12, 20, 20) here), and no faster on one text.
The first call of each module in each mask mode is also run by the module's own eager function and compared bit
for bit, weights and output: a module that differs runs its own eager function from then on (remembered on the
model, ``Target.trusted``), and that first call keeps eager's own weights. Any other module (another eager
function, another dtype than float32, grouped-query keys, dropout in training, a mask that does not fit), any
call the recording has no slot for, and every call outside a recording runs the module's own eager function.
While a recording wants value norms, each call of BERT's family also hands the values it weighted to the recording
(``Target.values``), in place or not: they are the value projection's output, split into heads, so its module needs
no hook of its own (a hook, and its call through ``nn.Module``'s slow path, cost more than the hand-over).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from functools import cache
from importlib import import_module
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnviz.sites import context_value, eager_function, register_attention

IN_PLACE = "attnviz_in_place"  # the attention implementation attnviz records on
_SOFTMAX_INTO = torch.ops.aten._softmax.out  # softmax(x, dim, half_to_float, out=...): resolved once, not per call
_F32 = torch.float32


class Target(NamedTuple):
    """One recorded module, for the calls it makes while the recording runs (``target`` makes it).

    slot:    ``slot(shape)`` -> the recording's float32 tensor for this call's (batch, heads, query, key) weights,
             or None
    trusted: (key, mask given) -> whether the in-place result was identical to eager's (kept on the model)
    eager:   the module's own eager function, looked up when the recording starts (``eager_function``)
    computes: whether that function is BERT's (``_standard``), so that the path here may compute its calls
    values:  where each call appends the values it weighted, (batch, key, heads, head_dim), for the value norms:
             set for BERT's family, whose eager function takes them as they come from the value projection (so
             they need no hook of their own); None otherwise
    """

    slot: Callable[[tuple[int, ...]], Tensor | None]
    trusted: dict
    key: Hashable
    eager: Callable | None
    computes: bool
    values: list | None


def target(module: nn.Module, slot: Callable[[tuple[int, ...]], Tensor | None], trusted: dict, key: Hashable,
           values: list | None) -> Target:
    """The ``Target`` of ``module`` for one recording; ``values``: the list its calls' values go to, when the
    recording wants them and the module's eager function is BERT's (``Target.values``)."""
    eager = eager_function(module)
    computes = _standard(eager)
    return Target(slot, trusted, key, eager, computes, values if computes else None)


_TARGETS: ContextVar[dict[int, Target] | None] = ContextVar("attnviz_in_place_targets", default=None)


def targeted(targets: dict[int, Target]) -> AbstractContextManager[None]:
    """Write the weights of the modules in ``targets`` (id(module) -> Target) in place, in this context."""
    return context_value(_TARGETS, targets)


@cache
def _source(function: Callable) -> str | None:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return None


@cache
def _standard(function: Callable) -> bool:
    """Whether ``function`` is BERT's eager attention function, or the same source (its family's copies)."""
    reference = import_module("transformers.models.bert.modeling_bert").eager_attention_forward  # the reference
    return function is reference or (_source(function) is not None and _source(function) == _source(reference))


def _fits(module: nn.Module, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, dropout: float,
          shape: tuple[int, ...]) -> bool:
    """Whether the in-place path computes exactly what eager would for this call."""
    if query.dtype is not _F32 or key.dtype is not _F32 or value.dtype is not _F32 or (module.training and dropout):
        return False
    if query.dim() != 4 or key.size(1) != query.size(1) or value.size(1) != query.size(1):
        return False  # not (batch, heads, positions, d), or grouped-query keys
    # the mask broadcasts to the weights' shape (a plain comparison: torch.broadcast_shapes runs through torch._refs'
    # Python, 0.4% of a corpus scoring run)
    return mask is None or (mask.dtype is _F32 and mask.dim() <= len(shape)
                            and all(m == 1 or m == n for m, n in zip(reversed(mask.shape), reversed(shape))))


def _attention(module: nn.Module, query: Tensor, key: Tensor, value: Tensor, attention_mask: Tensor | None, *args,
               **kwargs):
    """The attention function registered as ``IN_PLACE`` (see the module docstring)."""
    targets = _TARGETS.get()
    target = targets.get(id(module)) if targets else None
    if target is None:  # outside a recording, or a module it does not record
        return eager_function(module)(module, query, key, value, attention_mask, *args, **kwargs)
    eager = target.eager
    if target.values is not None:
        target.values.append(value.transpose(1, 2))  # (batch, key, heads, head_dim), as the value projection made them
    shape = (*query.shape[:-1], key.size(-2))  # (batch, heads, query, key)
    mode = (target.key, attention_mask is None)
    slot = None
    if (target.computes and not args and target.trusted.get(mode) is not False
            and _fits(module, query, key, value, attention_mask, kwargs.get("dropout", 0.0), shape)):
        slot = target.slot(shape)
    if slot is None:
        return eager(module, query, key, value, attention_mask, *args, **kwargs)
    scaling = kwargs.get("scaling")
    scores = torch.matmul(query, key.transpose(2, 3))
    scores.mul_(query.size(-1) ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:
        scores.add_(attention_mask)
    _SOFTMAX_INTO(scores, -1, False, out=slot)  # softmax over the keys, written in the slot
    output = torch.matmul(slot, value).transpose(1, 2).contiguous()
    if mode not in target.trusted:  # the first call in this mode: eager's own result, bit for bit, or eager's from now on
        own, weights = eager(module, query, key, value, attention_mask, **kwargs)
        target.trusted[mode] = torch.equal(own, output) and torch.equal(weights, slot)
        if not target.trusted[mode]:
            slot.copy_(weights)
            return own, slot
    return output, slot


@cache
def register() -> None:
    """Register ``IN_PLACE`` with transformers (once): the attention function and eager's mask function."""
    register_attention(IN_PLACE, _attention)


def can_adopt(model: nn.Module) -> bool:
    """Whether ``model`` can run on ``IN_PLACE``: a Hugging Face model whose attention calls transformers' interface."""
    can = getattr(model, "_can_set_attn_implementation", None)
    return hasattr(model, "set_attn_implementation") and (can is None or bool(can()))


def adopt(model: nn.Module) -> bool:
    """Put ``model`` on ``IN_PLACE`` (outside a recording every module runs its own eager function); whether it could."""
    if not can_adopt(model):
        return False
    register()
    try:
        model.set_attn_implementation(IN_PLACE)
    except (ValueError, ImportError, KeyError, NotImplementedError):  # a model transformers will not switch
        return False
    return True
