"""A captured run: one text through one model, and the attention the model computed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from attnviz import words as _words

_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)
class Side:
    """One sequence the model read, position by position: the source, or an encoder-decoder's target.

    n = positions (tokens, or words at word level):

    text:      the text the positions come from
    tokens:    ``[n]`` the positions' labels (tokens, or words at word level)
    offsets:   ``[n]`` (start, end) character span of each position in ``text``; (0, 0) for specials
    special:   bool ``[n]``, True for [CLS]/[SEP]/<s>/</s>/...
    word_ids:  ``[n]`` word index per token (None for specials); at word level, 0..words-1
    """

    text: str
    tokens: list[str]
    offsets: list[tuple[int, int]]
    special: np.ndarray
    word_ids: list[int | None]

    @property
    def units(self) -> list[list[int]]:
        """The positions of each word-level unit: a word's tokens, or one special token (``attnviz.words.units``)."""
        return _words.units(self.word_ids)

    @property
    def words(self) -> list[str]:
        """The text of each word (the specials excluded), in order."""
        spans: dict[int, list[int]] = {}
        for t, w in enumerate(self.word_ids):
            if w is not None:
                spans.setdefault(w, []).append(t)
        return [self._label(spans[w]) for w in sorted(spans)]

    @property
    def word_spans(self) -> list[list[int]]:
        """For each word, the positions of the tokens that make it."""
        return [g for g in self.units if self.word_ids[g[0]] is not None]

    def to_words(self, groups: list[list[int]]) -> Side:
        """One position per group of ``units``: a word labelled with its text, a special token as it was."""
        special = [self.word_ids[g[0]] is None for g in groups]
        return Side(
            text=self.text,
            tokens=[self.tokens[g[0]] if s else self._label(g) for g, s in zip(groups, special)],
            offsets=[(self.offsets[g[0]][0], self.offsets[g[-1]][1]) for g in groups],
            special=np.array(special, dtype=bool),
            word_ids=_renumber([self.word_ids[g[0]] for g in groups]),
        )

    def without_special(self) -> Side:
        """The positions that are not special tokens."""
        keep = ~self.special
        pick = lambda xs: [x for x, k in zip(xs, keep) if k]  # noqa: E731
        return Side(self.text, pick(self.tokens), pick(self.offsets), self.special[keep], pick(self.word_ids))

    def _label(self, group: list[int]) -> str:
        """A merged unit's label: its span of ``text``, or its tokens joined when it has no span."""
        start, end = self.offsets[group[0]][0], self.offsets[group[-1]][1]
        return self.text[start:end] if end > start else "".join(self.tokens[t] for t in group)


@dataclass(frozen=True, eq=False)
class Run:
    """Everything the views need, as plain numpy data (no tensors, no model).

    Shapes: L layers, H heads, S source positions (``len(source.tokens)``), T target positions
    (``len(target.tokens)``; T = S when the decoder read the source itself). Attention arrays are
    float32; row q holds how much position q attends to each key position, and every row sums to 1.

    model_name:         the model's name (``LoadedModel.name``)
    source:             the text the encoder (or the only stack) read: a ``Side`` (text, tokens, offsets,
                        special, word_ids); ``run.text``, ``run.tokens``, ``run.offsets``, ``run.special``,
                        ``run.word_ids``, ``run.words`` and ``run.word_spans`` read it
    attention:          ``[L, H, S, S]`` self-attention of the encoder (or of the only stack: a decoder-only
                        model's masked self-attention is here)
    mask:               bool ``[S, S]``: True where the model was allowed to attend (padding and the
                        look-ahead mask, as the first layer applied them). A decoder-only model's own
                        look-ahead mask is here (``look_ahead`` is True) even with ``causal=False``.
    causal:             the look-ahead mask was added by attnviz's hooks (``capture(causal=True)``);
                        False when the look-ahead is only the model's own
    decoder_attention:  ``[L, H, T, T]`` masked self-attention of an encoder-decoder's decoder, else None
    cross_attention:    ``[L, H, T, S]`` decoder -> encoder attention, else None
    level:              "token" or "word"; ``to_words()`` makes the word-level run
    specials_removed:   special tokens were dropped and rows renormalised (``without_special()``)
    n_input_tokens:     tokens the text made before truncation to the model's maximum
    meta:               what else is known of the run (``n_model_tokens``, ``max_tokens``, the model's
                        ``architecture``, ...)
    model_kind:         "encoder" | "decoder" | "encoder-decoder" (``LoadedModel.kind``)
    target:             the decoder's input of an encoder-decoder (``capture_pair``, ``generate``), a
                        ``Side`` whose first token is the decoder's start token (special); None when the
                        decoder read the source tokens themselves (attnviz's local transformer in
                        ``capture``) and for a model without a decoder. ``decoder_side`` is either.
    decoder_mask:       bool ``[T, T]``: where the decoder self-attention may attend (None without a target)
    cross_mask:         bool ``[T, S]``: where the cross-attention may attend (None without a target)
    generated:          bool ``[T]`` (the target of an encoder-decoder, else ``[S]``): True for a token the
                        model chose (``attnviz.generate``); None for a text it only read. The token at
                        position p was predicted by query row p - 1 (``predicted_by``); row p is that
                        token reading everything before it (and itself).
    value_norms:        float32 ``[L, H, S]``: ‖f_h(x_j)‖ = ‖(x_j W_V^h + b_V^h) W_O^h‖, the size of
                        the vector head h adds for key j (Kobayashi et al. 2020), recorded in the same
                        pass as ``attention``; None when the model's projections cannot be read
                        (``meta["values_missing"]`` says why) and at word level (``attnviz.measures``
                        computes its measures on the token-level run, then pools them)
    qk:                 the terms of every logit, kind ("self", "decoder", "cross") -> an
                        ``attnviz.logit_terms.LogitTerms`` with a batch axis of 1 (queries and keys after
                        position encodings, scale, position terms, softcap, mask), from
                        ``capture(..., qk=True)``; None unless asked. Per token: ``to_words`` and
                        ``without_special`` (so ``view`` at word level or without specials) drop it
    """

    model_name: str
    source: Side
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
    target: Side | None = None
    decoder_mask: np.ndarray | None = None
    cross_mask: np.ndarray | None = None
    generated: np.ndarray | None = None
    value_norms: np.ndarray | None = None
    qk: dict | None = None

    # ---------------------------------------------------------------- the source side, read-only
    @property
    def text(self) -> str:
        return self.source.text

    @property
    def tokens(self) -> list[str]:
        return self.source.tokens

    @property
    def offsets(self) -> list[tuple[int, int]]:
        return self.source.offsets

    @property
    def special(self) -> np.ndarray:
        return self.source.special

    @property
    def word_ids(self) -> list[int | None]:
        return self.source.word_ids

    @property
    def words(self) -> list[str]:
        """The text of each word of the source (the specials excluded), in order."""
        return self.source.words

    @property
    def word_spans(self) -> list[list[int]]:
        """For each word of the source, the positions of the tokens that make it."""
        return self.source.word_spans

    @property
    def has_target(self) -> bool:
        """The decoder read its own tokens (``target``), not the source's."""
        return self.target is not None

    @property
    def decoder_side(self) -> Side:
        """What the decoder read: the ``target``, or the source when it read the source tokens themselves."""
        return self.source if self.target is None else self.target

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

    # ---------------------------------------------------------------- views
    def to_words(self) -> Run:
        """The word-level run: to a word = sum over its tokens, from a word = mean (on the target side too)."""
        if self.level == "word":
            return self
        src, dec = self.source.units, self.decoder_side.units  # S side (keys, encoder queries), T side (decoder queries)
        return replace(
            self, source=self.source.to_words(src), target=_maybe(Side.to_words, self.target, dec),
            attention=_words.merge(self.attention, src), mask=_words.merge_mask(self.mask, src),
            decoder_attention=_maybe(_words.merge, self.decoder_attention, dec),
            decoder_mask=_maybe(_words.merge_mask, self.decoder_mask, dec),
            cross_attention=_maybe(_words.merge_rect, self.cross_attention, dec, src),
            cross_mask=_maybe(_words.merge_rect_mask, self.cross_mask, dec, src),
            generated=_maybe(lambda g: np.array([g[units].any() for units in dec]), self.generated),
            level="word", value_norms=None, qk=None,
        )

    def without_special(self) -> Run:
        """Drop special tokens' rows and columns and renormalise every row to 1 (on the target side too)."""
        sides = (self.source, self.target) if self.target is not None else (self.source,)
        if self.specials_removed or not any(side.special.any() for side in sides):
            return replace(self, specials_removed=True)
        src, dec = ~self.source.special, ~self.decoder_side.special  # the positions kept, S side and T side
        return replace(
            self, source=self.source.without_special(), target=_maybe(Side.without_special, self.target),
            attention=_words.drop(self.attention, src), mask=_keep(self.mask, src, src),
            decoder_attention=_maybe(_words.drop, self.decoder_attention, dec),
            decoder_mask=_maybe(_keep, self.decoder_mask, dec, dec),
            cross_attention=_maybe(_words.drop_rect, self.cross_attention, dec, src),
            cross_mask=_maybe(_keep, self.cross_mask, dec, src),
            generated=_maybe(lambda g: g[dec], self.generated),
            value_norms=_maybe(lambda v: v[..., src], self.value_norms),
            specials_removed=True, qk=None,
        )

    def view(self, level: str = "token", drop_special: bool = False) -> Run:
        """The run at ``level`` ("token" or "word"), optionally without special tokens."""
        if level not in ("token", "word"):
            raise ValueError(f"level must be 'token' or 'word', not {level!r}")
        run = self.to_words() if level == "word" else self
        return run.without_special() if drop_special else run


def _maybe(f: Callable[..., _T], value: object | None, *args) -> _T | None:
    """``f(value, *args)``, or None for an array (or target) the run does not have."""
    return None if value is None else f(value, *args)


def _keep(mask: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A ``[query, key]`` mask's kept rows and columns."""
    return mask[rows][:, cols]


def _renumber(word_ids: list[int | None]) -> list[int | None]:
    """Word ids after merging: 0..n-1 in order, None kept for specials."""
    out, n = [], 0
    for w in word_ids:
        out.append(None if w is None else n)
        n += w is not None
    return out
