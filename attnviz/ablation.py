"""Switch attention heads off and see what changes: the output vectors, and a masked word's prediction.

    effect = head_effect(model, "the dogs [MASK] fast", heads=[(2, 1)], mode="zero")
    effect.change                 # per token: ‖h_off - h_on‖ / ‖h_on‖ of the final output vector
    effect.predictions[0].top     # at the [MASK]: top-k words with every head on ...
    effect.predictions[0].top_off # ... and with the chosen heads off

Switching head h of layer l off (``attnviz.hooks.Ablation``) changes what the head hands to the
output projection: its slice of the concatenated heads is set to zero (``mode="zero"``), or to
its mean over the text's real tokens (``mode="mean"``: the head then adds the same vector at every
position, the average of what it added, so only *where* it looks is removed, not its average
contribution). Everything else runs as before, so the change is the head's own effect through
everything above it. Heads are 0-based ``(layer, head)`` pairs of the self-attention stack (the
encoder of an encoder-decoder).

A model with a masked-word head (``has_lm_head``: attnviz's local transformer, or a Hugging Face
encoder loaded with its masked-LM head, e.g. ``BertForMaskedLM``) also gets predictions at every
mask token of the text (``[MASK]`` for the local model; the tokenizer's mask token for Hugging
Face). The app's default encoder (all-MiniLM-L6-v2, loaded as ``BertModel``) has none: it gets the
change of the output vectors only. ``masked_predictions`` runs the same ablation over many padded
inputs in batches (for benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from attnviz.encoding import Encoded, pad_token_id, plan_batches
from attnviz.errors import EmptyInputError
from attnviz.hooks import Ablation, model_lock, record
from attnviz.loaded import LoadedModel
from attnviz.local.tokenizer import MASK

MODES = ("zero", "mean")


@dataclass(frozen=True)
class Prediction:
    """What the model predicts at one masked position, with every head on and with the heads off."""

    position: int  # token position predicted (a [MASK] token)
    word: str  # the token shown there in the text ("[MASK]", or the word that ``position`` replaced)
    top: list[tuple[str, float]]  # top-k (token, probability) with every head on
    top_off: list[tuple[str, float]]  # top-k with the chosen heads off


@dataclass(frozen=True)
class HeadEffect:
    """The effect of switching ``heads`` off on one text (``head_effect``)."""

    heads: tuple[tuple[int, int], ...]  # 0-based (layer, head)
    mode: str  # "zero" | "mean"
    tokens: list[str]
    change: np.ndarray  # (tokens,) relative change of each token's final output vector, ‖Δh‖/‖h‖
    predictions: list[Prediction]  # empty for a model without an LM head


def has_lm_head(model: LoadedModel) -> bool:
    """Whether ``model`` can fill in a masked word: attnviz's local transformer (its ``lm_head``), or a
    Hugging Face encoder whose module has output embeddings (a masked-LM head, e.g. ``BertForMaskedLM``).
    A decoder's LM head predicts the *next* token, not a masked one, so decoders and encoder-decoders
    count as having none here."""
    if model.is_local:
        return isinstance(getattr(model.module, "lm_head", None), torch.nn.Module)
    if model.kind != "encoder":
        return False
    get = getattr(model.module, "get_output_embeddings", None)
    return callable(get) and get() is not None


def mask_token_id(model: LoadedModel) -> int | None:
    """The id of the mask token (local: ``[MASK]``; Hugging Face: the tokenizer's), None when there is none."""
    if model.is_local:
        return MASK
    mask = getattr(model.tokenizer, "mask_token_id", None)
    return None if mask is None else int(mask)


def token_label(model: LoadedModel, token_id: int) -> str:
    """A vocabulary id as text (a hashing tokenizer, which has no vocabulary, gives "#id")."""
    if model.is_local:
        vocab = getattr(model.tokenizer, "vocab", None)
        return vocab[token_id] if vocab is not None and 0 <= token_id < len(vocab) else f"#{token_id}"
    return str(model.tokenizer.convert_ids_to_tokens(int(token_id)))


def check_heads(model: LoadedModel, heads: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """``heads`` as sorted, distinct 0-based (layer, head) pairs; ValueError naming the valid range for
    anything else."""
    if isinstance(heads, tuple) and len(heads) == 2 and all(isinstance(x, (int, np.integer)) for x in heads):
        raise ValueError(f"heads is a collection of (layer, head) pairs: write [{heads!r}] for the one head {heads!r}")
    out = set()
    valid = f"layers 0..{model.n_layers - 1} and heads 0..{model.n_heads - 1} (0-based)"
    for item in heads:
        try:
            layer, head = item
        except (TypeError, ValueError):
            raise ValueError(f"a head is a (layer, head) pair, not {item!r}; {model.name!r} has {valid}") from None
        if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in (layer, head)):
            raise ValueError(f"a head is a pair of integers, not {item!r}; {model.name!r} has {valid}")
        if not (0 <= layer < model.n_layers and 0 <= head < model.n_heads):
            raise ValueError(f"there is no head ({layer}, {head}) in {model.name!r}: it has {valid}")
        out.add((int(layer), int(head)))
    return tuple(sorted(out))


def check_position(enc: Encoded, position, special_ok: bool = False) -> int:
    """``position`` as an int if it is a token of ``enc`` (and, unless ``special_ok``, not a special token);
    else ValueError saying which positions there are."""
    n = len(enc.ids)
    if not isinstance(position, (int, np.integer)) or not 0 <= position < n:
        raise ValueError(f"position {position!r} is not a token of this text: it has tokens 0..{n - 1}")
    if not special_ok and enc.special[position]:
        raise ValueError(f"position {position} is {enc.tokens[position]!r}, a special token: choose a word's token")
    return int(position)


def final_outputs(model: LoadedModel, ids: Tensor, attention_mask: Tensor | None = None,
                  ablation: Ablation | None = None) -> tuple[Tensor, Tensor | None]:
    """One forward pass: the final hidden states (batch, tokens, d) and, for a model with an LM head
    (``has_lm_head``), the logits (batch, tokens, vocab); else None. With ``ablation`` the pass runs under
    ``record(..., ablation=ablation)`` (UnsupportedModelError for a model whose heads cannot be switched
    off); without, under the model's lock, so no other caller's hooks see it. Local models run their
    encoder (``encode`` and ``lm_head``); an encoder-decoder from Hugging Face its encoder."""
    if attention_mask is None:
        attention_mask = (ids != pad_token_id(model)).long() if model.is_local else torch.ones_like(ids)
    lm = has_lm_head(model)
    module = model.module
    guard = record(module, ablation=ablation) if ablation is not None else model_lock(module)
    with torch.inference_mode(), guard:
        if model.is_local:
            hidden = module.encode(ids)
            return hidden.float(), (module.lm_head(hidden).float() if lm else None)
        if model.kind == "encoder-decoder":
            return module.get_encoder()(input_ids=ids, attention_mask=attention_mask).last_hidden_state.float(), None
        base = getattr(module, "base_model", module)
        if base is module:
            return module(input_ids=ids, attention_mask=attention_mask).last_hidden_state.float(), None
        # a model with a head: the base model's output, kept by a hook for this call (output_hidden_states
        # would make transformers install its own hooks on the model for good)
        kept: list[Tensor] = []
        handle = base.register_forward_hook(lambda m, a, out: kept.append(out[0]))
        try:
            out = module(input_ids=ids, attention_mask=attention_mask)
        finally:
            handle.remove()
        logits = getattr(out, "logits", None) if lm else None
        return kept[-1].float(), (None if logits is None else logits.float())


def _ablation(heads: Iterable[tuple[int, int]], mode: str, attention_mask: Tensor) -> Ablation:
    return Ablation(frozenset(heads), mode, attention_mask.bool() if mode == "mean" else None)


def masked_predictions(model: LoadedModel, ids: Tensor, heads: Iterable[tuple[int, int]] = (), mode: str = "zero",
                       positions: Tensor | None = None, attention_mask: Tensor | None = None,
                       batch_size: int = 128) -> Tensor:
    """Logits of a model with an LM head over many padded inputs, with ``heads`` switched off, in batches.

    ids: (items, width) token ids (padding: the model's pad id, or give ``attention_mask``, 1 = real
    token). positions: (items,) the position to return per item -> (items, vocab); None -> (items,
    width, vocab). Mean ablation averages over each item's own real tokens.
    """
    if not has_lm_head(model):
        raise ValueError(f"{model.name!r} has no masked-word (LM) head, so it makes no predictions")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    chosen = check_heads(model, heads)
    if attention_mask is None:
        attention_mask = (ids != pad_token_id(model)).long()
    out = []
    for start in range(0, ids.shape[0], batch_size):
        part, mask = ids[start:start + batch_size], attention_mask[start:start + batch_size]
        _, logits = final_outputs(model, part, mask, _ablation(chosen, mode, mask))
        if positions is not None:
            logits = logits[torch.arange(part.shape[0]), positions[start:start + batch_size]]
        out.append(logits)
    return torch.cat(out)


def _top(model: LoadedModel, logits: Tensor, k: int) -> list[tuple[str, float]]:
    probs = torch.softmax(logits.double(), dim=-1)
    values, indexes = probs.topk(min(k, probs.numel()))
    return [(token_label(model, int(i)), float(v)) for v, i in zip(values, indexes)]


def head_effect(model: LoadedModel, text: str, heads: Iterable[tuple[int, int]], mode: str = "zero",
                position: int | None = None, top_k: int = 5) -> HeadEffect:
    """Run ``text`` twice, with every head on and with ``heads`` off (``mode`` "zero" or "mean"), both
    under ``record(..., ablation=...)``; return the relative change of every token's final output vector
    and, for a model with an LM head, the top-``top_k`` predictions at each mask token of the text (or,
    with ``position``, at that token position replaced by the mask token; ``Prediction.word`` is then
    the token the text has there). A model with an LM head and nothing masked gets no predictions;
    ``position`` is checked but changes nothing for a model without one.

    Raises EmptyInputError for an empty text, ValueError for a head outside the model (the message
    names the valid range), an unknown mode or a bad position, UnsupportedModelError for a model whose
    heads cannot be switched off (``nn.MultiheadAttention`` computes its output projection inside one
    fused function).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    if not isinstance(text, str) or not text.strip():
        raise EmptyInputError("The text is empty: type a sentence.")
    chosen = check_heads(model, heads)
    batch = plan_batches(model, [text])[0]
    enc = batch.encoded[0]
    ids, mask = batch.ids.clone(), batch.attention_mask
    n = len(enc.ids)
    lm, mask_id = has_lm_head(model), mask_token_id(model)
    if position is not None:
        position = check_position(enc, position)
        where = [int(position)] if lm and mask_id is not None else []
        if where:
            ids[0, position] = mask_id
    else:
        where = [p for p in range(n) if lm and mask_id is not None and not enc.special[p] and enc.ids[p] == mask_id]
    hidden_on, logits_on = final_outputs(model, ids, mask, _ablation((), mode, mask))
    hidden_off, logits_off = final_outputs(model, ids, mask, _ablation(chosen, mode, mask))
    on, off = hidden_on[0].double(), hidden_off[0].double()
    size = on.norm(dim=-1)
    change = torch.where(size > 0, (off - on).norm(dim=-1) / size.clamp(min=1e-30), (off - on).norm(dim=-1))
    predictions = [
        Prediction(p, enc.tokens[p], _top(model, logits_on[0, p], top_k), _top(model, logits_off[0, p], top_k))
        for p in where
    ]
    return HeadEffect(chosen, mode, list(enc.tokens), change.numpy(), predictions)
