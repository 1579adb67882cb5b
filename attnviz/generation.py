"""Greedy generation, then one captured run over the prompt and what the model wrote.

    run = attnviz.generate(gpt2, "The snow", max_new_tokens=10)  # greedy, at most 50 new tokens
    run.generated_positions     # where the generated tokens are; row p is token p reading everything before it

A decoder-only model continues its prompt (``run.tokens``); an encoder-decoder reads the prompt as its
source and writes its target (``run.target``). The run is ``attnviz.capturing``'s, of the whole sequence.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from attnviz.capturing import runs_of_batch
from attnviz.encoding import Batch, Encoded, decoder_start, encode
from attnviz.errors import EmptyInputError
from attnviz.loaded import LoadedModel
from attnviz.run import Run

MAX_NEW_TOKENS = 50


def _end_ids(model: LoadedModel) -> set[int]:
    """The model's end token(s): the config's (and generation config's) eos ids and the tokenizer's."""
    out: set[int] = set()
    for source in (model.module.config, getattr(model.module, "generation_config", None), model.tokenizer):
        eos = getattr(source, "eos_token_id", None)
        out.update(eos if isinstance(eos, list) else [] if eos is None else [eos])
    return out


def _greedy(model: LoadedModel, ids: list[int], src: torch.Tensor | None, n_new: int) -> list[int]:
    """Greedy decoding: append the highest-scoring next token ``n_new`` times (or until the end token).
    No cache: each step runs the whole sequence, as the recorded run will."""
    eos = _end_ids(model)
    out = list(ids)
    with torch.inference_mode():
        for _ in range(n_new):
            seq = torch.tensor([out])
            if src is None:
                logits = model.module(input_ids=seq, attention_mask=torch.ones_like(seq)).logits
            else:
                logits = model.module(input_ids=src, attention_mask=torch.ones_like(src), decoder_input_ids=seq).logits
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            if nxt in eos:
                break
    return out[len(ids):]


def _pieces(model: LoadedModel, base: str, new_ids: list[int], first_word: int) -> tuple[str, Encoded]:
    """The generated tokens as text: each token decoded on its own and appended to ``base``."""
    tok = model.tokenizer
    special_ids = set(getattr(tok, "all_special_ids", []))
    text, tokens, offsets, special, word_ids = base, [], [], [], []
    word = first_word - 1
    for i in new_ids:
        is_special = i in special_ids
        piece = "" if is_special else tok.decode([i])
        if not is_special and (piece[:1].isspace() or word < first_word or not text or text[-1:].isspace()):
            word += 1
        start = len(text) + (len(piece) - len(piece.lstrip()))
        text += piece
        tokens.append(tok.convert_ids_to_tokens([i])[0] if is_special else (piece.strip() or piece))
        offsets.append((0, 0) if is_special else (start, len(text)))
        special.append(is_special)
        word_ids.append(None if is_special else word)
    return text, Encoded(text, tokens, offsets, special, word_ids, len(new_ids), list(new_ids))


def generate(model: LoadedModel, prompt: str, max_new_tokens: int = 20, causal: bool = False) -> Run:
    """Continue ``prompt`` greedily by up to ``max_new_tokens`` tokens (1..50), then capture the run
    over everything: for a decoder-only model the prompt and the continuation are
    ``run.tokens``; for an encoder-decoder the prompt is the source and the continuation
    the target (``run.target.tokens``, after the decoder's start token).

    ``run.generated`` marks the generated positions (``run.generated_positions[k]`` is step k);
    row p of the (decoder) attention is the token at p reading everything before it, and the
    token at p was chosen from row p - 1. Generation stops early at the model's end token.
    The weights come from one forward pass over the whole sequence, which (the look-ahead mask
    hiding later tokens) equals what each generation step computed.
    """
    if not model.can_generate:
        raise ValueError(f"{model.name!r} has no language-model head ({model.kind}): it cannot generate text")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}, not {max_new_tokens}")
    if not prompt.strip():
        raise EmptyInputError("The prompt is empty: type a sentence.")
    if model.kind == "encoder-decoder":
        source = encode(model, [prompt], model.max_tokens)[0]
        start = decoder_start(model)
        new = _greedy(model, [start], torch.tensor([source.ids]), min(max_new_tokens, model.max_tokens - 1))
        text, piece = _pieces(model, "", new, 0)
        label = model.tokenizer.convert_ids_to_tokens([start])[0]
        target = Encoded(text, [label, *piece.tokens], [(0, 0), *piece.offsets], [True, *piece.special],
                         [None, *piece.word_ids], len(new) + 1, [start, *new])
        batch = Batch([0], [source], torch.tensor([source.ids]), torch.ones(1, len(source.ids), dtype=torch.long),
                      [target], torch.tensor([target.ids]), torch.ones(1, len(target.ids), dtype=torch.long))
        run = runs_of_batch(model, batch, causal, model.max_tokens)[0]
        generated = np.array([False] + [True] * len(new))
    else:
        prompt_enc = encode(model, [prompt], max(1, model.max_tokens - max_new_tokens))[0]
        # a decoder's tokenizer may append an end token to the prompt; continue before it
        ids, keep = prompt_enc.ids, len(prompt_enc.ids)
        while keep > 1 and prompt_enc.special[keep - 1] and prompt_enc.ids[keep - 1] in _end_ids(model):
            keep -= 1
        new = _greedy(model, ids[:keep], None, max_new_tokens)
        words = [w for w in prompt_enc.word_ids[:keep] if w is not None]
        text, piece = _pieces(model, prompt, new, (max(words) + 1) if words else 0)
        full = Encoded(text, prompt_enc.tokens[:keep] + piece.tokens, prompt_enc.offsets[:keep] + piece.offsets,
                       prompt_enc.special[:keep] + piece.special, prompt_enc.word_ids[:keep] + piece.word_ids,
                       keep + len(new), ids[:keep] + new)
        seq = torch.tensor([full.ids])
        batch = Batch([0], [full], seq, torch.ones_like(seq))
        run = runs_of_batch(model, batch, causal, model.max_tokens)[0]
        generated = np.array([False] * keep + [True] * len(new))
    return _with_generated(run, generated, len(new), max_new_tokens)


def _with_generated(run: Run, generated: np.ndarray, n_new: int, asked: int) -> Run:
    meta = {**run.meta, "n_generated": n_new, "max_new_tokens": asked}
    return replace(run, generated=generated, meta=meta)
