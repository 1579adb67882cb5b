"""The logit readers of attention modules with their own attention code, and the choice of a site's reader.

``attnviz.logit_readers`` has the family groups, the base reader and the reader of transformers' attention
interface; ``logit_reader`` here picks the reader of a site.

Forward hooks on the query and key projections (each call's first output) and on the module itself (its
arguments as it received them, its output) give the terms: attnviz's local transformer, MPNet (its
``position_bias`` argument), DeBERTa-v2 (its c2p + p2c terms are the value its own
``disentangled_attention_bias`` returned in that call: the method is wrapped on the instance while
recording) and ``nn.MultiheadAttention`` (queries and keys computed again from the call's ``query`` and
``key`` with the module's own ``in_proj`` weights; the check then confirms them).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from attnviz.local.model import MultiHeadAttention as LocalAttention
from attnviz.logit_readers import (
    GENERIC,
    LogitCall,
    LogitReader,
    UnsupportedLogitsError,
    mask_terms,
    split_heads,
    summed,
)
from attnviz.sites import Site

# ---------------------------------------------------------------- modules with their own attention code


class _Patched:
    """An instance attribute set for the recording (``remove()`` takes it away again)."""

    def __init__(self, module: nn.Module, name: str, value: Any):
        self.module, self.name = module, name
        self.before = vars(module).get(name, _Patched)
        object.__setattr__(module, name, value)

    def remove(self) -> None:
        if self.before is _Patched:
            vars(self.module).pop(self.name, None)
        else:
            object.__setattr__(self.module, self.name, self.before)


class HookLogits(LogitReader):
    """A module with its own attention code: its query and key projections' outputs (``q_name``, ``k_name``;
    each call's first: ``seen["q"][0]``, ``seen["k"][0]``), its arguments as it received them and its output,
    read by ``call``."""

    q_name = k_name = ""
    path = ""  # the module's class: "module path:ClassName"

    def matches(self, module):
        return any(f"{c.__module__}:{c.__name__}" == self.path for c in type(module).__mro__)

    def call(self, site: Site, a: dict, seen: dict[str, list]) -> LogitCall:
        raise NotImplementedError

    def hooks(self, site, sink):
        seen: dict[str, list] = {"q": [], "k": [], "bias": []}

        def start(module, args):  # each call reads its own projections
            for kept in seen.values():
                kept.clear()

        handles = [site.module.register_forward_pre_hook(start)]
        for part, name in (("q", self.q_name), ("k", self.k_name)):
            if name:
                handles.append(getattr(site.module, name).register_forward_hook(
                    lambda m, args, out, part=part: seen[part].append(out.detach().float())))

        def done(module, args, kwargs, output):
            if (self.q_name and not seen["q"]) or (self.k_name and not seen["k"]):
                raise UnsupportedLogitsError(f"{site.where} did not call its query and key projections "
                                             f"({self.q_name}, {self.k_name}) as attnviz expects")
            a = site.signature.bind(*args, **kwargs).arguments
            call = self.call(site, a, seen)
            sink.keep(site, self, call, site.reader.weights(output))

        # prepend: before record's own hook gives the caller back the output it asked for (maybe without weights)
        handles.append(site.module.register_forward_hook(done, with_kwargs=True, prepend=True))
        return handles + self.extra_hooks(site, seen)

    def extra_hooks(self, site: Site, seen: dict) -> list:
        return []


class LocalLogits(HookLogits):
    """attnviz's own ``MultiHeadAttention``: softmax(q kᵀ / sqrt(d_head) masked), bool mask True = may attend."""

    name = "local"
    q_name, k_name = "q_proj", "k_proj"

    def matches(self, module):
        return isinstance(module, LocalAttention)

    def call(self, site, a, seen):
        m = site.module
        q, k = split_heads(seen["q"][0], m.num_heads), split_heads(seen["k"][0], m.num_heads)
        mask = a.get("mask")
        allowed, _ = mask_terms(None if mask is None else mask.bool(), q.size(-2), k.size(-2))
        return LogitCall(q, k, 1 / math.sqrt(m.d_head), allowed)


class MPNetLogits(HookLogits):
    """MPNet: q kᵀ / sqrt(d) + its relative position bias (the ``position_bias`` argument) + the additive mask."""

    name = "mpnet"
    q_name, k_name = "q", "k"
    path = "transformers.models.mpnet.modeling_mpnet:MPNetSelfAttention"

    def call(self, site, a, seen):
        m = site.module
        q, k = split_heads(seen["q"][0], m.num_attention_heads), split_heads(seen["k"][0], m.num_attention_heads)
        allowed, additive = mask_terms(a.get("attention_mask"), q.size(-2), k.size(-2))
        position = a.get("position_bias")
        return LogitCall(q, k, 1 / math.sqrt(m.attention_head_size), allowed,
                         summed(None if position is None else position.detach().float(), additive))


class DebertaLogits(HookLogits):
    """DeBERTa-v2/v3: q kᵀ / sqrt(d * scale_factor) + c2p + p2c (its disentangled position terms), masked where
    ``attention_mask.bool()`` is False. The position terms are the tensor the module's own
    ``disentangled_attention_bias`` returned in the same call, kept by wrapping that method on the instance
    while recording (the model computes them once, as it always does)."""

    name = "deberta-v2"
    q_name, k_name = "query_proj", "key_proj"
    path = "transformers.models.deberta_v2.modeling_deberta_v2:DisentangledSelfAttention"

    def extra_hooks(self, site, seen):
        own = site.module.disentangled_attention_bias

        def kept(*args, **kwargs):
            out = own(*args, **kwargs)
            seen["bias"].append(out)
            return out

        return [_Patched(site.module, "disentangled_attention_bias", kept)]

    def call(self, site, a, seen):
        m = site.module
        h = m.num_attention_heads
        q, k = split_heads(seen["q"][0], h), split_heads(seen["k"][0], h)
        factor = 1 + ("c2p" in m.pos_att_type) + ("p2c" in m.pos_att_type)  # as the module's forward counts them
        mask = a.get("attention_mask")
        allowed, _ = mask_terms(None if mask is None else mask.bool(), q.size(-2), k.size(-2))
        bias = seen["bias"][0].detach().float().view(q.size(0), h, q.size(-2), k.size(-2)) if seen["bias"] else None
        return LogitCall(q, k, 1 / math.sqrt(q.size(-1) * factor), allowed, bias)


class TorchLogits(HookLogits):
    """``torch.nn.MultiheadAttention``: (q / sqrt(d)) kᵀ + attn_mask + key_padding_mask (bool True = masked out,
    or additive floats), the queries and keys computed from the call's ``query`` and ``key`` with the module's
    own input projection."""

    name = "torch"

    def matches(self, module):
        return isinstance(module, nn.MultiheadAttention)

    def refusal(self, site):
        m = site.module
        if m.bias_k is not None or m.add_zero_attn:
            return (f"{site.where} appends a key the inputs do not have (add_bias_kv / add_zero_attn); attnviz reads "
                    "the logits of nn.MultiheadAttention without them only")
        return None

    def call(self, site, a, seen):
        m = site.module
        e, h = m.embed_dim, m.num_heads
        query, key = a["query"], a["key"]
        if query.dim() == 2:  # unbatched (L, E)
            query, key = query.unsqueeze(1), key.unsqueeze(1)
        elif m.batch_first:
            query, key = query.transpose(0, 1), key.transpose(0, 1)  # (L, B, E), as its forward makes them
        packed = m._qkv_same_embed_dim
        w_q, w_k = (m.in_proj_weight[:e], m.in_proj_weight[e:2 * e]) if packed else (m.q_proj_weight, m.k_proj_weight)
        b_q, b_k = (None, None) if m.in_proj_bias is None else (m.in_proj_bias[:e], m.in_proj_bias[e:2 * e])
        with torch.no_grad():
            q = F.linear(query, w_q, b_q).permute(1, 0, 2)  # (B, L, E)
            k = F.linear(key, w_k, b_k).permute(1, 0, 2)
        q, k = split_heads(q.float(), h), split_heads(k.float(), h)
        b, length, source = q.size(0), q.size(-2), k.size(-2)
        attn = a.get("attn_mask")
        if attn is not None and attn.dim() == 3:  # (B * H, L, S): one mask per head
            attn = attn.reshape(b, h, length, source)
        pad = a.get("key_padding_mask")
        if pad is not None:
            pad = pad.reshape(-1, 1, 1, source)
        allowed, bias = torch.ones(1, 1, length, source, dtype=torch.bool), None
        for mask in (attn, pad):  # True = masked out, or additive
            if mask is not None:
                ok, additive = mask_terms(~mask if mask.dtype == torch.bool else mask, length, source)
                allowed, bias = allowed & ok, summed(bias, additive)
        return LogitCall(q, k, 1 / math.sqrt(m.head_dim), allowed, bias)


# DeBERTa (v1) shares DeBERTa-v2's class name but not its code: the readers match module path and class.
READERS: tuple[LogitReader, ...] = (LocalLogits(), TorchLogits(), DebertaLogits(), MPNetLogits())


def logit_reader(site: Site) -> LogitReader:
    """The logit reader for ``site``; UnsupportedLogitsError naming the site when none can read it exactly."""
    reader = next((r for r in READERS if r.matches(site.module)), None)
    if reader is None and site.reader.name not in ("deberta-v2", "mpnet") and GENERIC.matches(site.module):
        reader = GENERIC
    if reader is None:
        raise UnsupportedLogitsError(f"{site.where} computes its attention in its own code, which attnviz has no "
                                     "logit reader for, so it cannot decompose its logits")
    why = reader.refusal(site)
    if why:
        raise UnsupportedLogitsError(why)
    return reader
