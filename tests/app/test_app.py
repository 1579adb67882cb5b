"""The Streamlit app under streamlit.testing (AppTest): real runtime, real model, real pages.

AppTest runs no JavaScript, so the tests read what the pages hand to the browser: the
plotly figure specs, the dataframes, the widgets and the URL's query parameters.
"""

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz import figures as attnviz_figures
from attnviz.evidence import shipped_scores
from attnviz.parsing import load_parser, load_sample, parse
from attnviz.scoring import score_heads
from attnviz.sentence_scores import sentence_evidence, sentence_hits
from attnviz.toygrammar.grammar import held_out_corpus
from attnviz.ud_relations import to_ud
from components import data  # the same process-wide caches the app uses
from components.syntax_corpus import SAMPLE, SHOWN_COLUMNS
from tests.helpers.apptest import APP, app, assert_clean, component_svg, explorer_heatmap, figures, strongest_links, svg_heatmap
from tests.helpers.arrays import decode

SNOW = "heavy snow makes driving more difficult"  # one head links "makes" to "snow", another to "difficult"


def heatmap(at: AppTest) -> np.ndarray:
    return explorer_heatmap(at)[0]


def links(at: AppTest):
    return strongest_links(at)


def test_explorer_default_view(minilm):
    at = app()
    assert_clean(at)
    table = links(at)
    assert table["token"].tolist() == ["[CLS]", "heavy", "snow", "often", "keeps", "the", "children", "in", "the", "house", "[SEP]"]
    expected = attnviz.capture(minilm, "heavy snow often keeps the children in the house").head(2, 0)  # 3-1, the object head
    assert np.allclose(heatmap(at), expected, atol=1e-6)
    assert dict(at.query_params) == {}
    assert len(at.get("download_button")) == 6  # arcs PNG/SVG, interactive HTML, heatmap PNG/SVG/CSV


def test_sentence_layer_head_and_mask_change_what_is_shown(minilm):
    at = app()
    first = heatmap(at)
    at.text_area(key="text").set_value("the dogs that the cat sees run fast").run()
    assert_clean(at)
    assert links(at)["token"].tolist()[1:4] == ["the", "dogs", "that"]
    at.slider(key="layer").set_value(4).run()
    at.slider(key="head").set_value(4).run()
    shown = heatmap(at)
    expected = attnviz.capture(minilm, "the dogs that the cat sees run fast").head(3, 3)
    assert np.allclose(shown, expected, atol=1e-6) and shown.shape != first.shape
    assert at.query_params["layer"] == "4" and at.query_params["head"] == "4"
    at.toggle(key="causal").set_value(True).run()
    masked = heatmap(at)
    assert (np.triu(masked, 1) == 0).all() and not (np.triu(shown, 1) == 0).all()
    assert np.allclose(masked.sum(-1), 1, atol=1e-5)
    assert at.query_params["mask"] == "on"


def test_word_level_and_hidden_specials():
    at = app(text="Unbelievably heavy snow", level="word", special="hide")
    assert_clean(at)
    assert links(at)["token"].tolist() == ["Unbelievably", "heavy", "snow"]
    assert np.allclose(heatmap(at).sum(-1), 1, atol=1e-5)


def test_a_shared_link_restores_the_view():
    params = {"text": "the dogs run", "layer": "2", "head": "5", "mask": "on", "level": "word", "topk": "5"}
    at = app(**params)
    assert_clean(at)
    assert at.slider(key="layer").value == 2 and at.slider(key="head").value == 5
    assert at.toggle(key="causal").value is True and at.radio(key="level").value == "word"
    assert at.text_area(key="text").value == "the dogs run"
    assert dict(at.query_params) == params
    assert not at.warning


def test_bad_links_fall_back_with_notices():
    at = app(layer="99", head="-1", mask="maybe", topk="zz", model="../../etc/passwd")
    assert_clean(at)
    notices = " ".join(w.value for w in at.warning) + " ".join(e.value for e in at.error)
    assert "head='-1'" in notices and "mask='maybe'" in notices and "topk='zz'" in notices
    assert "showing layer 6 instead of 99" in notices
    assert "no model folder at '../../etc/passwd'" in notices and "default model" in notices
    assert at.slider(key="layer").value == 6 and at.slider(key="head").value == 1
    assert at.query_params["layer"] == "6"


def test_unknown_hub_model_is_refused_offline_and_the_app_keeps_working():
    at = app(model="nobody-has/this-model-xyz")
    assert_clean(at)
    assert any("Could not find the model" in e.value for e in at.error)
    assert links(at)["token"].tolist()[1] == "heavy"  # the default model is shown instead


def test_local_transformer():
    at = app(model="local", layer="2", head="4")
    assert_clean(at)
    assert at.slider(key="layer").value == 2 and at.slider(key="head").value == 4
    assert links(at)["token"].tolist() == ["[CLS]", "heavy", "snow", "often", "keeps", "the", "children", "in", "the", "house", "[SEP]"]


@pytest.mark.parametrize("text", ["", "   \n\t ", "\u200b\u200b"])
def test_empty_input_gets_a_message(text):
    at = app()
    at.text_area(key="text").set_value(text).run()
    assert_clean(at)
    assert any("sentence" in i.value for i in at.info)
    assert not at.get("plotly_chart") and component_svg(at, "explorer_heatmap") is None


def test_hostile_text_stays_text():
    hostile = "<img src=x onerror=alert(1)> </script><script>alert(1)</script> {{7*7}}"
    at = app(text=hostile)
    assert_clean(at)
    assert at.text_area(key="text").value == hostile
    tokens = links(at)["token"].tolist()
    assert {"<", ">", "/", "{", "}", "="} <= set(tokens)
    # "{{7*7}}" is shown as the characters typed, never evaluated as a template (to "49")
    template = ["{", "{", "7", "*", "7", "}", "}"]
    assert any(tokens[i:i + len(template)] == template for i in range(len(tokens))), tokens
    svg = component_svg(at, "explorer_heatmap")  # the heatmap's SVG: every token labelled, escaped
    assert "<img" not in svg and "<script" not in svg and "&lt;" in svg
    _, rows, cols, _ = svg_heatmap(svg)
    assert rows == cols == tokens  # read back by an XML parser: the characters typed, nothing else


def test_changing_the_head_does_not_run_the_model_again():
    at = app(text="caching proof: a sentence only this test uses")
    model = data.get_model(attnviz.DEFAULT_MODEL)
    calls = []
    handle = model.module.register_forward_hook(lambda *a: calls.append(1))
    try:
        at.slider(key="head").set_value(7).run()
        at.slider(key="layer").set_value(4).run()
        at.radio(key="level").set_value("word").run()
        at.toggle(key="hide_special").set_value(True).run()
        assert calls == []
        at.toggle(key="causal").set_value(True).run()  # a new mask is a new computation
        assert calls == [1]
    finally:
        handle.remove()
    assert_clean(at)


def strongest_heads(run: attnviz.Run, query: int, key: int, n: int) -> list[str]:
    """The n heads ("layer-head", 1-based) in which ``query`` attends most to ``key``, straight from numpy."""
    weights = run.attention[:, :, query, key]  # [layers, heads]
    order = np.argsort(-weights, axis=None, kind="stable")[:n]
    return [f"{layer + 1}-{head + 1}" for layer, head in zip(*np.unravel_index(order, weights.shape))]


def test_which_heads_link_two_tokens(minilm):
    at = app(text=SNOW)
    assert_clean(at)
    # defaults: the middle word and the last one ("makes" -> "difficult")
    assert (at.selectbox(key="link_from").value, at.selectbox(key="link_to").value) == (3, 6)
    table = next(df.value for df in at.dataframe if "rank" in df.value.columns)
    assert table["weight"].is_monotonic_decreasing and len(table) == 12
    assert table["label"].iloc[0] == "2-8"  # regression snapshot: the value this code gave when the test was written
    run = attnviz.capture(minilm, SNOW)
    assert run.tokens[3] == "makes" and run.tokens[6] == "difficult"
    assert table["label"].tolist() == strongest_heads(run, 3, 6, 12)  # independent of attnviz.stats
    assert np.allclose(table["weight"], np.sort(run.attention[:, :, 3, 6], axis=None)[::-1][:12], atol=1e-6)
    at.selectbox(key="link_to").set_value(2).run()  # "makes" -> "snow"
    table = next(df.value for df in at.dataframe if "rank" in df.value.columns)
    assert table["label"].iloc[:2].tolist() == ["1-3", "6-5"]  # regression snapshot
    assert table["label"].tolist() == strongest_heads(run, 3, 2, 12)
    at.text_area(key="text").set_value("<b>bold</b> words").run()  # tokens are plain option text
    assert_clean(at)
    assert at.selectbox(key="link_from").options[1:4] == ["1: <", "2: b", "3: >"]


def test_all_heads_grid_and_opening_a_head():
    at = AppTest.from_file(APP, default_timeout=180).run()  # the page is known by its url_path after a first run
    at.switch_page("pages/heads.py").run()
    assert_clean(at)
    grid = figures(at)["heads_grid"]
    heatmaps = [t for t in grid["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 6 * 12
    titles = [a["text"] for a in grid["layout"]["annotations"]]
    assert titles[0].startswith("1-1") and titles[-1].startswith("6-12")
    at.selectbox(key="open_layer").set_value(5)
    at.selectbox(key="open_head").set_value(9)
    at.button(key="open_head_button").click().run()
    assert_clean(at)
    assert at.slider(key="layer").value == 5 and at.slider(key="head").value == 9
    assert component_svg(at, "explorer_heatmap")


@pytest.mark.slow
def test_all_heads_grid_is_built_once_per_view(monkeypatch):
    """Building 72 plotly subplots is the page's slowest step: choosing a head to open, or coming
    back to the page, reuses the cached figure; a new mask builds a new one."""
    built = []
    real = attnviz_figures.grid
    monkeypatch.setattr(attnviz_figures, "grid", lambda *a, **k: built.append(1) or real(*a, **k))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["text"] = "grid caching proof: a sentence only this test uses"
    at.run().switch_page("pages/heads.py").run()
    assert_clean(at)
    assert built == [1]
    at.selectbox(key="open_layer").set_value(3).run()
    at.selectbox(key="open_head").set_value(2).run()
    at.switch_page("pages/walkthrough.py").run()
    at.switch_page("pages/heads.py").run()
    assert built == [1] and len([t for t in figures(at)["heads_grid"]["data"] if t["type"] == "heatmap"]) == 72
    at.toggle(key="causal").set_value(True).run()
    assert built == [1, 1]
    assert_clean(at)


@pytest.mark.slow
def test_all_heads_thumbnails_are_downsampled_for_long_input():
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["text"] = "snow " * 300
    at.run().switch_page("pages/heads.py").run()
    assert_clean(at)
    grid = figures(at)["heads_grid"]
    z = decode(next(t for t in grid["data"] if t["type"] == "heatmap")["z"])
    assert max(z.shape) <= 32
    assert len(json.dumps(grid)) < 2_000_000


def test_walkthrough_numbers_are_live():
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/walkthrough.py").run()
    assert_clean(at)
    shapes = at.table[0].value
    assert "(10, 5, 4)" in shapes["shape"].tolist() and "(6, 5, 2, 10, 10)" in shapes["shape"].tolist()
    at.number_input(key="wt_d_model").set_value(5).run()
    assert_clean(at)
    assert any("not divisible" in e.value and "num_heads=2" in e.value for e in at.error)
    at.number_input(key="wt_d_model").set_value(6).run()
    at.number_input(key="wt_heads").set_value(3).run()
    assert not at.error
    assert any("3 pieces of 2 dims" in m.value for m in at.markdown)
    at.toggle(key="causal").set_value(True).run()
    assert at.query_params["mask"] == "on"
    weights = decode(figures(at)["wt_weights"]["data"][0]["z"])
    assert (np.triu(weights, 1) == 0).all()
    at.toggle(key="wt_cross").set_value(True).run()  # with the mask still on: it applies to self-attention only
    assert_clean(at)
    weights = decode(figures(at)["wt_weights"]["data"][0]["z"])
    assert weights.shape == (7, 5) and (weights > 0).all() and np.allclose(weights.sum(-1), 1, atol=1e-5)
    assert any(s.value.startswith("The step-by-step weights equal") and "max difference 0.0e+00)" in s.value
               for s in at.success)


def test_without_a_browser_the_app_works_and_says_how_to_enable_export(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    at = app()
    assert_clean(at)
    png = [b for b in at.get("download_button") if b.proto.label == "PNG"]
    assert png and all(b.proto.disabled for b in png)
    svg = {b.key: b for b in at.get("download_button") if b.proto.label == "SVG"}
    assert not svg["arcs_svg"].proto.disabled and not svg["heatmap_svg"].proto.disabled  # both are SVG already
    assert any("apt-get install chromium" in c.value for c in at.caption)
    assert component_svg(at, "explorer_heatmap")
    long_text = " ".join(["word"] * 70)  # beyond 64 tokens the heatmap is plotly's: its toolbar still saves a PNG
    at.text_area(key="text").set_value(long_text).run()
    assert_clean(at)
    assert "explorer_heatmap" in figures(at) and svg["heatmap_svg"].key in [b.key for b in at.get("download_button")]
    assert next(b for b in at.get("download_button") if b.key == "heatmap_svg").proto.disabled


def test_dependencies_page_for_the_typed_sentence(minilm):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["layer"], at.query_params["head"], at.query_params["text"] = "3", "9", SNOW
    at.switch_page("pages/dependencies.py").run()
    assert_clean(at)
    evidence = page_evidence(at)
    arcs = set(zip(evidence["arc"], evidence["relation"]))
    assert ("snow → makes", "nsubj") in arcs and ("heavy → snow", "amod") in arcs
    # the page's table is the library's: the corpus credits from the shipped scores, hit or miss on this sentence
    tree = to_ud(parse(SNOW, load_parser()))
    expected = sentence_evidence(sentence_hits(attnviz.capture(minilm, SNOW), tree), shipped_scores(attnviz.DEFAULT_MODEL), top=3)
    assert evidence["credited head"].tolist() == expected["credited head"].tolist()
    assert evidence["in this sentence"].tolist() == [("gets it" if h else "misses it") if pd.notna(h) else "" for h in expected["hit"]]
    assert np.allclose(evidence["beyond position"].astype(float), expected["beyond accuracy"].astype(float), equal_nan=True)
    assert any("Parsed by en_core_web" in c.value for c in at.caption)
    assert any("not thereby tracking" in c.value for c in at.caption)  # one sentence is not evidence
    assert not any(m.value.startswith("Best heads for this sentence") for m in at.markdown)  # the per-sentence head lists are gone
    at.text_area(key="text").set_value("the dogs that the cat sees run fast").run()
    assert_clean(at)
    assert "dogs → run" in page_evidence(at)["arc"].tolist()


def page_evidence(at) -> pd.DataFrame:
    """The "which heads follow each arc" table of the Heads vs. syntax page, with its shown column names."""
    frame = next(df.value for df in at.dataframe if "credited head" in df.value.columns)
    return frame.rename(columns={"here": "in this sentence"})


def assert_scores_table(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The page's corpus table is the library's, and its accuracies are shares of whole arcs."""
    # the page shows the library's numbers unrounded (formatted to 3 decimals) under its own column names
    shown = expected[list(SHOWN_COLUMNS)].rename(columns=SHOWN_COLUMNS).replace(r"->", "→", regex=True)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), shown, check_dtype=False)
    table = table.rename(columns={v: k for k, v in SHOWN_COLUMNS.items()})
    for column in ("accuracy", "baseline accuracy"):  # hits / arcs: times arcs, a whole number (up to the rounding)
        hits = table[column] * table["arcs"]
        assert (np.abs(hits - hits.round()) <= table["arcs"] * 0.0005 + 1e-9).all(), table[[column, "arcs"]]


def test_dependencies_corpus_scores_on_the_builtin_sample(minilm):
    at = AppTest.from_file(APP, default_timeout=300)
    at.switch_page("pages/dependencies.py").run()
    at.radio(key="dep_source").set_value(SAMPLE).run()
    at.slider(key="dep_limit").set_value(40).run()
    at.button(key="dep_run").click().run()
    assert_clean(at)
    table = next(df.value for df in at.dataframe if "best head" in df.value.columns)
    assert {"relation", "arcs", "best head", "accuracy", "baseline offset", "baseline", "hard arcs", "beyond position"} <= set(table.columns)
    assert table["best head"].str.fullmatch(r"[1-6]-(1[0-2]|[1-9])").all()
    assert_scores_table(table, score_heads(minilm, load_sample(load_parser())[:40]).table(min_count=5))
    heat = figures(at)["dep_heatmap"]["data"][0]
    assert len(heat["x"]) == 72
    assert any(b.proto.label == "Table as CSV" for b in at.get("download_button"))
    at.slider(key="head").set_value(2).run()  # results stay (cached for the session): no new scoring
    assert_clean(at)
    assert any("best head" in df.value.columns for df in at.dataframe)


def test_trained_local_model_and_the_generated_corpus():
    at = app(model="local-trained", text="the dogs that the cat sees run quickly")
    assert_clean(at)
    assert at.slider(key="layer").proto.max == 3
    assert any(w.value.startswith("1 word is not") and "UNK" in w.value and w.value.endswith(": quickly")
               for w in at.warning)  # outside the vocabulary
    at.text_area(key="text").set_value("the zebras and the aardvarks run quickly").run()
    assert any(w.value.startswith("4 words are not") and w.value.endswith(": aardvarks, and, quickly, zebras")
               for w in at.warning)
    at.text_area(key="text").set_value("the dogs that the cat sees run quickly").run()
    at.switch_page("pages/dependencies.py").run()
    # head 3-2 looks from verbs to their subjects: credited as head->dependent, not missed
    at.slider(key="layer").set_value(3).run()
    at.slider(key="head").set_value(2).run()
    caption = next(c.value for c in at.caption if c.value.startswith("In head 3-2"))
    assert "words attend most to one of their own dependents" in caption
    assert int(caption.split(", and ")[1].split()[0]) >= 2, caption  # run -> dogs, sees -> cat
    assert any("No corpus scores for this model yet" in i.value for i in at.info)  # nothing is credited before a corpus
    at.radio(key="dep_source").set_value("Generated corpus (the toy grammar's own trees, no parser)").run()
    at.slider(key="dep_limit").set_value(100).run()
    at.button(key="dep_run").click().run()
    assert_clean(at)
    assert "credited head" in page_evidence(at).columns  # now credited from the session's corpus scores
    table = next(df.value for df in at.dataframe if "best head" in df.value.columns)
    assert {"det", "nsubj"} <= set(table["relation"])
    assert table["best head"].str.fullmatch(r"[1-3]-[1-4]").all()  # 3 layers x 4 heads
    trained = data.get_model(attnviz.LOCAL_TRAINED)
    assert_scores_table(table, score_heads(trained, held_out_corpus(500)[:100]).table(min_count=5))


def test_the_view_survives_page_switches():
    at = app(model="local-trained", layer="2", head="2", mask="on", text="the dogs run")
    for page in ("pages/heads.py", "pages/walkthrough.py", "pages/dependencies.py", "pages/head-map.py", "pages/explorer.py"):
        at.switch_page(page).run()
        assert_clean(at)
        assert at.session_state["model"] == "local-trained" and at.session_state["causal"] is True
        assert (at.session_state["layer"], at.session_state["head"]) == (2, 2)
        assert at.session_state["text"] == "the dogs run"
    assert at.selectbox(key="model_choice").value == "local-trained" and at.slider(key="layer").value == 2
    assert dict(at.query_params) == {"text": "the dogs run", "model": "local-trained", "layer": "2", "head": "2", "mask": "on"}
