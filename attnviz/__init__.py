"""attnviz: see what attention heads look at.

Data flows one way: a model (``load_model``) -> a captured run (``capture``, made by the
hooks in ``record``) -> analyses and views (``attnviz.figures``). No Streamlit here.

The layers, bottom to top (each module imports only from the layers below it):

    errors, labels, tree, words, run, loaded      plain data types and every exception
    local.model, local.tokenizer, local.checkpoint    the from-scratch transformer
    hooks                                          record attention while a model runs
    capture                                        text in, Run out
    models                                         the model registry: load_model, local_model
    stats, alignment, conllu_io, parsing, scoring, walkthrough    analyses
    figures                                        plotly figures, SVG arcs, image export
    cli (and heads, for ``python -m attnviz.heads``)   the command line
    toygrammar                                     the toy grammar, training, evaluation (never
                                                   imported by the loading path)
"""

from attnviz.capture import capture, capture_batch
from attnviz.errors import (
    CoNLLUError,
    CoNLLUFileNotFoundError,
    EmptyInputError,
    ExportUnavailableError,
    ModelLoadError,
    ParserUnavailableError,
    UnsupportedModelError,
)
from attnviz.hooks import Recording, find_sites, record
from attnviz.labels import head_label
from attnviz.loaded import LoadedModel
from attnviz.models import (
    DEFAULT_MAX_PARAMS,
    DEFAULT_MODEL,
    LOCAL_MODEL,
    LOCAL_TRAINED,
    load_model,
    load_trained,
    local_model,
)
from attnviz.run import Run
from attnviz.tree import Sentence

__all__ = [
    "DEFAULT_MAX_PARAMS", "DEFAULT_MODEL", "LOCAL_MODEL", "LOCAL_TRAINED", "CoNLLUError", "CoNLLUFileNotFoundError",
    "EmptyInputError", "ExportUnavailableError", "LoadedModel", "ModelLoadError", "ParserUnavailableError",
    "Recording", "Run", "Sentence", "UnsupportedModelError", "capture", "capture_batch", "find_sites",
    "head_label", "load_model", "load_trained", "local_model", "record",
]
