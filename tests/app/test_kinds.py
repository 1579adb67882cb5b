"""Encoder-decoder and decoder-only models in the app: kind, target, generation, shared links.

Real AppTest runs on tiny random models (BART, GPT-2) built from config and saved with the
offline default's tokenizer to a temporary folder, loaded by folder path through a
``model=`` link as a person would paste one. AppTest runs no JavaScript, so the tests read
what the pages hand to the browser: the arcs SVG, the plotly specs (the heatmap's title names the
kind of attention, its labels are the query and key tokens), the captions, the widgets and the URL.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from transformers import AutoConfig

import attnviz
from attnviz.figures.cross import cross_svg
from attnviz.figures.safe_text import plotly_text
from attnviz.labels import KINDS
from components.shown import SINK_SHARE, sink_heads, sink_share
from components.state import DEFAULT_TEXT, ViewState, parse
from tests.helpers.apptest import app, assert_clean, component_svg
from tests.helpers.arrays import decode
from tests.helpers.tiny_models import save_models, seq2seq_configs

TARGET = "the snow is heavy"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {k: str(v) for k, v in save_models(tmp_path_factory.mktemp("seq2seq"), seq2seq_configs()).items()}


def plot(at: AppTest, key: str) -> dict | None:
    return next((json.loads(el.proto.spec) for el in at.get("plotly_chart") if el.key == key), None)


def shown(at: AppTest) -> dict:
    """What components.kinds drew, as the page shows it: the kind of attention (the heatmap's title starts
    with it), the query and key tokens (the heatmap's labels), and the generation step's query row and
    new token's position (the step caption), when a step is picked."""
    layout = plot(at, "kind_heatmap")["layout"]
    step = next((m for c in at.caption if (m := re.search(r"at position (\d+) the model chose the token at position (\d+)", c.value))),
                None)
    return {"kind": layout["title"]["text"].split(" · ")[0], "query_tokens": layout["yaxis"]["ticktext"],
            "key_tokens": layout["xaxis"]["ticktext"], "row": int(step[1]) if step else None,
            "position": int(step[2]) if step else None}


def labels(tokens: list[str]) -> list[str]:
    """Tokens as the heatmap labels them (escaped for plotly)."""
    return [plotly_text(t) for t in tokens]


def arcs_svg_of(at: AppTest, key: str = "kind_arcs") -> str:
    svg = component_svg(at, key)
    assert svg is not None, f"no arcs component {key!r}"
    return svg


# ---------------------------------------------------------------- URL state


def test_kind_target_and_new_round_trip_through_the_url():
    state = ViewState(kind="cross", target="das Haus ist klein", new=7)
    params = state.to_params()
    assert params == {"kind": "cross", "target": "das Haus ist klein", "new": "7"}
    again, notices = parse(params)
    assert again == state and notices == []
    assert ViewState(target="x" * 3000).to_params() == {}  # like the sentence, a huge target is not written into links


def test_bad_kind_target_and_new_fall_back_with_notices():
    state, notices = parse({"kind": "sideways", "new": "51", "target": "y" * 20_000})
    assert (state.kind, state.new, len(state.target)) == ("self", 0, 10_000)
    assert len(notices) == 3 and any("kind='sideways'" in n for n in notices) and any("new='51'" in n for n in notices)
    assert parse({"new": "-1"})[0].new == 0 and parse({"new": "many"})[1]


def test_links_spell_the_kinds_as_they_always_have():
    """The app uses the library's kinds (``attnviz.labels.KINDS``: self, decoder, cross); links out there say
    ``kind=encoder`` for the encoder's self-attention, and that is still how a link reads and is written."""
    old_link, notices = parse({"kind": "encoder", "target": "das Haus"})
    assert old_link.kind == "self" and notices == [] and old_link == ViewState(target="das Haus")
    assert old_link.to_params() == {"target": "das Haus"}  # the default kind is not written, as before
    assert [ViewState(kind=k).to_params() for k in KINDS] == [{}, {"kind": "decoder"}, {"kind": "cross"}]
    assert [parse({"kind": w})[0].kind for w in ("encoder", "decoder", "cross", "CROSS")] == ["self", "decoder", "cross", "cross"]
    state, notices = parse({"kind": "self"})  # the library's own name was never a link's: refused as before
    assert state.kind == "self" and notices == ["Ignored kind='self' from the link ('encoder', 'decoder' or 'cross'); using 'encoder'."]


# ---------------------------------------------------------------- pure helpers


def test_cross_svg_two_rows_and_links():
    w = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    svg = cross_svg(["a", "<b>", "c"], ["x", "y"], w, title="t").svg
    assert svg.count('class="token source"') == 3 and svg.count('class="token target"') == 2
    assert "&lt;b&gt;" in svg and "<b>" not in svg  # escaped
    assert 'data-from="t0" data-to="s0" data-query="0" data-key="0" data-head="0" data-weight="0.7000"' in svg
    assert 'data-from="t1" data-to="s0"' not in svg  # zero weights are not drawn
    one = cross_svg(["a", "b", "c"], ["x", "y"], w, rows=[1], top_k=1)
    assert one.n_drawn == 1 and 'data-from="t1"' in one.svg and 'data-highlight="1"' in one.svg
    with pytest.raises(ValueError, match="T = 2 target and S = 3 source"):
        cross_svg(["a", "b", "c"], ["x", "y"], w.T)


def test_sink_share_flags_attention_on_the_first_token():
    sink = np.tril(np.ones((4, 4)))
    sink[1:, 0], sink[1:, 1:] = 0.8, np.tril(np.full((3, 3), 0.2 / 3))
    assert sink_share(sink) == pytest.approx(0.8) and sink_share(np.eye(4)) == 0.0
    assert sink_heads(np.stack([sink, np.eye(4)]), layer=1) == [("2-1", pytest.approx(0.8))]
    assert SINK_SHARE == 0.5


# ---------------------------------------------------------------- encoder-decoder


def test_cross_attention_from_a_link(folders):
    at = app(model=folders["bart"], target=TARGET, kind="cross", layer="2", head="3")
    assert_clean(at)
    assert at.radio(key="kind").value == "cross" and at.text_input(key="target").value == TARGET
    ref = attnviz.capture_pair(attnviz.load_model(folders["bart"]), DEFAULT_TEXT, TARGET)
    info = shown(at)
    assert info["kind"] == "cross" and info["query_tokens"] == labels(ref.target.tokens) and info["key_tokens"] == labels(ref.tokens)
    z = decode(plot(at, "kind_heatmap")["data"][0]["z"])
    assert z.shape == (len(ref.target.tokens), len(ref.tokens)) and z.shape[0] != z.shape[1]  # rectangular
    assert np.allclose(z, ref.cross_attention[1, 2], atol=1e-6)
    assert dict(at.query_params) == {"model": folders["bart"], "target": TARGET, "kind": "cross", "layer": "2",
                                          "head": "3"}


def test_kind_selector_switches_between_the_three_kinds(folders):
    at = app(model=folders["bart"], target=TARGET)
    assert_clean(at)
    assert at.radio(key="kind").value == "self" and plot(at, "kind_heatmap") is None
    assert component_svg(at, "explorer_heatmap")  # the explorer's own view: the encoder's self-attention
    at.radio(key="kind").set_value("decoder").run()
    assert_clean(at)
    n_target = len(shown(at)["query_tokens"])
    assert shown(at)["kind"] == "decoder" and decode(plot(at, "kind_heatmap")["data"][0]["z"]).shape == (n_target, n_target)
    z = decode(plot(at, "kind_heatmap")["data"][0]["z"])
    assert (np.triu(z, 1) == 0).all()  # the decoder's own look-ahead mask
    at.radio(key="kind").set_value("cross").run()
    assert shown(at)["kind"] == "cross" and at.query_params["kind"] == "cross"
    svg = arcs_svg_of(at)
    assert svg.count('class="token source"') == len(shown(at)["key_tokens"]) and 'data-from="t' in svg


def test_generated_target_with_the_step_slider(folders):
    at = app(model=folders["bart"], new="4", kind="cross")
    assert_clean(at)
    ref = attnviz.generate(attnviz.load_model(folders["bart"]), DEFAULT_TEXT, max_new_tokens=4)
    info = shown(at)
    assert info["query_tokens"] == labels(ref.target.tokens) and at.slider(key="gen_step").max == len(ref.generated_positions)
    assert at.text_input(key="target").disabled and at.slider(key="gen_step").value == 1
    assert info["row"] == ref.predicted_by(ref.generated_positions[0]) == 0 and info["position"] == ref.generated_positions[0]
    at.slider(key="gen_step").set_value(3).run()
    assert_clean(at)
    assert shown(at)["row"] == ref.generated_positions[2] - 1 and shown(at)["position"] == ref.generated_positions[2]
    heat = plot(at, "kind_heatmap")
    assert heat["layout"]["shapes"][0]["y0"] == shown(at)["row"] - 0.5  # the step's query row is outlined


def test_all_heads_grid_for_cross_attention(folders):
    at = app(page="pages/heads.py", model=folders["bart"], target=TARGET, kind="cross")
    assert_clean(at)
    grid = plot(at, "kind_grid")
    assert "cross-attention" in grid["layout"]["title"]["text"]
    assert len([t for t in grid["data"] if t["type"] == "heatmap"]) == 8  # 2 layers x 4 heads
    assert [a["text"] for a in grid["layout"]["annotations"]][-1] == "2-4"
    assert at.query_params["kind"] == "cross"


def test_local_transformer_decoder_and_cross():
    at = app(model=attnviz.LOCAL_MODEL, kind="decoder")
    assert_clean(at)
    assert shown(at)["kind"] == "decoder" and shown(at)["query_tokens"] == shown(at)["key_tokens"]
    at.text_input(key="target").set_value("the cat sees").run()
    at.radio(key="kind").set_value("cross").run()
    assert_clean(at)
    assert shown(at)["kind"] == "cross" and shown(at)["query_tokens"][1:-1] == ["the", "cat", "sees"]
    assert not [w for w in at.number_input if w.key == "new"]  # the local model cannot generate: no such box
    button = next(b.proto for b in at.get("download_button") if b.key == "kind_html")  # every kind of this run, one file
    assert button.label == "Download interactive HTML" and button.deferred_file_id


# ---------------------------------------------------------------- decoder-only


def test_decoder_only_mask_is_locked_on(folders):
    at = app(model=folders["gpt2"])
    assert_clean(at)
    mask = at.toggle(key="causal")
    assert mask.value is True and mask.disabled
    assert any("cannot be turned off" in c.value for c in at.sidebar.caption)
    assert any("First-token share" in c.value for c in at.caption)
    assert not [r for r in at.radio if r.key == "kind"]  # no kind selector for a decoder-only model
    at.selectbox(key="model_choice").set_value(attnviz.LOCAL_MODEL).run()  # leaving the decoder gives the choice back
    assert at.toggle(key="causal").value is False and not at.toggle(key="causal").disabled


def test_decoder_only_continuation_and_step_slider(folders):
    at = app(model=folders["gpt2"])
    at.number_input(key="new").set_value(5).run()
    assert_clean(at)
    ref = attnviz.generate(attnviz.load_model(folders["gpt2"]), DEFAULT_TEXT, max_new_tokens=5)
    info = shown(at)
    assert info["kind"] == "self" and info["query_tokens"] == labels(ref.tokens)
    assert at.slider(key="gen_step").max == len(ref.generated_positions) and info["position"] == ref.generated_positions[0]
    at.slider(key="gen_step").set_value(2).run()
    p = ref.generated_positions[1]
    assert shown(at)["row"] == p - 1 and shown(at)["position"] == p
    svg = arcs_svg_of(at)
    froms = {int(x.split('"')[1]) for x in svg.split("data-from=")[1:]}
    assert froms == {p - 1}  # only the step's query is drawn
    table = next(df.value for df in at.dataframe if "attention" in df.value.columns)
    assert table["position"].max() <= p - 1  # it reads only what came before the new token
    assert at.query_params["new"] == "5"


def test_an_architecture_whose_attention_cannot_be_recorded_is_refused(tmp_path):
    AutoConfig.for_model("xlnet", vocab_size=50, d_model=16, n_layer=1, n_head=2, d_inner=32).save_pretrained(tmp_path)
    at = app(model=str(tmp_path), kind="cross")
    assert_clean(at)
    assert any("cannot read" in e.value and "XLNetRelativeAttention" in e.value for e in at.error)
    assert any(c.value.startswith("BertModel") for c in at.sidebar.caption)  # the default model instead
