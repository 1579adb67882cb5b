"""Hosted mode: a public link shared by many visitors.

Pure Python, no Streamlit, so the rules are easy to test.

Hosted mode is one switch, read from the environment on every run::

    ATTNVIZ_HOSTED=1
    ATTNVIZ_MODELS="sentence-transformers/all-MiniLM-L6-v2, local-trained, local"   # optional

On Streamlit Community Cloud, root-level secrets become environment variables, so the two
lines above go into the app's secrets (Advanced settings -> Secrets) as TOML
(``ATTNVIZ_HOSTED = "1"``). In hosted mode only the listed models can be chosen, from the
menu or from a link; any other value in a link gets the same one-line notice (``refused_notice``),
so a link can neither load a model nor learn whether a path exists on the server.

The memory check (a model is refused before its weights load when they and a 512-token run
would not fit in what the process's cgroup and the machine have left) is the library's:
``attnviz.load_model`` does it (``attnviz.memory``), in hosted mode and outside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from attnviz.catalog import DEFAULT_MODEL, LOCAL_MODEL, LOCAL_TRAINED

HOSTED_ENV = "ATTNVIZ_HOSTED"
MODELS_ENV = "ATTNVIZ_MODELS"
DEFAULT_ALLOWED = (DEFAULT_MODEL, LOCAL_TRAINED, LOCAL_MODEL)
_TRUE = {"1", "true", "yes", "on"}

#: The notice for every model value a link may not use in hosted mode: the same words whatever the
#: value was (an unknown id, a 400M-parameter id, a path that exists, one that does not, junk).
REFUSED = "This app offers only the models in its menu, so the model named in the link was not loaded"


def refused_notice(fallback: str) -> str:
    """``REFUSED``, with the model shown instead (the same sentence for every refused value)."""
    return f"{REFUSED}; showing {fallback} instead."

#: Per-request bounds on heavy work in hosted mode (corpus scoring).
HOSTED_MAX_SENTENCES = 500
HOSTED_MAX_TOKENS = 128  # per sentence; longer sentences are cut (their far arcs are skipped)



@dataclass(frozen=True)
class Settings:
    hosted: bool = False
    models: tuple[str, ...] = DEFAULT_ALLOWED

    def allows(self, name: str) -> bool:
        """Whether ``name`` may be loaded: always outside hosted mode; in it, only the listed ids (exactly)."""
        return not self.hosted or name in self.models

    @property
    def fallback(self) -> str:
        """The model shown when a link's is refused: the default model if listed, else the first listed one."""
        return DEFAULT_MODEL if DEFAULT_MODEL in self.models else self.models[0]


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Hosted mode and the allowed models, from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    hosted = str(env.get(HOSTED_ENV, "")).strip().lower() in _TRUE
    listed = tuple(dict.fromkeys(m for m in re.split(r"[,\s]+", str(env.get(MODELS_ENV, ""))) if m))
    return Settings(hosted=hosted, models=listed or DEFAULT_ALLOWED)
