"""Every exception attnviz raises on purpose, each with a message meant for a person.

The bottom layer: no attnviz imports, so any module may raise any of these.
"""

from __future__ import annotations


class EmptyInputError(ValueError):
    """The text has nothing the model can read."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says why and what to do."""


class UnsupportedModelError(ValueError):
    """The model has no attention module that attnviz knows how to record."""


class AttentionCheckError(UnsupportedModelError):
    """A recorded attention tensor failed attnviz's check (shape, heads, finite values, rows
    summing to 1 over the allowed keys, zeros on masked keys); the message names the module."""


class CoNLLUError(ValueError):
    """A CoNLL-U input that cannot be used; the message says what is wrong and where."""


class CoNLLUFileNotFoundError(CoNLLUError, FileNotFoundError):
    """The CoNLL-U path does not name a file."""


class ParserUnavailableError(RuntimeError):
    """No spaCy English pipeline could be loaded; the message says how to install one."""


class ExportUnavailableError(RuntimeError):
    """No browser to render images with (or it failed); the message says what to do."""
