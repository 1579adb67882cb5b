"""Shared links: query parameters to a valid view state and back."""

from dataclasses import fields, replace

from components import session_keys
from components.state import DEFAULT_TEXT, MAX_TEXT_CHARS, RunKey, ViewState, fit, parse


def test_defaults_make_an_empty_query():
    assert ViewState().to_params() == {}
    state, notices = parse({})
    assert state == ViewState() and notices == []


def test_round_trip():
    state = ViewState(text="the dogs run", model="local", layer=2, head=3, all_heads=True, causal=True,
                      level="word", hide_special=True, top_k=5)
    params = state.to_params()
    assert params == {"text": "the dogs run", "model": "local", "layer": "2", "head": "3", "heads": "all",
                      "mask": "on", "level": "word", "special": "hide", "topk": "5"}
    again, notices = parse(params)
    assert again == state and notices == []


def test_malformed_values_fall_back_with_a_notice():
    state, notices = parse({"layer": "abc", "head": "-1", "mask": "maybe", "level": "sentence", "topk": "7",
                            "special": "<script>", "text": "   "})
    assert state == ViewState()
    assert len(notices) == 7
    assert any("head='-1'" in n for n in notices) and any("mask='maybe'" in n for n in notices)


def test_out_of_range_is_clamped_to_the_model():
    state, notices = parse({"layer": "99", "head": "40"})
    assert notices == [] and state.layer == 99
    fitted, notices = fit(state, n_layers=6, n_heads=12)
    assert (fitted.layer, fitted.head) == (6, 12)
    assert notices == ["This model has 6 layers; showing layer 6 instead of 99.",
                       "This model has 12 heads per layer; showing head 12 instead of 40."]
    assert fit(fitted, 6, 12) == (fitted, [])


def test_huge_values():
    state, notices = parse({"text": "x" * 20_000, "model": "m" * 5_000})
    assert len(state.text) == MAX_TEXT_CHARS and state.model == ViewState().model
    assert len(notices) == 2 and all(len(n) < 300 for n in notices)
    assert "text" not in ViewState(text="y" * 5_000).to_params()  # too long for a link: left out


def test_hostile_text_is_kept_as_text():
    text = "<img src=x onerror=alert(1)> {{7*7}} javascript:alert(1)"
    state, notices = parse({"text": text, "model": "../../etc/passwd"})
    assert state.text == text and notices == []
    assert state.model == "../../etc/passwd"  # loading refuses it later, with a notice
    assert parse({"text": DEFAULT_TEXT})[0] == ViewState()


def test_measure_round_trips_and_attention_is_not_written():
    assert "measure" not in ViewState(measure="attention").to_params()
    for measure in ("value", "rollout", "flow"):
        params = ViewState(measure=measure, layer=2).to_params()
        assert params == {"measure": measure, "layer": "2"}
        assert parse(params) == (ViewState(measure=measure, layer=2), [])
    assert parse({"measure": "VALUE"})[0].measure == "value"  # like level and mask: any case


def test_unknown_measure_falls_back_with_a_notice():
    state, notices = parse({"measure": "bogus", "layer": "2"})
    assert state == ViewState(layer=2)
    assert notices == ["Ignored measure='bogus' from the link (one of 'attention', 'value', 'rollout', 'flow'); "
                       "using 'attention'."]
    state, notices = parse({"measure": "<b>x</b>" * 100})
    assert state.measure == "attention" and len(notices) == 1 and len(notices[0]) < 200


def test_the_session_keys_of_the_view_are_its_fields():
    assert session_keys.VIEW == tuple(f.name for f in fields(ViewState))


def test_a_view_is_keyed_by_one_typed_value_that_ignores_what_the_run_does_not_depend_on():
    view = ViewState(text="a b c", layer=2, head=3, top_k=5, all_heads=True)
    key = view.run_key()
    assert key == RunKey(ViewState().model, "a b c") and hash(key) == hash(RunKey(ViewState().model, "a b c"))
    assert key.layer is None  # attention weights: the layer is not part of the run's key
    flow = replace(view, measure="flow").run_key()
    assert flow.layer == 1 and replace(view, measure="flow").run_key(all_layers=True).layer is None
    worded = replace(view, level="word", hide_special=True, measure="value").run_key()
    assert worded.measured == RunKey(view.model, "a b c", measure="value")
    assert worded.captured == key and replace(key, target="x", measure="flow", layer=0).captured.target == "x"
