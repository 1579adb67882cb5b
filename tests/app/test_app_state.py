"""State: what survives a page switch, what the URL holds, and what sessions share.

Real AppTest runs and real models. AppTest sends widget values the way the browser does
(by widget id), so a value that survives ``switch_page`` here was carried by the app's own
``remember`` / ``arrive`` (components/controls.py).
"""

import dataclasses

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz import walkthrough as wt
from attnviz.local.model import MultiHeadAttention
from components import data
from components.state import RunKey
from tests.helpers.apptest import APP, assert_clean, explorer_heatmap

TEXT = "the dogs that the cat sees run fast"


def heatmap(at: AppTest) -> np.ndarray:
    """The explorer's heatmap as sent to the browser."""
    return explorer_heatmap(at)[0]


def sidebar_values(at: AppTest) -> dict:
    """What the sidebar and the sentence box show."""
    return {
        "model": at.selectbox(key="model_choice").value, "text": at.text_area(key="text").value,
        "layer": at.slider(key="layer").value, "head": at.slider(key="head").value,
        "all_heads": at.toggle(key="all_heads").value, "causal": at.toggle(key="causal").value,
        "level": at.radio(key="level").value, "hide_special": at.toggle(key="hide_special").value,
    }


def test_widget_values_survive_page_switches_both_ways():
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert_clean(at)
    at.selectbox(key="model_choice").set_value(attnviz.LOCAL_TRAINED).run()
    at.text_area(key="text").set_value(TEXT).run()
    at.slider(key="layer").set_value(3).run()
    at.slider(key="head").set_value(2).run()
    at.toggle(key="causal").set_value(True).run()
    at.radio(key="level").set_value("word").run()
    at.toggle(key="hide_special").set_value(True).run()
    at.select_slider(key="top_k").set_value(5).run()
    assert_clean(at)
    chosen = {"model": attnviz.LOCAL_TRAINED, "text": TEXT, "layer": 3, "head": 2, "all_heads": False,
              "causal": True, "level": "word", "hide_special": True}
    assert sidebar_values(at) == chosen

    # explorer -> all heads: every shared value is shown there, not the widgets' defaults
    at.switch_page("pages/heads.py").run()
    assert_clean(at)
    assert sidebar_values(at) == chosen
    assert (at.selectbox(key="open_layer").value, at.selectbox(key="open_head").value) == (3, 2)

    # changed on the all-heads page -> back on the explorer
    at.slider(key="layer").set_value(1).run()
    at.slider(key="head").set_value(4).run()
    at.toggle(key="all_heads").set_value(True).run()
    at.radio(key="level").set_value("token").run()
    at.switch_page("pages/explorer.py").run()
    assert_clean(at)
    chosen |= {"layer": 1, "head": 4, "all_heads": True, "level": "token"}
    assert sidebar_values(at) == chosen
    assert at.select_slider(key="top_k").value == 5  # set on the explorer before leaving it

    # explorer -> walk-through: its mask toggle shows the explorer's value; turned off there ...
    at.switch_page("pages/walkthrough.py").run()
    assert_clean(at)
    assert at.toggle(key="causal").value is True
    at.toggle(key="causal").set_value(False).run()
    assert_clean(at)
    # ... it is off on the explorer, and nothing else was lost on the page without a sidebar
    at.switch_page("pages/explorer.py").run()
    assert_clean(at)
    assert sidebar_values(at) == chosen | {"causal": False}
    assert at.select_slider(key="top_k").value == 5


def test_the_walkthrough_keeps_the_view_in_the_url():
    params = {"text": TEXT, "model": attnviz.LOCAL_TRAINED, "layer": "2", "head": "2", "level": "word"}
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert_clean(at)
    assert dict(at.query_params) == params
    at.switch_page("pages/walkthrough.py").run()
    assert_clean(at)
    assert dict(at.query_params) == params  # text, model and layer are not dropped
    at.toggle(key="causal").set_value(True).run()
    assert dict(at.query_params) == params | {"mask": "on"}
    at.number_input(key="wt_d_model").set_value(5).run()  # an error stops the page early: the URL is still written
    assert any("not divisible" in e.value for e in at.error)
    assert dict(at.query_params) == params | {"mask": "on"}
    at.switch_page("pages/explorer.py").run()
    assert_clean(at)
    assert dict(at.query_params) == params | {"mask": "on"}


def test_a_deep_link_to_the_walkthrough_keeps_its_parameters():
    params = {"text": TEXT, "layer": "4", "mask": "on"}
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/walkthrough.py").run()
    assert_clean(at)
    assert at.toggle(key="causal").value is True
    assert dict(at.query_params) == params


# ---------------------------------------------------------------- shared between sessions


def test_the_walkthrough_leaves_the_global_rng_alone():
    with torch.random.fork_rng(devices=[]):  # this test's own seeding stays inside the test
        torch.manual_seed(1234)
        before = torch.random.get_rng_state()
        first = wt.attention_steps(6, 3, causal=True)
        cross = wt.attention_steps(4, 2, causal=True, cross=True)
        shapes = wt.torch_shapes()
        assert wt.check_heads(4, 2) is None and "not divisible" in wt.check_heads(5, 2)
        assert torch.equal(torch.random.get_rng_state(), before)  # neither reseeded nor advanced

    again = wt.attention_steps(6, 3, causal=True)
    for f in dataclasses.fields(first):
        x, y = getattr(first, f.name), getattr(again, f.name)
        assert (x is None and y is None) or np.array_equal(x, y), f.name
    assert wt.torch_shapes() == shapes
    assert not np.array_equal(wt.attention_steps(6, 3, causal=True, seed=1).w_q, first.w_q)  # the seed matters
    assert np.allclose(cross.weights, cross.module_weights) and cross.weights.shape == (2, 7, 5)


def test_the_walkthrough_numbers_are_those_of_the_seeded_module():
    """Same numbers as before the local generator: torch.manual_seed(seed), then the module's own init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = MultiHeadAttention(8, 4)
    steps = wt.attention_steps(8, 4, seed=0)
    for proj, ours in (("q_proj", steps.w_q), ("k_proj", steps.w_k), ("v_proj", steps.w_v)):
        assert np.array_equal(getattr(reference, proj).weight.detach().T.numpy(), ours), proj
    x = torch.tensor(steps.x)[None]
    with torch.inference_mode():
        assert np.allclose(reference(x)[0][0].numpy(), steps.module_output, atol=1e-6)


@pytest.mark.slow
def test_cached_runs_are_read_only_and_the_pages_still_work(minilm):
    text = "read-only proof: a sentence only this test uses"
    key = RunKey(attnviz.DEFAULT_MODEL, text)
    run = data.get_run(minilm, key)  # the object every session will get
    assert data.get_run(minilm, RunKey(attnviz.DEFAULT_MODEL, text, level="word")) is run  # the forward pass's key only
    local = data.get_model(attnviz.LOCAL_MODEL)
    walk = data.get_run(local, RunKey(attnviz.LOCAL_MODEL, " ".join(wt.WORDS)))  # the walk-through's run
    word_view = data.get_view(minilm, RunKey(attnviz.DEFAULT_MODEL, text, level="word", hide_special=True))
    for cached in (run, walk, word_view):
        arrays = {name: getattr(cached, name) for name in data.RUN_ARRAYS if getattr(cached, name) is not None}
        assert {"attention", "mask", "special"} <= set(arrays)
        for name, array in arrays.items():
            assert not array.flags.writeable, name
            with pytest.raises(ValueError, match="read-only"):
                array.flat[0] = array.flat[0]
    assert walk.decoder_attention is not None and walk.cross_attention is not None
    kept = run.attention.copy()

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["text"] = text
    at.run()
    assert_clean(at)
    assert np.array_equal(heatmap(at), run.attention[2, 0])  # the default head, 3-1
    for page in ("pages/heads.py", "pages/dependencies.py", "pages/walkthrough.py", "pages/explorer.py"):
        at.switch_page(page).run()
        assert_clean(at)
    at.radio(key="level").set_value("word").run()
    at.toggle(key="hide_special").set_value(True).run()
    at.toggle(key="all_heads").set_value(True).run()
    assert_clean(at)
    at.switch_page("pages/heads.py").run()
    assert_clean(at)
    at.switch_page("pages/dependencies.py").run()
    assert_clean(at)
    assert np.array_equal(run.attention, kept)
    assert data.get_run(minilm, key) is run  # still the one cached entry the pages got
