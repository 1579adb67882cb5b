"""The server's lifespan, given to app.py's ``st.App``: what runs as ``streamlit run app.py`` starts, before any
browser connects.

It imports the light modules of every page's first screen, in the server's own thread (uvicorn accepts no
connection before a lifespan has started, so no session imports them at the same time), then starts
``components.startup.warm`` in a thread of its own: torch, transformers, attnviz and the first screen's model,
while the server answers the browser. A first visitor, say of a hosted app waking up, finds them loaded or
loading, instead of the work starting only when their page runs.

The modules are imported here, by name, rather than at the top of app.py: they declare Streamlit caches, which
want the runtime to exist (it does once a lifespan runs; when app.py is imported it does not yet, and each
cache would log "No runtime found").
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module

#: What a page imports before it waits for ``startup.ready``; ``components.startup`` last (it holds ``warm``).
FIRST_SCREEN = ("attnviz", "components.navigation", "components.controls", "components.startup")


@asynccontextmanager
async def lifespan(_app) -> AsyncIterator[None]:
    """Import the first screen's modules, start the warm-up's thread, and let the server serve."""
    startup = [import_module(name) for name in FIRST_SCREEN][-1]
    threading.Thread(target=_warm, args=(startup.warm,), name="attnviz-warm-up", daemon=True).start()
    yield


def _warm(warm) -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    try:
        warm()
    finally:
        sys.setswitchinterval(interval)
