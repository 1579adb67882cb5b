"""The head map in headless Chromium: the small multiples are drawn as WebGL scatter plots holding every point, and a
click on a point opens its sentence in the explorer at that layer and head (#22, part 3)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from attnviz.conllu_io import to_conllu
from attnviz.parsing import load_parser, load_sample
from attnviz.tree import Sentence
from tests.e2e.page import page_js

STATE = page_js("head_map_state")
POINT = page_js("head_map_point")


def drawn(app, title_has: str = "") -> dict:
    """The head map once drawn (its traces on WebGL canvases), with ``title_has`` in its title."""
    return app.eventually(lambda: app.page.evaluate(STATE),
                          lambda s: s is not None and s["canvases"] > 0 and title_has in s["title"], timeout=60)


def test_the_map_draws_every_head_and_a_click_opens_the_point_in_the_explorer(app):
    app.open("head-map", layer="2", timeout=300_000)
    state = drawn(app, "layer 2")
    heads = [t for t in state["traces"] if t["type"] == "scattergl" and t["points"] > 1]
    assert len(heads) == 24 and len({t["xaxis"] for t in heads}) == 12  # queries and keys of 12 heads, one plot each
    n_tokens = heads[0]["points"]
    assert all(t["points"] == n_tokens for t in heads) and n_tokens > 1000  # the sample: every token, as query and key

    target = app.page.evaluate(POINT, 4)  # head 2-5: its most isolated point, which a click picks for sure
    app.page.mouse.move(target["x"], target["y"])  # hover: the token in its sentence, beside the pointer
    tip = app.page.locator(".attnviz-head-map-tip")
    tip.wait_for(state="visible", timeout=10_000)
    text = tip.inner_text()
    assert text.startswith(f"2-5 {('query', 'key')[target['kind']]}"), text
    where = re.search(r"sentence (\d+), token (\d+)", text)
    sentence = load_sample(load_parser())[int(where[1]) - 1]
    marked = tip.locator("mark").inner_text()
    assert marked in ("[CLS]", "[SEP]") or marked.lower() in sentence.text.lower(), (marked, text)  # marked in its sentence
    n = app.finished
    app.page.mouse.click(target["x"], target["y"])
    app.wait_finished(n, timeout=120_000)
    app.page.wait_for_url(re.compile(r"/\?|/$|/start"), timeout=60_000)
    app.settle()
    params = parse_qs(urlsplit(app.page.url).query)
    assert params["layer"] == ["2"] and params["head"] == ["5"], app.page.url
    assert params["text"] == [sentence.text]
    assert app.textarea.input_value() == sentence.text
    assert app.slider_value("head") == 5 and app.slider_value("layer") == 2


HOSTILE = "<img/src=x/onerror=alert(1)>"


def test_a_hostile_upload_is_hovered_as_text_and_the_map_exports_as_svg(app):
    words = ["The", HOSTILE, "said", "</script><script>alert(1)</script>", "."]
    tree = Sentence(words, [1, 2, -1, 2, 2], ["det", "nsubj", "root", "obj", "punct"], pos=["DET", "X", "VERB", "X", "PUNCT"])
    app.open("head-map", corpus="upload", timeout=300_000)
    app.rerun(lambda: app.page.locator('.st-key-map_upload input[type="file"]').set_input_files(
        {"name": f"{HOSTILE}.conllu", "mimeType": "text/plain", "buffer": to_conllu([tree]).encode()}))
    drawn(app)
    target = app.page.evaluate(POINT, 0)
    app.page.mouse.move(target["x"], target["y"])
    tip = app.page.locator(".attnviz-head-map-tip")
    tip.wait_for(state="visible", timeout=10_000)
    assert HOSTILE in tip.inner_text() and "</script><script>alert(1)</script>" in tip.inner_text()  # as typed: text
    assert app.injected() == [] and app.dialogs == []
    name, svg = app.download("head_map_svg")
    assert name.endswith(".svg") and svg.lstrip().startswith(b"<svg") and b"<image" in svg  # the WebGL points as an image
    assert b"3-1" in svg and b"<img" not in svg and b"<script" not in svg
