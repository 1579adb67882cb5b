"""How to read one attention module (a *site*): the per-family "site readers".

A reader knows, for one kind of attention module,

  * which argument carries the queries and which the mask, and how that mask is written
    (``mask_style``: "additive" = HF float masks with 0 / a very negative number, where a
    bool mask means True = may attend; "allowed" = any dtype, non-zero = may attend, as
    DeBERTa reads it with ``.bool()``; "torch" = ``nn.MultiheadAttention``'s bool True =
    masked out / float additive; "local" = attnviz's own bool True = may attend);
  * how to ask the module for its weights (``output_attentions=True`` for MPNet and
    DeBERTa-v2; ``need_weights=True, average_attn_weights=False`` for PyTorch) and how to
    give the caller back exactly the return value it asked for;
  * where the weights are in the module's output (``output[1]``; ``output[2]`` for T5,
    whose ``output[1]`` is the position bias);
  * how to add a look-ahead mask written in the module's own convention (``causal=True``).

What is read is checked (``attnviz.checks``) before ``record``'s block ends.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from torch import Tensor, nn

from attnviz.errors import UnsupportedModelError
from attnviz.local.model import MultiHeadAttention as LocalAttention

# ---------------------------------------------------------------- transformers' eager attention


def eager_function(module: nn.Module) -> Callable | None:
    """The module's own ``eager_attention_forward`` (the function its forward calls in eager mode, found in the
    module of its class or of a base class; looked up at every call, as its forward does), or None."""
    for cls in type(module).__mro__:
        found = getattr(sys.modules.get(cls.__module__), "eager_attention_forward", None)
        if found is not None:
            return found
    return None


def register_attention(name: str, function: Callable) -> None:
    """Register ``function`` with transformers' attention interface as implementation ``name``, its masks built
    as for eager attention (``eager_mask``), so a model switched to ``name`` gets eager's additive masks."""
    from transformers import AttentionInterface  # here: a model of attnviz's own or PyTorch's needs no transformers
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(name, function)
    AttentionMaskInterface.register(name, eager_mask)


@contextmanager
def context_value(var: ContextVar, value: Any) -> Iterator[None]:
    """``var`` set to ``value`` for the block (in this context only), then back to what it was: how an attention
    function registered by attnviz learns, per call, what to do for the modules of the recording running."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


# ---------------------------------------------------------------- mask helpers


def look_ahead(length: int, source: int, device: torch.device | None = None) -> Tensor:
    """(L, S) bool, True where query i may attend to key j: j <= i + (S - L) (the queries are the
    last L of S positions, as with a cache)."""
    return torch.ones(length, source, dtype=torch.bool, device=device).tril(diagonal=source - length)


def _additive(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


def _to_bll(allowed: Tensor, length: int, source: int) -> Tensor:
    """Any bool mask of (S) / (L, S) / (B, L|1, S) / (B, H|1, L|1, S) -> (B|1, L, S) on the CPU;
    keys beyond S are cut (as eager attention does), a per-head mask becomes "any head may"."""
    allowed = allowed.detach().cpu()
    if allowed.dim() == 4:
        allowed = allowed.any(dim=1)
    if allowed.dim() == 1:
        allowed = allowed[None, None]
    elif allowed.dim() == 2:
        allowed = allowed[None]
    allowed = allowed[..., :source]
    if allowed.size(-2) > length:
        allowed = allowed[..., -length:, :]
    return allowed.expand(allowed.size(0), length, source).clone()


# ---------------------------------------------------------------- readers


@dataclass
class Call:
    """What a pre-hook learnt about one call, for the forward hook of the same call."""

    batch: int
    queries: int
    mask: Tensor | None = None  # the mask as the module receives it (after attnviz's look-ahead)
    extra: Tensor | None = None  # nn.MultiheadAttention: key_padding_mask
    asked: dict | None = None  # what the caller asked for, where attnviz changed it


class Reader:
    """Base class: how to read one family of attention modules (see the module docstring)."""

    name = "reader"
    weights_at = 1

    def matches(self, module: nn.Module) -> bool:
        raise NotImplementedError

    def prepare(self, module: nn.Module, arguments: dict, causal: bool) -> Call:
        """Change the bound call in place (ask for weights, add the look-ahead); say what it was."""
        raise NotImplementedError

    def weights(self, output: Any) -> Tensor | None:
        if isinstance(output, tuple) and len(output) > self.weights_at:
            w = output[self.weights_at]
            return w if isinstance(w, Tensor) else None
        return None

    def changes_call(self, causal: bool) -> bool:
        """Whether ``prepare`` changes a call before it runs (asks for weights, adds a look-ahead); one that does not
        is read once the call has run, from the arguments the module received (``record`` then needs no pre-hook)."""
        return causal

    def allowed(self, call: Call, length: int, source: int) -> Tensor:
        """The mask this call applied: bool (batch | 1, query, key), True = may attend (every key, for a call with
        no mask: ``mask`` and ``extra`` None)."""
        raise NotImplementedError

    def restore(self, output: Any, call: Call) -> Any:
        """The return value the caller asked for (None: the output is already that)."""
        return None

    def heads(self, module: nn.Module) -> int | None:
        for attr in ("num_heads", "num_attention_heads", "n_heads", "n_head"):
            value = getattr(module, attr, None)
            if isinstance(value, int):
                return value
        value = getattr(getattr(module, "config", None), "num_attention_heads", None)
        return value if isinstance(value, int) else None


class LocalReader(Reader):
    """attnviz's own ``MultiHeadAttention``: ``forward(x, source, mask)``, bool True = may attend."""

    name = "local"

    def matches(self, module):
        return isinstance(module, LocalAttention)

    def prepare(self, module, a, causal):
        x = a["x"]
        mask = a.get("mask")
        if causal:
            source = x if a.get("source") is None else a["source"]
            la = look_ahead(x.size(-2), source.size(-2), x.device)
            mask = la if mask is None else (mask.unsqueeze(1) if mask.dim() == 3 else mask) & la
            a["mask"] = mask
        return Call(batch=x.size(0), queries=x.size(-2), mask=mask)

    def allowed(self, call, length, source):
        if call.mask is None:
            return torch.ones(1, length, source, dtype=torch.bool)
        return _to_bll(call.mask.bool(), length, source)


class TorchReader(Reader):
    """``torch.nn.MultiheadAttention``: asked for per-head weights; the caller still gets what it
    asked for (no weights, or head-averaged weights)."""

    name = "torch"

    def matches(self, module):
        return isinstance(module, nn.MultiheadAttention)

    def changes_call(self, causal):
        return True  # it always asks for per-head weights

    @staticmethod
    def _seq_dim(module, q):
        return 1 if module.batch_first and q.dim() == 3 else 0

    def prepare(self, module, a, causal):
        q, k = a["query"], a["key"]
        if q.is_nested or k.is_nested:
            raise UnsupportedModelError(
                "nn.MultiheadAttention was called with nested tensors; attnviz records padded (dense) "
                "batches only: pass a padded tensor and a key_padding_mask"
            )
        asked = {"need_weights": a.get("need_weights", True), "average_attn_weights": a.get("average_attn_weights", True)}
        a["need_weights"], a["average_attn_weights"] = True, False
        seq = self._seq_dim(module, q)
        length, source = q.size(seq), k.size(seq)
        if causal:
            additive = _additive(look_ahead(length, source, q.device), q.dtype)
            mask = a.get("attn_mask")
            if mask is not None:  # bool True = masked out; float = additive
                mask = torch.zeros_like(mask, dtype=q.dtype).masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else mask
                additive = torch.minimum(mask.to(q.dtype), additive)
            a["attn_mask"], a["is_causal"] = additive, False
        batch = 1 if q.dim() == 2 else q.size(1 - seq)
        return Call(batch=batch, queries=length, mask=a.get("attn_mask"), extra=a.get("key_padding_mask"), asked=asked)

    def allowed(self, call, length, source):
        allowed = torch.ones(1, length, source, dtype=torch.bool)
        if call.mask is not None:
            m = call.mask.detach().cpu()
            ok = ~m if m.dtype == torch.bool else m > torch.finfo(m.dtype).min / 2
            if ok.dim() == 3:  # (batch * heads, L, S)
                ok = ok.reshape(call.batch, -1, length, source)
            allowed = allowed & _to_bll(ok, length, source)
        if call.extra is not None:
            m = call.extra.detach().cpu()
            padded = m if m.dtype == torch.bool else m < torch.finfo(m.dtype).min / 2
            allowed = allowed & ~padded.reshape(-1, 1, source)
        return allowed

    def restore(self, output, call):
        out, weights = output
        if not call.asked["need_weights"]:
            return out, None
        if call.asked["average_attn_weights"]:
            return out, weights.mean(dim=-3)
        return None


class HFReader(Reader):
    """A Hugging Face attention module: ``forward(hidden_states, <mask_arg>, ...)`` returning
    ``(output, ..., weights, ...)``; batch-first queries."""

    def __init__(self, name: str, classes: tuple[str, ...] = (), *, weights_at: int = 1, mask_arg: str = "attention_mask",
                 mask_style: str = "additive", ask_arg: str | None = None, when_not_asked: str = "none"):
        self.name, self.classes, self.weights_at = name, classes, weights_at
        self.mask_arg, self.mask_style, self.ask_arg, self.when_not_asked = mask_arg, mask_style, ask_arg, when_not_asked

    def matches(self, module):
        if not type(module).__module__.startswith("transformers."):
            return False
        if self.classes:
            return any(c.__name__ in self.classes for c in type(module).__mro__)
        params = inspect.signature(module.forward).parameters
        return "hidden_states" in params and self.mask_arg in params

    def changes_call(self, causal):
        return causal or self.ask_arg is not None

    def prepare(self, module, a, causal):
        hidden = a["hidden_states"] if "hidden_states" in a else next(iter(a.values()))
        asked = None
        if self.ask_arg:
            asked = {self.ask_arg: bool(a.get(self.ask_arg, False))}
            a[self.ask_arg] = True
        mask = a.get(self.mask_arg)
        if causal:
            length = hidden.size(1)
            source = mask.size(-1) if mask is not None else length
            la = look_ahead(length, source, hidden.device)[None, None]
            if mask is None:
                mask = la if self.mask_style == "allowed" else _additive(la, hidden.dtype)
            elif mask.dtype == torch.bool:
                mask = mask & la
            elif self.mask_style == "allowed" or not mask.is_floating_point():
                mask = (mask.bool() & la).to(mask.dtype)
            else:
                mask = torch.minimum(mask, _additive(la, mask.dtype))
            a[self.mask_arg] = mask
        return Call(batch=hidden.size(0), queries=hidden.size(1), mask=mask, asked=asked)

    def allowed(self, call, length, source):
        m = call.mask
        if m is None:
            return torch.ones(1, length, source, dtype=torch.bool)
        if self.mask_style == "allowed" or m.dtype == torch.bool or not m.is_floating_point():
            ok = m.bool()
        else:
            ok = m > torch.finfo(m.dtype).min / 2
        if ok.dim() == 2:  # (batch, key): a padding mask
            ok = ok[:, None, :]
        return _to_bll(ok, length, source)

    def restore(self, output, call):
        if not self.ask_arg or call.asked[self.ask_arg]:
            return None
        if self.when_not_asked == "drop":  # the module returns (output,) when not asked
            return output[: self.weights_at] + output[self.weights_at + 1:]
        return output[: self.weights_at] + (None,) + output[self.weights_at + 1:]


# The families with their own reader; everything else from transformers goes to GENERIC_HF,
# whose recordings the check verifies (attnviz's load-time probe runs them once).
READERS: tuple[Reader, ...] = (
    LocalReader(),
    TorchReader(),
    # T5Attention returns (output, position_bias, weights) and takes its mask as `mask`
    HFReader("t5", ("T5Attention",), weights_at=2, mask_arg="mask"),
    # DeBERTa-v2/v3 passes 0/1 integer masks, reads them with .bool(), and returns (output, None)
    # unless output_attentions reaches the module
    HFReader("deberta-v2", ("DisentangledSelfAttention",), mask_style="allowed", ask_arg="output_attentions",
             when_not_asked="none"),
    # MPNet returns (output,) unless output_attentions reaches the module
    HFReader("mpnet", ("MPNetSelfAttention",), ask_arg="output_attentions", when_not_asked="drop"),
)
GENERIC_HF = HFReader("hf")


def reader_for(module: nn.Module) -> Reader | None:
    """The reader for ``module``, or None when attnviz does not know how to read it."""
    for reader in READERS:
        if reader.matches(module):
            return reader
    return GENERIC_HF if GENERIC_HF.matches(module) else None


@dataclass(frozen=True)
class Site:
    """An attention module and how to read it."""

    name: str
    module: nn.Module
    kind: str  # one of attnviz.labels.KINDS
    reader: Reader

    @cached_property
    def where(self) -> str:
        return f"{type(self.module).__name__} at '{self.name}'"

    @cached_property
    def heads(self) -> int | None:
        """The head count the module declares (``Reader.heads``). Kept with the site, which ``record`` finds again
        whenever the model's module tree changes (pruning heads replaces the projections, so it finds them again)."""
        return self.reader.heads(self.module)

    @cached_property
    def signature(self) -> inspect.Signature:
        """The module's ``forward`` signature (binds each call's arguments by name)."""
        return inspect.signature(self.module.forward)

    @cached_property
    def positional_names(self) -> tuple[str, ...] | None:
        """The names ``forward``'s positional arguments bind to, when every parameter may also be passed by name
        (``arguments``); None when one may not (positional-only, ``*args``)."""
        params = self.signature.parameters.values()
        if any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL) for p in params):
            return None
        return tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)

    def arguments(self, args: tuple, kwargs: dict) -> tuple[dict, bool]:
        """One call's arguments by name, and whether they may all be passed by name: a plain dict when they may
        (a tenth of ``Signature.bind``'s time), else ``bind``'s own ``arguments``."""
        names = self.positional_names
        if names is not None and len(args) <= len(names):
            return {**dict(zip(names, args)), **kwargs}, True
        return self.signature.bind(*args, **kwargs).arguments, False
