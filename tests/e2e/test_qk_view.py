"""The explorer's query-key view ("Why this head attends: queries and keys") in Chromium: opened and picked as a
person does, its weight for a (query, key) pair is the heatmap's cell for the same head and pair, its link keeps
the pair, hostile text stays text, and its PNG export is a real PNG."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np

from tests.e2e.page import page_js
from tests.e2e.test_browser import png_size
from tests.helpers.arrays import decode

TEXT = "heavy snow makes driving more difficult"
TRACES = page_js("plotly_traces")


def traces(app, key: str) -> dict | None:
    """The view's figure ``key`` as the page holds it: {trace name: {x, y (an array)}} and the x tick labels drawn."""
    drawn = app.page.evaluate(TRACES, key)
    if drawn is None:
        return None
    return {"traces": {t["name"]: {"x": t["x"], "y": decode(t["y"])} for t in drawn["traces"]}, "xticks": drawn["xticks"]}


def pick(app, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label``, as a person does."""
    combo = app.page.get_by_role("combobox", name=label)
    combo.scroll_into_view_if_needed()
    combo.click()
    app.rerun(lambda: app.page.get_by_role("option", name=option, exact=True).click())
    app.settle()


def query(app) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(app.page.url).query).items()}


def test_the_views_weight_is_the_heatmaps_cell(app, reference):
    app.open(text=TEXT, layer="2", head="8")
    app.open_expander("qk_open")
    pick(app, "Query (the token that attends)", "3: makes")
    pick(app, "Key (its q · k dimension by dimension)", "6: difficult")
    # the view is still head 2-8 after the two picks (said first: a failure seen twice in full runs, and not
    # reproduced alone, drew head 1-1, the sliders' lowest values; this says so at once, with the link)
    sliders = (app.slider_value("layer"), app.slider_value("head"))
    assert sliders == (2, 8), f"the sliders read {sliders} after the picks; the link: {app.page.url}"
    expected = reference(TEXT).head(1, 7)
    z = app.z_now(expected)  # the heatmap of head 2-8 as drawn (SVG cells: exact float32s)
    logits = app.eventually(lambda: traces(app, "qk_logits"), lambda t: t is not None and
                            "query 3: makes" in (app.page.locator(".st-key-qk_logits .gtitle").first.text_content() or ""))
    weight = np.array(logits["traces"]["weight"]["y"], dtype=np.float32)
    assert np.allclose(weight, z[3], atol=1e-5), (weight, z[3])
    assert abs(float(weight[6]) - float(z[3, 6])) <= 1e-5 and z[3, 6] > 0.5  # "makes" -> "difficult": 0.71
    shown = app.page.locator(".st-key-qk_open").inner_text()
    assert f"weight after softmax: {z[3, 6]:.4f}" in shown  # the number written beside the dimension bars
    assert "dimensions carry half of q · k" in shown
    dims = app.eventually(lambda: traces(app, "qk_dims"), lambda t: t is not None)
    products = np.concatenate([t["y"].astype(np.float64) for name, t in dims["traces"].items() if name.startswith("q_i · k_i")])
    q, k = (dims["traces"][n]["y"].astype(np.float64) for n in ("q_i", "k_i"))
    assert np.allclose(np.sort(products), np.sort(q * k), atol=1e-5)  # the bars' products are q_i k_i
    assert query(app) == {"text": TEXT, "layer": "2", "head": "8", "qk": "open", "query": "3", "key": "6"}


def test_a_link_opens_the_view_and_hostile_text_stays_text(app, reference):
    text = "<img src=x onerror=alert(1)> **bold** <b>x</b>"
    app.open(text=text, qk="open", query="1", key="3")
    labels = [f"{i}: {t}" for i, t in enumerate(reference(text).tokens)]
    drawn = app.eventually(lambda: traces(app, "qk_logits"), lambda t: t is not None and t["xticks"])
    assert set(drawn["xticks"]) <= set(labels) and "0: [CLS]" in drawn["xticks"]  # the tokens as typed, not markup
    assert any(c in label for label in drawn["xticks"] for c in "<>*")
    assert app.page.get_by_role("combobox", name="Query (the token that attends)").input_value() == "1: <"
    assert app.injected() == [] and not app.dialogs


def test_its_png_export_is_a_png(app):
    app.open(text=TEXT, qk="open", query="3")
    name, data = app.download("qk_logits_dl_png")
    width, height = png_size(data)
    assert name.endswith("_logits.png") and "q3" in name
    assert len(data) > 10_000 and width >= 1000 and height >= 800, (len(data), width, height)
