"""Recorded logit terms against the weights they must reproduce (tests/lib/test_logit_terms.py, and the
"q·k reproduces the weights" column of the families table in tests/lib/test_hooks_families.py).

    with logits_everywhere() as diffs:   # every attnviz.record in the block runs as record_logits
        run_family("llama")              # the families test's own runner: its models, inputs, references
    max(diffs)                           # the largest |softmax(terms) - recorded weights| of every recording
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

import attnviz
from attnviz.logit_readers import UnsupportedLogitsError
from attnviz.logits import record_logits

TOLERANCE = 1e-5  # float32


def weights_diff(rec: attnviz.Recording) -> float:
    """The largest |``terms.weights(layer)`` - the recorded weights| over every kind and layer of ``rec``, on
    the rows with an allowed key (a row with none is left to the model: uniform or zeros)."""
    assert rec.logits and set(rec.logits) == set(rec.kinds), (sorted(rec.logits), rec.kinds)
    worst = 0.0
    for kind, terms in rec.logits.items():
        recorded = rec.stack(kind).numpy()
        assert terms.n_layers == recorded.shape[0], kind
        for layer in range(terms.n_layers):
            rows = np.broadcast_to(terms.mask[layer].any(-1), recorded[layer].shape[:-1])
            worst = max(worst, float(np.abs(terms.weights(layer) - recorded[layer]).max(-1)[rows].max()))
    return worst


@contextmanager
def logits_everywhere() -> Iterator[list[float]]:
    """``attnviz.record`` is ``record_logits`` for the block; each recording's ``weights_diff`` is appended to
    the list yielded when its block ends."""
    diffs: list[float] = []
    plain = attnviz.record

    @contextmanager
    def checked(model, *args, **kwargs):
        with record_logits(model, *args, **kwargs) as rec:
            yield rec
        diffs.append(weights_diff(rec))

    attnviz.record = checked
    try:
        yield diffs
    finally:
        attnviz.record = plain


def qk_column(run_family: Callable, family: str) -> str:
    """The families table's column for ``family``: "exact" with the largest difference, or the refusal."""
    try:
        with logits_everywhere() as diffs:
            run_family(family)
    except UnsupportedLogitsError as exc:
        return f"refused: {exc}"
    worst = max(diffs)
    return f"exact ({worst:.0e})" if worst <= TOLERANCE else f"NO ({worst:.1e})"
