"""A captured run: one text through one model, and the attention the model computed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from attnviz import words as _words


@dataclass(frozen=True, eq=False)
class Run:
    """Everything the views need, as plain numpy data (no tensors, no model).

    Attention arrays are float32 ``[layers, heads, query, key]``; row q holds how much
    position q attends to each key position, and every row sums to 1.

    attention:          self-attention of the encoder (or of the only stack: a decoder-only
                        model's masked self-attention is here)
    decoder_attention:  masked self-attention of an encoder-decoder's decoder, ``[layers, heads,
                        target, target]``, else None
    cross_attention:    decoder -> encoder attention, ``[layers, heads, target, source]``
    tokens:             the positions' labels (tokens, or words at word level)
    offsets:            character span of each position in ``text``; (0, 0) for specials
    special:            bool per position, True for [CLS]/[SEP]/<s>/</s>/...
    word_ids:           word index per token (None for specials); at word level, 0..n-1
    mask:               bool ``[query, key]``: True where the model was allowed to attend
                        (padding and the look-ahead mask, as the first layer applied them). A
                        decoder-only model's own look-ahead mask is here (``look_ahead`` is True)
                        even with ``causal=False``.
    causal:             the look-ahead mask was added by attnviz's hooks (``capture(causal=True)``);
                        False when the look-ahead is only the model's own
    level:              "token" or "word"; ``to_words()`` makes the word-level run
    specials_removed:   special tokens were dropped and rows renormalised (``without_special()``)
    n_input_tokens:     tokens the text made before truncation to the model's maximum
    model_kind:         "encoder" | "decoder" | "encoder-decoder" (``LoadedModel.kind``)
    value_norms:        float32 ``[layers, heads, key]``: ‖f_h(x_j)‖ = ‖(x_j W_V^h + b_V^h) W_O^h‖, the size of
                        the vector head h adds for key j (Kobayashi et al. 2020), recorded in the same
                        pass as ``attention``; None when the model's projections cannot be read
                        (``meta["values_missing"]`` says why) and at word level (``attnviz.measures``
                        computes its measures on the token-level run, then pools them)

    The target side of an encoder-decoder (``capture_pair``, ``generate``); all None when the
    decoder read the source tokens themselves (attnviz's local transformer in ``capture``):

    target_text, target_tokens, target_offsets, target_special, target_word_ids
                        the decoder's input, as for the source (the first token is the
                        decoder's start token, special)
    decoder_mask:       bool ``[target, target]``: where the decoder self-attention may attend
    cross_mask:         bool ``[target, source]``: where the cross-attention may attend

    generated:          bool per position of the generated sequence (the target of an
                        encoder-decoder, else the tokens): True for a token the model chose
                        (``attnviz.generate``); None for a text it only read. The token at
                        position p was predicted by query row p - 1 (``predicted_by``); row p
                        is that token reading everything before it (and itself).
    """

    model_name: str
    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    special: np.ndarray
    word_ids: list[int | None]
    attention: np.ndarray
    mask: np.ndarray
    causal: bool = False
    decoder_attention: np.ndarray | None = None
    cross_attention: np.ndarray | None = None
    level: str = "token"
    specials_removed: bool = False
    n_input_tokens: int = 0
    meta: dict = field(default_factory=dict)
    model_kind: str = "encoder"
    target_text: str | None = None
    target_tokens: list[str] | None = None
    target_offsets: list[tuple[int, int]] | None = None
    target_special: np.ndarray | None = None
    target_word_ids: list[int | None] | None = None
    decoder_mask: np.ndarray | None = None
    cross_mask: np.ndarray | None = None
    generated: np.ndarray | None = None
    value_norms: np.ndarray | None = None

    # ---------------------------------------------------------------- shape
    @property
    def n_layers(self) -> int:
        return self.attention.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attention.shape[1]

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_truncated(self) -> int:
        """Tokens cut off because the text was longer than the model's maximum."""
        return max(0, self.n_input_tokens - self.meta.get("n_model_tokens", self.n_input_tokens))

    @property
    def has_target(self) -> bool:
        """The decoder read its own tokens (``target_tokens``), not the source's."""
        return self.target_tokens is not None

    @property
    def look_ahead(self) -> bool:
        """The (first stack's) mask hides later positions: the model's own or attnviz's look-ahead."""
        n = self.mask.shape[-1]
        return n > 1 and not self.mask[np.triu_indices(n, 1)].any()

    @property
    def generated_positions(self) -> list[int]:
        """Positions of the generated tokens, in generation order (step k is ``generated_positions[k]``)."""
        return [] if self.generated is None else [int(p) for p in np.flatnonzero(self.generated)]

    @staticmethod
    def predicted_by(position: int) -> int:
        """The query row whose output chose the token at ``position`` (the one before it)."""
        return position - 1

    def head(self, layer: int, head: int) -> np.ndarray:
        """``[query, key]`` attention of one head (0-based layer and head)."""
        return self.attention[layer, head]

    @property
    def words(self) -> list[str]:
        """The text of each word (the specials excluded), in order."""
        spans: dict[int, list[int]] = {}
        for t, w in enumerate(self.word_ids):
            if w is not None:
                spans.setdefault(w, []).append(t)
        out = []
        for w in sorted(spans):
            ts = spans[w]
            start, end = self.offsets[ts[0]][0], self.offsets[ts[-1]][1]
            out.append(self.text[start:end] if end > start else "".join(self.tokens[t] for t in ts))
        return out

    @property
    def word_spans(self) -> list[list[int]]:
        """For each word, the positions of the tokens that make it."""
        return [g for g in _words.units(self.word_ids) if self.word_ids[g[0]] is not None]

    # ---------------------------------------------------------------- views
    def to_words(self) -> "Run":
        """The word-level run: to a word = sum over its tokens, from a word = mean."""
        if self.level == "word":
            return self
        groups = _words.units(self.word_ids)
        merge = lambda a: None if a is None else _words.merge(a, groups)  # noqa: E731
        cross, target = None, {}
        if self.has_target:
            tgroups = _words.units(self.target_word_ids)
            tmerge = lambda a: None if a is None else _words.merge(a, tgroups)  # noqa: E731
            target = dict(
                target_tokens=[_label(self.target_text or "", self.target_tokens, self.target_offsets, g) for g in tgroups],
                target_offsets=[(self.target_offsets[g[0]][0], self.target_offsets[g[-1]][1]) for g in tgroups],
                target_special=np.array([self.target_word_ids[g[0]] is None for g in tgroups], dtype=bool),
                target_word_ids=_renumber([self.target_word_ids[g[0]] for g in tgroups]),
                decoder_attention=tmerge(self.decoder_attention),
                decoder_mask=None if self.decoder_mask is None else _words.merge_mask(self.decoder_mask, tgroups),
                cross_mask=None if self.cross_mask is None else _words.merge_rect_mask(self.cross_mask, tgroups, groups),
                generated=None if self.generated is None else np.array([self.generated[g].any() for g in tgroups]),
            )
            if self.cross_attention is not None:
                cross = _words.merge_rect(self.cross_attention, tgroups, groups)
        elif self.cross_attention is not None:  # decoder positions are the same tokens as the source
            cross = _words.merge(self.cross_attention, groups)
        if self.generated is not None and not self.has_target:
            target = dict(generated=np.array([self.generated[g].any() for g in groups]))
        word_text = self.words
        labels, offsets, special, word_ids, w = [], [], [], [], 0
        for g in groups:
            if self.word_ids[g[0]] is None:
                labels.append(self.tokens[g[0]])
                offsets.append(self.offsets[g[0]])
                special.append(True)
                word_ids.append(None)
            else:
                labels.append(word_text[w])
                offsets.append((self.offsets[g[0]][0], self.offsets[g[-1]][1]))
                special.append(False)
                word_ids.append(w)
                w += 1
        target.setdefault("decoder_attention", merge(self.decoder_attention))
        return replace(
            self, tokens=labels, offsets=offsets, special=np.array(special, dtype=bool), word_ids=word_ids,
            attention=merge(self.attention), cross_attention=cross, mask=_words.merge_mask(self.mask, groups),
            level="word", value_norms=None, **target,
        )

    def without_special(self) -> "Run":
        """Drop special tokens' rows and columns and renormalise every row to 1 (on the target side too)."""
        target_special = self.target_special is not None and self.target_special.any()
        if self.specials_removed or not (self.special.any() or target_special):
            return replace(self, specials_removed=True)
        keep = ~self.special
        drop = lambda a: None if a is None else _words.drop(a, keep)  # noqa: E731
        pick = lambda xs, k=keep: [x for x, y in zip(xs, k) if y]  # noqa: E731
        if not self.has_target:
            extra = dict(decoder_attention=drop(self.decoder_attention), cross_attention=drop(self.cross_attention))
            if self.generated is not None:
                extra["generated"] = self.generated[keep]
        else:
            tkeep = ~self.target_special
            extra = dict(
                target_tokens=pick(self.target_tokens, tkeep), target_offsets=pick(self.target_offsets, tkeep),
                target_special=self.target_special[tkeep], target_word_ids=pick(self.target_word_ids, tkeep),
                decoder_attention=None if self.decoder_attention is None else _words.drop(self.decoder_attention, tkeep),
                cross_attention=None if self.cross_attention is None else _words.drop_rect(self.cross_attention, tkeep, keep),
                decoder_mask=None if self.decoder_mask is None else self.decoder_mask[tkeep][:, tkeep],
                cross_mask=None if self.cross_mask is None else self.cross_mask[tkeep][:, keep],
                generated=None if self.generated is None else self.generated[tkeep],
            )
        return replace(
            self, tokens=pick(self.tokens), offsets=pick(self.offsets), special=self.special[keep],
            word_ids=pick(self.word_ids), attention=drop(self.attention),
            mask=self.mask[keep][:, keep], specials_removed=True,
            value_norms=None if self.value_norms is None else self.value_norms[..., keep], **extra,
        )

    def view(self, level: str = "token", drop_special: bool = False) -> "Run":
        """The run at ``level`` ("token" or "word"), optionally without special tokens."""
        if level not in ("token", "word"):
            raise ValueError(f"level must be 'token' or 'word', not {level!r}")
        run = self.to_words() if level == "word" else self
        return run.without_special() if drop_special else run


def _label(text: str, tokens: list[str], offsets: list[tuple[int, int]], group: list[int]) -> str:
    """A merged unit's label: its span of ``text``, or its tokens joined when it has no span."""
    start, end = offsets[group[0]][0], offsets[group[-1]][1]
    return text[start:end] if end > start else "".join(tokens[t] for t in group)


def _renumber(word_ids: list[int | None]) -> list[int | None]:
    """Word ids after merging: 0..n-1 in order, None kept for specials."""
    out, n = [], 0
    for w in word_ids:
        out.append(None if w is None else n)
        n += w is not None
    return out
