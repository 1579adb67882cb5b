"""attnviz: see what attention heads look at.

Data flows one way: a model (``load_model``) -> a captured run (``capture``, made by
the hooks in ``record``) -> views (``attnviz.figures``). No Streamlit in this package.
"""

from attnviz.capture import EmptyInputError, capture, capture_batch
from attnviz.hooks import Recording, UnsupportedModelError, find_sites, record
from attnviz.models import (
    DEFAULT_MAX_PARAMS,
    DEFAULT_MODEL,
    LOCAL_MODEL,
    LOCAL_TRAINED,
    LoadedModel,
    ModelLoadError,
    load_model,
    local_model,
)
from attnviz.run import Run

__all__ = [
    "DEFAULT_MAX_PARAMS", "DEFAULT_MODEL", "LOCAL_MODEL", "LOCAL_TRAINED", "EmptyInputError", "LoadedModel",
    "ModelLoadError", "Recording", "Run", "UnsupportedModelError", "capture", "capture_batch",
    "find_sites", "load_model", "local_model", "record",
]
