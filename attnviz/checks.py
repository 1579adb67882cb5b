"""The check of every recorded attention tensor, and how it is paid for.

Every recorded tensor is checked (``check_shape``, ``check_values``) before ``record``'s block ends: shape
(batch, heads, query, key) with the declared head count, finite, not negative, rows summing to 1 over the
keys the mask allows, zero on masked keys. A tensor that fails raises ``AttentionCheckError`` naming the
module: attnviz refuses rather than draws a wrong picture.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor

from attnviz.errors import AttentionCheckError

# ---------------------------------------------------------------- the check


# Paying for the check (issue #21). The check is what makes a misread family impossible to miss, so
# every recording keeps it; what changed is how many passes it makes over the weights.
#
# Measured (profile of MiniLM captures, 6 layers x 12 heads; this 2-core machine, shared): the old check
# made six to eight full passes over every (batch, heads, query, key) tensor (isfinite, any, masked_fill,
# abs, a product with the mask, all), each allocating a tensor of that size: 42% of a 512-token capture.
# Figures from one run, fastest of 15, ms per capture (all 6 layers), torch on 2 threads:
#
#                                     old check   full check   later recordings
#     1 x 16 tokens                        0.58         0.23         0.05
#     1 x 128 tokens                       7.57         0.49         0.25
#     1 x 512 tokens                     121.79         4.37         3.25
#     32 x 40 tokens, padded (scoring)    20.37         5.47         2.48
#
# What every recording checks, on every value: the shape; finiteness, folded into the row sums
# (NaN and infinity propagate into their row's sum); no negative weight (amin); every row summing to 1.
# These are two reductions (sum, amin) that allocate nothing the size of the weights, exact.
# The one costly property is "exactly 0 on the keys the mask forbids": it needs a temporary as large as
# the weights (or as the rows it looks at). It is checked on every row the first time a site runs in a
# mask mode on a model (``recording.Recorder._check``: the key is the site, the look-ahead, how its mask
# reached it, whether the mask forbids anything, the dtype), and after that on every SAMPLE_EVERY-th
# query row, from another row at each recording (``first``). A misread family or mask convention is wrong
# on every row it touches (every row of a padded sentence, every row but the last under a look-ahead), so
# any sample sees it; a stray weight on one row's masked key is seen within SAMPLE_EVERY recordings.
# Later recordings also check each kind's layers together, in one call on one array, when the block
# ends (at 16 tokens, the per-call overhead of a dozen small torch operations was most of the cost);
# when that fails, each layer is checked in full, so the error names its module.
# Weights attnviz computes itself, in their slot of the recording (``attnviz.in_place``: BERT's family), are
# written by aten's softmax, exp(x - max) / sum, which is >= 0 or NaN: later recordings leave out the amin pass
# for them (``softmaxed``; 0.09 ms of a 128-token capture, about 1.5 ms at 512). A NaN still shows in the row
# sums, and so does a weight made negative in place afterwards (by someone's forward hook), unless another
# weight of its row grew by exactly as much; the check in full that names the module still looks for it.
# Rejected: checking only the first recording (weights that go wrong later would be drawn), and a sample
# of rows for every property (a NaN on one row would be missed): the two passes over every value cost
# 3.3 ms of a 512-token capture whose bare forward pass takes about 60 ms here.
SAMPLE_EVERY = 8


@cache
def tolerance(dtype: torch.dtype) -> float:
    """How far a row sum may be from 1: 1e-4 in float32/64 (and for non-float tensors), looser in 16-bit floats."""
    return 1e-4 if not dtype.is_floating_point or torch.finfo(dtype).bits >= 32 else 2e-2


def _fail(where: str, problem: str) -> None:
    raise AttentionCheckError(f"{where}: {problem}. attnviz refuses to show attention it cannot verify.")


def check_weights(weights: Tensor, allowed: Tensor, where: str, heads: int | None = None, batch: int | None = None,
                  queries: int | None = None, every: int = 1, first: int = 0) -> None:
    """Raise AttentionCheckError unless ``weights`` is a faithful attention tensor: ``check_shape``, then
    ``check_values`` (``every``, ``first``: see there) with the tolerance of the weights' dtype."""
    check_shape(weights, allowed, where, heads, batch, queries)
    check_values(weights, allowed, where, tolerance(weights.dtype), every, first)


def check_shape(weights: Tensor, allowed: Tensor, where: str, heads: int | None = None, batch: int | None = None,
                queries: int | None = None) -> None:
    """Raise AttentionCheckError unless ``weights`` is (batch, heads, query, key) with the declared ``heads``,
    ``batch`` and ``queries`` (None: any), and ``allowed`` is a mask (batch | 1, query, key) for it."""
    if weights.dim() != 4:
        _fail(where, f"recorded a {weights.dim()}-d tensor of shape {tuple(weights.shape)}, not (batch, heads, query, key)")
    b, h, length, source = weights.shape
    for label, want, got in (("heads", heads, h), ("batch rows", batch, b), ("query positions", queries, length)):
        if want is not None and want != got:
            _fail(where, f"recorded {got} {label} where the module has {want} (tensor of shape {tuple(weights.shape)})")
    if allowed.dim() != 3 or tuple(allowed.shape[-2:]) != (length, source) or allowed.size(0) not in (1, b):
        _fail(where, f"mask of shape {tuple(allowed.shape)} does not fit weights of shape {tuple(weights.shape)}")


def check_values(weights: Tensor, allowed: Tensor | None, where: str, tol: float, every: int = 1, first: int = 0,
                 softmaxed: bool = False) -> None:
    """Raise AttentionCheckError unless the (batch, heads, query, key) ``weights`` are finite, not negative,
    and each row sums to 1 (within ``tol``) and is 0 on the keys ``allowed`` forbids (bool (batch | 1,
    query, key), True = may attend; None: every key is allowed), so that it sums to 1 over its allowed
    keys. A row with no allowed key at all is only checked for finite, non-negative values (models leave
    it uniform or 0).

    ``every`` > 1 checks the masked keys of every ``every``-th query row only (from ``first``);
    everything else is checked on every value (see "Paying for the check" above). ``softmaxed=True``: the
    weights were written by attnviz's own softmax (``attnviz.in_place``), whose every value is exp(·)/sum ≥ 0
    or NaN, so the pass for negative values is left out (a NaN is still found, by the row sums).
    """
    b, h, length, _ = weights.shape
    w = weights.detach().float().cpu()
    sums = w.sum(-1)  # pass 1: NaN and infinity propagate into their row's sum
    everywhere = allowed is None or bool(allowed.all())
    rows = None if everywhere else allowed.any(-1)[:, None]  # (batch | 1, 1, query): rows with an allowed key
    # a row with no allowed key counts as summing to 1, unless its sum is NaN or infinite (sums - sums is then NaN)
    checked = sums if rows is None else torch.where(rows, sums, sums - sums + 1)
    low, high = torch.aminmax(checked)
    figures = (low, high) if softmaxed else (low, high, w.amin())  # pass 2: the lowest weight
    lo, hi, *lowest = torch.stack(figures).tolist()  # one conversion to Python for all the figures
    if not (math.isfinite(lo) and math.isfinite(hi)):
        _fail(where, "the weights contain NaN or infinite values")
    if lowest and lowest[0] < -tol:
        _fail(where, f"negative weights (minimum {lowest[0]:.3g}); attention weights are probabilities")
    if rows is not None:
        picked = slice(first % every % max(length, 1), None, every)  # a short text: still one row
        forbidden = ~allowed[:, None, picked] & rows[..., picked, None]
        leaked = torch.where(forbidden, w[:, :, picked], 0)  # pass 3, over the picked rows only
        if leaked.numel() and leaked.sum(-1).amax() > 1e-6:  # weights are >= 0, so a row's masked sum bounds each masked weight
            _fail(where, f"weight {leaked.abs().max().item():.3g} on keys the mask forbids")
    if not (lo >= 1 - tol and hi <= 1 + tol):
        _fail(where, f"rows sum to {lo:.4g}..{hi:.4g} over the allowed keys, not 1")
