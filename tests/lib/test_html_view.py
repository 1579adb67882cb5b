"""attnviz.show / attnviz.save_html: the notebook view and the self-contained HTML file, in Python.

The real MiniLM and the trained local encoder-decoder; the page's data is unpacked here exactly as the
browser does (base64, gunzip, JSON) and compared with the library's own figures. The browser side
(hover, pin, switching head, no network) is tests/e2e/test_html_export.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import xml.etree.ElementTree as ET

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import attnviz
from attnviz import figures
from attnviz.html_view import View, save_html, show
from attnviz.measures import MeasureUnavailableError, measure_run
from attnviz.run import Run, Side
from attnviz.static import PAGE_JS, VIEWS_CSS, VIEWS_JS
from attnviz.view_data import HEATMAP_MAX_TOKENS, MAX_ARCS_PER_VIEW, MAX_ARCS_TOTAL, budget, kinds
from tests.helpers.apptest import app, assert_clean
from tests.helpers.paths import ROOT

SNOW = "heavy snow makes driving more difficult"
#: the payloads of tests/e2e/test_hostile.py
PAYLOADS = ["<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>", "{{7*7}}", "javascript:alert(1)",
            "[click](javascript:alert(1))"]
SVG_NS = "{http://www.w3.org/2000/svg}"


def unpack(page: str) -> dict:
    """The page's data, as attnviz_page.js unpacks it."""
    packed = re.search(r'<script type="application/octet-stream" class="attnviz-packed">([^<]*)</script>', page).group(1)
    return json.loads(gzip.decompress(base64.b64decode(packed)))


def clear_text(page: str) -> str:
    """The page without its packed data (base64 may spell anything)."""
    return re.sub(r'(class="attnviz-packed">)[^<]*', r"\1", page)


@pytest.fixture(scope="module")
def snow(minilm) -> Run:
    return attnviz.capture(minilm, SNOW)


def test_the_file_holds_the_views_javascript_and_no_url(snow, tmp_path):
    path = save_html(snow, tmp_path / "snow.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert VIEWS_JS in page and PAGE_JS in page and VIEWS_CSS in page  # the app's own file, verbatim
    assert "export function mountView" in page
    assert not re.search(r"https?:|//cdn|src=|href=", clear_text(page))
    data = unpack(page)
    urls = set(re.findall(r"https?://[^\s\"'<>\\]+", json.dumps(data)))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace only, which is never fetched


def test_title_says_model_text_measure_mask_and_how_it_was_made(snow):
    page = View(snow, measure="value").html()
    assert ("<title>all-MiniLM-L6-v2 · “heavy snow makes driving more difficult” · value-weighted attention · no mask"
            " · attnviz</title>") in page
    assert "measure: value-weighted attention" in page and "mask: no mask" in page
    assert re.search(r"Made with attnviz \d+\.\d+\.\d+ on \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)


def test_every_layer_and_head_is_the_librarys_own_drawing(snow):
    data = unpack(show(snow).html())
    (kind,) = data["kinds"]
    assert (kind["layers"], kind["heads"]) == (6, 12)
    sinks = [i for i in range(len(snow.tokens)) if snow.special[i]]
    for layer, head in [(0, 0), (2, 0), (5, 11)]:
        title = f"self-attention · head {attnviz.head_label(layer, head)}"
        expected = figures.arcs_svg(snow.tokens, snow.attention[layer, head], title=title, top_k=3,
                                    max_arcs=MAX_ARCS_PER_VIEW, layout="arcs", sinks=sinks).svg
        assert kind["arcs"][layer][head] == expected
        heat = kind["heatmaps"][layer][head]
        cells = [float(r.get("data-w")) for r in ET.fromstring(heat).iter(f"{SVG_NS}rect") if r.get("data-w")]
        np.testing.assert_array_equal(np.array(cells, dtype=np.float32), snow.attention[layer, head].ravel())
    # the last drawing of each layer: every head of the layer overlaid (the app's "All heads of the layer"), mean heatmap
    labels = [attnviz.head_label(4, h) for h in range(12)]
    assert kind["overlay"] and len(kind["arcs"][4]) == 13
    assert kind["arcs"][4][12] == figures.arcs_svg(snow.tokens, snow.attention[4], title="self-attention · layer 5, all heads",
                                                   top_k=3, max_arcs=MAX_ARCS_PER_VIEW, layout="arcs", sinks=sinks,
                                                   layers=labels).svg
    assert 'class="legend"' in kind["arcs"][4][12]
    assert kind["heatmaps"][4][12] == figures.heatmap_svg(snow.attention[4].mean(axis=0), snow.tokens, snow.tokens,
                                                          title="layer 5 (mean of heads)", colorbar_label="weight")
    assert kind["names"][2][0] == "3-1" and kind["patterns"][0][2] == "prev"
    thumb = np.frombuffer(base64.b64decode(kind["thumbs"][0][2]), dtype=np.uint8).reshape(8, 8)
    np.testing.assert_array_equal(thumb, np.round(snow.attention[0, 2] * 255).astype(np.uint8))
    assert data["initial"] == {"kind": 0, "layer": 0, "head": 0} and data["note"] == ""


def test_start_view_and_top_k(snow):
    data = unpack(show(snow, layer=3, head=1, top_k=1).html())
    assert data["initial"] == {"kind": 0, "layer": 2, "head": 0}
    assert unpack(show(snow, layer=2, head="all").html())["initial"] == {"kind": 0, "layer": 1, "head": 12}
    svg = data["kinds"][0]["arcs"][2][0]
    assert svg.count('class="arc"') == len(snow.tokens)  # one link per token


def test_measures_and_the_word_level_as_in_the_app(snow):
    value = unpack(show(snow, measure="value").html())["kinds"][0]
    expected = measure_run(snow, "value").attention
    weights = [float(w) for w in re.findall(r'data-weight="([0-9.]+)"', value["arcs"][1][4])]
    assert max(weights) == pytest.approx(float(np.max(np.sort(expected[1, 4], axis=-1)[:, -3:])), abs=1e-4)
    rollout = unpack(show(snow, measure="rollout", level="word", drop_special=True).html())["kinds"][0]
    assert rollout["heads"] == 1 and rollout["names"][1] == ["rollout up to layer 2"]
    assert not rollout["overlay"] and len(rollout["arcs"][1]) == 1  # one map per layer: nothing to overlay
    words = [t.text for t in ET.fromstring(rollout["arcs"][0][0]).iter(f"{SVG_NS}text") if t.get("class") == "token"]
    assert words == SNOW.split()


def test_cross_attention_of_the_trained_encoder_decoder(trained):
    run = attnviz.capture(trained, "the dogs near the cat run fast")
    data = unpack(show(run, kind="cross").html())
    assert [k["key"] for k in data["kinds"]] == ["self", "decoder", "cross"]
    assert data["initial"]["kind"] == 2
    cross = data["kinds"][2]
    assert 'class="attnviz-arcs attnviz-cross"' in cross["arcs"][0][0]
    assert cross["label"] == "Cross-attention (target → source)"


def test_hostile_text_stays_text(minilm):
    run = attnviz.capture(minilm, " ".join(PAYLOADS))
    page = show(run, level="word").html()
    clear = clear_text(page)
    for raw in ("<img src=x onerror", "</script><script>alert", "<script>alert"):
        assert raw not in clear
    assert "&lt;img src=x onerror=alert(1)&gt;" in clear  # the text line, escaped
    # the module script is the two files and one call, nothing else
    script = re.search(r'<script type="module">\n(.*)\n</script>', page, re.S).group(1)
    page_id = re.search(r'<div class="attnviz-page" id="(attnviz-[0-9a-f]+)">', page).group(1)
    assert script == f'{VIEWS_JS}\n{PAGE_JS}\nmountPage(document.getElementById("{page_id}"), mountView);'
    data = unpack(page)
    svg = data["kinds"][0]["arcs"][0][0]
    root = ET.fromstring(svg)  # well-formed XML: every token is text
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "img", "foreignObject")]
    words = [t.text for t in root.iter(f"{SVG_NS}text") if t.get("class") == "token"]
    joined = "".join(words)  # words split at punctuation; joined, the payloads as typed (without spaces)
    assert "<imgsrc=xonerror=alert(1)>" in joined and "</script><script>alert(1)</script>" in joined


def test_a_view_too_large_says_what_was_cut():
    n = 100
    rng = np.random.default_rng(0)
    a = rng.random((2, 2, n, n)).astype(np.float32)
    a /= a.sum(-1, keepdims=True)
    run = Run("synthetic/long", Side("x " * n, [f"t{i}" for i in range(n)], [(0, 0)] * n, np.zeros(n, bool), list(range(n))),
              a, np.ones((n, n), bool))
    kind = unpack(show(run, top_k=None).html())["kinds"][0]
    assert kind["heatmaps"] is None
    assert kind["heatmap_note"].startswith(f"Heatmaps left out: {n} tokens is more than {HEATMAP_MAX_TOKENS}")
    assert kind["notes"][0][0] == f"Showing the {MAX_ARCS_PER_VIEW:,} strongest of {n * n:,} links."
    many = kinds(Run("m", Side("x", ["a", "b"], [(0, 0)] * 2, np.zeros(2, bool), [0, 1]),
                     np.full((24, 16, 2, 2), 0.5, np.float32), np.ones((2, 2), bool)))
    per_view, n_views = budget(many)
    assert n_views == 24 * 17 and per_view == MAX_ARCS_TOTAL // (24 * 17) < MAX_ARCS_PER_VIEW  # 16 heads + the overlay


def test_bad_options_get_plain_messages(snow, trained):
    with pytest.raises(ValueError, match="unknown measure 'nope'"):
        show(snow, measure="nope")
    with pytest.raises(ValueError, match="layer 1-6, head 1-12"):
        show(snow, layer=7)
    with pytest.raises(ValueError, match="head 1-12 or \"all\""):
        show(snow, head=13)
    with pytest.raises(ValueError, match="no 'cross' attention"):
        show(snow, kind="cross")
    with pytest.raises(ValueError, match="top_k"):
        show(snow, top_k=0)
    long = attnviz.capture(trained, " ".join(["the dog runs"] * 12))
    with pytest.raises(MeasureUnavailableError, match="limited to 32 tokens"):
        show(long, measure="flow")


def test_notebook_output_is_a_fragment_with_its_own_id(snow):
    view = show(snow)
    a, b = view._repr_html_(), view._repr_html_()
    assert not a.startswith("<!DOCTYPE") and '<div class="attnviz-page" id="attnviz-' in a
    assert re.search(r'id="(attnviz-\w+)"', a).group(1) != re.search(r'id="(attnviz-\w+)"', b).group(1)
    assert "trust the notebook" in a  # shown until the script runs
    assert "all-MiniLM-L6-v2" in repr(view)


def test_the_app_offers_the_interactive_html_beside_png_and_svg():
    at = assert_clean(app())
    buttons = {b.key: b.proto for b in at.get("download_button")}
    assert buttons["explorer_html"].label == "Download interactive HTML" and "arcs_svg" in buttons
    assert buttons["explorer_html"].deferred_file_id  # made on click (the e2e test downloads and opens it)
    at.switch_page("pages/heads.py").run()
    assert_clean(at)
    assert [b.key for b in at.get("download_button")] == ["grid_png", "grid_svg", "grid_html"]


@pytest.mark.slow
def test_the_quickstart_notebook_runs_clean():
    """examples/quickstart.ipynb executed as a reader would, in a fresh kernel (nbclient + ipykernel)."""
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr" and "Traceback" in o.text]
    views = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(views) == 5 and all('<div class="attnviz-page"' in v for v in views)
    assert "mountPage(document.getElementById(" in views[0] and VIEWS_JS in views[0]
    printed = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "snow.html" in printed and "3-2 off:" in printed
    assert any("'3-1': ['obj']" in o.get("data", {}).get("text/plain", "") for o in outputs)
