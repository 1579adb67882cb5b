"""components/head_off.py in Streamlit's AppTest (no page wires it in yet): the tables it shows."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from attnviz.toygrammar import lexicon
from tests.helpers.apptest import APP


def block(model_name: str, text: str, layer: int, head: int) -> None:
    import attnviz
    from components.head_off import head_off_view

    model = attnviz.load_model(model_name)
    head_off_view(model, attnviz.capture(model, text), layer, head, key="t")


def run_block(*args) -> AppTest:
    """The block with its toggle switched on (off, it shows only the toggle and runs nothing)."""
    at = AppTest.from_function(block, args=args, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert not at.dataframe and not at.radio  # off: nothing computed
    at.toggle(key="t-on").set_value(True).run()
    assert not at.exception, at.exception
    return at


def test_a_masked_word_model_shows_predictions_with_the_head_on_and_off():
    at = run_block("local-trained", "the dogs [MASK] fast", 2, 1)
    assert at.toggle(key="t-on").label == "Switch head 3-2 off"
    table = at.dataframe[0].value
    assert list(table["position"].unique()) == ["3: [MASK]"] and len(table) == 5
    assert table["p (on)"].is_monotonic_decreasing and table["p (off)"].is_monotonic_decreasing
    assert list(table["head on"]) != list(table["head off"]) or not table["p (on)"].equals(table["p (off)"])
    at.radio(key="t-mode").set_value("mean").run()
    assert not at.exception and len(at.dataframe[0].value) == 5


def test_an_encoder_without_lm_head_shows_the_change_per_token():
    at = run_block("sentence-transformers/all-MiniLM-L6-v2", "heavy snow <b>falls</b>", 5, 0)
    table = at.dataframe[0].value
    assert list(table["token"]) == ["[CLS]", "heavy", "snow", "<", "b", ">", "falls", "<", "/", "b", ">", "[SEP]"]
    assert (table["change"] > 0).all()
    assert not at.info and not at.warning


def test_a_model_whose_heads_cannot_be_switched_off_gets_a_message():
    at = AppTest.from_function(_torch_block, default_timeout=60)
    at.run()
    at.toggle(key="t-on").set_value(True).run()
    assert not at.exception
    assert "cannot be switched off" in at.warning[0].value and not at.dataframe


def _torch_block() -> None:
    import attnviz
    from components.head_off import head_off_view
    from tests.helpers.tiny_models import torch_mha_model

    model = torch_mha_model()
    head_off_view(model, attnviz.capture(model, "the dogs run"), 0, 1, key="t")


def test_the_explorer_switches_the_shown_head_off():
    """Wired into the explorer under the head's views: the shown head, the typed [MASK], both modes."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(model="local-trained", text="the dogs near the cat [MASK] fast", layer="3", head="2")
    at.run()
    assert not at.exception, at.exception
    assert at.toggle(key="explorer_head_off-on").label == "Switch head 3-2 off"
    assert not any("head on" in d.value.columns for d in at.dataframe)  # off until asked: no extra forward pass
    at.toggle(key="explorer_head_off-on").set_value(True).run()
    table = next(d.value for d in at.dataframe if "head on" in d.value.columns)
    assert list(table["position"].unique()) == ["6: [MASK]"]
    on = list(table["head on"])
    assert lexicon.VERB_NUMBER.get(on[0]) == "Plur", on  # the trained model fills the slot with a plural verb ("dogs")
    at.slider(key="head").set_value(1).run()
    assert at.toggle(key="explorer_head_off-on").label == "Switch head 3-1 off"  # stays on for the next head
    assert next(d.value for d in at.dataframe if "head off" in d.value.columns).columns[4] == "head off"
    at.query_params["measure"] = "rollout"
    at.radio(key="measure").set_value("rollout").run()
    assert not [t for t in at.toggle if t.key == "explorer_head_off-on"]  # rollout mixes the heads: no single head
