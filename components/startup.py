"""What the app imports after its first screen: torch, transformers and every module of attnviz, once.

A page draws its sidebar, title and sentence box from light modules (``controls.opening``: Streamlit, the
model names of ``attnviz.catalog``, the measures' words), so a visitor sees the page ~2 s after the server
starts instead of after the ~5 s it takes to import torch and transformers. Then ``import_modules`` imports
the rest, behind a message at the top of the page, and the model loads (``data.get_model``).

The imports are made by one thread: ``st.cache_resource`` computes its value in one session's thread while
the others wait for it. Sessions that start at the same moment (a hosted app waking up) must not import the
same packages in different orders: a thread that imports a package's module while another thread is still
running that package's ``__init__`` can get a half-made module ("partially initialized module
attnviz.html_view", seen with four sessions opened at once). Pages import their own heavy modules only
after this (``pages/*.py``: the imports below ``sidebar``/``sentence_page``).
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

import streamlit as st

import attnviz


@st.cache_resource(show_spinner="Starting up: importing torch and transformers…")
def import_modules() -> list[str]:
    """Import every module of attnviz (and so torch, transformers, plotly), in this one thread; their names."""
    names = [m.name for m in pkgutil.walk_packages(attnviz.__path__, "attnviz.")]
    for name in names:
        import_module(name)
    return names
