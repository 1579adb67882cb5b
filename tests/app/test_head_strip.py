"""The explorer's first screen in the real Streamlit runtime (AppTest): the heads that follow the sentence's
dependencies, credited on corpus scores beyond position, and every way the strip can have nothing to show."""

import numpy as np
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz.head_scores import HeadScores
from components import data
from components.session_keys import CORPUS_SCORES
from tests.helpers.apptest import APP, app, assert_clean, component_data

STRIP_TITLE = "**Heads that follow this sentence's dependencies**"


def strip_infos(at) -> str:
    return " ".join(i.value for i in at.info)


def test_the_first_screen_names_three_heads_each_with_its_relation_and_figures():
    at = assert_clean(app())
    assert any(m.value == STRIP_TITLE for m in at.markdown)
    strip = component_data(at, "head_strip")
    cards = strip["cards"]
    assert [(c["key"], c["relation"]) for c in cards] == [("3-2", "advmod"), ("3-1", "obj"), ("2-8", "case")]
    assert strip["selected"] == "3-1" == f"{at.slider(key='layer').value}-{at.slider(key='head').value}"
    for card in cards:  # e.g. "74% of 1,211 arcs in UD EWT dev, 70% where position alone fails (baseline 36%)"
        assert " arcs in UD EWT dev, " in card["caption"] and "where position alone fails (baseline " in card["caption"]
        assert card["words"] == ["heavy", "snow", "often", "keeps", "the", "children", "in", "the", "house"]
        assert card["hit"] is True and card["predicted"] == card["target"]
    assert any("Voita et al. 2019" in c.value and "example, not evidence" in c.value for c in at.caption)


def test_a_model_without_shipped_scores_says_how_to_score_it_and_then_uses_the_sessions_scores():
    at = assert_clean(app(model=attnviz.LOCAL_TRAINED, text="the dog sees the cats"))
    assert component_data(at, "head_strip") is None
    assert "No corpus scores for this model yet" in strip_infos(at) and "attnviz heads --conllu" in strip_infos(at)
    at.switch_page("pages/dependencies.py").run()
    at.radio(key="dep_source").set_value("Generated corpus (the toy grammar's own trees, no parser)").run()
    at.slider(key="dep_limit").set_value(500).run()
    at.button(key="dep_run").click().run()
    assert_clean(at)
    at.switch_page("pages/explorer.py").run()
    assert_clean(at)
    cards = component_data(at, "head_strip")["cards"]
    assert {c["relation"] for c in cards} >= {"det"} and all("in the generated corpus" in c["caption"] for c in cards)
    assert "No corpus scores" not in strip_infos(at)


def test_a_sentence_without_dependencies_says_why_and_the_page_still_works():
    for text in ("snow", "!!!"):
        at = assert_clean(app(text=text))
        assert component_data(at, "head_strip") is None
        assert "The parse links no two words (one word, or only punctuation)" in strip_infos(at)
        assert "Attention links" in [s.value for s in at.subheader]  # the rest of the page works


def test_a_model_whose_heads_pass_no_flag_says_so(minilm):
    # scores made in this session for the local random model on which no head beats the offset baseline by 10 points
    layers, heads = 3, 4
    hits = np.zeros((2, layers, heads, 2), dtype=np.int64)
    hits[..., 0] = 50  # every head gets half the arcs: no better than the baseline
    scores = HeadScores(relations=["det", "nsubj"], counts=np.array([100, 100]), hits=hits,
                        baseline_hits=np.array([[0, 0, 0, 50, 0, 0], [0, 0, 0, 50, 0, 0]]),
                        hard_counts=np.array([50, 50]), hard_hits=hits // 2, model_name=attnviz.LOCAL_MODEL,
                        meta={"measure": "attention", "corpus": "a test corpus"})
    assert not any(c.passes for c in scores.credits())
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["model"], at.query_params["text"] = attnviz.LOCAL_MODEL, "the dog sees the cats"
    at.session_state[CORPUS_SCORES] = {(attnviz.LOCAL_MODEL, "test", 100, False, "attention"): scores}
    at.run()
    assert_clean(at)
    assert component_data(at, "head_strip") is None
    assert "No head of this model passes Voita's flag on a test corpus" in strip_infos(at)


def test_the_strip_costs_no_forward_pass_of_its_own():
    """The strip reads the explorer's run and the shipped scores: a new sentence is one forward pass, strip included."""
    at = assert_clean(app())
    model = data.get_model(attnviz.DEFAULT_MODEL)  # the app's cached model (components.data's process-wide cache)
    calls: list[int] = []
    handle = model.module.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        at.text_area(key="text").set_value("the farmer often walks the dogs in the park").run()
    finally:
        handle.remove()
    assert_clean(at)
    assert [c["key"] for c in component_data(at, "head_strip")["cards"]][:3] == ["3-2", "3-1", "2-8"]
    assert calls == [1]
