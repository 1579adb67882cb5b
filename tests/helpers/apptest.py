"""The app in Streamlit's AppTest, as the in-process app tests start it.

    at = app(text="the dogs run", layer="2")          # the start page, with a link's query parameters
    at = app("pages/heads.py", model="local-trained")  # then switch to a page
    assert_clean(at); figures(at)["heads_grid"]; explorer_heatmap(at)
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.helpers.arrays import decode
from tests.helpers.paths import APP


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


def component_data(at: AppTest, key: str) -> dict | None:
    """The data handed to the custom component ``key`` (JSON in the element's proto), or None."""
    for el in at.get("bidi_component"):
        if el.proto.id.endswith("-" + key):
            return json.loads(el.proto.json)
    return None


def component_svg(at: AppTest, key: str) -> str | None:
    """The SVG handed to the arcs/heatmap component ``key``."""
    data = component_data(at, key)
    return None if data is None else data["svg"]


SVG = "{http://www.w3.org/2000/svg}"


def svg_heatmap(svg: str) -> tuple[np.ndarray, list[str], list[str], str]:
    """An ``attnviz.figures.heatmap_svg`` drawing read back: cells (data-w), row and column labels, title."""
    root = ET.fromstring(svg)
    cells = root.find(f".//{SVG}g[@class='cells']")
    n_rows, n_cols = int(cells.get("data-rows")), int(cells.get("data-cols"))
    z = np.array([float(r.get("data-w")) for r in cells.iter(f"{SVG}rect")], dtype=np.float32).reshape(n_rows, n_cols)
    rows = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "row"]
    cols = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "col"]
    title = next((t.text for t in root.iter(f"{SVG}text") if t.get("class") == "title"), "")
    return z, rows, cols, title


def explorer_heatmap(at: AppTest, key: str = "explorer_heatmap") -> tuple[np.ndarray, str]:
    """The explorer's heatmap as sent to the browser, SVG (up to 64 tokens) or plotly: cells and title."""
    svg = component_svg(at, key)
    if svg is not None:
        z, _, _, title = svg_heatmap(svg)
        return z, title
    fig = figures(at)[key]
    return decode(fig["data"][0]["z"]), fig["layout"]["title"]["text"]


def strongest_links(at: AppTest):
    """The explorer's "Strongest links" table (the one with a #1 column), opening its expander first
    (the table is drawn only while the expander is open)."""
    is_open = "explorer_links_open" in at.session_state and at.session_state["explorer_links_open"]
    if not is_open:
        at.session_state["explorer_links_open"] = True
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return next(df.value for df in at.dataframe if "#1" in df.value.columns)
