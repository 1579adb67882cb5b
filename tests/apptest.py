"""The app in Streamlit's AppTest, as the in-process app tests start it.

    at = app(text="the dogs run", layer="2")          # the start page, with a link's query parameters
    at = app("pages/heads.py", model="local-trained")  # then switch to a page
    assert_clean(at); figures(at)["explorer_heatmap"]
"""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def app(page: str | None = None, timeout: float = 180, **params) -> AppTest:
    """Run app.py with ``params`` as the link's query parameters; then switch to ``page`` if given."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def assert_clean(at: AppTest) -> AppTest:
    """No exception on the page (the messages listed when there is one)."""
    assert not at.exception, [e.message for e in at.exception]
    return at


def figures(at: AppTest) -> dict[str, dict]:
    """Every plotly chart's spec by its key."""
    return {el.key: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
