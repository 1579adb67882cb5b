"""The registry of measures: every word the app shows about a measure comes from its
``attnviz.measures.Measure``. Two measures registered here, and nowhere else, are shown by every page
(explorer, all heads, heads vs. syntax) with their own label, name, explanation and axis words.

Real AppTest runs with the real default model; the expected cells come from ``measure_run`` on
``attnviz.capture`` in this process.
"""

from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.measures import MEASURES, Measure, measure_run, register
from attnviz.run import Run
from components.markdown import literal
from tests.helpers.apptest import app, assert_clean, explorer_heatmap, figures, strongest_links

TEXT = "registry proof: the heavy snow makes driving more difficult"  # a sentence only this file uses


def squared(run: Run, layer: int | None) -> np.ndarray:
    """Each weight squared, rows renormalised to 1: a sharper map than the weights."""
    a = run.attention.astype(np.float64) ** 2
    return (a / a.sum(-1, keepdims=True)).astype(np.float32)


SQUARED = Measure("squared", "squared weights (registry test)", "Each weight squared, rows renormalised: a sharper map.",
                  "a test paper", "https://arxiv.org/abs/1706.03762", compute=squared, name="squared",
                  noun="squared attention", value_label="squared share", colorbar_label="sq. share")
HEAD_MEAN = Measure("headmean", "mean of the heads (registry test)", "The mean of every head of a layer: one map per layer.",
                    "a test paper", "https://arxiv.org/abs/1706.03762",
                    compute=lambda run, layer: run.attention.mean(axis=1, keepdims=True), per_head=False, name="head-mean",
                    noun="the heads' mean", value_label="mean weight", colorbar_label="mean",
                    layer_title="mean of the heads of layer {layer}", mixes="the mean of every head of this layer")


@pytest.fixture
def registered():
    """SQUARED and HEAD_MEAN in the registry for one test (the app reads ``MEASURES`` on every run)."""
    for m in (SQUARED, HEAD_MEAN):
        register(m)
    yield
    for m in (SQUARED, HEAD_MEAN):
        MEASURES.pop(m.key)


def test_register_refuses_a_taken_key_and_a_measure_without_a_computation():
    with pytest.raises(ValueError, match="registered already"):
        register(MEASURES["value"])
    with pytest.raises(ValueError, match="compute"):
        register(Measure("nothing", "nothing", "no computation", "-", "https://arxiv.org/"))
    assert list(MEASURES) == ["attention", "value", "rollout", "flow"]


def test_a_registered_measure_is_computed_by_measure_run(registered, minilm):
    run = attnviz.capture(minilm, TEXT)
    np.testing.assert_allclose(measure_run(run, "squared").attention, squared(run, None), atol=1e-7)
    assert measure_run(run, "headmean").attention.shape == (run.n_layers, 1, run.n_tokens, run.n_tokens)


def test_every_page_shows_a_registered_per_head_measure_in_its_own_words(registered, minilm):
    want = measure_run(attnviz.capture(minilm, TEXT), "squared").attention[1, 3]  # layer 2, head 4
    at = app(text=TEXT, measure="squared", layer="2", head="4")
    assert_clean(at)
    radio = at.radio(key="measure")
    assert radio.value == "squared" and SQUARED.label in radio.options
    assert any(literal(SQUARED.explanation) in c.value for c in at.sidebar.caption)
    z, title = explorer_heatmap(at)
    np.testing.assert_allclose(z, want, atol=1e-5)
    assert title.startswith("squared · layer 2, head 4 ·"), title
    assert "Heads of layer 2, squared" in [h.value for h in at.subheader]
    assert len(strongest_links(at)) == len(want)  # opens the table, whose caption names the value
    assert any("three strongest links (squared share)" in c.value for c in at.caption)
    assert any("Ranked by squared attention." in c.value for c in at.caption)

    at.switch_page("pages/heads.py").run()
    assert_clean(at)
    grid = figures(at)["heads_grid"]
    assert " · squared · all heads" in grid["layout"]["title"]["text"]
    assert grid["layout"]["coloraxis"]["colorbar"]["title"]["text"] == "sq. share"
    assert any(c.value.startswith(f"Squared attention. {SQUARED.explanation}") for c in at.caption)

    at.switch_page("pages/dependencies.py").run()
    assert_clean(at)
    assert at.radio(key="measure").value == "squared"
    assert any("(squared)" in h.value for h in at.subheader), [h.value for h in at.subheader]
    assert dict(at.query_params)["measure"] == "squared"


def test_every_page_shows_a_registered_measure_that_mixes_the_heads(registered, minilm):
    want = measure_run(attnviz.capture(minilm, TEXT), "headmean").attention[1, 0]
    at = app(text=TEXT, measure="headmean", layer="2", head="4")
    assert_clean(at)
    assert HEAD_MEAN.label in at.radio(key="measure").options
    assert any("Head-mean mixes every head" in c.value for c in at.sidebar.caption)
    z, title = explorer_heatmap(at)
    np.testing.assert_allclose(z, want, atol=1e-5)
    assert title.startswith("mean of the heads of layer 2 (all heads)"), title
    assert "Heatmap, mean of the heads of layer 2" in [h.value for h in at.subheader]
    assert any("Head-mean: the mean of every head of this layer." in c.value for c in at.caption)
    assert any("rollout, flow and head-mean mix the heads" in c.value for c in at.caption)

    at.switch_page("pages/heads.py").run()
    assert_clean(at)
    grid = figures(at)["heads_grid"]
    assert len([t for t in grid["data"] if t["type"] == "heatmap"]) == 6  # one map per layer
    assert "head-mean up to each layer" in grid["layout"]["title"]["text"]
    assert any("Head-mean: the mean of every head of this layer." in c.value for c in at.caption)

    at.switch_page("pages/dependencies.py").run()  # scores single heads: says so in the measure's own words
    assert_clean(at)
    assert any("the heads' mean mixes every head" in i.value for i in at.info), [i.value for i in at.info]
