"""attnviz: see what attention heads look at.

Data flows one way: a model (``load_model``) -> a captured run (``capture``, made by the
hooks in ``record``) -> analyses and views (``attnviz.figures``; ``attnviz.show`` / ``attnviz.save_html``:
the interactive view in a notebook or one HTML file, ``attnviz.html_view``). No Streamlit here.

Layers, bottom first. Each line is one rank: a module imports only modules of the lines before its
own (never one of its own line or of a later one). ``tests/test_layers.py`` reads this list, checks
every import against it, and makes the layer table of ``docs/library.md`` from it; a new module gets
a place here. The loading path (models, capturing, generation) never reaches ``toygrammar``.

    types:      errors, labels
                tree, words, loaded, memory, logit_terms
                run
    model:      local, local.model, local.tokenizer
                local.checkpoint
    hooks:      sites, projections
                recording, logit_readers
                hooks
                logits
    capture:    encoding
                capturing
                generation
    loading:    models
    analyses:   stats, alignment, conllu_io, parsing, walkthrough, measures, ablation, head_scores, ud_relations
                scoring, erasure, sentence_scores, evidence
                following
    figures:    figures.style, figures.safe_text, static
                figures.heatmaps, figures.heatmap_svg, figures.arc_parts, figures.matrix_csv, figures.export
                figures.arcs, figures.cross
                figures, view_data
                html_view
    toygrammar: toygrammar, toygrammar.lexicon
                toygrammar.grammar
                toygrammar.evaluate
                toygrammar.train
    CLI:        cli
    API:        attnviz
"""

from attnviz.capturing import capture, capture_batch, capture_pair
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
from attnviz.generation import generate
from attnviz.hooks import Recording, find_sites, record
from attnviz.html_view import View, save_html, show
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
    "head_label", "load_model", "load_trained", "local_model", "record", "save_html", "show", "View",
]
