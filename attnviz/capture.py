"""Text in, captured run out: tokenise, run the model once under ``attnviz.record``.

    model = attnviz.load_model("sentence-transformers/all-MiniLM-L6-v2")
    run = attnviz.capture(model, "heavy snow makes driving more difficult", causal=False)
    run.attention.shape          # (6, 12, 8, 8): layers, heads, query, key
    run.view("word", drop_special=True)

``capture_batch`` runs many texts (or pre-split word lists, e.g. from CoNLL-U) in
length-sorted, padded batches; padding is masked and cut off again per text.

Encoder-decoders and decoders (``LoadedModel.kind``):

    run = attnviz.capture_pair(t5, "the house is small", "das Haus ist klein")
    run.attention, run.decoder_attention, run.cross_attention   # encoder self, decoder self, target x source
    run.target.tokens                                           # the decoder's tokens (start token first)

    run = attnviz.generate(gpt2, "The snow", max_new_tokens=10)  # greedy, at most 50 new tokens
    run.generated_positions     # where the generated tokens are; row p is token p reading everything before it

``capture`` of an encoder-decoder reads the source and gives the decoder only its start
token; a decoder-only model's own look-ahead mask is recorded in ``run.mask``.
``plan_batches`` and ``run_batch`` are its two steps, for analyses over many texts that
need the recorded batch itself rather than one Run per text (``attnviz.scoring``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from attnviz.errors import EmptyInputError, UnsupportedModelError
from attnviz.hooks import record
from attnviz.loaded import LoadedModel
from attnviz.local.tokenizer import PAD
from attnviz.recording import Recording
from attnviz.run import Run, Side
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

    def side(self) -> Side:
        """The text as a run's ``Side``: its tokens, offsets, special tokens and word ids."""
        return Side(self.text, self.tokens, self.offsets, np.array(self.special, dtype=bool), self.word_ids)


def _display(raw: str, piece: str) -> str:
    """A readable label: the tokenizer's own token, unless it is byte-level mojibake."""
    if raw.startswith(("Ġ", "Ċ", "▁")) or (raw != piece and not raw.startswith("##") and raw.lower() != piece.lower()):
        return piece if piece else raw
    return raw


def _encode_hf(model: LoadedModel, items: Sequence[str | Sequence[str]], max_tokens: int, target: bool = False) -> list[Encoded]:
    tok = model.tokenizer
    split = bool(items) and not isinstance(items[0], str)
    texts = [" ".join(i) for i in items] if split else list(items)
    common = dict(
        is_split_into_words=split, add_special_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True,
    )
    inputs = [list(i) for i in items] if split else texts
    key = "text_target" if target else "text"  # a seq2seq tokenizer may encode targets its own way
    # one tokenizer pass; a second (truncating) one only when some text is longer than the maximum
    enc = tok(**{key: inputs}, truncation=False, verbose=False, **common)
    n_input = [len(ids) for ids in enc["input_ids"]]
    if max(n_input, default=0) > max_tokens:
        enc = tok(**{key: inputs}, truncation=True, max_length=max_tokens, **common)
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


def _forward(model: LoadedModel, ids: torch.Tensor, attention_mask: torch.Tensor, decoder_ids: torch.Tensor | None = None,
             decoder_mask: torch.Tensor | None = None):
    if model.is_local:  # encoder, and the decoder reading the same tokens (or the target), so cross-attention exists
        return model.module(ids, ids if decoder_ids is None else decoder_ids)
    if model.kind != "encoder-decoder":
        return model.module(input_ids=ids, attention_mask=attention_mask)
    if decoder_ids is None:  # the source only: the decoder reads its start token
        decoder_ids = torch.full((ids.size(0), 1), decoder_start(model), dtype=torch.long)
        decoder_mask = torch.ones_like(decoder_ids)
    return model.module(input_ids=ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids,
                        decoder_attention_mask=decoder_mask)


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
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, r in enumerate(rows):
        ids[row, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[row, : len(r)] = 1
    return ids, mask


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
    encode = _encode_local if model.is_local else _encode_hf
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


def run_batch(model: LoadedModel, batch: Batch, causal: bool = False, values: bool = True) -> Recording:
    """One forward pass of ``batch`` under ``record``: the weights, (layers) x (rows, heads, q, k) per kind,
    and with ``values`` the value norms ‖f_h(x_j)‖ of the same pass (``Recording.norms``)."""
    with torch.inference_mode(), record(model.module, causal=causal, values=values) as rec:
        _forward(model, batch.ids, batch.attention_mask, batch.decoder_ids, batch.decoder_mask)
    return rec


def _target_side(model: LoadedModel, batch: Batch, row: int) -> Side | None:
    """What the decoder of ``batch``'s row read: its target, or only its start token (an encoder-decoder given
    a source alone); None without a decoder, or for attnviz's local decoder, which reads the source itself."""
    if batch.targets is not None:
        return batch.targets[row].side()
    if not model.is_local and model.kind == "encoder-decoder":
        start = decoder_start(model)
        return Side("", model.tokenizer.convert_ids_to_tokens([start]), [(0, 0)], np.array([True]), [None])
    return None


def _runs_of_batch(model: LoadedModel, batch: Batch, rec: Recording, causal: bool, max_tokens: int) -> list[Run]:
    """One Run per row of ``batch``: the padding cut off again, on the source and the target side."""
    width = batch.ids.shape[1]
    norms = rec.norms("self")
    norms = None if norms is None else norms.numpy()  # (layers, B, H, S)
    masks = {kind: m.numpy() for kind, m in rec.masks.items()}

    def mask_of(kind: str, row: int, rows: int, cols: int) -> np.ndarray | None:
        if kind not in masks:
            return None
        m = masks[kind][row if masks[kind].shape[0] > 1 else 0]
        return np.ascontiguousarray(m[:rows, :cols])

    runs = []
    for row, e in enumerate(batch.encoded):
        n = len(e.ids)
        target = _target_side(model, batch, row)
        t = n if target is None else len(target.tokens)  # the decoder's length (the local decoder reads the source)
        # (layers, heads, query, key) of this row: a view of the recorded array, or one copy when cut
        part = {"self": rec.row("self", row, n, n)}
        if "decoder" in rec.kinds:
            part["decoder"] = rec.row("decoder", row, t, t)
        if "cross" in rec.kinds:
            part["cross"] = rec.row("cross", row, t, n)
        self_mask = np.broadcast_to(masks["self"][row if masks["self"].shape[0] > 1 else 0], (width, width))[:n, :n]
        runs.append(Run(
            model_name=model.name, source=e.side(), target=target,
            attention=part["self"], mask=np.ascontiguousarray(self_mask), causal=causal,
            value_norms=None if norms is None else np.ascontiguousarray(norms[:, row, :, :n]),
            decoder_attention=part.get("decoder"), cross_attention=part.get("cross"),
            decoder_mask=None if target is None else mask_of("decoder", row, t, t),
            cross_mask=None if target is None else mask_of("cross", row, t, n),
            n_input_tokens=e.n_input_tokens, model_kind=model.kind,
            meta={
                "n_model_tokens": n, "max_tokens": max_tokens, "architecture": model.architecture,
                "family": model.family, "n_params": model.n_params, "model_type": model.model_type,
                **({"values_missing": rec.values_missing} if rec.values_missing else {}),
            },
        ))
    return runs


def capture_batch(
    model: LoadedModel,
    items: Sequence[str] | Sequence[Sequence[str]],
    causal: bool = False,
    max_tokens: int | None = None,
    batch_size: int = 16,
    targets: Sequence[str] | None = None,
) -> list[Run]:
    """Capture many texts (or lists of words) in length-sorted batches; one Run each, in order.

    ``targets`` (encoder-decoders only): one target text per item, read by the decoder
    (see ``capture_pair``).
    """
    if not items:
        return []
    if targets is not None and len(targets) != len(items):
        raise ValueError(f"{len(targets)} targets for {len(items)} texts: give one target per text")
    max_tokens = min(max_tokens or model.max_tokens, model.max_tokens)
    runs: list[Run | None] = [None] * len(items)
    for batch in plan_batches(model, items, max_tokens, batch_size, targets=targets):
        rec = run_batch(model, batch, causal)
        for i, run in zip(batch.indexes, _runs_of_batch(model, batch, rec, causal, max_tokens)):
            runs[i] = run
    return runs  # type: ignore[return-value]


def capture(model: LoadedModel, text: str | Sequence[str], causal: bool = False, max_tokens: int | None = None) -> Run:
    """Run ``text`` (a string, or a list of words) through ``model`` and capture its attention.

    Raises EmptyInputError for a text with nothing to read. Longer texts are cut to
    the model's maximum; ``run.n_truncated`` says how many tokens were dropped. An
    encoder-decoder reads ``text`` as its source; its decoder reads only its start token
    (``capture_pair`` gives it a target).
    """
    if isinstance(text, str) and not text.strip():
        raise EmptyInputError("The text is empty: type a sentence.")
    return capture_batch(model, [text], causal=causal, max_tokens=max_tokens)[0]


def capture_pair(model: LoadedModel, source: str, target: str, causal: bool = False, max_tokens: int | None = None) -> Run:
    """An encoder-decoder reading ``source`` (encoder) and ``target`` (decoder, after its start token).

    ``run.attention`` is the encoder's self-attention over the source tokens,
    ``run.decoder_attention`` the decoder's (masked) self-attention over ``run.target.tokens``,
    ``run.cross_attention`` target x source. ``causal=True`` adds a look-ahead mask to the
    encoder (the decoder has its own). ValueError for a model that is not an encoder-decoder.
    """
    for label, text in (("source", source), ("target", target)):
        if not text.strip():
            raise EmptyInputError(f"The {label} text is empty: type a sentence.")
    return capture_batch(model, [source], causal=causal, max_tokens=max_tokens, targets=[target])[0]


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
        source = _encode_hf(model, [prompt], model.max_tokens)[0]
        start = decoder_start(model)
        new = _greedy(model, [start], torch.tensor([source.ids]), min(max_new_tokens, model.max_tokens - 1))
        text, piece = _pieces(model, "", new, 0)
        label = model.tokenizer.convert_ids_to_tokens([start])[0]
        target = Encoded(text, [label, *piece.tokens], [(0, 0), *piece.offsets], [True, *piece.special],
                         [None, *piece.word_ids], len(new) + 1, [start, *new])
        batch = Batch([0], [source], torch.tensor([source.ids]), torch.ones(1, len(source.ids), dtype=torch.long),
                      [target], torch.tensor([target.ids]), torch.ones(1, len(target.ids), dtype=torch.long))
        run = _runs_of_batch(model, batch, run_batch(model, batch, causal), causal, model.max_tokens)[0]
        generated = np.array([False] + [True] * len(new))
    else:
        prompt_enc = _encode_hf(model, [prompt], max(1, model.max_tokens - max_new_tokens))[0]
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
        run = _runs_of_batch(model, batch, run_batch(model, batch, causal), causal, model.max_tokens)[0]
        generated = np.array([False] * keep + [True] * len(new))
    return _with_generated(run, generated, len(new), max_new_tokens)


def _with_generated(run: Run, generated: np.ndarray, n_new: int, asked: int) -> Run:
    meta = {**run.meta, "n_generated": n_new, "max_new_tokens": asked}
    return replace(run, generated=generated, meta=meta)
