"""A transformer written from scratch: the architecture of "Attention Is All You Need".

Everything the app explains lives here, readable top to bottom:

    scaled_dot_product_attention   softmax(Q K^T / sqrt(d_k) + mask) V
    MultiHeadAttention             project, split into heads, attend, concat, project
    PositionalEncoding             fixed sinusoids added to the embeddings
    EncoderLayer                   self-attention -> add & norm -> feed-forward -> add & norm
    DecoderLayer                   masked self-attention -> add & norm -> cross-attention
                                   -> add & norm -> feed-forward -> add & norm
    Transformer                    embeddings, N encoder and N decoder layers, vocab logits

Masks are boolean with True = "may attend"; a masked position gets exactly zero weight.
Every attention module returns ``(output, weights)`` so that attnviz's hooks can read
the weights the model actually used (see ``attnviz.hooks``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(d_k)) v.

    q: (..., L, d_k), k: (..., S, d_k), v: (..., S, d_v); mask broadcastable to (..., L, S),
    True where attention is allowed. Returns (output (..., L, d_v), weights (..., L, S)).
    """
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        # exact zeros where masked, and no NaN for a row with nothing to attend to
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """(L, L) look-ahead mask: position i may attend to positions <= i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


class MultiHeadAttention(nn.Module):
    """Multi-head attention: queries from ``x``, keys and values from ``source``.

    ``source=None`` is self-attention (Q, K, V all from x); another tensor is
    cross-attention (K, V from the encoder memory Z). Batch-first: (B, L, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model={d_model} is not divisible by num_heads={num_heads}: "
                f"each head gets d_model / num_heads dimensions, so pick a number of heads "
                f"that divides {d_model}"
            )
        self.d_model, self.num_heads, self.d_head = d_model, num_heads, d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape  # (B, N, d_model) -> (B, H, N, d_head)
        return x.view(b, n, self.num_heads, self.d_head).transpose(1, 2)

    def forward(
        self, x: Tensor, source: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        source = x if source is None else source
        q = self.split_heads(self.q_proj(x))  # (B, H, L, d_head)
        k = self.split_heads(self.k_proj(source))  # (B, H, S, d_head)
        v = self.split_heads(self.v_proj(source))  # (B, H, S, d_head)
        if mask is not None and mask.dim() == 3:  # (B, L, S) -> (B, 1, L, S): same for all heads
            mask = mask.unsqueeze(1)
        out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, L, d_head), (B, H, L, S)
        b, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(b, length, self.d_model)  # concat heads
        return self.out_proj(out), weights


class PositionalEncoding(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...), added to x."""

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.pe[: x.size(1)]


class FeedForward(nn.Module):
    """Position-wise feed-forward: Linear -> ReLU -> Linear, the same for every position."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class EncoderLayer(nn.Module):
    """x -> self-attention -> add & norm -> feed-forward -> add & norm (post-norm)."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        attended, _ = self.self_attn(x, mask=mask)
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.dropout(self.ff(x)))


class DecoderLayer(nn.Module):
    """y -> masked self-attention -> add & norm -> cross-attention over the encoder
    memory -> add & norm -> feed-forward -> add & norm."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, y: Tensor, memory: Tensor, self_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        attended, _ = self.self_attn(y, mask=self_mask)
        y = self.norm1(y + self.dropout(attended))
        attended, _ = self.cross_attn(y, source=memory, mask=memory_mask)
        y = self.norm2(y + self.dropout(attended))
        return self.norm3(y + self.dropout(self.ff(y)))


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int = 4096
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 256
    max_len: int = 512
    dropout: float = 0.0
    pad_id: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class Transformer(nn.Module):
    """Encoder-decoder transformer with a final linear to vocabulary logits.

    ``encode`` alone is an encoder (used for masked-word models and for the app's
    explorer); ``forward(src, tgt)`` runs encoder and decoder with a look-ahead mask.
    """

    def __init__(self, config: TransformerConfig = TransformerConfig()):
        super().__init__()
        c = self.config = config
        self.embed = nn.Embedding(c.vocab_size, c.d_model, padding_idx=c.pad_id)
        self.pos = PositionalEncoding(c.d_model, c.max_len)
        self.encoder = nn.ModuleList(
            EncoderLayer(c.d_model, c.num_heads, c.d_ff, c.dropout) for _ in range(c.num_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderLayer(c.d_model, c.num_heads, c.d_ff, c.dropout) for _ in range(c.num_layers)
        )
        self.lm_head = nn.Linear(c.d_model, c.vocab_size)

    def embed_tokens(self, ids: Tensor) -> Tensor:
        return self.pos(self.embed(ids) * math.sqrt(self.config.d_model))  # (B, N, d_model)

    def padding_mask(self, ids: Tensor) -> Tensor:
        return (ids != self.config.pad_id)[:, None, :]  # (B, 1, N): keys that are real tokens

    def encode(self, src: Tensor) -> Tensor:
        x, mask = self.embed_tokens(src), self.padding_mask(src)
        for layer in self.encoder:
            x = layer(x, mask=mask)
        return x  # (B, S, d_model)

    def decode(self, tgt: Tensor, memory: Tensor, src: Tensor) -> Tensor:
        y = self.embed_tokens(tgt)
        self_mask = self.padding_mask(tgt) & causal_mask(tgt.size(1), tgt.device)  # (B, T, T)
        memory_mask = self.padding_mask(src)  # (B, 1, S)
        for layer in self.decoder:
            y = layer(y, memory, self_mask=self_mask, memory_mask=memory_mask)
        return y  # (B, T, d_model)

    def forward(self, src: Tensor, tgt: Tensor | None = None) -> Tensor:
        """Logits over the vocabulary: (B, T, vocab) for the decoder, or (B, S, vocab)
        from the encoder alone when ``tgt`` is None."""
        memory = self.encode(src)
        hidden = memory if tgt is None else self.decode(tgt, memory, src)
        return self.lm_head(hidden)
