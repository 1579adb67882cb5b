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

``capture`` of an encoder-decoder reads the source and gives the decoder only its start
token; a decoder-only model's own look-ahead mask is recorded in ``run.mask``. Greedy
generation is ``attnviz.generation``.
``plan_batches`` (``attnviz.encoding``) and ``run_batch`` are its two steps, for analyses over many
texts that need the recorded batch itself rather than one Run per text (``attnviz.scoring``);
``runs_of_batch`` is both steps' Runs for one planned batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attnviz.encoding import Batch, decoder_start, plan_batches
from attnviz.errors import EmptyInputError
from attnviz.hooks import record
from attnviz.loaded import LoadedModel
from attnviz.logits import record_logits
from attnviz.recording import Recording
from attnviz.run import Run, Side


def _forward(model: LoadedModel, ids: torch.Tensor, attention_mask: torch.Tensor, decoder_ids: torch.Tensor | None = None,
             decoder_mask: torch.Tensor | None = None):
    if model.is_local:  # encoder, and the decoder reading the same tokens (or the target), so cross-attention exists
        return model.module(ids, ids if decoder_ids is None else decoder_ids)
    # No padding, no mask: the weights are the same (a mask of zeros adds nothing) and eager attention does not
    # make a pass over every layer's weights to add it
    attention_mask = None if bool(attention_mask.all()) else attention_mask
    if model.kind != "encoder-decoder":
        return model.module(input_ids=ids, attention_mask=attention_mask)
    if decoder_ids is None:  # the source only: the decoder reads its start token
        decoder_ids = torch.full((ids.size(0), 1), decoder_start(model), dtype=torch.long)
        decoder_mask = torch.ones_like(decoder_ids)
    return model.module(input_ids=ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids,
                        decoder_attention_mask=decoder_mask)


def run_batch(model: LoadedModel, batch: Batch, causal: bool = False, values: bool = True, qk: bool = False) -> Recording:
    """One forward pass of ``batch`` under ``record``: the weights, (layers) x (rows, heads, q, k) per kind,
    and with ``values`` the value norms ‖f_h(x_j)‖ of the same pass (``Recording.norms``); with ``qk`` the
    terms of every logit too (``attnviz.logits.record_logits``: ``Recording.logits``)."""
    recorder = record_logits if qk else record
    with torch.inference_mode(), recorder(model.module, causal=causal, values=values) as rec:
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


def runs_of_batch(model: LoadedModel, batch: Batch, causal: bool = False, max_tokens: int | None = None,
                  qk: bool = False) -> list[Run]:
    """One forward pass of a planned ``batch`` (``run_batch``), and one Run per row of it."""
    return _runs_of_recording(model, batch, run_batch(model, batch, causal, qk=qk), causal, max_tokens or model.max_tokens)


def _runs_of_recording(model: LoadedModel, batch: Batch, rec: Recording, causal: bool, max_tokens: int) -> list[Run]:
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
        lengths = {"self": (n, n), "decoder": (t, t), "cross": (t, n)}  # (queries, keys) of each kind
        qk = {kind: terms.row(row, *lengths[kind]) for kind, terms in rec.logits.items()}
        self_mask = np.broadcast_to(masks["self"][row if masks["self"].shape[0] > 1 else 0], (width, width))[:n, :n]
        runs.append(Run(
            model_name=model.name, source=e.side(), target=target,
            attention=part["self"], mask=np.ascontiguousarray(self_mask), causal=causal,
            value_norms=None if norms is None else np.ascontiguousarray(norms[:, row, :, :n]),
            decoder_attention=part.get("decoder"), cross_attention=part.get("cross"),
            decoder_mask=None if target is None else mask_of("decoder", row, t, t),
            cross_mask=None if target is None else mask_of("cross", row, t, n),
            n_input_tokens=e.n_input_tokens, model_kind=model.kind, qk=qk or None,
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
    qk: bool = False,
) -> list[Run]:
    """Capture many texts (or lists of words) in length-sorted batches; one Run each, in order.

    ``targets`` (encoder-decoders only): one target text per item, read by the decoder
    (see ``capture_pair``). ``qk=True`` also keeps the terms of every logit (``Run.qk``).
    """
    if not items:
        return []
    if targets is not None and len(targets) != len(items):
        raise ValueError(f"{len(targets)} targets for {len(items)} texts: give one target per text")
    max_tokens = min(max_tokens or model.max_tokens, model.max_tokens)
    runs: list[Run | None] = [None] * len(items)
    for batch in plan_batches(model, items, max_tokens, batch_size, targets=targets):
        for i, run in zip(batch.indexes, runs_of_batch(model, batch, causal, max_tokens, qk)):
            runs[i] = run
    return runs  # type: ignore[return-value]


def capture(model: LoadedModel, text: str | Sequence[str], causal: bool = False, max_tokens: int | None = None,
            qk: bool = False) -> Run:
    """Run ``text`` (a string, or a list of words) through ``model`` and capture its attention.

    Raises EmptyInputError for a text with nothing to read. Longer texts are cut to
    the model's maximum; ``run.n_truncated`` says how many tokens were dropped. An
    encoder-decoder reads ``text`` as its source; its decoder reads only its start token
    (``capture_pair`` gives it a target). ``qk=True`` also keeps the terms of every logit, queries and
    keys included (``Run.qk``; ``attnviz.logits``); ``UnsupportedLogitsError`` for a model whose logits
    attnviz cannot decompose exactly.
    """
    if isinstance(text, str) and not text.strip():
        raise EmptyInputError("The text is empty: type a sentence.")
    return capture_batch(model, [text], causal=causal, max_tokens=max_tokens, qk=qk)[0]


def capture_pair(model: LoadedModel, source: str, target: str, causal: bool = False, max_tokens: int | None = None,
                 qk: bool = False) -> Run:
    """An encoder-decoder reading ``source`` (encoder) and ``target`` (decoder, after its start token).

    ``run.attention`` is the encoder's self-attention over the source tokens,
    ``run.decoder_attention`` the decoder's (masked) self-attention over ``run.target.tokens``,
    ``run.cross_attention`` target x source. ``causal=True`` adds a look-ahead mask to the
    encoder (the decoder has its own). ValueError for a model that is not an encoder-decoder. ``qk``: as in
    ``capture`` (``Run.qk`` then has the "self", "decoder" and "cross" terms).
    """
    for label, text in (("source", source), ("target", target)):
        if not text.strip():
            raise EmptyInputError(f"The {label} text is empty: type a sentence.")
    return capture_batch(model, [source], causal=causal, max_tokens=max_tokens, targets=[target], qk=qk)[0]
