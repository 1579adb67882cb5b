"""The Head map page in AppTest (#22, part 3): the map of the sample corpus (12 plots for MiniLM), the colourings,
the hosted limits, a hostile upload kept as text, a link that restores layer, colour, corpus and count, and a
clicked point opening its sentence in the explorer. The browser's side (WebGL points, hover, click) is in
tests/e2e/test_head_map.py."""

from __future__ import annotations

import json

import pytest

from attnviz.conllu_io import to_conllu
from attnviz.tree import Sentence
from components import hosting
from components import session_keys as keys
from components.markdown import literal
from tests.helpers.apptest import app, assert_clean, component_data, figures
from tests.helpers.arrays import decode

PAGE = "pages/head-map.py"
HOSTILE = "<img/src=x/onerror=alert(1)>"


def head_map(at) -> dict:
    return figures(at)["head_map"]


def plots(fig: dict) -> set[str]:
    return {t.get("xaxis", "x") for t in fig["data"]}


def markdown_texts(at) -> list[str]:
    """What the page renders as Markdown: captions, notices, markdown."""
    return [e.value for kind in ("caption", "warning", "info", "error", "markdown") for e in getattr(at, kind)]


def test_the_sample_is_mapped_with_a_plot_per_head_and_the_colourings_switch():
    at = assert_clean(app(PAGE))
    fig = head_map(at)
    assert len(plots(fig)) == 12 and {t["type"] for t in fig["data"]} == {"scattergl"}
    assert "layer 3" in fig["layout"]["title"]["text"] and "query / key" in fig["layout"]["title"]["text"]
    assert [t["name"] for t in fig["data"][:2]] == ["queries", "keys"] and len(fig["data"]) == 24
    assert any("sentences of the built-in sample" in c for c in markdown_texts(at))
    assert "colour" not in at.query_params and "count" not in at.query_params  # the defaults write nothing
    hover = component_data(at, "head_map_hover")  # the hover box's data: a row per token, the rows the points name
    n_tokens = sum(decode(t["x"]).size for t in fig["data"] if t["meta"] == [0, 0])
    assert hover["heads"][0] == "3-1" and len(hover["tokens"]["token"]) == n_tokens > 1000
    assert sorted(decode(fig["data"][0]["customdata"]).tolist()) == list(range(n_tokens))

    for colour, names in (("pos", {"NOUN", "VERB", "[CLS]/[SEP]"}), ("relation", {"nsubj", "det"}), ("position", {"0", "1"})):
        at.session_state["map_colour"] = colour
        at.run()
        assert_clean(at)
        fig = head_map(at)
        assert names <= {t["name"] for t in fig["data"]}, colour
        assert len(plots(fig)) == 12 and at.query_params["colour"] == colour


def test_a_link_restores_layer_colour_corpus_and_count():
    at = assert_clean(app(PAGE, layer="2", colour="relation", corpus="generated", count="40"))
    assert at.slider(key="layer").value == 2 and at.session_state["map_colour"] == "relation"
    assert at.radio(key="map_corpus").value == "generated" and at.slider(key="map_count").value == 40
    title = head_map(at)["layout"]["title"]["text"]
    assert "layer 2" in title and "dependency relation" in title
    assert any(c.startswith("40 sentences of the generated corpus") for c in markdown_texts(at))
    params = {k: at.query_params[k] for k in ("layer", "colour", "corpus", "count")}
    assert params == {"layer": "2", "colour": "relation", "corpus": "generated", "count": "40"}


def test_bad_link_values_get_a_notice():
    at = assert_clean(app(PAGE, colour="<b>x</b>", corpus="nowhere", count="-3"))
    notices = " ".join(w.value for w in at.warning)
    assert "Ignored colour=" in notices and "Ignored corpus=" in notices and "Ignored count=" in notices
    assert at.session_state["map_colour"] == "kind" and at.radio(key="map_corpus").value == "sample"


@pytest.fixture
def hosted(monkeypatch):
    monkeypatch.setenv(hosting.HOSTED_ENV, "1")
    monkeypatch.delenv(hosting.MODELS_ENV, raising=False)


@pytest.mark.slow
def test_hosted_a_request_above_500_sentences_is_refused_with_the_limit_named(hosted):
    at = assert_clean(app(PAGE, corpus="generated", count="501"))
    notices = " ".join(w.value for w in at.warning)
    assert literal("This shared app maps at most 500 sentences per request: count=501 from the link is refused; showing 500.") in notices
    assert at.slider(key="map_count").value == 500 and at.slider(key="map_count").max == hosting.HOSTED_MAX_SENTENCES
    assert any("at most 500 sentences per request, each cut to 128 tokens" in c for c in markdown_texts(at))
    assert any(c.startswith("500 sentences of the generated corpus") for c in markdown_texts(at))


def test_a_hostile_upload_stays_text():
    words = ["The", HOSTILE, "said", "<script>alert(1)</script>", "$x$", "."]
    tree = Sentence(words, [1, 2, -1, 2, 2, 2], ["det", "nsubj", "root", "obj", "obj", "punct"], pos=["DET", "X", "VERB", "X", "X", "PUNCT"])
    at = app(PAGE)
    at.radio(key="map_corpus").set_value("upload").run()
    at.file_uploader(key="map_upload").set_value((f"{HOSTILE}.conllu", to_conllu([tree]).encode(), "text/plain")).run()
    assert_clean(at)
    spec = json.dumps(head_map(at))
    assert "<img" not in spec and "<script" not in spec  # no hover labels; names and titles escaped
    hover = component_data(at, "head_map_hover")  # plain data, drawn with textContent (components/js/head_map_hover.js)
    assert hover["texts"]["0"] == " ".join(words) and "." in hover["tokens"]["token"]
    for text in markdown_texts(at):  # the file name in captions and notices: escaped for Markdown
        assert "<img" not in text.replace("\\<img", ""), text


def test_a_clicked_point_opens_its_sentence_in_the_explorer():
    at = assert_clean(app(PAGE))
    at.session_state[keys.HEAD_MAP_PICKED] = (3, 7, "A clicked sentence from the corpus.")  # what a click on a point keeps
    at.run()
    assert_clean(at)
    assert at.text_area(key="text").value == "A clicked sentence from the corpus."
    assert at.slider(key="layer").value == 3 and at.slider(key="head").value == 7
    assert at.query_params["text"] == "A clicked sentence from the corpus." and at.query_params["head"] == "7"


def test_an_upload_with_nothing_to_read_says_so():
    tree = Sentence(["\u200b", "\u200b"], [-1, 0], ["root", "dep"])  # zero-width spaces: no token for the model
    at = app(PAGE)
    at.radio(key="map_corpus").set_value("upload").run()
    at.file_uploader(key="map_upload").set_value(("blank.conllu", to_conllu([tree]).encode(), "text/plain")).run()
    assert_clean(at)
    assert any(literal("No head map: No tokens are left to map: the model reads no word of the sentence") in e.value
               for e in at.error), [e.value for e in at.error]
    assert "head_map" not in figures(at)


def test_the_sidebar_has_only_the_controls_the_map_reads_and_the_view_survives_a_visit():
    # the map is every head of one layer, from queries and keys at token level: no Head, overlay, Level or Measure
    at = assert_clean(app(layer="2", head="5", level="word", measure="value"))
    at.switch_page(PAGE).run()
    assert_clean(at)
    assert [s.label for s in at.sidebar.slider] == ["Layer"] and at.sidebar.slider[0].value == 2
    assert {r.label for r in at.sidebar.radio} == set() and "All heads of the layer" not in [t.label for t in at.sidebar.toggle]
    assert "Hide special tokens" in [t.label for t in at.sidebar.toggle]
    at.session_state["map_colour"] = "pos"
    at.run()  # a second run on the page: what it did not draw is kept all the same
    assert_clean(at)
    assert head_map(at) and "layer 2" in head_map(at)["layout"]["title"]["text"]
    at.switch_page("pages/explorer.py").run()
    assert_clean(at)
    assert (at.slider(key="layer").value, at.slider(key="head").value) == (2, 5)
    assert at.radio(key="level").value == "word" and at.radio(key="measure").value == "value"
