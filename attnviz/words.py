"""From tokens to words: array operations on attention ``[..., query, key]``.

A word's tokens are merged by the rule of Clark et al. (2019): attention *to* a word is
the sum over its tokens (so rows still sum to 1), attention *from* a word is the mean
over its tokens. Special tokens ([CLS], [SEP], <s>, </s>) stay units of their own.
Removing special tokens drops their rows and columns and renormalises every row.
"""

from __future__ import annotations

import numpy as np


def units(word_ids: list[int | None]) -> list[list[int]]:
    """Group token positions into display units: one per word, one per special token.

    ``word_ids[t]`` is the word index of token t, or None for a special token. Units
    keep reading order; a word split around other tokens still forms one unit.
    """
    groups: list[list[int]] = []
    first: dict[int, int] = {}
    for t, w in enumerate(word_ids):
        if w is None:
            groups.append([t])
        elif w in first:
            groups[first[w]].append(t)
        else:
            first[w] = len(groups)
            groups.append([t])
    return groups


def membership(groups: list[list[int]], n_tokens: int) -> np.ndarray:
    """(units, tokens) 0/1 matrix: row u marks the tokens of unit u."""
    m = np.zeros((len(groups), n_tokens), dtype=np.float32)
    for u, tokens in enumerate(groups):
        m[u, tokens] = 1.0
    return m


def pool(attention, member):
    """The one implementation of "to a unit = sum over its tokens, from a unit = mean".

    attention: ``[..., T, T]``; member: 0/1 ``[..., U, T]`` (row u marks the tokens of unit
    u; leading dimensions broadcast). Returns ``[..., U, U]``. Works on numpy arrays and on
    torch tensors alike. A unit without tokens gets zero rows and columns.

    When the units are shared along the attention's dimension before its queries (heads: ``member``
    has size 1 there, or no such dimension), that dimension is folded into the products' rows: a few
    large matrix products instead of one tiny product per head (a corpus batch of MiniLM, 6 layers x
    32 sentences x 12 heads of 40 tokens: 2304 products of 40 x 40 become 192 of 480 x 40; 0.12 s
    instead of 0.20 s over the UD EWT dev file, ``benchmarks/bench_scoring.py``).
    """
    counts = member.sum(-1)[..., None]  # [..., U, 1]
    mean_rows = member / (counts + (counts == 0))  # from a unit: mean over its tokens
    to_cols = member.swapaxes(-1, -2)  # [..., T, U]: to a unit, the sum over its tokens
    shared = member.ndim < 3 or member.shape[-3] == 1
    if not shared or attention.ndim < 3:
        # batched products (not one einsum), which keep numpy's BLAS from starting threads that
        # then spin and slow down the model's next forward pass
        return mean_rows @ attention @ to_cols
    if member.ndim >= 3:  # [..., 1, U, T] -> [..., U, T], broadcast against the attention's leading dimensions
        mean_rows, to_cols = mean_rows[..., 0, :, :], to_cols[..., 0, :, :]
    *lead, heads, t, _ = attention.shape
    u = to_cols.shape[-1]
    cols = attention.reshape(*lead, heads * t, t) @ to_cols  # [..., H*T, U]: the columns of every head at once
    cols = cols.reshape(*lead, heads, t, u).swapaxes(-2, -3).reshape(*lead, t, heads * u)  # [..., T, H*U]
    return (mean_rows @ cols).reshape(*lead, u, heads, u).swapaxes(-2, -3)  # [..., H, U, U]


def merge(attention: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """[..., T, T] token attention -> [..., U, U] unit attention (from = mean, to = sum)."""
    return pool(attention, membership(groups, attention.shape[-1])).astype(np.float32)


def merge_mask(mask: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """[Q, K] bool mask -> [U, U]: a unit may attend to a unit if any token pair may."""
    m = membership(groups, mask.shape[-1])
    return (m @ mask.astype(np.float32) @ m.T) > 0


def drop(attention: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Keep the positions where ``keep`` is True (rows and columns); renormalise rows to 1.

    A row whose remaining weights sum to 0 stays all zero instead of becoming NaN.
    """
    kept = attention[..., keep, :][..., :, keep]
    total = kept.sum(axis=-1, keepdims=True)
    return np.divide(kept, total, out=np.zeros_like(kept), where=total > 0).astype(np.float32)


def merge_rect(attention: np.ndarray, row_groups: list[list[int]], col_groups: list[list[int]]) -> np.ndarray:
    """[..., Q, K] attention between two different sequences (cross-attention) -> [..., U, W]:
    from a row unit = mean over its rows, to a column unit = sum over its columns."""
    rows = membership(row_groups, attention.shape[-2])
    counts = rows.sum(-1, keepdims=True)
    cols = membership(col_groups, attention.shape[-1])
    return ((rows / (counts + (counts == 0))) @ attention @ cols.T).astype(np.float32)


def merge_rect_mask(mask: np.ndarray, row_groups: list[list[int]], col_groups: list[list[int]]) -> np.ndarray:
    """[Q, K] bool mask -> [U, W]: a unit may attend to a unit if any token pair may."""
    rows, cols = membership(row_groups, mask.shape[-2]), membership(col_groups, mask.shape[-1])
    return (rows @ mask.astype(np.float32) @ cols.T) > 0


def drop_rect(attention: np.ndarray, keep_rows: np.ndarray, keep_cols: np.ndarray) -> np.ndarray:
    """``drop`` for attention between two sequences: keep rows and columns separately, renormalise rows."""
    kept = attention[..., keep_rows, :][..., :, keep_cols]
    total = kept.sum(axis=-1, keepdims=True)
    return np.divide(kept, total, out=np.zeros_like(kept), where=total > 0).astype(np.float32)
