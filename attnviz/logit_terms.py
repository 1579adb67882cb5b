"""The terms of each attention logit, as the model used them: queries, keys, scale, position terms, mask.

For layer l, batch row b, head h, query i and key j a recorded model computed

    logit = softcap(scale * q_i · k_j + bias_ij)        weights = softmax over j of (logit, or -inf where masked)

with ``softcap(x) = c * tanh(x / c)`` (Gemma 2; the identity elsewhere) and ``bias`` every additive
position term of the family (T5's and MPNet's relative position bias, DeBERTa-v2's c2p + p2c terms;
None where the family has none). ``LogitTerms.weights(layer)`` recomputes the weights from these terms;
``attnviz.logits.record_logits`` records them and checks, for every family it accepts, that this
reproduces the weights the model returned (within 1e-5 in float32).

    terms = rec.logits["self"]          # or run.qk["self"] of attnviz.capture(model, text, qk=True)
    terms.queries.shape                 # (layers, batch, heads, query, d_head), after rotary embeddings
    terms.weights(3)                    # (batch, heads, query, key), as the model computed them
    terms.dot_terms(3, 0, 5, 2)         # (d_head,): q_5 ∘ k_2 of head 0, summing to q_5 · k_2

Memory, per token and layer: 2 × heads × d_head × 4 bytes for the queries and the keys (grouped-query keys
are stored once per head that reads them), plus the mask (1 byte per query x key) and, for the families
with position terms, 4 bytes × heads per query x key (as large as the weights: T5, MPNet, DeBERTa-v2).
MiniLM (12 heads x 32) at 512 tokens: 0.75 MB of queries and keys per layer, beside 12 MB of weights.

Plain numpy (no torch): a ``Run`` carries these (``Run.qk``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

MASKED = np.finfo(np.float32).min  # what a masked logit becomes (as Hugging Face's eager attention adds)


@dataclass(frozen=True, eq=False)
class LogitTerms:
    """One kind of attention's logit terms (L layers, B batch rows, H heads, Q queries, K keys, d = d_head).

    queries:  float32 ``(L, B, H, Q, d)``: what each head's logits were computed from, after rotary or other
              position encodings of the queries
    keys:     float32 ``(L, B, H, K, d)``: the same for the keys; a key head shared by several query heads
              (grouped-query attention) is repeated for each head that reads it
    scale:    float64 ``(L,)``: the factor on q · k (1 / sqrt(d) for most families)
    mask:     bool ``(L, B|1, H|1, Q, K)``: True where the query may attend to the key (padding, look-ahead,
              sliding windows)
    bias:     float32 ``(L, B|1, H|1, Q, K)``, every additive term besides scale * q · k (relative position
              bias, DeBERTa-v2's c2p + p2c), or None when the family adds none
    softcap:  Gemma 2's attention-logit softcap c (logits = c * tanh(x / c)), or None
    family:   which logit reader read them (``attnviz.logit_readers``)
    """

    queries: np.ndarray
    keys: np.ndarray
    scale: np.ndarray
    mask: np.ndarray
    bias: np.ndarray | None = None
    softcap: float | None = None
    family: str = ""

    @property
    def n_layers(self) -> int:
        return self.queries.shape[0]

    @property
    def n_heads(self) -> int:
        return self.queries.shape[2]

    @property
    def nbytes(self) -> int:
        """Bytes held: queries, keys, mask and bias."""
        return sum(a.nbytes for a in (self.queries, self.keys, self.scale, self.mask, self.bias) if a is not None)

    def qk(self, layer: int) -> np.ndarray:
        """The q · k part of the logits, ``scale * q @ kᵀ``: float32 (B, H, Q, K)."""
        q, k = self.queries[layer], self.keys[layer]
        return (q @ np.swapaxes(k, -1, -2)) * np.float32(self.scale[layer])

    def logits(self, layer: int) -> np.ndarray:
        """``softcap(scale * q @ kᵀ + bias)`` before the mask: float32 (B, H, Q, K)."""
        x = self.qk(layer)
        if self.bias is not None:
            x = x + self.bias[layer]
        if self.softcap is not None:
            c = np.float32(self.softcap)
            x = np.tanh(x / c) * c
        return x

    def weights(self, layer: int) -> np.ndarray:
        """The attention weights recomputed from the terms: softmax over the keys of the logits, masked keys
        set to the lowest float32 first (as Hugging Face's eager attention does: a row with no allowed key
        comes out uniform, where some models give zeros). float32 (B, H, Q, K)."""
        x = np.where(self.mask[layer], self.logits(layer), MASKED)
        x = np.exp(x - x.max(-1, keepdims=True))
        return x / x.sum(-1, keepdims=True)

    def dot_terms(self, layer: int, head: int, query: int, key: int, batch: int = 0) -> np.ndarray:
        """``q ∘ k``, the products of each dimension of head ``head``'s query at ``query`` and key at ``key``:
        float32 (d,), summing to q · k (times ``scale[layer]``: the q · k part of the logit)."""
        return self.queries[layer, batch, head, query] * self.keys[layer, batch, head, key]

    def row(self, row: int, queries: int, keys: int) -> LogitTerms:
        """Batch row ``row`` alone (a batch axis of 1), cut to its first ``queries`` queries and ``keys`` keys
        (the padding cut off, as ``capture`` cuts the weights)."""
        def pick(a: np.ndarray) -> np.ndarray:  # the row, or the one row an array shares with the whole batch
            return a[:, row:row + 1] if a.shape[1] > 1 else a

        def cut(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(pick(a)[..., :queries, :keys])

        return replace(self, queries=np.ascontiguousarray(pick(self.queries)[..., :queries, :]),
                       keys=np.ascontiguousarray(pick(self.keys)[..., :keys, :]), mask=cut(self.mask),
                       bias=None if self.bias is None else cut(self.bias))
