"""One hook mechanism: record the attention weights a model computes while it runs.

    with attnviz.record(model, causal=False) as rec:
        out = model(x)
    rec.stack("self")   # (layers, batch, heads, query, key), the weights the model used

``record`` finds the model's attention modules (*sites*), registers a forward hook on
each (plus a pre-hook where the call must be changed: asking ``nn.MultiheadAttention``
for per-head weights, or adding a look-ahead mask when ``causal=True``) and removes
every hook when the block exits, also when the forward raised.

Supported sites:
  * ``attnviz.local.model.MultiHeadAttention`` (the from-scratch transformer);
  * ``torch.nn.MultiheadAttention`` (also inside ``nn.TransformerEncoder``: registering
    the hooks turns off the inference fast path, which never calls the module);
  * Hugging Face attention modules (``BertSelfAttention``, ``RobertaSelfAttention``,
    ``DistilBertSelfAttention``, ``AlbertAttention``, ``GPT2Attention``, ...), which
    return ``(output, weights)``. Weights exist only with eager attention: a model on
    another implementation (SDPA by default) is switched to eager for the recording
    and switched back afterwards, under the model's lock.

Each model has one re-entrant lock; recordings on the same model are serialised, so a
model shared by many Streamlit sessions gives each caller exactly its own weights.
"""

from __future__ import annotations

import inspect
import re
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from attnviz.errors import UnsupportedModelError
from attnviz.local.model import MultiHeadAttention as LocalAttention

KINDS = ("self", "decoder", "cross")  # encoder (or only) stack, decoder self-attention, cross


@dataclass(frozen=True)
class Site:
    """An attention module and how to read it."""

    name: str
    module: nn.Module
    kind: str  # one of KINDS
    style: str  # "local" | "torch" | "hf"


@dataclass
class Recording:
    """Weights recorded during the block, per kind, in call order (= layer order)."""

    weights: dict[str, list[Tensor]] = field(default_factory=lambda: defaultdict(list))
    # the mask the first layer of each kind applied: bool (batch | 1, query, key), True = may attend
    masks: dict[str, Tensor] = field(default_factory=dict)

    def stack(self, kind: str = "self") -> Tensor:
        """(layers, batch, heads, query, key) float32, detached, on the CPU."""
        if not self.weights.get(kind):
            raise KeyError(f"no {kind!r} attention was recorded (recorded: {sorted(self.weights)})")
        return torch.stack([w.detach().float().cpu() for w in self.weights[kind]])

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if self.weights.get(k)]


# ---------------------------------------------------------------- finding the sites

_HF_ATTENTION = re.compile(r"Attention$")


def _kind_from_name(name: str, module: nn.Module) -> str:
    lowered = name.lower()
    if getattr(module, "is_cross_attention", False) or any(
        s in lowered for s in ("cross", "encoder_attn", "encdecattention", "multihead_attn")
    ):
        return "cross"
    if re.search(r"(^|\.)decoder(\.|$)", lowered):
        return "decoder"
    return "self"


def find_sites(model: nn.Module) -> list[Site]:
    """The attention modules of ``model``, innermost only, in registration order."""
    sites = []
    for name, module in model.named_modules():
        if isinstance(module, LocalAttention):
            style = "local"
        elif isinstance(module, nn.MultiheadAttention):
            style = "torch"
        elif (
            _HF_ATTENTION.search(type(module).__name__)
            and type(module).__module__.startswith("transformers.")
            and not any(_HF_ATTENTION.search(type(m).__name__) for m in list(module.modules())[1:])
        ):
            style = "hf"
        else:
            continue
        sites.append(Site(name, module, _kind_from_name(name, module), style))
    return sites


# ---------------------------------------------------------------- masks


def _look_ahead_additive(length: int, source: int, like: Tensor) -> Tensor:
    """(L, S) float mask: 0 where key <= query, the dtype's minimum above the diagonal."""
    allowed = torch.ones(length, source, dtype=torch.bool, device=like.device).tril()
    return torch.zeros(length, source, dtype=like.dtype, device=like.device).masked_fill(
        ~allowed, torch.finfo(like.dtype).min
    )


def _with_look_ahead(site: Site, bound: inspect.BoundArguments) -> None:
    """Change the bound call so that position i attends only to positions <= i."""
    a = bound.arguments
    if site.style == "local":
        x = a["x"]
        length = x.size(-2)
        look_ahead = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        mask = a.get("mask")
        a["mask"] = look_ahead if mask is None else (mask.unsqueeze(1) if mask.dim() == 3 else mask) & look_ahead
        return
    if site.style == "torch":
        q, k = a["query"], a["key"]
        seq_dim = 1 if site.module.batch_first and q.dim() == 3 else 0
        length, source = q.size(seq_dim), k.size(seq_dim)
        look_ahead = _look_ahead_additive(length, source, q)
        mask = a.get("attn_mask")
        if mask is not None:  # torch: bool True = masked out; float = additive
            mask = torch.zeros_like(mask, dtype=q.dtype).masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else mask
            look_ahead = torch.minimum(mask.to(q.dtype), look_ahead)
        a["attn_mask"], a["is_causal"] = look_ahead, False
        return
    # Hugging Face: a 4D additive float mask (batch, 1, query, key), or None, or bool
    hidden = a["hidden_states"] if "hidden_states" in a else next(iter(a.values()))
    length = hidden.size(1)
    look_ahead = _look_ahead_additive(length, length, hidden)[None, None]
    mask = a.get("attention_mask")
    if mask is not None:
        if mask.dtype == torch.bool:  # True = may attend
            mask = torch.zeros_like(mask, dtype=hidden.dtype).masked_fill(~mask, torch.finfo(hidden.dtype).min)
        look_ahead = torch.minimum(mask.to(hidden.dtype), look_ahead)
    a["attention_mask"] = look_ahead


def _allowed(site: Site, bound: inspect.BoundArguments) -> Tensor:
    """The mask this call applies, as bool (batch | 1, query, key) with True = may attend."""
    a = bound.arguments
    if site.style == "local":
        x, source, mask = a["x"], a.get("source"), a.get("mask")
        shape = (x.size(-2), (x if source is None else source).size(-2))
        allowed = torch.ones(shape, dtype=torch.bool) if mask is None else mask.cpu()
    elif site.style == "torch":
        q, k = a["query"], a["key"]
        seq_dim = 1 if site.module.batch_first and q.dim() == 3 else 0
        shape = (q.size(seq_dim), k.size(seq_dim))
        allowed = torch.ones(shape, dtype=torch.bool)
        if a.get("attn_mask") is not None:
            m = a["attn_mask"].cpu()
            allowed = allowed & (~m if m.dtype == torch.bool else m > torch.finfo(m.dtype).min / 2)
        if a.get("key_padding_mask") is not None:
            m = a["key_padding_mask"].cpu()
            padded = m if m.dtype == torch.bool else m < torch.finfo(m.dtype).min / 2
            allowed = allowed & ~padded.reshape(-1, 1, shape[1])
    else:
        hidden = a["hidden_states"] if "hidden_states" in a else next(iter(a.values()))
        length = hidden.size(1)
        m = a.get("attention_mask")
        if m is None:
            allowed = torch.ones(length, length, dtype=torch.bool)
        else:
            m = m.cpu()
            allowed = m if m.dtype == torch.bool else m > torch.finfo(m.dtype).min / 2
    while allowed.dim() > 3:  # (batch, 1, L, S) -> (batch, L, S)
        allowed = allowed.squeeze(1)
    return allowed if allowed.dim() == 3 else allowed.unsqueeze(0)


# ---------------------------------------------------------------- hooks


def _pre_hook(site: Site, causal: bool, recording: Recording):
    signature = inspect.signature(site.module.forward)

    def hook(module, args, kwargs):
        bound = signature.bind(*args, **kwargs)
        if site.style == "torch":  # the layer asks for need_weights=False; ask for per-head weights
            bound.arguments["need_weights"] = True
            bound.arguments["average_attn_weights"] = False
        if causal and site.kind != "cross":
            _with_look_ahead(site, bound)
        if site.kind not in recording.masks:
            recording.masks[site.kind] = _allowed(site, bound)
        return bound.args, bound.kwargs

    return hook


def _forward_hook(site: Site, recording: Recording):
    def hook(module, args, output):
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            raise UnsupportedModelError(
                f"{type(module).__name__} at '{site.name}' returned no attention weights; "
                "it needs eager attention (attnviz switches Hugging Face models to eager itself)"
            )
        if weights.dim() == 3:  # unbatched nn.MultiheadAttention: (heads, L, S)
            weights = weights.unsqueeze(0)
        recording.weights[site.kind].append(weights.detach())

    return hook


_locks: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock that serialises recordings (and attention-implementation switches) on a model."""
    with _locks_guard:
        if model not in _locks:
            _locks[model] = threading.RLock()
        return _locks[model]


@contextmanager
def _eager_attention(model: nn.Module) -> Iterator[None]:
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if current in (None, "eager") or not hasattr(model, "set_attn_implementation"):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(current)


@contextmanager
def record(model: nn.Module, causal: bool = False) -> Iterator[Recording]:
    """Record every attention module's weights while the block runs ``model``.

    ``causal=True`` adds a look-ahead mask to every self-attention (encoder and decoder):
    position i then attends only to positions <= i, whatever the model would do.
    """
    sites = find_sites(model)
    if not sites:
        raise UnsupportedModelError(
            f"{type(model).__name__} has no attention module attnviz can record "
            "(supported: attnviz's local transformer, torch.nn.MultiheadAttention, "
            "Hugging Face *Attention modules)"
        )
    recording = Recording()
    with model_lock(model), _eager_attention(model):
        handles = []
        try:
            for site in sites:
                handles.append(site.module.register_forward_pre_hook(_pre_hook(site, causal, recording), with_kwargs=True))
                handles.append(site.module.register_forward_hook(_forward_hook(site, recording)))
            yield recording
        finally:
            for handle in handles:
                handle.remove()
