"""attnviz: see what attention heads look at.

Data flows one way: a model (``load_model``) -> a captured run (``capture``, made by the
hooks in ``record``) -> analyses and views (``attnviz.figures``; ``attnviz.show`` / ``attnviz.save_html``:
the interactive view in a notebook or one HTML file, ``attnviz.html_view``). No Streamlit here.

Layers, bottom first. Each line is one rank: a module imports only modules of the lines before its
own (never one of its own line or of a later one). ``tests/test_layers.py`` reads this list, checks
every import against it, and makes the layer table of ``docs/library.md`` from it; a new module gets
a place here. The loading path (models, capturing, generation) never reaches ``toygrammar``.

    types:      errors, labels, catalog
                tree, words, loaded, memory, logit_terms
                run
    model:      local, local.model, local.tokenizer
                local.checkpoint
    hooks:      checks, sites, projections
                recording, logit_readers, in_place
                hooks, logit_hooks
                logits
    capture:    encoding
                capturing
                generation
    loading:    models
    analyses:   stats, alignment, conllu_io, parsing, walkthrough, measures, ablation, head_scores, ud_relations, qk_parts
                scoring, erasure, sentence_scores, evidence
                following, head_map
    figures:    figures.style, figures.safe_text, static
                figures.heatmaps, figures.heatmap_svg, figures.arc_parts, figures.matrix_csv, figures.export, figures.head_maps
                figures.arcs, figures.cross, figures.qk
                figures, view_data
                html_view
    toygrammar: toygrammar, toygrammar.lexicon
                toygrammar.grammar
                toygrammar.evaluate
                toygrammar.train
    CLI:        cli
    API:        attnviz
"""

# The package imports torch and transformers only when a name that needs them is first used (PEP 562),
# so ``import attnviz`` is quick (the app draws its first screen, ``attnviz --help`` answers, before torch
# loads). The errors, the model names and ``head_label`` are plain Python and imported at once.
from importlib import import_module

from attnviz.catalog import DEFAULT_MAX_PARAMS, DEFAULT_MODEL, LOCAL_MODEL, LOCAL_TRAINED
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
from attnviz.labels import head_label

_LAZY = {  # name -> the module that defines it, imported on first use
    "capture": "attnviz.capturing", "capture_batch": "attnviz.capturing", "capture_pair": "attnviz.capturing",
    "generate": "attnviz.generation",
    "Recording": "attnviz.recording", "find_sites": "attnviz.hooks", "record": "attnviz.hooks",
    "View": "attnviz.html_view", "save_html": "attnviz.html_view", "show": "attnviz.html_view",
    "LoadedModel": "attnviz.loaded", "load_model": "attnviz.models", "load_trained": "attnviz.models",
    "local_model": "attnviz.models", "Run": "attnviz.run", "Sentence": "attnviz.tree",
    "record_logits": "attnviz.logits", "LogitTerms": "attnviz.logit_terms",
}


def __getattr__(name: str):
    """The public name ``name``, its module imported on first use (then kept in the package's namespace)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'attnviz' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # after the import: a submodule of the same name must not shadow the function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AttentionCheckError", "DEFAULT_MAX_PARAMS", "DEFAULT_MODEL", "LOCAL_MODEL", "LOCAL_TRAINED", "CoNLLUError", "CoNLLUFileNotFoundError",
    "EmptyInputError", "ExportUnavailableError", "LoadedModel", "ModelLoadError", "ParserUnavailableError",
    "Recording", "Run", "Sentence", "UnsupportedModelError", "capture", "capture_batch", "capture_pair", "find_sites", "generate",
    "head_label", "load_model", "load_trained", "local_model", "record", "record_logits", "LogitTerms", "save_html", "show",
    "View",
]
