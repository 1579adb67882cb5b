"""One head's matrix as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# ------------------------------------------------------------------ CSV
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(text: object) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a ' prefix."""
    text = str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def matrix_csv(matrix: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str]) -> bytes:
    """The ``[Q, K]`` matrix as UTF-8 CSV (with BOM, for spreadsheets).

    Columns: ``position``, ``token`` (the query token), then one column per key named
    ``"{k}: {token}"`` (so duplicate tokens stay distinct). Formula-like tokens are
    neutralised (``'=SUM(A1)``).
    """
    m = np.asarray(matrix)
    if m.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"matrix of shape {m.shape} does not match {len(query_tokens)} x {len(key_tokens)} tokens")
    df = pd.DataFrame(m, columns=[_safe_cell(f"{k}: {t}") for k, t in enumerate(key_tokens)])
    df.insert(0, "token", [_safe_cell(t) for t in query_tokens])
    df.insert(0, "position", np.arange(len(query_tokens)))
    return df.to_csv(index=False).encode("utf-8-sig")
