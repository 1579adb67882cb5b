"""Per-head summary statistics of attention, and a dominant-pattern label per head.

    df = head_stats(run.attention, run.special, run.mask)    # one row per (layer, head)
    df.loc[df.label == "3-1", ["entropy", "previous", "pattern"]]
    pattern_of(run.head(2, 0), run.special)                   # "previous token"

Every statistic is a mean over query rows q of a per-row quantity of ``a[q, :]``:

entropy        row entropy in bits, ``-sum_k a log2 a``
entropy_norm   row entropy / log2(allowed keys of that row); rows with fewer than 2
               allowed keys are left out (their entropy is 0 by necessity)
mean_distance  ``sum_k a[q, k] * |q - k|``, in positions
special        attention on special-token columns ([CLS], [SEP], <s>, ...)
previous       ``a[q, q-1]`` over rows q >= 1
next           ``a[q, q+1]`` over rows q < K-1
self           ``a[q, q]``

Rows are renormalised to sum 1 first (a no-op for a captured run); a row that sums to
0 (e.g. a row that only looked at special tokens, after ``Run.without_special()``) or
that the mask allows to see nothing is left out of every mean. A statistic with no row
to average over is 0. Labels are "layer-head", 1-based, as in Clark et al. (2019):
"3-1" is layer 3, head 1; the ``layer`` and ``head`` columns are 0-based.

Everything is vectorised over layers, heads and rows (no Python loop over tokens).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from attnviz.labels import head_label

#: A head's pattern is the largest of its previous/next/self/special shares when that
#: share is at least this large (ties go to the earlier of those four, in that order).
DOMINANT_SHARE = 0.5
#: Otherwise a head is "broad" when its mean normalised entropy is above this
#: (1.0 = every row uniform over all the keys it may see).
BROAD_ENTROPY = 0.8

PREVIOUS, NEXT, SELF, SINK, BROAD, OTHER = (
    "previous token", "next token", "self", "[CLS]/[SEP] sink", "broad", "other",
)
#: Every label ``pattern`` can take.
PATTERNS = (PREVIOUS, NEXT, SELF, SINK, BROAD, OTHER)
_SHARE_PATTERNS = np.array([PREVIOUS, NEXT, SELF, SINK], dtype=object)

COLUMNS = [
    "layer", "head", "label", "entropy", "entropy_norm", "mean_distance", "special",
    "previous", "next", "self", "pattern",
]


def _mean(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean over the last axis of ``values`` where ``rows`` is True; 0 where no row counts."""
    rows = np.broadcast_to(rows, values.shape)
    count = rows.sum(axis=-1)
    total = np.where(rows, values, 0.0).sum(axis=-1, dtype=np.float64)
    return np.divide(total, count, out=np.zeros(total.shape), where=count > 0)


def _diagonal_mean(p: np.ndarray, valid: np.ndarray, offset: int) -> np.ndarray:
    """Mean of ``p[..., q, q + offset]`` over the valid rows q that have that cell."""
    diag = np.diagonal(p, offset=offset, axis1=-2, axis2=-1)  # [L, H, n]
    first_row = max(0, -offset)  # offset -1 starts at row 1
    return _mean(diag, valid[..., first_row : first_row + diag.shape[-1]])


def classify(previous, next_, self_, special, entropy_norm) -> np.ndarray:
    """Pattern labels for arrays of shares (any matching shapes); see DOMINANT_SHARE."""
    shares = np.stack(np.broadcast_arrays(previous, next_, self_, special), axis=-1).astype(np.float64)
    best = shares.argmax(axis=-1)  # first maximum wins ties
    dominant = shares.max(axis=-1) >= DOMINANT_SHARE
    fallback = np.where(np.asarray(entropy_norm) > BROAD_ENTROPY, BROAD, OTHER)
    return np.where(dominant, _SHARE_PATTERNS[best], fallback).astype(object)


def _stats_arrays(attention: np.ndarray, special: np.ndarray, mask: np.ndarray | None) -> dict[str, np.ndarray]:
    """The statistics as ``[L, H]`` arrays (see the module docstring)."""
    a = np.array(attention, dtype=np.float32)  # a private copy, normalised in place below
    if a.ndim == 2:
        a = a[None, None]
    if a.ndim != 4:
        raise ValueError(f"attention must be [layers, heads, query, key] or [query, key], not shape {a.shape}")
    n_q, n_k = a.shape[-2:]
    special = np.asarray(special, dtype=bool).reshape(-1)
    if special.shape != (n_k,):
        raise ValueError(f"special has {special.size} flags for {n_k} key positions")

    np.nan_to_num(a, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(a, 0.0, None, out=a)
    total = a.sum(axis=-1, keepdims=True)                               # [L, H, Q, 1]
    p = np.divide(a, total, out=a, where=total > 0)                     # rows sum to 1, or are all 0
    allowed = np.full(n_q, n_k) if mask is None else np.broadcast_to(np.asarray(mask, bool), (n_q, n_k)).sum(-1)
    valid = (total[..., 0] > 0) & (allowed > 0)                         # [L, H, Q]

    plogp = np.log2(p, out=np.zeros_like(p), where=p > 0)
    plogp *= p
    entropy = -plogp.sum(axis=-1, dtype=np.float64)                     # [L, H, Q]
    del plogp
    max_entropy = np.log2(np.maximum(allowed, 1)).astype(np.float64)    # (Q,)
    entropy_norm = np.divide(entropy, max_entropy, out=np.zeros_like(entropy), where=max_entropy > 0)

    distance = np.abs(np.arange(n_q)[:, None] - np.arange(n_k)[None, :]).astype(np.float32)
    mean_distance = np.einsum("lhqk,qk->lhq", p, distance, optimize=True)
    on_special = p @ special.astype(np.float32)                          # [L, H, Q]

    return {
        "entropy": _mean(entropy, valid),
        "entropy_norm": _mean(entropy_norm, valid & (allowed >= 2)),
        "mean_distance": _mean(mean_distance, valid),
        "special": _mean(on_special, valid),
        "previous": _diagonal_mean(p, valid, -1),
        "next": _diagonal_mean(p, valid, 1),
        "self": _diagonal_mean(p, valid, 0),
    }


def head_stats(attention: np.ndarray, special: np.ndarray, mask: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (layer, head), layer-major: the columns of ``COLUMNS``.

    attention:  ``[layers, heads, query, key]`` (or one head's ``[query, key]``)
    special:    bool ``(key,)``, True for special-token positions
    mask:       optional bool ``[query, key]``, True where attending was allowed; it sets
                how many keys each row could see (for ``entropy_norm``, so a causal
                head is judged against the keys it could see) and drops rows that
                could see nothing.
    """
    s = _stats_arrays(attention, special, mask)
    n_layers, n_heads = s["entropy"].shape
    layer, head = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    df = pd.DataFrame({
        "layer": layer.ravel(),
        "head": head.ravel(),
        "label": [head_label(l, h) for l, h in zip(layer.ravel(), head.ravel())],
        **{name: values.ravel() for name, values in s.items()},
    })
    df["pattern"] = classify(df["previous"], df["next"], df["self"], df["special"], df["entropy_norm"])
    return df[COLUMNS]


def pattern_of(head_matrix: np.ndarray, special: np.ndarray, mask: np.ndarray | None = None) -> str:
    """The pattern label of one head's ``[query, key]`` attention."""
    return str(head_stats(head_matrix, special, mask)["pattern"].iloc[0])


def top_links(matrix: np.ndarray, tokens: list[str], k: int = 3, mask: np.ndarray | None = None) -> pd.DataFrame:
    """For each query token, its ``k`` most-attended keys and their weights: ``[Q, K]`` -> table.

    A key the query may not see (``mask`` False, e.g. a future token under the look-ahead mask)
    or that gets no attention at all is never listed: its cells stay empty (token None, weight NaN).
    """
    m = np.asarray(matrix, dtype=np.float32)
    visible = m > 0
    if mask is not None:
        visible &= np.broadcast_to(np.asarray(mask, dtype=bool), m.shape)
    k = max(1, min(k, m.shape[-1]))
    ranked = np.where(visible, m, -1.0)
    order = np.argsort(-ranked, axis=-1, kind="stable")[:, :k]  # (Q, k)
    table = {"position": np.arange(len(tokens)), "token": list(tokens)}
    for rank in range(k):
        keys = order[:, rank]
        ok = np.take_along_axis(visible, keys[:, None], -1)[:, 0]
        table[f"#{rank + 1}"] = [tokens[j] if good else None for j, good in zip(keys, ok)]
        weight = np.take_along_axis(m, keys[:, None], -1)[:, 0]
        table[f"#{rank + 1} weight"] = np.round(np.where(ok, weight, np.nan), 4)
    return pd.DataFrame(table)


def heads_linking(attention: np.ndarray, query: int, key: int) -> pd.DataFrame:
    """Every head, strongest first, by how much position ``query`` attends to position ``key``.

    ``attention`` is ``[layers, heads, Q, K]`` (e.g. ``run.attention``). Columns: ``label``
    ("layer-head", 1-based), ``layer`` and ``head`` (0-based), ``weight`` = a[query, key], and
    ``rank``: 1 when ``key`` is the query's most-attended position in that head, 2 when one
    position gets more, and so on (ties share the better rank).
    """
    a = np.asarray(attention, dtype=np.float32)
    if a.ndim != 4:
        raise ValueError(f"attention must be [layers, heads, query, key], not shape {a.shape}")
    n_layers, n_heads, n_q, n_k = a.shape
    if not (0 <= query < n_q and 0 <= key < n_k):
        raise IndexError(f"query {query} / key {key} outside a {n_q} x {n_k} attention matrix")
    rows = a[:, :, query, :]                                   # (L, H, K)
    weight = rows[:, :, key]                                   # (L, H)
    rank = 1 + (rows > weight[..., None]).sum(-1)              # (L, H)
    layer, head = np.divmod(np.arange(n_layers * n_heads), n_heads)
    frame = pd.DataFrame({
        "label": [head_label(l, h) for l, h in zip(layer, head)],
        "layer": layer, "head": head, "weight": weight.ravel(), "rank": rank.ravel(),
    })
    return frame.sort_values(["weight", "layer", "head"], ascending=[False, True, True], kind="stable").reset_index(drop=True)


def rest_patterns(attention: np.ndarray, special: np.ndarray, mask: np.ndarray | None = None,
                  tokens: Sequence[str] | None = None) -> np.ndarray:
    """``[L, H]`` pattern labels of what each head does *apart from* its sink attention.

    Special tokens' rows and columns are dropped and every row renormalised to 1, then the
    usual rule (``classify``) runs: a head that puts 0.9 on [SEP] and most of the rest on the
    previous token is "previous token" here, where ``head_stats`` calls it a sink. An "other"
    head is named more precisely where a rule fits: most rows' strongest key at one offset
    ("offset +2") or on one token ("mostly to 'snow'", with ``tokens``; else its position).
    """
    a = np.asarray(attention, dtype=np.float32)
    special = np.asarray(special, dtype=bool).reshape(-1)
    keep = ~special
    if keep.all() or not keep.any():
        return head_stats(a, special, mask)["pattern"].to_numpy().reshape(a.shape[:2])
    sub = a[..., keep, :][..., keep]
    sub_mask = None if mask is None else np.asarray(mask, bool)[keep][:, keep]
    names = [f"#{i}" for i in np.flatnonzero(keep)] if tokens is None else [repr(str(tokens[i])) for i in np.flatnonzero(keep)]
    return _refine(sub, head_stats(sub, special[keep], sub_mask)["pattern"].to_numpy().reshape(a.shape[:2]), names)


def _refine(a: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """"other" made specific where a rule fits: most rows' strongest key at one offset
    ("offset +2") or on one token ("one token: #3")."""
    n = a.shape[-1]
    if n < 3:
        return labels
    best = a.argmax(-1)                                        # [L, H, Q]
    offsets = best - np.arange(n)
    out = labels.copy()
    for l, h in zip(*np.nonzero(labels == OTHER)):
        values, counts = np.unique(offsets[l, h], return_counts=True)
        if counts.max() >= 0.5 * n and values[counts.argmax()] != 0:
            out[l, h] = f"offset {int(values[counts.argmax()]):+d}"
            continue
        keys, counts = np.unique(best[l, h], return_counts=True)
        if counts.max() >= 0.5 * n:
            out[l, h] = f"mostly to {names[int(keys[counts.argmax()])]}"
    return out
