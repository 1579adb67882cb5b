"""One kind of attention of a run, ready to draw (``Shown``), and what the decoder views read off it: the
first-token ("attention sink") share of a head, and the query row of a generation step.

``components.kinds`` draws a ``Shown``; this module is plain data (no Streamlit), built on the library's
``attnviz.view_data.Kind``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnviz.labels import head_label
from attnviz.run import Run
from attnviz.view_data import Kind, kinds
from components.state import KIND_WORDS, RunKey

#: A head is flagged as an attention sink when, on average, more than this share of a token's attention goes to position 0
#: (tokens after the first).
SINK_SHARE = 0.5


@dataclass(frozen=True)
class Shown:
    """One kind of attention of a run, ready to draw: the library's ``Kind`` (``attnviz.view_data``: its query and key
    tokens, ``attention [layers, heads, query, key]`` and what it holds), with the run it is part of."""

    part: Kind  # measure: rollout and flow (attnviz.measures) have one "head" per layer
    run: Run
    generated: list[int]  # positions (on the query side) of the generated tokens, in order
    key: RunKey | None = None  # the run's key in ``components.data`` (None: the page's own run)

    @property
    def kind(self) -> str:
        """One of ``attnviz.labels.KINDS``: "self" (the encoder's, or a decoder-only model's) | "decoder" | "cross"."""
        return self.part.key

    @property
    def query_tokens(self) -> list[str]:
        return self.part.query_tokens

    @property
    def key_tokens(self) -> list[str]:
        return self.part.key_tokens

    @property
    def attention(self) -> np.ndarray:
        return self.part.attention

    @property
    def query_special(self) -> np.ndarray:
        return self.part.query_special

    @property
    def measure(self) -> str:
        return self.part.measure

    @property
    def word(self) -> str:
        """The kind's word in figure titles and file names: "encoder" for self-attention (``KIND_WORDS``)."""
        return KIND_WORDS[self.kind]

    @property
    def square(self) -> bool:
        return self.kind != "cross"


def select(run: Run, kind: str, key: RunKey | None = None, measure: str = "attention") -> Shown:
    """The ``kind`` of attention of ``run`` (``attnviz.view_data.kinds``): its own tokens for self-attention, target x
    source for cross; ``measure``: what ``run.attention`` holds."""
    part = next(k for k in kinds(run, measure) if k.key == kind)
    return Shown(part, run, run.generated_positions if kind != "self" or not run.has_target else [], key=key)


def sink_share(matrix: np.ndarray) -> float:
    """Mean share of attention on position 0 over the queries after the first (``[Q, K]``; 0 for one token)."""
    m = np.asarray(matrix, dtype=np.float64)
    return float(m[1:, 0].mean()) if m.shape[0] > 1 else 0.0


def sink_heads(layer_attention: np.ndarray, layer: int) -> list[tuple[str, float]]:
    """(label, share) of the heads of one layer (``[H, Q, K]``) that send most attention to position 0."""
    shares = [(head_label(layer, h), sink_share(m)) for h, m in enumerate(layer_attention)]
    return sorted(((lab, sh) for lab, sh in shares if sh > SINK_SHARE), key=lambda x: -x[1])


def step_row(shown: Shown, step: int) -> tuple[int, int] | None:
    """(query row, position of the generated token) for generation step ``step`` (1-based); None for 0."""
    if step < 1 or step > len(shown.generated):
        return None
    position = shown.generated[step - 1]
    return shown.run.predicted_by(position), position
