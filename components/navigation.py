"""The app's pages and navigation, shared by app.py and by every page script.

Streamlit runs a script from ``pages/`` directly (its older pages-folder mode) when a
server's first request is a deep link such as ``/heads``: app.py, and so the app's
navigation, would not run. Every page therefore starts with ``ensure_app()``, which
runs the app's navigation itself in that case; afterwards Streamlit uses app.py.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import streamlit as st

from components import session_keys as keys
from components.app_settings import settings
from components.jobs import JOBS, THROTTLE

#: The favicon as a data URL (466 bytes of PNG): Streamlit passes a URL through, where a file path would have it
#: import PIL and read the file on a page's first run (0.08 s of the first screen here, py-spy and cProfile).
ICON = "data:image/png;base64," + base64.b64encode(
    (Path(__file__).resolve().parents[1] / "assets" / "icon.png").read_bytes()).decode("ascii")


def pages() -> list:
    return [
        # the default page is served at "/"; /explorer (old links, typed addresses) opens it too
        st.Page("pages/explorer.py", title="Explorer", icon=":material/search:", url_path="start", default=True),
        st.Page(_explorer_alias, title="Explorer", url_path="explorer", visibility="hidden"),
        st.Page("pages/heads.py", title="All heads", icon=":material/grid_view:", url_path="heads"),
        st.Page("pages/dependencies.py", title="Heads vs. syntax", icon=":material/account_tree:", url_path="dependencies"),
        st.Page("pages/head-map.py", title="Head map", icon=":material/scatter_plot:", url_path="head-map"),
        st.Page("pages/walkthrough.py", title="From attention to transformers", icon=":material/school:",
                url_path="walkthrough"),
    ]


def _explorer_alias() -> None:
    """/explorer: the explorer lives at "/"; go there with the link's parameters."""
    st.switch_page("pages/explorer.py", query_params=st.query_params.to_dict())


def run_app() -> None:
    """Page config and navigation; runs the page the URL names."""
    if settings().hosted:  # a session rerunning faster than a person can waits first (before it draws
        # anything), so others keep the CPU; a newer request replaces the waiting run at its first element
        pause = THROTTLE.delay(keys.session_id())
        if pause:
            time.sleep(pause)
    st.set_page_config(page_title="attnviz: what attention heads look at", page_icon=ICON,
                       layout="wide")
    st.session_state[keys.VIA_APP] = True
    st.session_state.pop(keys.URL_EXTRA, None)  # a page's own link parameters: its full run sets them again
    page = st.navigation(pages())
    st.session_state[keys.PAGE] = page.url_path
    with JOBS.foreground():  # heavy jobs (corpus scoring) pause between chunks while a page runs
        page.run()


def ensure_app() -> None:
    """First call in every page: if Streamlit ran this page without app.py, run the app instead."""
    if st.session_state.pop(keys.VIA_APP, False):
        return
    run_app()
    st.stop()
