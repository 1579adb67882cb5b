"""One hook mechanism: record the attention weights a model computes while it runs.

    with attnviz.record(model, causal=False) as rec:
        out = model(x)
    rec.stack("self")   # (layers, batch, heads, query, key), the weights the model used

``record`` finds the model's attention modules (*sites*), each with the *reader* of its
family (``attnviz.sites``: where the weights are in the output, which argument is the mask
and how it is written, how to ask the module for its weights), registers a pre-hook and a
forward hook on each and removes every hook when the block exits, also when the forward
raised. Every recorded tensor is checked (``attnviz.sites.check_weights``) before it is
kept: a tensor that is not a faithful attention matrix raises ``AttentionCheckError``.

Recording never changes what a caller's own call returns: where attnviz asks a module for
more (per-head weights from ``nn.MultiheadAttention``, ``output_attentions`` from MPNet and
DeBERTa-v2), the forward hook hands the caller back the return value it asked for.
(``causal=True`` is the one deliberate change: it adds a look-ahead mask.)

Supported sites:
  * ``attnviz.local.model.MultiHeadAttention`` (the from-scratch transformer);
  * ``torch.nn.MultiheadAttention`` (also inside ``nn.TransformerEncoder`` /
    ``nn.TransformerDecoder`` / ``nn.Transformer``: registering the hooks turns off the
    layers' inference fast path; the encoder's nested-tensor path, which would drop the
    padding mask, is turned off while recording and its output reproduced: padded positions 0);
  * Hugging Face attention modules: T5, DeBERTa-v2 and MPNet have their own readers; other
    ``*Attention`` modules taking ``hidden_states`` and ``attention_mask`` and returning
    ``(output, weights)`` (BERT, GPT-2, Llama, BART, ...) share the generic one. Weights exist
    only with eager attention: a model on another implementation (SDPA by default) is
    switched to eager for the recording and switched back afterwards, under the model's lock.

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
from attnviz.projections import Projections, projections
from attnviz.sites import Call, Reader, check_weights, reader_for

KINDS = ("self", "decoder", "cross")  # encoder (or only) stack, decoder self-attention, cross


@dataclass(frozen=True)
class Site:
    """An attention module and how to read it."""

    name: str
    module: nn.Module
    kind: str  # one of KINDS
    reader: Reader

    @property
    def style(self) -> str:
        """The reader's name: "local", "torch", "t5", "deberta-v2", "mpnet" or "hf"."""
        return self.reader.name

    @property
    def where(self) -> str:
        return f"{type(self.module).__name__} at '{self.name}'"


@dataclass
class Recording:
    """Weights recorded during the block, per kind, in call order (= layer order).

    weights:      kind -> [(batch, heads, query, key)] per layer, each checked
    value_norms:  kind -> [(batch, heads, key)] per layer: ‖f_h(x_j)‖ = ‖(x_j W_V^h + b_V^h) W_O^h‖, from
                  the values the model computed in the same call (``record(values=True)``)
    values_missing: why value norms were not recorded for this model (None: they were, or not asked)
    masks:        kind -> the mask the first layer of that kind applied: bool (batch | 1, query,
                  key), True = may attend (kept for existing callers)
    layer_masks:  kind -> the mask of every layer (they differ with sliding windows, e.g. Gemma 2)
    """

    weights: dict[str, list[Tensor]] = field(default_factory=lambda: defaultdict(list))
    masks: dict[str, Tensor] = field(default_factory=dict)
    layer_masks: dict[str, list[Tensor]] = field(default_factory=lambda: defaultdict(list))
    value_norms: dict[str, list[Tensor]] = field(default_factory=lambda: defaultdict(list))
    values_missing: str | None = None

    def norms(self, kind: str = "self") -> Tensor | None:
        """‖f_h(x_j)‖, (layers, batch, heads, key) float32 (``record(values=True)``), or None when not
        recorded (``values_missing`` says why)."""
        if self.values_missing is not None or not self.value_norms.get(kind):
            return None
        return torch.stack([n.detach().float().cpu() for n in self.value_norms[kind]])

    def stack(self, kind: str = "self") -> Tensor:
        """(layers, batch, heads, query, key) float32, detached, on the CPU."""
        if not self.weights.get(kind):
            raise KeyError(f"no {kind!r} attention was recorded (recorded: {sorted(self.weights)})")
        return torch.stack([w.detach().float().cpu() for w in self.weights[kind]])

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if self.weights.get(k)]


# ---------------------------------------------------------------- finding the sites

_ATTENTION = re.compile(r"Attention$")


def _kind_from_name(name: str, module: nn.Module) -> str:
    lowered = name.lower()
    if getattr(module, "is_cross_attention", False) or any(
        s in lowered for s in ("cross", "encoder_attn", "encdecattention", "multihead_attn")
    ):
        return "cross"
    if re.search(r"(^|\.)decoder(\.|$)", lowered):
        return "decoder"
    return "self"


def _hf_attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The innermost ``transformers`` modules whose class name ends in "Attention"."""
    return [
        (name, module) for name, module in model.named_modules()
        if _ATTENTION.search(type(module).__name__) and type(module).__module__.startswith("transformers.")
        and not any(_ATTENTION.search(type(m).__name__) for m in list(module.modules())[1:])
    ]


def find_sites(model: nn.Module) -> list[Site]:
    """The attention modules of ``model`` that attnviz can read, innermost only, in registration order."""
    hf = {id(m) for _, m in _hf_attention_modules(model)}
    sites = []
    for name, module in model.named_modules():
        if type(module).__module__.startswith("transformers.") and id(module) not in hf:
            continue
        reader = reader_for(module)
        if reader is not None:
            sites.append(Site(name, module, _kind_from_name(name, module), reader))
    return sites


def unreadable_modules(model: nn.Module) -> list[str]:
    """Attention modules of ``model`` that no reader can read, as "ClassName at 'name'" (empty: all readable)."""
    return [f"{type(m).__name__} at '{n}'" for n, m in _hf_attention_modules(model) if reader_for(m) is None]


# ---------------------------------------------------------------- hooks


def _pre_hook(site: Site, causal: bool, pending: list[Call], layers: dict[str, int]):
    signature = inspect.signature(site.module.forward)

    def hook(module, args, kwargs):
        layers[site.kind] = layers.get(site.kind, -1) + 1  # which layer of its kind is running (call order)
        bound = signature.bind(*args, **kwargs)
        pending.append(site.reader.prepare(module, bound.arguments, causal and site.kind != "cross"))
        return bound.args, bound.kwargs

    return hook


def _value_hooks(site: Site, proj: Projections, slot: list) -> list:
    """Keep the values each call of ``site`` computes in ``slot`` (batch, key, kv_heads, head_dim)."""
    if proj.value is not None:
        def keep(module, args, out):
            try:
                slot.append(proj.values(out).detach())
            except RuntimeError as exc:  # an output that is not laid out as expected: no norms, say why
                slot.append(f"{site.where}: its value projection's output of shape {tuple(out.shape)} does not split "
                            f"into {proj.n_kv_heads} heads of {proj.head_dim} ({exc})")

        return [proj.value.register_forward_hook(keep)]
    mha = proj.torch_mha
    signature = inspect.signature(mha.forward)

    def pre(module, args, kwargs):
        slot.append(proj.torch_values(signature.bind(*args, **kwargs).arguments["value"], mha.batch_first).detach())

    return [mha.register_forward_pre_hook(pre, with_kwargs=True)]


@dataclass(frozen=True)
class Ablation:
    """Heads to switch off while recording: their slice of the output projection's input is set to
    zero (``mode="zero"``) or to its mean over the positions (``mode="mean"``; ``positions``: bool
    (batch, query), True for the real tokens the mean is over, None = all).

    heads: (layer, head) pairs, 0-based, of the self-attention stack (kind "self"); layer = call order.
    """

    heads: frozenset[tuple[int, int]]
    mode: str = "zero"
    positions: Tensor | None = None

    def __post_init__(self):
        if self.mode not in ("zero", "mean"):
            raise ValueError(f"ablation mode must be 'zero' or 'mean', not {self.mode!r}")


def _ablation_hook(site: Site, proj: Projections, ablation: Ablation, layers: dict[str, int]):
    def pre(module, args):
        layer = layers.get(site.kind, 0)
        heads = sorted(h for (lay, h) in ablation.heads if lay == layer)
        if not heads:
            return None
        x = args[0]
        parts = x.reshape(*x.shape[:-1], proj.n_heads, proj.head_dim).clone()  # (B, Q, H, d_head)
        for h in heads:
            if ablation.mode == "zero":
                parts[..., h, :] = 0
            else:
                keep = ablation.positions
                keep = torch.ones(parts.shape[:2], dtype=torch.bool) if keep is None else keep.bool()
                keep = keep.to(parts.device)[..., None].to(parts.dtype)  # (B, Q, 1)
                mean = (parts[..., h, :] * keep).sum(1, keepdim=True) / keep.sum(1, keepdim=True).clamp(min=1)
                parts[..., h, :] = mean.expand_as(parts[..., h, :])
        return (parts.reshape(x.shape), *args[1:])

    return pre


def _forward_hook(site: Site, recording: Recording, pending: list[Call], eager_needed: bool, slot: list | None = None,
                  proj: Projections | None = None):
    def hook(module, args, output):
        call = pending.pop()
        if slot is not None:  # the values this call computed -> ‖f_h(x_j)‖ per head and key
            values = slot.pop() if slot else None
            if isinstance(values, Tensor):
                recording.value_norms[site.kind].append(proj.head_norms(values).detach())
            elif isinstance(values, str):
                recording.values_missing = values
            else:
                recording.values_missing = f"{site.where} did not call its value projection"
        weights = site.reader.weights(output)
        if weights is None:
            why = ("it needs eager attention (attnviz switches Hugging Face models to eager itself)" if eager_needed
                   else "attnviz has no way to ask this module for them")
            raise UnsupportedModelError(f"{site.where} returned no attention weights; {why}")
        if weights.dim() == 3:  # unbatched nn.MultiheadAttention: (heads, L, S)
            weights = weights.unsqueeze(0)
        allowed = site.reader.allowed(call, weights.size(-2), weights.size(-1)) if weights.dim() == 4 else None
        check_weights(weights, allowed if allowed is not None else torch.ones(1, 1, 1, dtype=torch.bool), site.where,
                      heads=site.reader.heads(module), batch=call.batch, queries=call.queries)
        recording.weights[site.kind].append(weights.detach())
        recording.layer_masks[site.kind].append(allowed)
        recording.masks.setdefault(site.kind, allowed)
        return site.reader.restore(output, call)

    return hook


# ------------------------------------------- nn.TransformerEncoder's nested-tensor path


def _would_nest(encoder: nn.TransformerEncoder, src: Tensor, mask: Tensor | None, padding: Tensor | None) -> bool:
    """Whether ``encoder`` (with ``use_nested_tensor`` on) would turn ``src`` into a NestedTensor:
    the conditions of ``nn.TransformerEncoder.forward`` (torch 2.13), which then drops the padding
    mask for its layers and returns zeros (before the final norm) at padded positions."""
    first = encoder.layers[0]
    if (not torch.backends.mha.get_fastpath_enabled() or first.training or src.dim() != 3 or padding is None
            or src.is_nested or mask is not None or torch.is_autocast_enabled()):
        return False
    pad = padding if padding.dtype == torch.bool else padding != 0
    if getattr(encoder, "mask_check", True) and not torch._nested_tensor_from_mask_left_aligned(src, pad.logical_not()):
        return False
    params = [first.self_attn.in_proj_weight, first.self_attn.in_proj_bias, first.self_attn.out_proj.weight,
              first.self_attn.out_proj.bias, first.norm1.weight, first.norm1.bias, first.norm2.weight, first.norm2.bias,
              first.linear1.weight, first.linear1.bias, first.linear2.weight, first.linear2.bias]
    tensors = [src, *[p for p in params if p is not None]]
    if torch.overrides.has_torch_function(tensors) or src.device.type not in ("cpu", "cuda", "xpu"):
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def _dense_encoders(model: nn.Module) -> list:
    """For each ``nn.TransformerEncoder`` that may take its nested-tensor path: turn the path off
    (the padding mask then reaches the attention modules, where it is recorded) and reproduce its
    output, zeros at padded positions before the final norm. Returns handles and undo steps."""
    undo, handles = [], []
    for encoder in model.modules():
        if not isinstance(encoder, nn.TransformerEncoder) or not getattr(encoder, "use_nested_tensor", False):
            continue
        state: dict = {}

        def pre(module, args, kwargs, state=state):
            bound = inspect.signature(nn.TransformerEncoder.forward).bind(module, *args, **kwargs).arguments
            padding = bound.get("src_key_padding_mask")
            module.use_nested_tensor = True  # evaluate the encoder's own condition as it stands
            state["pad"] = padding if _would_nest(module, bound["src"], bound.get("mask"), padding) else None
            module.use_nested_tensor = False

        def last_layer_out(module, args, output, state=state):
            pad = state.get("pad")
            if pad is not None:
                pad = pad if pad.dtype == torch.bool else pad != 0
                return output.masked_fill(pad[..., None], 0.0)
            return None

        encoder.use_nested_tensor = False
        undo.append(lambda e=encoder: setattr(e, "use_nested_tensor", True))
        handles.append(encoder.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(encoder.layers[-1].register_forward_hook(last_layer_out))
    return handles, undo


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


def _projections(model: nn.Module, sites: list[Site], needed: bool) -> dict[str, Projections] | str:
    """Each site's projections by site name, or why they cannot be found (one message)."""
    if not needed:
        return {}
    try:
        return {site.name: projections(site.module, _parent(model, site.name)) for site in sites}
    except UnsupportedModelError as exc:
        return str(exc)


def _parent(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model


@contextmanager
def record(model: nn.Module, causal: bool = False, values: bool = False, ablation: Ablation | None = None) -> Iterator[Recording]:
    """Record every attention module's weights while the block runs ``model``.

    ``causal=True`` adds a look-ahead mask to every self-attention (encoder and decoder):
    position i then attends only to positions <= i, whatever the model would do (a decoder's
    own look-ahead mask is applied by the model itself, with or without this option).
    Each recorded tensor is checked; one that fails raises ``AttentionCheckError``.

    ``values=True`` also records ‖f_h(x_j)‖ per head and key (``Recording.norms``) from the values
    the same call computed; a model whose projections attnviz cannot find records none and says
    why in ``Recording.values_missing``. ``ablation`` switches heads off (``Ablation``); it raises
    ``UnsupportedModelError`` for a model whose output projection attnviz cannot hook.
    """
    sites = find_sites(model)
    if not sites:
        raise UnsupportedModelError(
            f"{type(model).__name__} has no attention module attnviz can record "
            "(supported: attnviz's local transformer, torch.nn.MultiheadAttention, "
            "Hugging Face *Attention modules)"
        )
    recording = Recording()
    config = getattr(model, "config", None)
    eager_needed = getattr(config, "_attn_implementation", None) not in (None, "eager")
    with model_lock(model), _eager_attention(model):
        handles, undo = [], []
        try:
            handles, undo = _dense_encoders(model)
            found = _projections(model, sites, needed=values or ablation is not None)
            if isinstance(found, str):
                if ablation is not None:
                    raise UnsupportedModelError(f"heads cannot be switched off: {found}")
                recording.values_missing = found
                found = {}
            layers: dict[str, int] = {}
            for site in sites:
                pending: list[Call] = []
                proj = found.get(site.name)
                slot = [] if values and proj is not None else None
                handles.append(site.module.register_forward_pre_hook(_pre_hook(site, causal, pending, layers), with_kwargs=True))
                if slot is not None:
                    handles.extend(_value_hooks(site, proj, slot))
                handles.append(site.module.register_forward_hook(_forward_hook(site, recording, pending, eager_needed, slot, proj)))
                if ablation is not None and site.kind == "self":
                    if proj.out is None:
                        raise UnsupportedModelError(
                            f"{site.where} computes its output projection inside one fused function, so attnviz "
                            "cannot switch its heads off")
                    handles.append(proj.out.register_forward_pre_hook(_ablation_hook(site, proj, ablation, layers)))
            yield recording
        finally:
            for handle in handles:
                handle.remove()
            for step in undo:
                step()
