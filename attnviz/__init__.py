"""attnviz: see what attention heads look at.

Data flows one way: a model (``load_model``) -> a captured run (``capture``, made by the
hooks in ``record``) -> analyses and views (``attnviz.figures``). No Streamlit here.

The layers, bottom to top (each module imports only from the layers below it):

    errors, labels, tree, words, run, loaded, memory    plain data types, every exception, memory estimate
    local.model, local.tokenizer, local.checkpoint    the from-scratch transformer
    sites                                          how each family's attention is read, and the check
    hooks                                          record attention while a model runs
    capture                                        text in, Run out
    models                                         the model registry: load_model, local_model
    stats, alignment, conllu_io, parsing, scoring, walkthrough    analyses
    figures                                        plotly figures, SVG arcs, image export
    cli (and heads, for ``python -m attnviz.heads``)   the command line
    toygrammar                                     the toy grammar, training, evaluation (never
                                                   imported by the loading path)
"""

from attnviz.capture import capture, capture_batch, capture_pair, generate
from attnviz.errors import (
    AttentionCheckError,
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
    "AttentionCheckError", "DEFAULT_MAX_PARAMS", "DEFAULT_MODEL", "LOCAL_MODEL", "LOCAL_TRAINED", "CoNLLUError", "CoNLLUFileNotFoundError",
    "EmptyInputError", "ExportUnavailableError", "LoadedModel", "ModelLoadError", "ParserUnavailableError",
    "Recording", "Run", "Sentence", "UnsupportedModelError", "capture", "capture_batch", "capture_pair", "find_sites", "generate",
    "head_label", "load_model", "load_trained", "local_model", "record",
]
