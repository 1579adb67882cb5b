"""Text in, captured run out: tokenise, run the model once under ``attnviz.record``.

    model = attnviz.load_model("sentence-transformers/all-MiniLM-L6-v2")
    run = attnviz.capture(model, "heavy snow makes driving more difficult", causal=False)
    run.attention.shape          # (6, 12, 8, 8): layers, heads, query, key
    run.view("word", drop_special=True)

``capture_batch`` runs many texts (or pre-split word lists, e.g. from CoNLL-U) in
length-sorted, padded batches; padding is masked and cut off again per text.
``plan_batches`` and ``run_batch`` are its two steps, for analyses over many texts that
need the recorded batch itself rather than one Run per text (``attnviz.scoring``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from attnviz.errors import EmptyInputError
from attnviz.hooks import Recording, record
from attnviz.loaded import LoadedModel
from attnviz.local.tokenizer import PAD
from attnviz.run import Run
from attnviz.tree import joined_spans


@dataclass
class Encoded:
    """One text as the model reads it: its tokens, their character offsets and ids.

    special:         True for [CLS]/[SEP]/<s>/... ; word_ids: word index per token (None for specials)
    n_input_tokens:  tokens the text made before truncation to the model's maximum
    """

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    special: list[bool]
    word_ids: list[int | None]
    n_input_tokens: int
    ids: list[int]


def _display(raw: str, piece: str) -> str:
    """A readable label: the tokenizer's own token, unless it is byte-level mojibake."""
    if raw.startswith(("Ġ", "Ċ", "▁")) or (raw != piece and not raw.startswith("##") and raw.lower() != piece.lower()):
        return piece if piece else raw
    return raw


def _encode_hf(model: LoadedModel, items: Sequence[str | Sequence[str]], max_tokens: int) -> list[Encoded]:
    tok = model.tokenizer
    split = bool(items) and not isinstance(items[0], str)
    texts = [" ".join(i) for i in items] if split else list(items)
    common = dict(
        is_split_into_words=split, add_special_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True,
    )
    inputs = [list(i) for i in items] if split else texts
    # one tokenizer pass; a second (truncating) one only when some text is longer than the maximum
    enc = tok(inputs, truncation=False, verbose=False, **common)
    n_input = [len(ids) for ids in enc["input_ids"]]
    if max(n_input, default=0) > max_tokens:
        enc = tok(inputs, truncation=True, max_length=max_tokens, **common)
    out = []
    for b, text in enumerate(texts):
        ids = enc["input_ids"][b]
        raw = tok.convert_ids_to_tokens(ids)
        special = [bool(s) for s in enc["special_tokens_mask"][b]]
        word_ids = [None if s else w for w, s in zip(enc.word_ids(b), special)]
        offsets = [tuple(o) for o in enc["offset_mapping"][b]]
        if split:  # offsets are within each word; make them offsets into the joined text
            starts = joined_spans(items[b])[:, 0]
            offsets = [(0, 0) if w is None else (int(starts[w] + s), int(starts[w] + e)) for w, (s, e) in zip(word_ids, offsets)]
        offsets = [(0, 0) if s else o for o, s in zip(offsets, special)]
        tokens = [r if s else _display(r, text[o[0]:o[1]]) for r, o, s in zip(raw, offsets, special)]
        out.append(Encoded(text, tokens, offsets, special, word_ids, n_input[b], list(ids)))
    return out


def _encode_local(model: LoadedModel, items: Sequence[str | Sequence[str]], max_tokens: int) -> list[Encoded]:
    out = []
    for item in items:
        text = item if isinstance(item, str) else " ".join(item)
        e = model.tokenizer.encode(text, max_length=max_tokens)
        words = iter(range(len(e.ids)))
        word_ids = [None if s else next(words) for s in e.special]
        out.append(Encoded(text, e.tokens, e.offsets, e.special, word_ids, model.tokenizer.count(text), e.ids))
    return out


def _forward(model: LoadedModel, ids: torch.Tensor, attention_mask: torch.Tensor) -> None:
    if model.is_local:  # encoder, and the decoder reading the same tokens, so cross-attention exists
        model.module(ids, ids)
    else:
        model.module(input_ids=ids, attention_mask=attention_mask)


@dataclass(eq=False)
class Batch:
    """One padded forward pass of ``capture_batch``: which texts, and the model's inputs.

    indexes:         positions in ``items`` of the rows, shortest text first
    encoded:         the tokenised text of each row
    ids:             (rows, width) token ids, padded
    attention_mask:  (rows, width) 1 for a real token, 0 for padding
    """

    indexes: list[int]
    encoded: list[Encoded]
    ids: torch.Tensor
    attention_mask: torch.Tensor


def plan_batches(
    model: LoadedModel,
    items: Sequence[str] | Sequence[Sequence[str]],
    max_tokens: int | None = None,
    batch_size: int = 16,
    skip_empty: bool = False,
) -> list[Batch]:
    """Tokenise ``items`` and group them into length-sorted, padded batches (no forward pass yet).

    A text with nothing the model can read raises EmptyInputError, or is left out of every
    batch with ``skip_empty=True``.
    """
    if not items:
        return []
    max_tokens = min(max_tokens or model.max_tokens, model.max_tokens)
    encode = _encode_local if model.is_local else _encode_hf
    encoded = encode(model, items, max_tokens)
    readable = [i for i, e in enumerate(encoded) if not all(e.special)]
    if len(readable) < len(encoded) and not skip_empty:
        raise EmptyInputError("The text has no words the model can read: type a sentence.")
    pad_id = PAD if model.is_local else (model.tokenizer.pad_token_id or 0)
    order = sorted(readable, key=lambda i: len(encoded[i].ids))
    batches = []
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(encoded[i].ids) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            n = len(encoded[i].ids)
            ids[row, :n] = torch.tensor(encoded[i].ids)
            attention_mask[row, :n] = 1
        batches.append(Batch(chunk, [encoded[i] for i in chunk], ids, attention_mask))
    return batches


def run_batch(model: LoadedModel, batch: Batch, causal: bool = False) -> Recording:
    """One forward pass of ``batch`` under ``record``: the weights, (layers) x (rows, heads, q, k) per kind."""
    with torch.inference_mode(), record(model.module, causal=causal) as rec:
        _forward(model, batch.ids, batch.attention_mask)
    return rec


def capture_batch(
    model: LoadedModel,
    items: Sequence[str] | Sequence[Sequence[str]],
    causal: bool = False,
    max_tokens: int | None = None,
    batch_size: int = 16,
) -> list[Run]:
    """Capture many texts (or lists of words) in length-sorted batches; one Run each, in order."""
    if not items:
        return []
    max_tokens = min(max_tokens or model.max_tokens, model.max_tokens)
    runs: list[Run | None] = [None] * len(items)
    for batch in plan_batches(model, items, max_tokens, batch_size):
        rec = run_batch(model, batch, causal)
        width = batch.ids.shape[1]
        stacks = {kind: rec.stack(kind).numpy() for kind in rec.kinds}  # (layers, B, H, L, S)
        masks = {kind: m.numpy() for kind, m in rec.masks.items()}
        for row, (i, e) in enumerate(zip(batch.indexes, batch.encoded)):
            n = len(e.ids)
            part = {kind: np.ascontiguousarray(a[:, row, :, :n, :n]) for kind, a in stacks.items()}
            m = masks["self"][row if masks["self"].shape[0] > 1 else 0]
            self_mask = np.broadcast_to(m, (width, width))[:n, :n]
            runs[i] = Run(
                model_name=model.name, text=e.text, tokens=e.tokens, offsets=e.offsets,
                special=np.array(e.special, dtype=bool), word_ids=e.word_ids,
                attention=part["self"], mask=np.ascontiguousarray(self_mask), causal=causal,
                decoder_attention=part.get("decoder"), cross_attention=part.get("cross"),
                n_input_tokens=e.n_input_tokens,
                meta={
                    "n_model_tokens": n, "max_tokens": max_tokens, "architecture": model.architecture,
                    "family": model.family, "n_params": model.n_params,
                },
            )
    return runs  # type: ignore[return-value]


def capture(model: LoadedModel, text: str | Sequence[str], causal: bool = False, max_tokens: int | None = None) -> Run:
    """Run ``text`` (a string, or a list of words) through ``model`` and capture its attention.

    Raises EmptyInputError for a text with nothing to read. Longer texts are cut to
    the model's maximum; ``run.n_truncated`` says how many tokens were dropped.
    """
    if isinstance(text, str) and not text.strip():
        raise EmptyInputError("The text is empty: type a sentence.")
    return capture_batch(model, [text], causal=causal, max_tokens=max_tokens)[0]
