"""Texts as a model reads them: tokens, their labels, character offsets and word ids (``Encoded``),
grouped into length-sorted, padded batches (``plan_batches``) for one forward pass each (``attnviz.capturing``).

A text is a string, or a list of words (e.g. from CoNLL-U); an encoder-decoder's target is read by its decoder
after its start token (``decoder_start``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from attnviz.errors import EmptyInputError, UnsupportedModelError
from attnviz.loaded import LoadedModel
from attnviz.local.tokenizer import PAD
from attnviz.run import Side
from attnviz.tree import joined_starts


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

    def side(self) -> Side:
        """The text as a run's ``Side``: its tokens, offsets, special tokens and word ids."""
        return Side(self.text, self.tokens, self.offsets, np.array(self.special, dtype=bool), self.word_ids)


def _display(raw: str, piece: str) -> str:
    """A readable label: the tokenizer's own token, unless it is byte-level mojibake."""
    if raw.startswith(("Ġ", "Ċ", "▁")) or (raw != piece and not raw.startswith("##") and raw.lower() != piece.lower()):
        return piece if piece else raw
    return raw


def _labels(raw: list[str], offsets: list[tuple[int, int]], special: list[bool], text: str) -> list[str]:
    """Each token's label (``_display``): a special token's own, else the readable one for its piece of ``text``
    (a token that is its piece, the usual case, is its own label without a call)."""
    return [r if s or r == (piece := text[a:b]) else _display(r, piece) for r, (a, b), s in zip(raw, offsets, special)]


def _encode_hf(model: LoadedModel, items: Sequence[str | Sequence[str]], max_tokens: int, target: bool = False) -> list[Encoded]:
    tok = model.tokenizer
    split = bool(items) and not isinstance(items[0], str)
    texts = [" ".join(i) for i in items] if split else list(items)
    # everything is read from the fast tokenizer's own encodings (attnviz loads only fast tokenizers): ids, tokens,
    # offsets, special tokens, word ids; the tokenizer is asked to convert none of it into lists of its own
    common = dict(is_split_into_words=split, add_special_tokens=True, return_attention_mask=False,
                  return_token_type_ids=False)
    inputs = [list(i) for i in items] if split else texts
    key = "text_target" if target else "text"  # a seq2seq tokenizer may encode targets its own way
    # one tokenizer pass; a second (truncating) one only when some text is longer than the maximum
    encodings = tok(**{key: inputs}, truncation=False, verbose=False, **common).encodings
    n_input = [len(e) for e in encodings]
    if max(n_input, default=0) > max_tokens:
        encodings = tok(**{key: inputs}, truncation=True, max_length=max_tokens, **common).encodings
    out = []
    for b, (text, e) in enumerate(zip(texts, encodings)):
        special = [bool(s) for s in e.special_tokens_mask]
        word_ids = [None if s else w for w, s in zip(e.word_ids, special)]
        if split:  # offsets are within each word; make them offsets into the joined text (specials: no word)
            starts = joined_starts(items[b])
            offsets = [(0, 0) if w is None else (starts[w] + a, starts[w] + z) for w, (a, z) in zip(word_ids, e.offsets)]
        else:
            offsets = [(0, 0) if sp else o for o, sp in zip(e.offsets, special)]
        out.append(Encoded(text, _labels(e.tokens, offsets, special, text), offsets, special, word_ids, n_input[b], e.ids))
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


def encode(model: LoadedModel, items: Sequence[str | Sequence[str]], max_tokens: int) -> list[Encoded]:
    """Each text (or list of words) as ``model`` reads it, cut to ``max_tokens``."""
    return (_encode_local if model.is_local else _encode_hf)(model, items, max_tokens)


def pad_token_id(model: LoadedModel) -> int:
    """The id padded batches are filled with (attnviz's [PAD], or the tokenizer's pad token, else 0)."""
    return PAD if model.is_local else int(getattr(model.tokenizer, "pad_token_id", None) or 0)


def decoder_start(model: LoadedModel) -> int:
    """The id an encoder-decoder's decoder starts from."""
    config = model.module.config
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        start = getattr(getattr(model.module, "generation_config", None), "decoder_start_token_id", None)
    if start is None:
        start = getattr(config, "bos_token_id", None) if getattr(config, "bos_token_id", None) is not None else config.pad_token_id
    if start is None:
        raise UnsupportedModelError(f"{model.name!r} declares no decoder start token, so attnviz cannot run its decoder")
    return int(start)


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
    targets: list[Encoded] | None = None  # encoder-decoders: the decoder's tokens per row
    decoder_ids: torch.Tensor | None = None
    decoder_mask: torch.Tensor | None = None


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention_mask) of the rows, right-padded to the longest: one tensor made from lists each, through
    numpy (``torch.tensor`` of nested lists took 20 µs for one row of 128 ids and 155 µs for 32 rows of 10-40
    here; numpy 7 and 61)."""
    width = max(len(r) for r in rows)
    ids = np.array([r + [pad_id] * (width - len(r)) for r in rows], dtype=np.int64)
    mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=np.int64)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _encode_targets(model: LoadedModel, targets: Sequence[str], max_tokens: int) -> list[Encoded]:
    """The decoder's input for each target text: the start token, then the target's tokens."""
    if model.is_local:
        return _encode_local(model, targets, max_tokens)
    start = decoder_start(model)
    label = model.tokenizer.convert_ids_to_tokens([start])[0]
    out = []
    for e in _encode_hf(model, targets, max_tokens - 1, target=True):
        out.append(Encoded(e.text, [label, *e.tokens], [(0, 0), *e.offsets], [True, *e.special], [None, *e.word_ids],
                           e.n_input_tokens + 1, [start, *e.ids]))
    return out


def plan_batches(
    model: LoadedModel,
    items: Sequence[str] | Sequence[Sequence[str]],
    max_tokens: int | None = None,
    batch_size: int = 16,
    skip_empty: bool = False,
    targets: Sequence[str] | None = None,
) -> list[Batch]:
    """Tokenise ``items`` and group them into length-sorted, padded batches (no forward pass yet).

    A text with nothing the model can read raises EmptyInputError, or is left out of every
    batch with ``skip_empty=True``. ``targets`` (encoder-decoders): one target text per item,
    read by the decoder after its start token.
    """
    if not items:
        return []
    if targets is not None and model.kind != "encoder-decoder":
        raise ValueError(f"{model.name!r} is a{'n' if model.kind == 'encoder' else ''} {model.kind} model: "
                         "it has no decoder to read a target text")
    max_tokens = min(max_tokens or model.max_tokens, model.max_tokens)
    encoded = encode(model, items, max_tokens)
    target_encoded = None if targets is None else _encode_targets(model, targets, max_tokens)
    readable = [i for i, e in enumerate(encoded) if not all(e.special)]
    if len(readable) < len(encoded) and not skip_empty:
        raise EmptyInputError("The text has no words the model can read: type a sentence.")
    pad_id = pad_token_id(model)
    order = sorted(readable, key=lambda i: len(encoded[i].ids))
    batches = []
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, attention_mask = _pad([encoded[i].ids for i in chunk], pad_id)
        batch = Batch(chunk, [encoded[i] for i in chunk], ids, attention_mask)
        if target_encoded is not None:
            batch.targets = [target_encoded[i] for i in chunk]
            batch.decoder_ids, batch.decoder_mask = _pad([t.ids for t in batch.targets], pad_id)
        batches.append(batch)
    return batches
