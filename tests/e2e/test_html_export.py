"""The interactive HTML file and the notebook output in headless Chromium, opened from disk (file://).

Every request the page makes is routed: anything but the file itself is refused and recorded, and the
test fails on it. Hover a token: its links light up; click: pinned; switch head (or click a grid map):
the drawing changes; hover a heatmap cell: its value. The hostile payloads of test_hostile.py stay text.
The quick-start notebook is executed (nbclient, ipykernel) and its HTML outputs are put into a page the
way JupyterLab does (innerHTML, then each script re-created). The app's button gives such a file.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import attnviz
from attnviz.html_view import save_html, show
from tests.e2e.page import element, elements, page_js
from tests.helpers.paths import ARTIFACTS, ROOT
from tests.helpers.payloads import ALL_PAYLOADS

SNOW = "heavy snow makes driving more difficult"
READY = ".attnviz-page[data-ready='1']"


class Page:
    """A fresh context and page on a file, with every request, console error and page error kept."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport={"width": 1440, "height": 900})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)

    def _route(self, route):
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()

    def clean(self) -> None:
        """No request but the file, no console or page error, no dialog."""
        assert [u for u in self.requests if u != self.url] == []
        assert self.errors == [] and self.dialogs == []

    def arcs(self, page_index: int = 0) -> list[tuple[str, str, str]]:
        arcs = elements(self.page.locator(".attnviz-arc-view").nth(page_index).locator("path.arc"))
        return [(e["data"]["from"], e["data"]["to"], " ".join(e["classes"])) for e in arcs]


@pytest.fixture
def opened(browser, tmp_path):
    pages: list[Page] = []

    def open_(path: Path) -> Page:
        pages.append(Page(browser, path))
        return pages[-1]

    yield open_
    for p in pages:
        p.page.screenshot(path=str(ARTIFACTS / f"html-export-{len(pages)}.png"), full_page=True)
        p.context.close()


def hover_pin_switch(p: Page, run) -> None:
    """Hover "makes" (3): only its links lit; click pins it; a new head redraws and keeps the pin."""
    page = p.page
    page.wait_for_selector(READY, timeout=20_000)
    root = page.locator(".attnviz-page").first  # a notebook shows several
    arcs_view = root.locator(".attnviz-arc-view")
    arcs_view.locator("text.token").nth(3).hover()
    lit = [(f, t) for f, t, c in p.arcs() if "out" in c.split() or "in" in c.split()]
    assert lit and all("3" in (f, t) for f, t in lit)
    assert all("dim" in c.split() for f, t, c in p.arcs() if "3" not in (f, t))
    assert arcs_view.locator(".attnviz-readout").text_content().startswith("makes (#3): 3 outgoing")
    arcs_view.locator("text.token").nth(3).click()
    page.mouse.move(5, 5)
    assert arcs_view.locator("text.token.pinned").text_content() == "makes"
    before = p.arcs()
    root.locator("select.attnviz-head").select_option(index=1)  # head 2
    page.wait_for_function(page_js("html_view_shows"), arg="self 0 1")
    after = p.arcs()
    assert after != before
    assert arcs_view.locator("svg title").first.text_content() == "self-attention · head 1-2"
    assert arcs_view.locator("text.token.pinned").text_content() == "makes"  # the pin survives the switch
    # the heatmap: hover a cell, its value is written
    root.locator(".attnviz-heat-view g.cells rect").nth(3 * len(run.tokens) + 6).hover()  # query 3, key 6
    readout = root.locator(".attnviz-heat-view .attnviz-readout").text_content()
    assert readout == f"query makes (#3) → key difficult (#6): {run.attention[0, 1, 3, 6]:.4f}"
    # the grid: a click on 3-1's map shows it above
    root.locator(".attnviz-thumb[data-layer='2'][data-head='0']").click()
    assert root.locator(".attnviz-layer").input_value() == "2" and root.locator(".attnviz-head").input_value() == "0"
    assert arcs_view.locator("svg title").first.text_content() == "self-attention · head 3-1"


def test_the_file_opens_from_disk_and_works_offline(opened, reference, tmp_path):
    run = reference(SNOW)
    p = opened(save_html(run, tmp_path / "snow.html"))
    hover_pin_switch(p, run)
    assert p.page.locator(".attnviz-nojs").count() == 0
    # every head of the layer overlaid, as the app's "All heads of the layer": the legend hides a head
    p.page.locator("select.attnviz-head").select_option(index=12)
    view = p.page.locator(".attnviz-arc-view")
    assert view.locator("svg title").first.text_content() == "self-attention · layer 3, all heads"
    assert view.locator("g.head").count() == 12
    view.locator("g.legend[data-head='0']").click()
    assert element(view.locator("g.head[data-head='0']"))["inlineDisplay"] == "none"
    assert p.page.locator(".attnviz-heat-view svg title").first.text_content() == "layer 3 (mean of heads)"
    p.clean()


def test_hostile_text_stays_text_in_the_file(opened, minilm, tmp_path):
    run = attnviz.capture(minilm, ALL_PAYLOADS)
    p = opened(save_html(run, tmp_path / "hostile.html", level="word"))
    p.page.wait_for_selector(READY, timeout=20_000)
    assert p.page.evaluate(page_js("injected_markup"), "alert(1)") == []
    assert ALL_PAYLOADS in p.page.locator(".attnviz-text").text_content()
    tokens = "".join(p.page.locator(".attnviz-arc-view text.token").all_text_contents())
    assert "</script><script>alert(1)</script>" in tokens
    p.page.locator(".attnviz-arc-view text.token").nth(1).hover()
    p.clean()  # no dialog: alert(1) never ran
    # the same text as a notebook output, put in the page the way JupyterLab does
    path = tmp_path / "hostile-notebook.html"
    path.write_text(jupyterlab_page([show(run)._repr_html_(), show(run, level="word", measure="rollout")._repr_html_()]),
                    encoding="utf-8")
    nb = opened(path)
    nb.page.wait_for_function(page_js("count_is"), arg=[READY, 2], timeout=30_000)
    assert nb.page.evaluate(page_js("injected_markup"), "alert(1)") == []
    nb.page.locator(".attnviz-arc-view text.token").nth(2).click()
    nb.clean()


def test_a_512_token_file_opens_quickly_and_says_what_was_cut(opened, minilm, tmp_path):
    """The longest input MiniLM takes: the file stays small, opens in seconds, and says the heatmaps are left out."""
    text = " ".join(["heavy snow makes driving more difficult, so the meeting was postponed."] * 60)
    run = attnviz.capture(minilm, text)
    assert len(run.tokens) == 512 and run.n_truncated > 0
    path = save_html(run, tmp_path / "long.html")
    assert path.stat().st_size < 8e6
    p = opened(path)
    t0 = time.perf_counter()
    p.page.wait_for_selector(READY + " .attnviz-arc-view svg", timeout=30_000)
    assert time.perf_counter() - t0 < 15
    assert f"the text was cut to the model's first 512 tokens ({run.n_truncated:,} cut)" in p.page.locator(
        ".attnviz-about").first.text_content()
    assert p.page.locator(".attnviz-heat-view + .attnviz-note").text_content().startswith(
        "Heatmaps left out: 512 tokens is more than 64")
    p.page.locator(".attnviz-arc-view text.token").nth(10).hover()
    assert p.page.locator(".attnviz-arc-view path.arc.out").count() >= 1
    p.page.locator("select.attnviz-layer").select_option(index=5)
    p.page.wait_for_function(page_js("html_view_shows"), arg="self 5 0", timeout=10_000)
    assert p.page.locator(".attnviz-thumb").count() == 72
    p.clean()


def executed_quickstart() -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    return nb


def jupyterlab_page(outputs: list[str]) -> str:
    """A page that shows HTML outputs as JupyterLab does: innerHTML, then every script re-created
    (js/jupyterlab_outputs.js, called on the outputs)."""
    data = json.dumps(outputs).replace("<", "\\u003c")
    show = page_js("jupyterlab_outputs").strip().removesuffix(";")
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>notebook outputs</title></head><body>
<div id="outputs"></div>
<script>
({show})({data});
</script></body></html>"""


@pytest.mark.slow
def test_the_executed_notebooks_output_works_in_the_browser(opened, reference, tmp_path):
    nb = executed_quickstart()
    outputs = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "text/html" in o.get("data", {}) and "attnviz-page" in o["data"]["text/html"]]
    assert len(outputs) >= 3
    path = tmp_path / "quickstart-outputs.html"
    path.write_text(jupyterlab_page(outputs), encoding="utf-8")
    p = opened(path)
    p.page.wait_for_function(page_js("count_is"), arg=[READY, len(outputs)], timeout=30_000)
    hover_pin_switch(p, reference(SNOW))
    p.clean()


def test_the_apps_button_gives_the_file(app, server, tmp_path, opened, reference):
    app.open()
    app.settle()
    button = app.page.locator(".st-key-explorer_html button:visible")
    with app.page.expect_download(timeout=120_000) as info:
        button.click()
    download = info.value
    app.downloads.add(download.url)
    assert re.fullmatch(r"all-MiniLM-L6-v2_L3_H1_unmasked_token\.html", download.suggested_filename)
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert ("<title>all-MiniLM-L6-v2 · “heavy snow often keeps the children in the house” · attention weights · no mask"
            " · attnviz</title>") in text
    p = opened(path)
    p.page.wait_for_selector(READY, timeout=20_000)
    assert p.page.locator("select.attnviz-layer").input_value() == "2"  # the app's view: layer 3, head 1
    title = p.page.locator(".attnviz-arc-view svg title").first.text_content()
    assert title == "self-attention · head 3-1"
    run = reference("heavy snow often keeps the children in the house")
    weights = [float(e["data"]["weight"]) for e in elements(p.page.locator(".attnviz-arc-view path.arc"))]
    assert max(weights) == pytest.approx(float(np.max(run.attention[2, 0])), abs=1e-4)
    p.clean()
    # the file is made on click in one of the server's threads, with no page: nothing in it asks for one
    assert "missing ScriptRunContext" not in server.log()


def test_cross_attention_of_the_encoder_decoder_and_the_kind_picker(opened, trained, tmp_path):
    run = attnviz.capture(trained, "the dogs near the cat run fast")
    p = opened(save_html(run, tmp_path / "cross.html", kind="cross", layer=3, head=2))
    p.page.wait_for_selector(READY, timeout=20_000)
    view = p.page.locator(".attnviz-arc-view")
    assert view.locator("svg.attnviz-cross").count() == 1
    view.locator("text.token.source").nth(1).hover()  # source "the" (#1)
    incoming = [e["data"]["to"] for e in elements(view.locator("path.arc.in"))]
    assert incoming and set(incoming) == {"s1"}
    assert re.fullmatch(r"the \(#1\): 0 outgoing, \d+ incoming links? drawn", view.locator(".attnviz-readout").text_content())
    view.locator("path.arc").first.dispatch_event("mouseenter")
    assert re.fullmatch(r"\S+ \(#\d+\) → \S+ \(#\d+\): \d\.\d{3}", view.locator(".attnviz-readout").text_content())
    p.page.locator("select.attnviz-kind").select_option(index=0)  # encoder self-attention
    p.page.wait_for_function(page_js("html_view_shows"), arg="self 2 1")
    assert view.locator("svg.attnviz-cross").count() == 0 and view.locator("text.token").count() == len(run.tokens)
    p.clean()
