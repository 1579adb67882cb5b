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

    attention:          self-attention of the encoder (or of the only stack)
    decoder_attention:  masked self-attention of a decoder (local transformer), else None
    cross_attention:    decoder -> encoder attention, ``[layers, heads, target, source]``
    tokens:             the positions' labels (tokens, or words at word level)
    offsets:            character span of each position in ``text``; (0, 0) for specials
    special:            bool per position, True for [CLS]/[SEP]/<s>/</s>/...
    word_ids:           word index per token (None for specials); at word level, 0..n-1
    mask:               bool ``[query, key]``: True where the model was allowed to attend
                        (padding and the look-ahead mask, as the first layer applied them)
    causal:             the look-ahead mask was added by attnviz's hooks
    level:              "token" or "word"; ``to_words()`` makes the word-level run
    specials_removed:   special tokens were dropped and rows renormalised (``without_special()``)
    n_input_tokens:     tokens the text made before truncation to the model's maximum
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
        cross = None
        if self.cross_attention is not None:  # decoder positions are the same tokens as the source
            cross = _words.merge(self.cross_attention, groups)
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
        return replace(
            self, tokens=labels, offsets=offsets, special=np.array(special, dtype=bool), word_ids=word_ids,
            attention=merge(self.attention), decoder_attention=merge(self.decoder_attention),
            cross_attention=cross, mask=_words.merge_mask(self.mask, groups), level="word",
        )

    def without_special(self) -> "Run":
        """Drop special tokens' rows and columns and renormalise every row to 1."""
        if self.specials_removed or not self.special.any():
            return replace(self, specials_removed=True)
        keep = ~self.special
        drop = lambda a: None if a is None else _words.drop(a, keep)  # noqa: E731
        pick = lambda xs: [x for x, k in zip(xs, keep) if k]  # noqa: E731
        return replace(
            self, tokens=pick(self.tokens), offsets=pick(self.offsets), special=self.special[keep],
            word_ids=pick(self.word_ids), attention=drop(self.attention),
            decoder_attention=drop(self.decoder_attention), cross_attention=drop(self.cross_attention),
            mask=self.mask[keep][:, keep], specials_removed=True,
        )

    def view(self, level: str = "token", drop_special: bool = False) -> "Run":
        """The run at ``level`` ("token" or "word"), optionally without special tokens."""
        if level not in ("token", "word"):
            raise ValueError(f"level must be 'token' or 'word', not {level!r}")
        run = self.to_words() if level == "word" else self
        return run.without_special() if drop_special else run
