"""What the app imports after its first screen: torch, transformers and every module of attnviz, once; and
the server's warm-up, which starts that work (and the default model's load) as the server starts.

A page draws its sidebar, title and sentence box from light modules (``controls.opening``: Streamlit, the
model names of ``attnviz.catalog``, the measures' words), so a visitor sees the page ~2 s after the server
starts instead of after the ~3 s it takes to import torch and transformers. Then ``ready`` waits for the
imports, behind a message at the top of the page, and the model loads (``data.get_model``).

``streamlit run app.py`` serves app.py's ``st.App``, whose lifespan (``components.lifespan``) runs ``warm`` in a thread
as the server starts: once a first page has drawn its first screen (``first_screen``; 3 s at most), it imports the
modules and loads the first screen's model. A first visitor (a hosted app waking up) sees the page drawn with the
CPU to itself, then finds the modules loading, instead of that work starting only once their page runs.

The imports are made by one thread: ``st.cache_resource`` computes its value in one thread while every other
caller waits for it (the warm-up's thread, or the first session's when the app runs without the server's
lifespan, as under AppTest). Threads must not import the same packages in different orders: a thread that
imports a package's module while another thread is still running that package's ``__init__`` can get a
half-made module ("partially initialized module attnviz.html_view", seen with four sessions opened at once).
So pages import their own heavy modules only after ``ready`` (``pages/*.py``: the imports below it), and the
lifespan imports the light modules of a page's first screen before the warm-up starts.
"""

from __future__ import annotations

import pkgutil
import threading
import time
from importlib import import_module

import streamlit as st
from streamlit.logger import get_logger

import attnviz
from components import data
from components.app_settings import settings

STARTING = "Starting up: importing torch and transformers…"
LOG = get_logger(__name__)  # the server's log, in Streamlit's format


@st.cache_resource(show_spinner=False)
def import_modules() -> list[str]:
    """Import every module of attnviz (and so torch, transformers, plotly), in this one thread; their names."""
    names = [m.name for m in pkgutil.walk_packages(attnviz.__path__, "attnviz.")]
    for name in names:
        import_module(name)
    return names


@st.cache_resource(show_spinner=False)
def first_screen() -> threading.Event:
    """Set once a page has drawn its first screen (``ready``): the server's warm-up waits for it before it imports
    (components/lifespan.py), so that the first visitor's browser draws that screen with the CPU to itself."""
    return threading.Event()


def ready() -> None:
    """Wait for ``import_modules`` (made by the warm-up, or here), behind a message at the top of the page."""
    first_screen().set()
    with st.spinner(STARTING):  # shown after half a second: not once the modules are imported
        import_modules()


def warm() -> None:
    """Import the modules, then load the first screen's model (the default, or a hosted app's first allowed one)
    into ``data.get_model``'s cache, shared by every session."""
    started = time.perf_counter()
    import_modules()
    imported, name = time.perf_counter(), settings().fallback
    try:
        data.get_model(name)
    except attnviz.ModelLoadError as exc:  # not cached: the first page that asks for the model says why
        LOG.warning("Warm-up: torch, transformers and attnviz imported in %.1f s; %s not loaded: %s",
                    imported - started, name, exc)
        return
    LOG.info("Warm-up: torch, transformers and attnviz imported in %.1f s; %s loaded in %.1f s",
             imported - started, name, time.perf_counter() - imported)
