"""Arrays as the browser receives them: plotly sends numpy arrays as ``{dtype, bdata, shape}`` (base64 of a
typed array), short ones as nested lists. Read the same way from an AppTest's figure spec and from a page."""

from __future__ import annotations

import base64

import numpy as np


def decode(z) -> np.ndarray:
    """A plotly trace's array (``z``, ``x``...) as sent to the browser: nested lists, or {dtype, bdata, shape}."""
    if isinstance(z, dict) and "bdata" in z:
        shape = [int(s) for s in str(z.get("shape", "")).replace(" ", "").split(",") if s]
        a = np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"]))
        return a.reshape(shape) if shape else a
    return np.asarray(z, dtype=float)
