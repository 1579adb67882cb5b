"""What a recording keeps (the Recording) and what attnviz keeps on each model it records (its ModelState).

``Recorder`` is one ``record`` call: its hooks hand it each call's weights to keep and check, and
the values to turn into value norms. The rest is done when the block ends, in one loop: each call's
mask read, its shape checked, and its values in full the first time its module runs in a mask mode on
the model, else every layer of a kind at once (see "Paying for the check" in ``attnviz.checks``); the
value norms in one batch.
(Measured at 128 tokens, MiniLM, 6 layers: the pre-hooks and forward hooks took 0.21 ms of a capture
while they read each call's mask and checked it; keeping only, 0.07 ms, and the calls' checks 0.02 ms
in the loop at the end. Python run between a layer's matrix products finds little of its data in the
CPU's caches.)

Recorded weights go into one float32 array per kind, (layers, batch, heads, query, key), allocated by
numpy: ``Recording.stack`` is that array, ``Recording.row`` a view of it when the row needs no cutting.
For BERT's family of Hugging Face models the weights are computed there (``Recording.slot``, written by
``attnviz.in_place``): nothing is copied between the model and a ``Run``. Every other module's weights
are copied into it as each layer's forward hook runs (``Recording.keep``): one copy. Measured at 512
tokens with MiniLM (6 layers, 12 heads, 75 MB of weights; one thread): keeping the model's own tensors
costs 31 ms of fresh memory during the forward pass (the model cannot reuse a layer's buffers) and a
``torch.stack`` after it 37 ms more; the copy into numpy's array costs 18 ms in all (numpy asks for huge
pages for large arrays: far fewer page faults than torch's allocator, 9 ms instead of 26 ms to touch
75 MB), 11 ms on two threads; computing them in place, none.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from attnviz.checks import SAMPLE_EVERY, check_shape, check_values, tolerance
from attnviz.errors import AttentionCheckError
from attnviz.labels import KINDS
from attnviz.projections import Projections, head_norms, stack_factors, stacked_head_norms
from attnviz.sites import Call, Site


def gathered(parts: list[Tensor]) -> np.ndarray:
    """The tensors of one shape stacked into a new float32 array: (len(parts), *shape), one copy."""
    out = np.empty((len(parts), *parts[0].shape), dtype=np.float32)
    for i, part in enumerate(parts):
        _copy(out[i], part)
    return out


def _copy(into: np.ndarray, part: Tensor) -> None:
    """torch's copy (on all of torch's threads; any dtype and device) into numpy's memory."""
    torch.from_numpy(into).copy_(part.detach())


@dataclass
class Recording:
    """Weights recorded during the block, per kind, in call order (= layer order).

    weights:      kind -> [(batch, heads, query, key)] per layer, each checked; float32 views of one
                  array per kind (``stack``), or the model's own tensor for calls beyond the kind's layers
    value_norms:  kind -> [(batch, heads, key)] per layer: ‖f_h(x_j)‖ = ‖(x_j W_V^h + b_V^h) W_O^h‖, from
                  the values the model computed in the same call (``record(values=True)``)
    values_missing: why value norms were not recorded for this model (None: they were, or not asked)
    masks:        kind -> the mask the first layer of that kind applied: bool (batch | 1, query,
                  key), True = may attend (``capture`` gives it to the Run as ``mask``, ``decoder_mask``
                  and ``cross_mask``)
    layer_masks:  kind -> the mask of every layer (they differ with sliding windows, e.g. Gemma 2)
    logits:       kind -> the terms of every logit, an ``attnviz.logit_terms.LogitTerms`` (only with
                  ``attnviz.logits.record_logits``; empty otherwise)
    """

    weights: dict[str, list[Tensor]] = field(default_factory=lambda: defaultdict(list))
    masks: dict[str, Tensor] = field(default_factory=dict)
    layer_masks: dict[str, list[Tensor]] = field(default_factory=lambda: defaultdict(list))
    value_norms: dict[str, list[Tensor]] = field(default_factory=lambda: defaultdict(list))
    values_missing: str | None = None
    logits: dict = field(default_factory=dict)
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # kind -> (layers, B, H, Q, K)
    _slots: dict[str, tuple[Tensor, ...]] = field(default_factory=dict, repr=False)  # kind -> its array's layers, as tensors
    _spilled: set[str] = field(default_factory=set, repr=False)  # kinds with a call kept outside their array
    _given: tuple | None = field(default=None, repr=False)  # the last ``slot`` handed out: (kind, index, tensor)
    _norm_stacks: dict[str, Tensor] = field(default_factory=dict, repr=False)  # kind -> its value_norms, stacked

    def slot(self, kind: str, shape: tuple[int, ...], layers: int) -> Tensor | None:
        """Where the kind's next call's weights (``shape``) go in its array, made at its first call for ``layers``
        calls of this shape (a float32 tensor on the array's memory), or None when the array cannot hold them.
        ``attnviz.in_place`` computes the weights there; ``keep`` then has nothing to copy."""
        kept = self.weights[kind]
        if kind not in self._arrays:
            self._arrays[kind] = np.empty((layers, *shape), dtype=np.float32)
            self._slots[kind] = torch.from_numpy(self._arrays[kind]).unbind(0)  # every call's slot, made at once
        array = self._arrays[kind]
        if kind in self._spilled or len(kept) >= array.shape[0] or array.shape[1:] != tuple(shape):
            return None
        given = self._slots[kind][len(kept)]
        self._given = (kind, len(kept), given)
        return given

    def keep(self, kind: str, weights: Tensor, layers: int) -> tuple[Tensor, bool]:
        """Keep one call's weights: copied into their ``slot`` of the kind's array, unless they were computed there
        (they are the kind's next call's, in the ``slot`` last handed out: written by ``attnviz.in_place``'s softmax,
        or copied there from the module's own eager function, a softmax too); a call beyond the array's calls, or of
        another shape, is kept as it is. Returns what is kept, and whether it was computed in its slot."""
        kept = self.weights[kind]
        given = self._given
        computed = given is not None and given[2] is weights and given[:2] == (kind, len(kept))
        if computed:
            self._given = None
        else:
            target = self.slot(kind, tuple(weights.shape), layers)
            if target is None:
                self._spilled.add(kind)
                weights = weights.detach()
            else:
                weights = target.copy_(weights.detach())
        kept.append(weights)
        return weights, computed

    def _array(self, kind: str) -> np.ndarray | None:
        """The kind's array when it holds every call of the kind (so it is their stack), else None."""
        array = self._arrays.get(kind)
        whole = array is not None and kind not in self._spilled and len(self.weights.get(kind, ())) == array.shape[0]
        return array if whole else None

    def norms(self, kind: str = "self") -> Tensor | None:
        """‖f_h(x_j)‖, (layers, batch, heads, key) float32 (``record(values=True)``), or None when not
        recorded (``values_missing`` says why)."""
        if self.values_missing is not None or not self.value_norms.get(kind):
            return None
        stacked = self._norm_stacks.get(kind)
        return stacked if stacked is not None else torch.from_numpy(gathered(self.value_norms[kind]))

    def stack(self, kind: str = "self") -> Tensor:
        """(layers, batch, heads, query, key) float32, detached, on the CPU."""
        if not self.weights.get(kind):
            raise KeyError(f"no {kind!r} attention was recorded (recorded: {sorted(self.weights)})")
        array = self._array(kind)
        return torch.from_numpy(array if array is not None else gathered(self.weights[kind]))

    def row(self, kind: str, row: int, queries: int, keys: int) -> np.ndarray:
        """Batch row ``row``, (layers, heads, queries, keys) float32 C-contiguous: its first ``queries`` x
        ``keys`` (the padding cut off). A view of the recorded array when that is all of it, else a copy."""
        array = self._array(kind)
        if array is not None and array.shape[1] == 1 and array.shape[-2:] == (queries, keys):
            return array[:, 0]
        return gathered([w[row, :, :queries, :keys] for w in self.weights[kind]])

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if self.weights.get(k)]


@dataclass(eq=False)
class ModelState:
    """What attnviz keeps on a model it records (``model_state``), shared by every caller of that model:

    lock:     serialises recordings (and attention-implementation switches) on the model
    checked:  (site, look-ahead, mask mode) keys whose tensors were checked in full once (``Recorder._check``)
    turn:     recordings so far; picks the rows whose masked keys a later recording checks
    plan:     the sites to hook and their projections, found once per module tree (``hooks._plan``)
    in_place: (site, look-ahead, mask given) -> whether its in-place weights were eager's, bit for bit
              (``attnviz.in_place``: checked on the first call in each mode)
    factors:  kind -> the value norms' factors of its calls and their stack, kept while every factor is the
              same tensor (``Projections.factor`` makes a new one when W_O changes)

    Written only while ``lock`` is held (``record`` holds it for the whole forward pass). A copy
    of the model (``copy.deepcopy``, pickling) starts afresh: it may be changed before it runs.
    """

    lock: threading.RLock = field(default_factory=threading.RLock)
    checked: set = field(default_factory=set)
    turn: int = 0
    plan: object | None = None
    in_place: dict = field(default_factory=dict)
    factors: dict = field(default_factory=dict)  # kind -> (each call's ``Projections.factor``, them stacked): ``finish``

    def __deepcopy__(self, memo: dict) -> ModelState:
        return ModelState()

    def __reduce__(self):
        return ModelState, ()


_STATE = "_attnviz_state"  # the attribute of the model (an nn.Module) that holds its ModelState


def model_state(model: nn.Module) -> ModelState:
    """The model's ModelState, made on first use (``dict.setdefault`` is atomic: one per model)."""
    found = vars(model).get(_STATE)
    return found if found is not None else vars(model).setdefault(_STATE, ModelState())


@dataclass
class Recorder:
    """One ``record`` call: where its hooks put what they read, and what is left to do when the block ends."""

    recording: Recording
    state: ModelState
    causal: bool
    eager_needed: bool
    later: dict[str, list[_Call]] = field(default_factory=lambda: defaultdict(list))
    values: dict[str, list[tuple[Projections, Tensor]]] = field(default_factory=lambda: defaultdict(list))
    masks_read: dict = field(default_factory=dict)  # (reader, mask ids, shape) -> (mask, extra, allowed, masked): ``allowed``
    noted: list[tuple] = field(default_factory=list)  # (site, call, kept weights, softmaxed, dtype) per call: ``keep``

    def allowed(self, site: Site, call: Call, length: int, source: int) -> tuple[Tensor, bool]:
        """The mask ``call`` applied (``Reader.allowed``) and whether it forbids any key, read once per mask tensor in
        a recording: a model hands every layer the same mask, so the layers share one reading (a call with no mask
        allows every key: nothing to read). The mask tensors are kept with it, so that an id is never that of a
        freed mask."""
        key = (site.reader.name, id(call.mask), id(call.extra), call.batch, length, source)
        found = self.masks_read.get(key)
        if found is None or found[0] is not call.mask or found[1] is not call.extra:
            allowed = site.reader.allowed(call, length, source)
            masked = not (call.mask is None and call.extra is None) and not bool(allowed.all())
            found = self.masks_read[key] = (call.mask, call.extra, allowed, masked)
        return found[2], found[3]

    def keep(self, site: Site, call: Call, weights: Tensor, layers: int) -> None:
        """Keep one call's weights in the recording (``Recording.keep``: ``layers`` calls of its kind), and note the
        call for what is left to do when the block ends (``finish``: its mask read, its check)."""
        kept, softmaxed = self.recording.keep(site.kind, weights, layers)
        self.noted.append((site, call, kept, softmaxed, weights.dtype))

    def _check(self, site: Site, call: Call, weights: Tensor, allowed: Tensor, masked: bool, softmaxed: bool,
               dtype: torch.dtype) -> None:
        """Check one call's weights (kept, as float32 when they were computed in another ``dtype``; ``masked``: its
        mask forbids some key): its shape, and in full, the first time ``site`` runs in this mask mode on this
        model; else its values with the other calls of its kind (``_check_kind``)."""
        check_shape(weights, allowed, site.where, heads=site.heads, batch=call.batch, queries=call.queries)
        key = (site.name, self.causal and site.kind != "cross", _form(call.mask), _form(call.extra), masked, dtype)
        full = key not in self.state.checked
        tol = tolerance(dtype)
        if full:
            check_values(weights, allowed, site.where, tol)
            self.state.checked.add(key)
        self.later[site.kind].append(_Call(site.where, tol, masked, full, softmaxed))

    def finish(self) -> None:
        """What the block's end leaves: each call's mask read (``allowed``) and its check (``_check``), the value norms
        of every call, computed in one batch per kind, and the checks of the kinds' values, on all calls of a kind at
        once (``_check_kind``)."""
        rec = self.recording
        for site, call, weights, softmaxed, dtype in self.noted:
            allowed, masked = (self.allowed(site, call, weights.size(-2), weights.size(-1)) if weights.dim() == 4
                               else (torch.ones(1, 1, 1, dtype=torch.bool), False))  # not (batch, heads, query, key): ``_check`` says so
            rec.layer_masks[site.kind].append(allowed)
            rec.masks.setdefault(site.kind, allowed)
            self._check(site, call, weights, allowed, masked, softmaxed, dtype)
        for kind, pairs in self.values.items():
            sites, values = [p for p, _ in pairs], [v for _, v in pairs]
            factors = [p.factor() for p in sites]
            kept = self.state.factors.get(kind)
            if kept is None or len(kept[0]) != len(factors) or any(a is not b for a, b in zip(kept[0], factors)):
                kept = self.state.factors[kind] = (factors, stack_factors(factors))
            stacked = stacked_head_norms(sites, values, kept[1])  # one tensor for all calls (``Recording.norms``), if it can be
            rec.value_norms[kind] = list(stacked.unbind(0)) if stacked is not None else head_norms(sites, values)
            if stacked is not None:
                rec._norm_stacks[kind] = stacked
        for kind, calls in self.later.items():
            if not all(c.full for c in calls):
                _check_kind(rec, kind, calls, self.state.turn)


def _form(mask: Tensor | None) -> tuple | None:
    """How a mask reached the module (dtype and dimensions), for the keys of the checks in full."""
    return None if mask is None else (mask.dtype, mask.dim())


class _Call(NamedTuple):
    """One call's weights, for their check when the block ends."""

    where: str
    tol: float
    masked: bool  # its mask forbids some key
    full: bool  # checked in full already
    softmaxed: bool  # computed in its slot by attnviz's softmax (``attnviz.in_place``): no weight can be negative


def _check_kind(rec: Recording, kind: str, calls: list[_Call], turn: int) -> None:
    """The values of every call of ``kind``, checked as one tensor (layers * batch, heads, query, key) when
    they are one array, the masked keys on every SAMPLE_EVERY-th row; when that fails, call by call in full,
    so that the error names the module."""
    weights, masks = rec.weights[kind], rec.layer_masks[kind]
    tol = max(c.tol for c in calls)
    stacked = rec.stack(kind) if len(weights) == len(calls) and len({w.shape for w in weights}) == 1 else None
    try:
        if stacked is None:
            for w, m, c in zip(weights, masks, calls):
                check_values(w, m, c.where, c.tol, SAMPLE_EVERY, turn, softmaxed=c.softmaxed)
            return
        layers, b, h, q, k = stacked.shape
        allowed = (torch.stack([m.expand(b, q, k) for m in masks]).reshape(layers * b, q, k) if any(c.masked for c in calls)
                   else None)  # None: every key is allowed
        check_values(stacked.reshape(layers * b, h, q, k), allowed, f"the {kind} attention", tol, SAMPLE_EVERY, turn,
                     softmaxed=all(c.softmaxed for c in calls))
    except AttentionCheckError:
        for w, m, c in zip(weights, masks, calls):
            check_values(w, m, c.where, c.tol)
        raise
