"""Why a head attends where it does, as numbers: one query's logits split into their terms (one row per key),
and one (query, key) dot product split into its dimensions. Plain data read off ``attnviz.logit_terms.LogitTerms``
(no Streamlit); ``attnviz.figures.qk`` makes its figures, the app's ``components.qk_view`` draws them.

    row = query_row(run.qk["self"], layer, head, query)      # per key: scale × q·k, bias, logit, mask, weight
    dims = key_dims(run.qk["self"], layer, head, query, key)  # per dimension: q_i, k_i, q_i·k_i; the dims carrying half

Every number is the library's own: ``LogitTerms.qk``, ``logits``, ``weights`` and ``dot_terms`` of the layer, read at
the head and query (never recomputed another way), so the view shows what ``attnviz.capture(..., qk=True)`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from attnviz.logit_terms import LogitTerms


def _at(a: np.ndarray, batch: int, head: int, query: int) -> np.ndarray:
    """Row ``[batch, head, query]`` of a ``(B|1, H|1, Q|1, K)`` array (an axis of 1 is shared by all)."""
    return a[min(batch, a.shape[0] - 1), min(head, a.shape[1] - 1), min(query, a.shape[2] - 1)]


@dataclass(frozen=True, eq=False)
class QueryRow:
    """One query of one head: its logit to each key (K keys), split into the terms the model added."""

    qk: np.ndarray  # float32 (K,): scale × q · k (``LogitTerms.qk``)
    bias: np.ndarray | None  # float32 (K,): every other additive term (relative position, c2p + p2c), None if none
    logit: np.ndarray  # float32 (K,): softcap(qk + bias), before the mask (``LogitTerms.logits``)
    allowed: np.ndarray  # bool (K,): False where the mask hides the key (its logit becomes -inf)
    weight: np.ndarray  # float32 (K,): softmax of the allowed logits (``LogitTerms.weights``)
    scale: float
    softcap: float | None

    @property
    def summed(self) -> np.ndarray:
        """qk + bias, before the softcap (the logit itself where the family has no softcap)."""
        return self.qk if self.bias is None else self.qk + self.bias

    @property
    def top(self) -> int:
        """The most-attended key (the first of equals)."""
        return int(np.argmax(self.weight))

    def table(self, tokens: list[str]) -> pd.DataFrame:
        """One row per key: "position: token" (plain text), the terms, the logit, whether it is masked (only when
        one is) and the weight."""
        columns = {"key": [f"{j}: {t}" for j, t in enumerate(tokens)], "scale × q·k": self.qk}
        if self.bias is not None:
            columns["bias"] = self.bias
            columns["logit before cap" if self.softcap is not None else "logit"] = self.summed
        if self.softcap is not None:
            columns["softcapped logit"] = self.logit
        if not self.allowed.all():
            columns["masked"] = ~self.allowed
        columns["weight"] = self.weight
        return pd.DataFrame(columns)


def query_row(terms: LogitTerms, layer: int, head: int, query: int, batch: int = 0) -> QueryRow:
    """Query ``query`` of head ``head`` (0-based) of ``layer``: its logit to every key, term by term."""
    return QueryRow(
        qk=terms.qk(layer)[batch, head, query],
        bias=None if terms.bias is None else _at(terms.bias[layer], batch, head, query),
        logit=terms.logits(layer)[batch, head, query],
        allowed=np.broadcast_to(_at(terms.mask[layer], batch, head, query), (terms.keys.shape[3],)),
        weight=terms.weights(layer)[batch, head, query],
        scale=float(terms.scale[layer]),
        softcap=terms.softcap,
    )


def carrying_half(products: np.ndarray) -> np.ndarray | None:
    """The fewest dimensions whose products sum to at least half of their total, q · k, in the direction of q · k
    (for a negative q · k: to at most half of it), largest first; None when q · k is 0 (no half to carry).

    The dimensions are taken by their product in q · k's direction, largest first, until the running sum reaches
    half of the total: no smaller set can (the m largest values have the largest sum of any m). Dimensions that
    pull against q · k are never in it; summed in float64."""
    p = np.asarray(products, dtype=np.float64)
    total = p.sum()
    if total == 0 or not np.isfinite(total):
        return None
    toward = np.sign(total) * p  # each product in q · k's direction
    order = np.argsort(-toward, kind="stable")
    reached = np.cumsum(toward[order]) >= abs(total) / 2
    return order[: int(np.argmax(reached)) + 1]


@dataclass(frozen=True, eq=False)
class KeyDims:
    """One (query, key) pair of one head: its dot product q · k, dimension by dimension (d = d_head)."""

    q: np.ndarray  # float32 (d,): the query, as the head used it (after rotary embeddings)
    k: np.ndarray  # float32 (d,): the key
    products: np.ndarray  # float32 (d,): q ∘ k (``LogitTerms.dot_terms``), summing to q · k
    scale: float

    @property
    def dot(self) -> float:
        """q · k, the sum of the products (float64)."""
        return float(np.sum(self.products, dtype=np.float64))

    @property
    def order(self) -> np.ndarray:
        """The dimensions by |q_i k_i|, largest first (the bars' order)."""
        return np.argsort(-np.abs(self.products), kind="stable")

    @property
    def half(self) -> np.ndarray | None:
        """``carrying_half`` of the products: the fewest dimensions carrying half of q · k, or None when it is 0."""
        return carrying_half(self.products)


def key_dims(terms: LogitTerms, layer: int, head: int, query: int, key: int, batch: int = 0) -> KeyDims:
    """The dot product of query ``query`` and key ``key`` of head ``head`` (0-based) of ``layer``, per dimension."""
    return KeyDims(q=terms.queries[layer, batch, head, query], k=terms.keys[layer, batch, head, key],
                   products=terms.dot_terms(layer, head, query, key, batch), scale=float(terms.scale[layer]))
