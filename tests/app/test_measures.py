"""The measure choice in the app (issue #13): attention weights, value-weighted, rollout, flow.

Real AppTest runs with the real default model. The expected numbers come from attnviz itself
(``attnviz.capture`` then ``attnviz.measures.measure_run``) in this process; the pages' numbers are
read from what they hand to the browser (the plotly specs and the dataframes). "Does not run the
model" is checked with a forward pre-hook on the cached model the pages use
(``components.data.get_model``): every forward pass, of any caller, goes through it.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz.measures import FLOW_MAX_TOKENS, MEASURES, measure_run
from attnviz.parsing import load_parser, load_sample, parse
from attnviz.scoring import score_heads
from attnviz.sentence_scores import sentence_hits
from attnviz.stats import top_links
from attnviz.ud_relations import to_ud
from components import data
from components.state import DEFAULT_TEXT
from components.syntax_corpus import SAMPLE, SHOWN_COLUMNS
from tests.helpers.apptest import app, assert_clean, component_svg, explorer_heatmap, figures, strongest_links
from tests.helpers.arrays import decode

TEXT = "measure proof: the heavy snow makes driving more difficult"  # a sentence only this file uses
LONG = " ".join(["the old river ran past our quiet town every spring"] * 4)  # 42 tokens: too long for flow
PAGES = (None, "pages/heads.py", "pages/dependencies.py")


def heatmap(at: AppTest) -> tuple[np.ndarray, str]:
    """The explorer's heatmap: its cells and its title."""
    return explorer_heatmap(at)


def links(at: AppTest) -> pd.DataFrame:
    return strongest_links(at)


def grid(at: AppTest) -> tuple[list[np.ndarray], list[str], str]:
    """The all-heads grid: each map's cells, each map's title, the figure's title."""
    fig = figures(at)["heads_grid"]
    maps = [decode(t["z"]) for t in fig["data"] if t["type"] == "heatmap"]
    return maps, [a["text"] for a in fig["layout"]["annotations"]], fig["layout"]["title"]["text"]


@contextmanager
def forward_calls():
    """A list that gets one entry per forward pass of the app's cached default model while inside."""
    calls: list[int] = []
    handle = data.get_model(attnviz.DEFAULT_MODEL).module.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def expected(minilm, text: str, layer: int, head: int) -> dict[str, np.ndarray]:
    """Each measure's matrix for 0-based ``layer`` (and ``head`` where the measure has heads), from attnviz."""
    run = attnviz.capture(minilm, text)
    return {
        "attention": run.attention[layer, head],
        "value": measure_run(run, "value").attention[layer, head],
        "rollout": measure_run(run, "rollout").attention[layer, 0],
        "flow": measure_run(run, "flow", layer).attention[layer, 0],
    }


# ---------------------------------------------------------------- the choice


def test_the_measure_choice_is_on_every_page_with_its_explanation_and_paper():
    at = app(text=TEXT)
    for page in PAGES:
        if page:
            at.switch_page(page).run()
        assert_clean(at)
        radio = at.radio(key="measure")
        assert radio.value == "attention"
        assert radio.options == [m.label for m in MEASURES.values()]
        assert f"flow (up to {FLOW_MAX_TOKENS} tokens)" in radio.options  # the limit is stated where it is chosen
    at.radio(key="measure").set_value("value").run()
    captions = [c.value for c in at.sidebar.caption]
    assert any("Kobayashi et al. 2020](https://arxiv.org/abs/2004.10102)" in c and "‖α" in c for c in captions), captions
    at.radio(key="measure").set_value("rollout").run()
    captions = [c.value for c in at.sidebar.caption]
    assert any("Abnar & Zuidema 2020](https://arxiv.org/abs/2005.00928)" in c.replace("\\&", "&") for c in captions)
    assert any("Head slider" in c and "do not apply" in c for c in captions)  # rollout mixes the heads


# ---------------------------------------------------------------- explorer


def test_switching_the_measure_changes_the_explorer_and_never_runs_the_model(minilm):
    at = app(text=TEXT, layer="2", head="10")
    assert_clean(at)
    want = expected(minilm, TEXT, 1, 9)
    tokens, mask = attnviz.capture(minilm, TEXT).tokens, attnviz.capture(minilm, TEXT).mask
    z, title = heatmap(at)
    np.testing.assert_allclose(z, want["attention"], atol=1e-6)
    titles = {"value": "value-weighted · layer 2, head 10 ·", "rollout": "rollout up to layer 2 (all heads) ·",
              "flow": "flow to layer 2 (all heads) ·", "attention": "layer 2, head 10 ·"}
    subheaders = {"value": "Heatmap, head 2-10", "rollout": "Heatmap, rollout up to layer 2",
                  "flow": "Heatmap, flow to layer 2", "attention": "Heatmap, head 2-10"}
    shown = {}
    with forward_calls() as calls:
        for measure in ("value", "rollout", "flow", "attention"):
            at.radio(key="measure").set_value(measure).run()
            assert_clean(at)
            z, title = heatmap(at)
            np.testing.assert_allclose(z, want[measure], atol=1e-5, err_msg=measure)
            assert title.startswith(titles[measure]), (measure, title)
            assert subheaders[measure] in [h.value for h in at.subheader]
            shown[measure] = links(at)
            pd.testing.assert_frame_equal(shown[measure], top_links(want[measure], tokens, mask=mask),
                                          check_exact=False, atol=1e-5)
        assert calls == []  # four measures, and the model never ran
        at.text_area(key="text").set_value(TEXT + " again").run()
        assert calls == [1]  # the hook does see a run: a new sentence is one forward pass
    assert_clean(at)
    # the tables differ between measures (head 2-10 puts 0.69 of "makes" on [CLS]; value-weighted, 0.63 on "snow")
    assert not shown["value"].equals(shown["attention"]) and not shown["rollout"].equals(shown["value"])
    assert shown["attention"].loc[shown["attention"]["token"] == "makes", "#1"].item() == "[CLS]"
    assert shown["value"].loc[shown["value"]["token"] == "makes", "#1"].item() == "snow"


def test_value_weighted_at_word_level_without_specials_is_pooled_from_the_token_measure(minilm):
    at = app(text=TEXT, measure="value", level="word", special="hide", layer="3", head="2")
    assert_clean(at)
    run = measure_run(attnviz.capture(minilm, TEXT), "value").view("word", drop_special=True)
    z, title = heatmap(at)
    np.testing.assert_allclose(z, run.attention[2, 1], atol=1e-5)
    assert title.startswith("value-weighted · layer 3, head 2")


def test_rollout_keeps_the_picked_head_for_the_other_measures(minilm):
    at = app(text=TEXT, measure="rollout", layer="4", head="7")
    assert_clean(at)
    assert at.radio(key="measure").value == "rollout" and at.slider(key="head").value == 7
    z, title = heatmap(at)
    want = expected(minilm, TEXT, 3, 6)
    np.testing.assert_allclose(z, want["rollout"], atol=1e-5)
    assert any("head 7 is kept" in c.value for c in at.sidebar.caption)
    assert any("Head slider" in c.value and "do not apply here" in c.value for c in at.caption)
    assert dict(at.query_params)["head"] == "7"
    at.radio(key="measure").set_value("attention").run()
    z, title = heatmap(at)
    np.testing.assert_allclose(z, want["attention"], atol=1e-6)
    assert "Heatmap, head 4-7" in [h.value for h in at.subheader]


# ---------------------------------------------------------------- all heads


def test_all_heads_grid_per_measure_without_running_the_model(minilm):
    at = app("pages/heads.py", text=TEXT)
    assert_clean(at)
    run = attnviz.capture(minilm, TEXT)
    value, rollout = measure_run(run, "value").attention, measure_run(run, "rollout").attention
    with forward_calls() as calls:
        at.radio(key="measure").set_value("value").run()
        assert_clean(at)
        maps, names, title = grid(at)
        assert len(maps) == 72 and "value-weighted" in title
        np.testing.assert_allclose(maps[1 * 12 + 9], value[1, 9], atol=1e-5)  # 15 tokens: thumbnails are not pooled

        at.radio(key="measure").set_value("rollout").run()
        assert_clean(at)
        maps, names, title = grid(at)
        assert len(maps) == 6 and [n.split(" ")[:2] for n in names] == [["layer", str(k)] for k in range(1, 7)]
        assert "rollout up to each layer" in title
        for k in range(6):
            np.testing.assert_allclose(maps[k], rollout[k, 0], atol=1e-5)
        stats = next(df.value for df in at.dataframe if "pattern" in df.value.columns)
        assert stats["label"].tolist() == [f"L{k}" for k in range(1, 7)]  # one row per layer, not "1-1" ... "6-1"

        at.radio(key="measure").set_value("flow").run()  # every layer's flow, for the grid
        assert_clean(at)
        maps, names, title = grid(at)
        assert len(maps) == 6 and "flow up to each layer" in title
        for k in (0, 5):
            np.testing.assert_allclose(maps[k], measure_run(run, "flow", k).attention[k, 0], atol=1e-5)
        assert calls == []

    # "Open in the explorer" keeps the measure: layer 5's rollout
    at.radio(key="measure").set_value("rollout").run()
    at.selectbox(key="open_layer").set_value(5).run()
    at.button(key="open_head_button").click().run()
    assert_clean(at)
    z, title = heatmap(at)
    np.testing.assert_allclose(z, rollout[4, 0], atol=1e-5)
    assert title.startswith("rollout up to layer 5")
    assert dict(at.query_params)["measure"] == "rollout"


# ---------------------------------------------------------------- heads vs. syntax


def head_caption(at: AppTest) -> str:
    """The sentence view's count of the chosen head: "In head L-H, X of N words attend most to ..."."""
    return next(c.value for c in at.caption if c.value.startswith("In head "))


def expected_caption(run, tree, layer: int, head: int) -> str:
    """The same count, from the library: the head's hits on the parse (in UD terms, as the page reads it)."""
    hits = sentence_hits(run, to_ud(tree))
    to_head = int(hits.hits[:, layer, head, 0].sum())
    return (f"In head {layer + 1}-{head + 1}, {to_head} of {len(hits.sentence.arcs)} words attend most to their syntactic head "
            f"(dependent→head), and {len(hits.found(layer, head)) - to_head} words attend most to one of their own dependents")


def test_heads_vs_syntax_scores_value_weighted_attention_for_the_sentence_and_the_corpus(minilm):
    at = app("pages/dependencies.py", timeout=300, measure="value", layer="2", head="10")
    assert_clean(at)
    run, tree = attnviz.capture(minilm, DEFAULT_TEXT), parse(DEFAULT_TEXT, load_parser())
    by_value, by_weight = expected_caption(measure_run(run, "value"), tree, 1, 9), expected_caption(run, tree, 1, 9)
    assert head_caption(at).startswith(by_value)
    assert "Head 2-10: attention links (value-weighted)" in [h.value for h in at.subheader]
    value_svg = component_svg(at, "dep_head")

    # the corpus: scored on value-weighted attention, the library's own numbers
    at.radio(key="dep_source").set_value(SAMPLE).run()
    at.slider(key="dep_limit").set_value(40).run()
    at.button(key="dep_run").click().run()
    assert_clean(at)
    table = next(df.value for df in at.dataframe if "best head" in df.value.columns)
    sample = load_sample(load_parser())[:40]
    want = score_heads(minilm, sample, measure="value").table(min_count=5)
    shown = want[list(SHOWN_COLUMNS)].rename(columns=SHOWN_COLUMNS).replace(r"->", "→", regex=True)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), shown, check_dtype=False)
    assert not want.equals(score_heads(minilm, sample).table(min_count=5))
    assert "value-weighted" in figures(at)["dep_heatmap"]["layout"]["title"]["text"]

    with forward_calls() as calls:  # back to the weights: the sentence view is derived again, not re-run
        at.radio(key="measure").set_value("attention").run()
        assert_clean(at)
        assert head_caption(at).startswith(by_weight) and component_svg(at, "dep_head") != value_svg
        assert calls == []


def test_heads_vs_syntax_scores_the_weights_for_rollout_and_says_so(minilm):
    at = app("pages/dependencies.py", timeout=300, measure="rollout")
    assert_clean(at)
    assert any("scores single heads" in i.value and "scoring attention weights instead" in i.value for i in at.info)
    run, tree = attnviz.capture(minilm, DEFAULT_TEXT), parse(DEFAULT_TEXT, load_parser())
    assert head_caption(at).startswith(expected_caption(run, tree, 2, 0))  # the weights of the default head, 3-1


# ---------------------------------------------------------------- links, limits and bad values


def test_the_url_carries_the_measure_and_a_shared_link_restores_it():
    at = app(text=TEXT)
    assert "measure" not in dict(at.query_params)  # the default is not written
    at.radio(key="measure").set_value("value").run()
    assert dict(at.query_params) == {"text": TEXT, "measure": "value"}
    at.switch_page("pages/heads.py").run()
    assert dict(at.query_params)["measure"] == "value" and at.radio(key="measure").value == "value"

    shared = app(text=TEXT, measure="rollout", layer="4")  # a fresh session opening the link
    assert_clean(shared)
    assert shared.radio(key="measure").value == "rollout"
    assert heatmap(shared)[1].startswith("rollout up to layer 4")
    assert dict(shared.query_params) == {"text": TEXT, "layer": "4", "measure": "rollout"}


def test_flow_on_a_long_input_falls_back_to_the_weights_with_an_info(minilm):
    assert len(attnviz.capture(minilm, LONG).tokens) > FLOW_MAX_TOKENS
    at = app(text=LONG, measure="flow", layer="1")
    assert_clean(at)
    info = [i.value for i in at.info]
    assert any(f"limited to {FLOW_MAX_TOKENS} tokens" in i and "Showing attention weights instead" in i for i in info), info
    z, title = heatmap(at)
    np.testing.assert_allclose(z, attnviz.capture(minilm, LONG).attention[0, 0], atol=1e-6)
    assert title.startswith("layer 1, head 1")
    assert dict(at.query_params)["measure"] == "flow"  # the choice stays in the link
    at.switch_page("pages/heads.py").run()
    assert_clean(at)
    assert any(f"limited to {FLOW_MAX_TOKENS} tokens" in i.value for i in at.info)
    assert len(grid(at)[0]) == 72


def test_an_unknown_measure_in_a_link_gets_a_notice():
    at = app(text=TEXT, measure="bogus")
    assert_clean(at)
    assert any("measure='bogus'" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.radio(key="measure").value == "attention"
    assert "measure" not in dict(at.query_params)


def test_decoder_and_cross_attention_stay_weights_with_an_info():
    at = app(model=attnviz.LOCAL_TRAINED, text="the dogs that the cat sees run fast", kind="cross", measure="rollout", layer="1")
    assert_clean(at)
    assert any("encoder's self-attention only" in i.value and "cross-attention" in i.value for i in at.info)
    heat = figures(at)["kind_heatmap"]  # drawn as weights: no measure in its title, "weight" on its colour bar
    assert heat["layout"]["title"]["text"].startswith("cross · head") and heat["data"][0]["colorbar"]["title"]["text"] == "weight"
    at.radio(key="kind").set_value("self").run()  # the encoder's self-attention: rollout applies
    assert_clean(at)
    assert heatmap(at)[1].startswith("rollout up to layer 1")
