"""Where an attention site's value and output projections are, and how its heads are laid out.

Value-weighted attention (Kobayashi et al. 2020) needs, for head h and key j, the vector the
head adds to the output: f_h(x_j) = (x_j W_V^h + b_V^h) W_O^h, with W_O^h the head's slice of the
output projection. Head ablation needs the input of the output projection (the concatenated
heads) to switch one head's slice off. ``projections(site_module, parent)`` finds both:

    p = projections(module, parent)
    p.value        # the module whose output holds the value vectors (hooked: what the model computed)
    p.values(out)  # that output -> (batch, key, kv_heads, head_dim)
    p.out          # the output projection: its input is (batch, query, heads * head_dim)
    p.out_weight() # (d_out, heads, head_dim)

Layouts of the value module's output (last dimension):
  "plain"  the values only: kv_heads * head_dim (BERT, BART, T5, Llama, attnviz's own, ...)
  "qkv"    queries, keys, values one after the other (GPT-2, ModernBERT, Phi-3)
  "neox"   per head [q | k | v] (GPT-NeoX)
``nn.MultiheadAttention`` computes V and the output projection inside one fused function, so
its values are computed from the call's ``value`` argument with the module's own weights and
its heads cannot be switched off (``out`` is None). A module none of this fits raises
``UnsupportedModelError`` saying which module it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from attnviz.errors import UnsupportedModelError
from attnviz.local.model import MultiHeadAttention as LocalAttention

# (value module, output module) attribute names on the attention module itself
_PAIRS = (("v_proj", "out_proj"), ("v_proj", "o_proj"), ("v", "o"), ("v_lin", "out_lin"), ("value", "dense"),
          ("c_attn", "c_proj"), ("Wqkv", "Wo"), ("qkv_proj", "o_proj"), ("query_key_value", "dense"))
_VALUE_ONLY = ("value", "value_proj")  # BERT-style: the output projection is the sibling `output.dense`
_PACKED = ("c_attn", "Wqkv", "qkv_proj", "query_key_value")  # one module computes Q, K and V
# packed layouts differ between families (Falcon's groups its keys and values differently), so a
# packed module is read only for the classes whose layout was checked (tests/lib/test_measures.py)
_PACKED_LAYOUTS = {"GPT2Attention": "qkv", "ModernBertAttention": "qkv", "Phi3Attention": "qkv", "GPTNeoXAttention": "neox"}


@dataclass(frozen=True, eq=False)
class Projections:
    """An attention site's value and output projections (see the module docstring)."""

    value: nn.Module | None  # None: nn.MultiheadAttention (values from the call's `value` argument)
    out: nn.Module | None  # None: the output projection is not a module attnviz can hook
    n_heads: int
    n_kv_heads: int
    head_dim: int
    layout: str = "plain"
    torch_mha: nn.MultiheadAttention | None = None
    _factor: list = field(default_factory=list, repr=False)  # [weight, its version, its storage, factor]: factor()

    def values(self, output: Tensor) -> Tensor:
        """The value module's output (batch, key, width) -> values (batch, key, kv_heads, head_dim)."""
        b, s, _ = output.shape
        h, kv, d = self.n_heads, self.n_kv_heads, self.head_dim
        if self.layout == "qkv":
            output = output[..., (h + kv) * d: (h + 2 * kv) * d]
        elif self.layout == "neox":
            return output.view(b, s, h, 3 * d)[..., 2 * d:]
        return output.reshape(b, s, kv, d)

    def torch_values(self, value: Tensor, batch_first: bool) -> Tensor:
        """nn.MultiheadAttention: its ``value`` argument -> (batch, key, heads, head_dim)."""
        m = self.torch_mha
        e = m.embed_dim
        if m._qkv_same_embed_dim:
            w, b = m.in_proj_weight[2 * e:], None if m.in_proj_bias is None else m.in_proj_bias[2 * e:]
        else:
            w, b = m.v_proj_weight, None if m.in_proj_bias is None else m.in_proj_bias[2 * e:]
        if value.dim() == 2:  # unbatched (S, E)
            value = value.unsqueeze(0 if batch_first else 1)
        if not batch_first:
            value = value.transpose(0, 1)
        v = F.linear(value, w, b)  # (B, S, E)
        return v.reshape(v.size(0), v.size(1), self.n_heads, self.head_dim)

    def out_weight(self) -> Tensor:
        """The output projection's weight as (d_out, heads, head_dim): head h's slice is ``[:, h]``."""
        module = self.torch_mha.out_proj if self.torch_mha is not None else self.out
        w = module.weight
        if type(module).__name__ == "Conv1D":  # GPT-2's Conv1D stores (in, out)
            w = w.t()
        return w.reshape(w.size(0), self.n_heads, self.head_dim)

    def factor(self) -> Tensor:
        """R_hᵀ for every head, (heads, head_dim, rank) float32, where W_O^h = Q_h R_h (QR, Q_h with orthonormal
        columns): ‖v W_O^hᵀ‖ = ‖v R_hᵀ‖, a (head_dim x head_dim) product per head instead of the d_out-wide vectors
        themselves. Kept until the output projection's weight changes: another tensor or storage, or the same one
        changed in place (its version counts every in-place change: training, ``load_state_dict``, ``.to()``; not
        one written through ``.data``, which PyTorch does not count, and which attnviz never does)."""
        weight = (self.torch_mha.out_proj if self.torch_mha is not None else self.out).weight
        key = [None if weight.is_inference() else weight._version, weight.data_ptr()]
        if not self._factor or self._factor[0] is not weight or self._factor[1:3] != key:
            w = self.out_weight().detach().double().transpose(0, 1)  # (H, d_out, d), in float64 for the factoring
            self._factor[:] = [weight, *key, torch.linalg.qr(w).R.transpose(1, 2).float().contiguous()]
        return self._factor[3]

    def head_norms(self, values: Tensor) -> Tensor:
        """‖f_h(x_j)‖ for every head and key: values (batch, key, kv_heads, head_dim) -> (batch, heads, key)."""
        return head_norms([self], [values])[0]


def stack_factors(factors: list[Tensor]) -> Tensor | None:
    """``Projections.factor`` of several calls, (calls, heads, head_dim, rank); None when they differ in shape."""
    return torch.stack(factors) if len({f.shape for f in factors}) == 1 else None


def stacked_head_norms(sites: list[Projections], values: list[Tensor], factors: Tensor | None = None) -> Tensor | None:
    """``Projections.head_norms`` of several calls at once (``values[i]`` computed by ``sites[i]``), stacked:
    (calls, batch, heads, key), detached; None when the calls differ in shape (``head_norms`` then takes them
    one by one). The per-call work is a few small operations: batched, they run once. ``factors``: the sites'
    ``stack_factors``, when the caller keeps them from one recording to the next (made here otherwise).

    ‖v W_O^hᵀ‖ = ‖v R_hᵀ‖ (``Projections.factor``): one product with a (head_dim x head_dim) matrix per head and
    one norm (MiniLM at 128 tokens, 6 layers: 0.16 ms, against 0.52 ms for vᵀ(W_O^hᵀ W_O^h)v, which takes a product,
    a multiplication, a sum and a square root, each a pass of its own). Each call's product reads every head's
    values where the model left them, (batch * key) rows a head's width apart, and writes into one tensor for all
    calls: no copy of the values (stacking them first cost 0.02 ms more of the 0.17 ms)."""
    vs = []
    for p, v in zip(sites, values):
        if v.dtype != torch.float32:
            v = v.float()
        if p.n_kv_heads != p.n_heads:  # grouped-query attention: head h reads kv head h // group
            v = v.repeat_interleave(p.n_heads // p.n_kv_heads, dim=2)
        vs.append(v)  # (B, S, H, d)
    if factors is None:
        factors = stack_factors([p.factor() for p in sites])
    if factors is None or len({v.shape for v in vs}) != 1 or vs[0].shape[2] != factors.shape[1]:
        return None
    b, s, h, d = vs[0].shape
    products = torch.empty(len(vs), h, b * s, factors.shape[-1])
    for i, v in enumerate(vs):  # (H, B*S, d) @ (H, d, rank), the values read in place
        torch.matmul(v.reshape(b * s, h, d).transpose(0, 1), factors[i], out=products[i])
    norms = torch.linalg.vector_norm(products, dim=-1)  # (calls, H, B*S)
    return norms.view(len(vs), h, b, s).transpose(1, 2).contiguous().detach()  # (calls, B, H, S)


def head_norms(sites: list[Projections], values: list[Tensor]) -> list[Tensor]:
    """``stacked_head_norms``, one (batch, heads, key) tensor per call (calls of any shapes)."""
    stacked = stacked_head_norms(sites, values)
    if stacked is not None:
        return list(stacked.unbind(0))
    return [stacked_head_norms([p], [v])[0] for p, v in zip(sites, values)]


def _heads(module: nn.Module) -> tuple[int | None, int | None, int | None]:
    config = getattr(module, "config", None)
    n = next((getattr(x, a) for x in (module, config) if x is not None
              for a in ("num_heads", "num_attention_heads", "n_heads", "n_head") if isinstance(getattr(x, a, None), int)), None)
    kv = next((getattr(x, a) for x in (module, config) if x is not None
               for a in ("num_key_value_heads", "num_kv_heads") if isinstance(getattr(x, a, None), int)), n)
    d = next((getattr(x, a) for x in (module, config) if x is not None
              for a in ("head_dim", "attention_head_size", "d_head", "key_value_proj_dim", "d_kv")
              if isinstance(getattr(x, a, None), int)), None)
    return n, kv, d


def projections(module: nn.Module, parent: nn.Module | None = None) -> Projections:
    """The value and output projections of the attention ``module`` (``parent``: the module that
    holds it, where BERT-style models keep the output projection as ``output.dense``)."""
    where = type(module).__name__
    if isinstance(module, LocalAttention):
        return Projections(module.v_proj, module.out_proj, module.num_heads, module.num_heads, module.d_head)
    if isinstance(module, nn.MultiheadAttention):
        return Projections(None, None, module.num_heads, module.num_heads, module.head_dim, torch_mha=module)
    n, kv, d = _heads(module)
    value = out = None
    layout = "plain"
    for v_name, o_name in _PAIRS:
        if isinstance(getattr(module, v_name, None), nn.Module) and isinstance(getattr(module, o_name, None), nn.Module):
            value, out = getattr(module, v_name), getattr(module, o_name)
            if v_name in _PACKED:
                layout = _PACKED_LAYOUTS.get(type(module).__name__)
                if layout is None:
                    raise UnsupportedModelError(
                        f"{where} computes queries, keys and values in one module ({v_name}) whose layout attnviz has "
                        "not checked, so value-weighted attention and head ablation are not available for this "
                        "model (raw attention still is)")
            break
    if value is None:
        v_name = next((a for a in _VALUE_ONLY if isinstance(getattr(module, a, None), nn.Module)), None)
        dense = getattr(getattr(parent, "output", None), "dense", None)
        if v_name is not None and isinstance(dense, nn.Module):
            value, out = getattr(module, v_name), dense
    if value is None or n is None:
        raise UnsupportedModelError(
            f"{where} keeps its value and output projections where attnviz cannot find them, so value-weighted "
            "attention and head ablation are not available for this model (raw attention still is)"
        )
    if d is None:
        width = out.weight.shape[0] if type(out).__name__ == "Conv1D" else out.weight.shape[1]
        d = width // n
    return Projections(value, out, n, kv or n, d, layout)
