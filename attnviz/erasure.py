"""Leave-one-out erasure: how much does the model's output at one position depend on each word?

    importance = erasure(model, "the dogs that the cat sees [MASK] fast", position=7)
    importance[w]   # word w (``Run.word_spans`` order): the drop in probability of the prediction at 7

Erasure is the reference that attention-based relevance is compared against (Abnar & Zuidema
2020 correlate rollout and flow with it): erase one word, run the model again, see how much the
output moves. It needs one forward pass per word; attnviz runs them in batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attnviz.ablation import check_position, final_outputs, has_lm_head, mask_token_id
from attnviz.encoding import plan_batches
from attnviz.errors import EmptyInputError
from attnviz.loaded import LoadedModel
from attnviz.words import units


def erasure(model: LoadedModel, text: str | Sequence[str], position: int, target: int | None = None,
            batch_size: int = 64) -> np.ndarray:
    """Leave-one-out importance of every word of ``text`` (a string, or a list of words) for the model's
    output at token ``position``: one value per word, in ``Run.word_spans`` order (the words of
    ``attnviz.capture(model, text)``, special tokens excluded).

    Erasing a word replaces every token of it by the mask token (by the unknown token when the
    tokenizer has no mask token), keeping the length, so positions do not shift.

    * A model with an LM head (``attnviz.ablation.has_lm_head``): the token at ``position`` is
      replaced by the mask token (a typed mask stays), so the model fills it in from the other words;
      importance = p(target | full input) - p(target | word erased), the drop in probability of
      ``target`` (a vocabulary id; default: the model's top prediction with the full input) at
      ``position``. Negative when erasing the word makes ``target`` more likely.
    * Otherwise: importance = 1 - cos(h, h_erased) of the final output vector at ``position``.

    The word that contains ``position`` gets 0: it is the position being explained (with an LM head it
    is masked already; without one, erasing it would only measure that a token's vector depends on the
    token itself). ``batch_size``: erased copies per forward pass; the result does not depend on it.

    Raises EmptyInputError for an empty text, ValueError for a position outside the tokens (or a
    special token with an LM head), a ``target`` outside the vocabulary or given for a model without an
    LM head, and for a tokenizer with neither a mask nor an unknown token.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if (isinstance(text, str) and not text.strip()) or (not isinstance(text, str) and not any(w.strip() for w in text)):
        raise EmptyInputError("The text is empty: type a sentence.")
    batch = plan_batches(model, [text])[0]
    enc = batch.encoded[0]
    lm = has_lm_head(model)
    position = check_position(enc, position, special_ok=not lm)  # with an LM head, the position is masked: a word's token
    blank = _blank_id(model)
    base = batch.ids[0].clone()
    if lm:
        base[position] = blank
    elif target is not None:
        raise ValueError(f"{model.name!r} has no LM head: erasure compares output vectors, there is no target to give")
    spans = [g for g in units(enc.word_ids) if enc.word_ids[g[0]] is not None]
    erased = [w for w, span in enumerate(spans) if position not in span]
    inputs = torch.stack([base, *(_erase(base, spans[w], blank) for w in erased)])
    out_at = _outputs_at(model, inputs, position, lm, batch_size)  # (1 + erased words, vocab | d)
    importance = np.zeros(len(spans), dtype=np.float64)
    importance[erased] = (_probability_drops(out_at, target) if lm else _cosine_distances(out_at)).numpy()
    return importance


def _blank_id(model: LoadedModel) -> int:
    """The token that erases a word: the mask token, else the unknown token."""
    blank = mask_token_id(model)
    if blank is None:
        blank = getattr(model.tokenizer, "unk_token_id", None)
    if blank is None:
        raise ValueError(f"{model.name!r}'s tokenizer has neither a mask nor an unknown token to erase words with")
    return blank


def _erase(ids: torch.Tensor, span: Sequence[int], blank: int) -> torch.Tensor:
    """A copy of ``ids`` with the tokens of ``span`` (one word) replaced by ``blank``."""
    row = ids.clone()
    row[span] = blank
    return row


def _outputs_at(model: LoadedModel, inputs: torch.Tensor, position: int, lm: bool, batch_size: int) -> torch.Tensor:
    """Every row's output at ``position`` (its logits with an LM head, else its final hidden vector), in float64,
    run ``batch_size`` rows at a time."""
    ones = torch.ones_like(inputs)
    picked = []
    for start in range(0, inputs.shape[0], batch_size):
        hidden, logits = final_outputs(model, inputs[start:start + batch_size], ones[start:start + batch_size])
        picked.append(logits[:, position] if lm else hidden[:, position])
    return torch.cat(picked).double()


def _probability_drops(logits: torch.Tensor, target: int | None) -> torch.Tensor:
    """p(target) with the full input (row 0) minus p(target) with each word erased (the other rows);
    ``target`` None: the full input's top prediction."""
    probs = torch.softmax(logits, dim=-1)
    if target is None:
        target = int(probs[0].argmax())
    if not isinstance(target, (int, np.integer)) or not 0 <= target < probs.shape[-1]:
        raise ValueError(f"target {target!r} is not a vocabulary id (0..{probs.shape[-1] - 1})")
    return probs[0, target] - probs[1:, target]


def _cosine_distances(hidden: torch.Tensor) -> torch.Tensor:
    """1 - cos(h, h_erased): row 0 against each of the other rows."""
    return 1 - torch.nn.functional.cosine_similarity(hidden[1:], hidden[:1].expand_as(hidden[1:]), dim=-1)
