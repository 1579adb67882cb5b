"""One hook mechanism: record the attention weights a model computes while it runs.

    with attnviz.record(model, causal=False) as rec:
        out = model(x)
    rec.stack("self")   # (layers, batch, heads, query, key), the weights the model used

``record`` finds the model's attention modules (*sites*), each with the *reader* of its
family (``attnviz.sites``: where the weights are in the output, which argument is the mask
and how it is written, how to ask the module for its weights), registers a forward hook on each
(and a pre-hook where the reader must change the call before it runs: ``Reader.changes_call``)
and removes every hook when the block exits, also when the forward raised. Every recorded tensor
is checked (``attnviz.checks``, "Paying for the check") when the block ends: its shape, and in full
the first time its module runs in its mask mode on this model; later, its values with the other
layers of its kind. A tensor that is not a faithful attention matrix raises
``AttentionCheckError`` naming the module. The weights are copied into one array per kind as
they are recorded, or computed there (``attnviz.recording``, ``attnviz.in_place``); the value norms are
computed when the block ends.

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
    switched for the recording to ``attnviz.in_place.IN_PLACE`` (eager attention that, for BERT's
    family, computes the weights in their place in the recording; every other module runs its own
    eager function) or, where transformers cannot switch it, to eager, and switched back afterwards,
    under the model's lock. Models that ``attnviz.load_model`` loads stay on ``IN_PLACE``.

Each model has one re-entrant lock; recordings on the same model are serialised, so a
model shared by many Streamlit sessions gives each caller exactly its own weights. The lock,
the modes already checked in full and the sites found are kept on the model itself
(``attnviz.recording.model_state``), never in a module-level table.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor, nn

from attnviz import in_place
from attnviz.errors import UnsupportedModelError
from attnviz.projections import Projections, projections
from attnviz.recording import ModelState, Recorder, Recording, model_state
from attnviz.sites import Call, Site, reader_for

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
    found = [(name, module) for name, module in model.named_modules()
             if _ATTENTION.search(type(module).__name__) and type(module).__module__.startswith("transformers.")]
    # named_modules walks depth first, so a module with an "Attention" module inside is followed by one
    # of them: the next one found, when its name starts with this module's name
    return [(name, module) for (name, module), (after, _) in zip(found, [*found[1:], (None, None)])
            if after is None or not (after.startswith(name + ".") or not name)]


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


def _pre_hook(site: Site, looks_ahead: bool, pending: list[Call], layers: dict[str, int]):
    """The hook that prepares each call of ``site`` before it runs (``Reader.prepare``; ``looks_ahead``: add a
    look-ahead mask) and counts the layers of its kind that ran (ablation's ``layers``)."""
    def hook(module, args, kwargs):
        layers[site.kind] = layers.get(site.kind, -1) + 1  # which layer of its kind is running (call order)
        arguments, by_name = site.arguments(args, kwargs)
        pending.append(site.reader.prepare(module, arguments, looks_ahead))
        if by_name:
            return (), arguments
        bound = inspect.BoundArguments(site.signature, arguments)
        return bound.args, bound.kwargs

    return hook


def _value_hooks(site: Site, proj: Projections, slot: list) -> list:
    """Keep the values each call of ``site`` computes in ``slot`` (batch, key, kv_heads, head_dim). (BERT's family
    on ``IN_PLACE`` needs none: its attention calls hand their values over, ``attnviz.in_place.Target.values``.)"""
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


def _forward_hook(site: Site, recorder: Recorder, pending: list[Call] | None, slot: list | None,
                  proj: Projections | None, layers: int):
    """The hook that reads and keeps the weights of each call of ``site`` for their check (``layers``: how many
    sites of its kind the model has). ``pending``: the calls ``_pre_hook`` prepared; None when the site has no
    pre-hook (its reader leaves the call as it is: ``Reader.changes_call``), so that the call is read here."""
    recording = recorder.recording

    def hook(module, args, kwargs, output):
        call = pending.pop() if pending is not None else site.reader.prepare(module, site.arguments(args, kwargs)[0], False)
        if slot is not None:  # the values this call computed -> ‖f_h(x_j)‖ per head and key, when the block ends
            values = slot.pop() if slot else None
            if isinstance(values, Tensor):
                recorder.values[site.kind].append((proj, values))
            elif isinstance(values, str):
                recording.values_missing = values
            else:
                recording.values_missing = f"{site.where} did not call its value projection"
        weights = site.reader.weights(output)
        if weights is None:
            why = ("it needs eager attention (attnviz switches Hugging Face models to eager itself)" if recorder.eager_needed
                   else "attnviz has no way to ask this module for them")
            raise UnsupportedModelError(f"{site.where} returned no attention weights; {why}")
        if weights.dim() == 3:  # unbatched nn.MultiheadAttention: (heads, L, S)
            weights = weights.unsqueeze(0)
        recorder.keep(site, call, weights, layers)  # its mask read and its check when the block ends
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


def _dense_encoders(encoders: list[nn.TransformerEncoder]) -> list:
    """For each ``nn.TransformerEncoder`` that may take its nested-tensor path: turn the path off
    (the padding mask then reaches the attention modules, where it is recorded) and reproduce its
    output, zeros at padded positions before the final norm. Returns handles and undo steps."""
    undo, handles = [], []
    for encoder in encoders:
        if not getattr(encoder, "use_nested_tensor", False):
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


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock that serialises recordings (and attention-implementation switches) on a model."""
    return model_state(model).lock


@contextmanager
def _recording_attention(model: nn.Module) -> Iterator[bool]:
    """The model on an attention implementation that hands back its weights for the block: ``IN_PLACE``
    (``attnviz.in_place``) where the model can switch to it, else eager; yields whether it is ``IN_PLACE``."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if current == in_place.IN_PLACE:
        yield True
        return
    if current is None or not hasattr(model, "set_attn_implementation"):
        yield False
        return
    on = in_place.adopt(model)
    if not on and current != "eager":
        model.set_attn_implementation("eager")
    try:
        yield on
    finally:
        if model.config._attn_implementation != current:
            model.set_attn_implementation(current)


def _projections(model: nn.Module, sites: list[Site]) -> dict[str, Projections] | str:
    """Each site's projections by site name, or why they cannot be found (one message)."""
    try:
        return {site.name: projections(site.module, _parent(model, site.name)) for site in sites}
    except UnsupportedModelError as exc:
        return str(exc)


@dataclass
class _Plan:
    """What ``record`` hooks on a model, found once per module tree (the identity of every submodule)."""

    tree: tuple[int, ...]
    sites: list[Site]
    encoders: list[nn.TransformerEncoder]
    projections: dict[str, Projections] | str | None = None  # None: not needed yet

    @cached_property
    def of_kinds(self) -> Counter:
        """How many sites of each kind the model has (a kind's array in the recording holds that many calls)."""
        return Counter(site.kind for site in self.sites)


def _tree(model: nn.Module) -> tuple[int, ...]:
    """The identity of every submodule, in a fixed order (a plain walk: 30 µs for MiniLM's 117 modules, a third of
    ``model.modules()``'s time)."""
    ids, todo = [], [model]
    pop, push, add = todo.pop, todo.extend, ids.append
    while todo:
        module = pop()
        if module is not None:  # a submodule registered as None
            add(id(module))
            push(module._modules.values())
    return tuple(ids)


def _plan(model: nn.Module, state: ModelState, needed: bool) -> _Plan:
    """The model's plan, kept in its state while its module tree stays the same; with the projections
    when ``needed`` (value norms, ablation)."""
    tree = _tree(model)
    if state.plan is None or state.plan.tree != tree:
        sites = find_sites(model)
        if not sites:
            raise UnsupportedModelError(
                f"{type(model).__name__} has no attention module attnviz can record "
                "(supported: attnviz's local transformer, torch.nn.MultiheadAttention, "
                "Hugging Face *Attention modules)"
            )
        state.plan = _Plan(tree, sites, [m for m in model.modules() if isinstance(m, nn.TransformerEncoder)])
    if needed and state.plan.projections is None:
        state.plan.projections = _projections(model, state.plan.sites)
    return state.plan


def _parent(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model


@contextmanager
def record(model: nn.Module, causal: bool = False, values: bool = False, ablation: Ablation | None = None) -> Iterator[Recording]:
    """Record every attention module's weights while the block runs ``model``.

    ``causal=True`` adds a look-ahead mask to every self-attention (encoder and decoder):
    position i then attends only to positions <= i, whatever the model would do (a decoder's
    own look-ahead mask is applied by the model itself, with or without this option).
    Each recorded tensor is checked when the block ends; one that fails raises ``AttentionCheckError``
    (see the module docstring). The recording is complete when the block ends: use it after the block.

    ``values=True`` also records ‖f_h(x_j)‖ per head and key (``Recording.norms``) from the values
    the same call computed (the norms are computed when the block ends); a model whose projections
    attnviz cannot find records none and says why in ``Recording.values_missing``. ``ablation``
    switches heads off (``Ablation``); it raises ``UnsupportedModelError`` for a model whose output
    projection attnviz cannot hook.
    """
    config = getattr(model, "config", None)
    state = model_state(model)
    recorder = Recorder(Recording(), state, causal, getattr(config, "_attn_implementation", None) not in (None, "eager"))
    recording = recorder.recording
    with state.lock, _recording_attention(model) as on_in_place:
        state.turn += 1
        plan = _plan(model, state, needed=values or ablation is not None)
        found = plan.projections if values or ablation is not None else {}
        handles, undo = [], []
        try:
            handles, undo = _dense_encoders(plan.encoders)
            if isinstance(found, str):
                if ablation is not None:
                    raise UnsupportedModelError(f"heads cannot be switched off: {found}")
                recording.values_missing = found
                found = {}
            layers: dict[str, int] = {}
            targets: dict[int, in_place.Target] = {}
            for site in plan.sites:
                proj = found.get(site.name)
                slot = [] if values and proj is not None else None
                looks_ahead = causal and site.kind != "cross"
                # a pre-hook only where the call must change before it runs, or where ablation counts the layers
                pending: list[Call] | None = None
                if ablation is not None or site.reader.changes_call(looks_ahead):
                    pending = []
                    handles.append(site.module.register_forward_pre_hook(_pre_hook(site, looks_ahead, pending, layers),
                                                                         with_kwargs=True))
                of_kind = plan.of_kinds[site.kind]
                target = None
                if on_in_place:  # the weights computed in their place in the recording (attnviz.in_place)
                    target = targets[id(site.module)] = in_place.target(
                        site.module, lambda shape, kind=site.kind, n=of_kind: recording.slot(kind, shape, n),
                        state.in_place, (site.name, looks_ahead), slot)
                if slot is not None and (target is None or target.values is None):  # else its calls hand their values
                    handles.extend(_value_hooks(site, proj, slot))
                hook = _forward_hook(site, recorder, pending, slot, proj, of_kind)
                handles.append(site.module.register_forward_hook(hook, with_kwargs=True))
                if ablation is not None and site.kind == "self":
                    if proj.out is None:
                        raise UnsupportedModelError(
                            f"{site.where} computes its output projection inside one fused function, so attnviz "
                            "cannot switch its heads off")
                    handles.append(proj.out.register_forward_pre_hook(_ablation_hook(site, proj, ablation, layers)))
            with in_place.targeted(targets):
                yield recording
            recorder.finish()
        finally:
            for handle in handles:
                handle.remove()
            for step in undo:
                step()
