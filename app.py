"""attnviz: see what attention heads look at. Run with: streamlit run app.py

This file is both the app's script and, for the server, the module that declares it. ``streamlit run app.py``
finds ``app`` below (an ``st.App``), imports this file as the module ``app`` and serves it: torch's libraries are
mapped as the server starts, and its lifespan imports torch and loads the first model once a first page has drawn
its first screen, or after 3 s (components/lifespan.py). Every session then runs this file as its script
(``__name__ == "__main__"``), which draws the page the URL names.
"""

import streamlit as st

if __name__ == "__main__":
    # The attnviz package first, before any of its modules: sessions start in threads of their own, and a thread
    # importing one of its modules while another runs the package's __init__ can get that module half made
    # ("partially initialized module", seen with four sessions opened at once). The package itself is light (its
    # heavy names load on first use); pages draw their first screen, then wait for torch and the views, which one
    # thread imports (components/startup.py).
    import attnviz  # noqa: F401
    from components.navigation import run_app

    run_app()
else:
    from components.lifespan import lifespan, map_ahead

    map_ahead()  # torch's libraries, mapped while the server starts (without the interpreter lock)
    app = st.App("app.py", lifespan=lifespan)
