"""Readable at real lengths, direction on hover, pins, and the bugs of the UX issue, in headless Chromium.

Every test leaves its screenshots in test-artifacts/ (conftest). Widths are measured from the
rendered elements: the arc drawing against the column that holds it.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from attnviz import figures
from attnviz.static import VIEWS_JS
from tests.e2e.page import element, elements, page_js
from tests.e2e.server import StreamlitServer
from tests.helpers.paths import ROOT

THIRTY_WORDS = ("The committee that the senator who the journalists had criticised appointed last spring quickly "
                "rejected the proposal because the budget was far too small for such an ambitious public project")
assert len(THIRTY_WORDS.split()) == 30
#: The sentence whose "makes" one head links to "snow" and another to "difficult", at head 1-1 (before the first
#: screen's claim the app opened on it; the tests of hover, pins and the link pair read its tokens by position)
SNOW = {"text": "heavy snow makes driving more difficult", "layer": "1"}
OUT, IN = "rgb(230, 85, 13)", "rgb(49, 130, 189)"  # --attnviz-out / --attnviz-in in attnviz/static/attnviz_views.css


def query(app) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(app.page.url).query).items()}


def arc_box(app, key: str = "explorer_arcs", drawing: str = "svg.attnviz-arcs") -> dict:
    """The drawing's rendered width, its column's width and whether anything scrolls sideways."""
    app.page.wait_for_selector(f".st-key-{key} {drawing}")
    return app.page.evaluate(page_js("drawing_box"), [key, drawing])


@pytest.mark.parametrize("name, text, n_tokens", [
    ("30 words", THIRTY_WORDS, None),
    ("200 tokens", " ".join(["the", "old", "river", "ran", "past", "our", "quiet", "town", "every", "spring"] * 20)[:2000], 200),
])
def test_long_inputs_fit_their_column_with_every_token(app, reference, name, text, n_tokens):
    run = reference(text)
    if n_tokens:
        text = " ".join(text.split()[: n_tokens - 2])  # plain words: one token each, plus [CLS] and [SEP]
        run = reference(text)
        assert len(run.tokens) == n_tokens
    app.open("", text=text)
    tokens = app.tokens_now(list(run.tokens), timeout=60)
    assert tokens == list(run.tokens)  # every token label present
    box = arc_box(app)
    assert box["svg"] <= box["column"] + 0.5, box
    assert not box["scrolls"] and not box["page"], box
    assert box["layout"] == "columns"
    # up to 64 tokens an SVG heatmap labels every token and fits its column; beyond, plotly's heatmap zooms
    if len(run.tokens) <= 64:
        drawn = app.eventually(app.heatmap_svg, lambda d: bool(d and d["labels"] == list(run.tokens)), timeout=30)
        assert drawn["labels"] == list(run.tokens) and drawn["rows"] == drawn["cols"] == len(run.tokens)
        heat = arc_box(app, "explorer_heatmap", "svg.attnviz-heatmap")
        assert heat["svg"] <= heat["column"] + 0.5 and not heat["scrolls"], heat
    else:
        assert app.eventually(app.plot, lambda p: bool(p and p["data"]), timeout=30)
        assert np.asarray(app.heatmap_z()).shape == (len(run.tokens), len(run.tokens)) and app.heatmap_svg() is None


def test_the_default_sentence_draws_arcs_in_a_row_inside_the_column(app):
    app.open()
    box = arc_box(app)
    assert box["layout"] == "arcs" and box["svg"] <= box["column"] + 0.5 and not box["scrolls"], box


def test_the_tab_shows_the_apps_icon(app):
    # the icon goes to Streamlit as a data URL (components/navigation.py): the browser gets the file's bytes as they are
    app.open()
    icon = app.page.locator('link[rel~="icon"]').first
    href = app.eventually(lambda: icon.get_attribute("href") or "", lambda h: h.startswith("data:image/png;base64,"),
                          timeout=30)
    assert base64.b64decode(href.split(",", 1)[1]) == (ROOT / "assets" / "icon.png").read_bytes()
    assert app.page.title() == "attnviz: what attention heads look at"


def test_a_late_call_from_an_older_run_never_replaces_a_newer_drawing(browser):
    """Streamlit runs a component's function asynchronously, once per new data, and a call for an older run can
    arrive after a newer one (the browser tests saw the first run's arcs, late, replace a toggle's all-heads
    drawing for good). The views' entry point draws nothing older than what it shows: in order, every drawing is
    shown; out of order, the newest stays; the same drawing again is drawn again (a redraw)."""
    older, newer = ({"svg": figures.arcs_svg(["a", "b", "c"], np.full((3, 3), 1 / 3), title=title).svg, "key": "arcs",
                     "scroll": 0, "drawn": n} for n, title in ((1, "older"), (2, "newer")))
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        script = page_js("drawn_titles")
        assert page.evaluate(script, [VIEWS_JS, [older, newer]]) == ["older", "newer"]
        assert page.evaluate(script, [VIEWS_JS, [newer, older]]) == ["newer", "newer"]
        assert page.evaluate(script, [VIEWS_JS, [newer, newer, older]]) == ["newer", "newer", "newer"]
    finally:
        page.close()


def test_all_heads_overlay_stays_in_its_column_and_the_legend_toggles_heads(app):
    app.open()
    app.toggle("all_heads")
    app.wait_for(lambda: app.page.locator("g.head").count() == 12, what="12 head groups")
    box = arc_box(app)
    assert box["svg"] <= box["column"] + 0.5 and not box["scrolls"], box
    # heads on the same pair do not lie on top of each other
    d = [e["d"] for e in elements(app.page, 'path.arc[data-from="3"][data-to="0"]')]
    assert len(d) == len(set(d))
    legend = app.page.locator('g.legend[data-head="2"]')
    legend.click()
    assert element(app.page.locator('g.head[data-head="2"]'))["display"] == "none"
    legend.click()
    assert element(app.page.locator('g.head[data-head="2"]'))["display"] != "none"


def stroke(app, selector: str) -> set[str]:
    return {e["stroke"] for e in elements(app.page, selector)}


def test_hover_shows_outgoing_and_incoming_links_in_two_colours_and_an_arcs_weight(app, reference):
    app.open(**SNOW)
    app.page.locator("text.token").nth(3).hover()  # "makes"
    assert stroke(app, 'path.arc.out') == {OUT} and app.page.locator('path.arc.out').count() >= 1
    assert all(e["data"]["from"] == "3" for e in elements(app.page, "path.arc.out"))
    assert stroke(app, 'path.arc.in') == {IN}
    assert all(e["data"]["to"] == "3" for e in elements(app.page, "path.arc.in"))
    assert "points to the token attended to" in app.page.locator(".attnviz-key").first.inner_text()
    # the weight of an arc on hover
    app.page.mouse.move(5, 5)
    arc = app.page.locator('path.arc:not([data-sink])').last
    q, k, w = (arc.get_attribute(a) for a in ("data-from", "data-to", "data-weight"))
    arc.dispatch_event("mouseenter")
    readout = app.page.locator(".attnviz-readout").first.inner_text()
    assert f"{float(w):.3f}" in readout and "→" in readout, readout


def test_heatmap_hover_names_the_cell_and_its_value(app, reference):
    """The SVG heatmap: hovering a cell writes query, key and value under it and marks both tokens."""
    app.open(**SNOW)
    run = reference(SNOW["text"])
    expected = run.head(0, 0)
    assert np.array_equal(app.z_now(expected, atol=0), expected)  # the float32s the model computed
    heat = arc_box(app, "explorer_heatmap", "svg.attnviz-heatmap")
    assert heat["svg"] <= heat["column"] + 0.5 and not heat["scrolls"], heat
    n = len(run.tokens)
    q, k = 3, 2  # "makes" -> "snow"
    app.page.locator(".st-key-explorer_heatmap g.cells rect").nth(q * n + k).hover()
    readout = app.page.locator(".st-key-explorer_heatmap .attnviz-readout").inner_text()
    assert readout == f"query makes (#{q}) → key snow (#{k}): {expected[q, k]:.4f}", readout
    marked = app.page.locator(".st-key-explorer_heatmap text.active").all_text_contents()
    assert sorted(marked) == ["makes", "snow"]
    app.screenshot("heatmap-hover")
    app.page.mouse.move(5, 5)
    assert app.page.locator(".st-key-explorer_heatmap .attnviz-readout").inner_text() == ""


def test_a_pinned_token_survives_a_head_change(app):
    app.open(**SNOW)
    app.page.locator("text.token").nth(3).click()  # pin "makes"
    assert app.page.locator('text.token.pinned').text_content() == "makes"
    app.set_slider("head", 2)
    app.settle()
    app.wait_for(lambda: app.page.locator('text.token.pinned').count() == 1, what="the pin after the head change")
    assert app.page.locator('text.token.pinned').text_content() == "makes"
    dims = [(e["data"]["from"], e["data"]["to"], "dim" in e["classes"]) for e in elements(app.page, "path.arc")]
    assert dims and all(dim == (f != "3" and t != "3") for f, t, dim in dims)


def test_a_head_change_reruns_only_the_views_and_keeps_the_link_pair_in_the_url(app, reference):
    """Layer and head sit in the explorer's fragment: moving them reruns the views (a fragment run,
    fewer bytes than a full run), the arcs carry the new head's weights and the URL keeps the rest."""
    app.open("", to="2", head="2", **SNOW)  # one key press to head 3, so one run: a second press may interrupt
    assert query(app)["to"] == "2" and app.slider_value("head") == 2  # the first (FINISHED_EARLY_FOR_RERUN, seen under load)
    full = app.frame_log[:]
    app.set_slider("head", 3)
    runs = [kind for _, _, kind in app.frame_log[len(full):] if kind and kind.startswith("script_finished")]
    assert runs and all(kind == "script_finished:FINISHED_FRAGMENT_RUN_SUCCESSFULLY" for kind in runs), runs
    want = reference(SNOW["text"]).attention[0, 2]
    drawn = app.eventually(app.arcs, lambda a: a and all(abs(w - want[q, k]) < 1e-4 for q, k, w in a))
    assert drawn and all(abs(w - want[q, k]) < 1e-4 for q, k, w in drawn)
    app.settle()
    assert query(app)["head"] == "3" and query(app)["to"] == "2"  # the page's own pair stays in the link
    # the sentence box and the sidebar were not sent again: a full run re-sends them
    full_bytes = app.toggle("causal")
    head_bytes = app.set_slider("head", 4)
    assert head_bytes < full_bytes, (head_bytes, full_bytes)


def link_table(app):
    return app.page.locator('[data-testid="stDataFrame"]').filter(has=app.page.locator("table", has_text="attention"))


def click_first_row(app):
    grid = link_table(app)
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    app.rerun(lambda: app.page.mouse.click(box["x"] + 12, box["y"] + 35 + 17))
    app.settle()


def test_bug1_changing_the_pair_after_a_click_keeps_the_head(app):
    app.open(**SNOW)
    click_first_row(app)
    assert (app.slider_value("layer"), app.slider_value("head")) == (2, 8)
    # a new "To": a new ranking, not a new click (first let the page bring the picked head's arcs into view)
    app.page.wait_for_timeout(1000)
    combo = app.page.get_by_role("combobox", name="To (attended to)")
    combo.scroll_into_view_if_needed()
    combo.click()
    app.rerun(lambda: app.page.get_by_role("option", name="2: snow").click())
    app.settle()
    assert (app.slider_value("layer"), app.slider_value("head")) == (2, 8)
    assert query(app)["to"] == "2"


def test_bug4_a_picked_head_is_brought_into_view(app):
    app.open(**SNOW)
    click_first_row(app)
    app.wait_for(lambda: app.page.evaluate(page_js("in_view"), "explorer_arcs"), what="the arcs in view")


def test_bug2_explorer_links_open_the_explorer(app):
    app.open("explorer", layer="3", head="2")
    assert app.page.locator("h1").first.inner_text() == "Attention explorer"
    assert "Page not found" not in app.page.locator("body").inner_text()
    assert (app.slider_value("layer"), app.slider_value("head")) == (3, 2)


#: how far the data grid holding a text overflows its scroller, [sideways, down] (None while there is none)
OVERFLOW = page_js("table_overflow")


def test_bug6_head_table_and_walkthrough_table_fit(app):
    app.open()
    over = app.wait_for(lambda: app.page.evaluate(OVERFLOW, "apart from [CLS]/[SEP]"), what="the heads table")
    assert over[0] <= 1 and over[1] <= 1, over  # every column and all 12 heads
    app.open("walkthrough")
    over = app.wait_for(lambda: app.page.evaluate(OVERFLOW, "k7"), what="the Q K^T table")
    assert over[0] <= 1, over  # Q K^T: all 7 keys


@pytest.fixture
def fresh_server(request):
    """A server of its own that no page has been asked of yet (stopped after the test's screenshots)."""
    s = StreamlitServer(f"fresh-{request.node.callspec.id}").start()
    yield s
    s.stop()


@pytest.mark.parametrize("path, title", [("heads", "All heads"), ("walkthrough", "From attention to transformers")])
def test_a_fresh_servers_first_request_may_be_a_deep_link(open_app, fresh_server, path, title):
    """Bug 2, its other half: when a server's very first request is /heads, Streamlit runs the page
    scripts in its pages-folder mode, where a page's path is its file name; pages/all_heads.py made
    /heads "Page not found". The page files are named after their paths, so the link opens its page."""
    app = open_app(on=fresh_server)
    app.open(path, layer="2")
    app.wait_for(lambda: app.page.locator("h1").first.inner_text() == title, what=f"the {title} page")
    assert "Page not found" not in app.page.locator("body").inner_text()
    assert query(app).get("layer") == "2"


def test_bug7_model_menu_label_is_not_cut_and_back_returns_to_the_previous_page(app):
    # reach All heads as a person does, from the start page's sidebar (a deep link from a fresh server
    # is tested above)
    app.open()
    app.rerun(lambda: app.page.locator('[data-testid="stSidebarNav"] a').filter(has_text="All heads").click())
    app.wait_for(lambda: app.page.locator("h1").first.inner_text() == "All heads", what="the All heads page")
    value, full, shown = app.page.evaluate(page_js("input_width"), "model_choice")
    assert value.startswith("MiniLM") and full <= shown + 1, (value, full, shown)
    app.page.wait_for_selector(".st-key-heads_grid .js-plotly-plot .main-svg")
    app.rerun(lambda: app.page.locator(".st-key-open_head_button button").click())
    app.wait_for(lambda: app.page.locator("h1").first.inner_text() == "Attention explorer", what="the explorer")
    app.settle()
    app.page.go_back()
    app.wait_for(lambda: app.page.locator("h1").first.inner_text() == "All heads", what="back on All heads")
