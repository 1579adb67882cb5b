"""The server's start, given to app.py's ``st.App``: what runs as ``streamlit run app.py`` starts.

- ``map_ahead``, as the server imports app.py: a thread maps torch's shared libraries (``load_native``), without
  the interpreter lock, on the core that the server's own start leaves idle (0.4 s here before it answers).
- ``lifespan``, as the server starts, before any browser connects: it imports the light modules of every page's
  first screen, in the server's own thread (uvicorn accepts no connection before a lifespan has started, so no
  session imports them at the same time), then starts ``components.startup.warm`` in a thread of its own: torch,
  transformers, attnviz and the first screen's model. That thread first lets the first visitor's page draw: it
  waits until a page has drawn its first screen (``startup.first_screen``), ``PATIENCE`` seconds at most.

A first visitor, say of a hosted app waking up, finds them loaded or loading, instead of the work starting only
when their page runs. The modules are imported by the lifespan, by name, rather than at the top of app.py: they
declare Streamlit caches, which want the runtime to exist (it does once a lifespan runs; when app.py is imported
it does not yet, and each cache would log "No runtime found").
"""

from __future__ import annotations

import ctypes
import gc
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path

from streamlit import delta_generator
from streamlit.logger import get_logger

#: What a page imports before it waits for ``startup.ready``; ``components.startup`` last (it holds ``warm``).
FIRST_SCREEN = ("attnviz", "components.navigation", "components.controls", "components.startup")
#: The extension module whose shared libraries the warm-up maps before importing it (``load_native``): torch's.
NATIVE = ("torch", "_C")
#: How long the warm-up waits for a first page to draw its first screen before it imports anyway, in seconds. A
#: browser that is waiting for the server (a visitor waking a hosted app, the tab ``streamlit run`` opens) draws
#: it ~1–2 s after the server answers (benchmarks/bench_latency.py); without a visitor the wait costs no one.
PATIENCE = 3.0
LOG = get_logger(__name__)


@asynccontextmanager
async def lifespan(_app) -> AsyncIterator[None]:
    """Import the first screen's modules, start the warm-up's thread, and let the server serve."""
    startup = [import_module(name) for name in FIRST_SCREEN][-1]
    skip_repl_check()
    threading.Thread(target=_warm, args=(startup.warm, startup.first_screen(), PATIENCE), name="attnviz-warm-up",
                     daemon=True).start()
    yield


def map_ahead() -> None:
    """Map torch's shared libraries in a thread of its own (``load_native``), as the server imports app.py.

    The server's start (importing uvicorn, starlette and the lifespan's modules) is one thread holding the lock;
    mapping the libraries needs none of it, so it runs on the other core meanwhile (0.2–0.3 s of the warm-up's
    work, that was done as the first browser loaded the page). The warm-up's own ``load_native`` then finds them
    mapped (or waits for this one to finish, as the system's loader makes one mapping at a time)."""
    threading.Thread(target=load_native, args=NATIVE, name="attnviz-map-torch", daemon=True).start()


def skip_repl_check() -> None:
    """Tell Streamlit that its once-per-process check for "not run by ``streamlit run``" is done.

    Streamlit makes it when the first element of the first page run is drawn: ``env_util.is_repl`` calls
    ``inspect.stack()``, which reads the source of every frame and walks ``sys.modules``: 0.13–0.14 s of the first
    screen here (cProfile), 2,200 modules in while the warm-up imports. A lifespan runs only under ``streamlit
    run``, where the warning it guards can never apply. The flag is Streamlit's own (private); without it, as in
    another Streamlit version, this does nothing and the check runs as before (tests/app/test_warm_up.py)."""
    if hasattr(delta_generator, "_use_warning_has_been_displayed"):
        delta_generator._use_warning_has_been_displayed = True


def _warm(warm, cue: threading.Event, patience: float) -> None:
    """Run ``warm`` once ``cue`` is set (a page drew its first screen) or after ``patience`` seconds, so that the
    server keeps answering the browser while it imports.

    The wait lets the first visitor's browser have the CPU while it loads Streamlit's scripts and draws the
    first screen: on 2 cores, importing torch meanwhile made the sentence box 0.7–0.9 s later; with torch's
    libraries mapped ahead (``map_ahead``) the wait costs the first arcs 0.3 s at most (benchmarks/bench_latency.py,
    docs/figures.md, the tenth round).

    The server answers in its own thread, which needs the interpreter lock for every request, so the warm-up
    holds it as briefly as it can:

    - it lets other threads in every 0.1 ms (the switch interval) instead of every 5 ms;
    - it maps torch's shared libraries first, without the lock (``load_native``), where ``map_ahead`` has not
      already (then it costs a lookup): the import would hold the lock for the whole of it, 0.18–0.28 s here;
    - it pauses the cyclic garbage collector: importing torch, transformers and attnviz makes ~780,000
      objects, and each full collection walks them all with the lock held (0.1–0.4 s each, about 0.7 s of
      stalls over the warm-up here). What it made is then frozen (``gc.freeze``), as it lives as long as the
      server, so that later collections skip it; the ~14,000 objects of garbage among it (8.6 MB) stay.

    Measured: ``python benchmarks/bench_latency.py --compare`` (docs/figures.md, the ninth round)."""
    interval, collecting = sys.getswitchinterval(), gc.isenabled()
    sys.setswitchinterval(0.0001)
    gc.disable()
    try:
        cue.wait(patience)
        load_native(*NATIVE)
        warm()
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
        sys.setswitchinterval(interval)


def load_native(package: str, module: str) -> bool:
    """Map the shared object of the extension module ``package.module`` and the libraries it links, without
    importing anything and without holding the interpreter lock; whether it was mapped.

    ``dlopen`` is called as a foreign function of the C library, which ctypes calls with the lock released
    (``ctypes.CDLL(path)`` would hold it). The import then finds the object mapped and only initialises it.
    With the flags Python's own import uses (``sys.getdlopenflags``), it is the same mapping the import
    would make. Where any step is not possible (no ``dlopen``, the file not found), nothing is mapped and the
    import does it as usual."""
    if os.name != "posix":
        return False
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return False
    names = [Path(where, module + suffix) for where in spec.submodule_search_locations
             for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    path = next((p for p in names if p.is_file()), None)
    if path is None:
        return False
    dlopen = getattr(ctypes.CDLL(None), "dlopen", None)  # the C library's, as every POSIX system has it
    if dlopen is None:
        return False
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, (ctypes.c_char_p, ctypes.c_int)
    if not dlopen(os.fsencode(path), sys.getdlopenflags()):
        LOG.debug("Warm-up: %s not mapped ahead; its import will map it", path)
        return False
    return True
