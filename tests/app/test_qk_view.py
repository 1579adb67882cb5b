"""The explorer's query-key view ("Why this head attends: queries and keys", components/qk_view.py) under AppTest:
its numbers are the library's (``attnviz.capture(..., qk=True)``'s ``LogitTerms``), its link restores it, bad link
values get a notice, odd input and models get a message, hostile text stays text, and closed it costs nothing.
The parts (attnviz/qk_parts.py) and their figures (attnviz/figures/qk.py) are checked on plain arrays too."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz.figures.qk import dim_bars, logit_bars
from attnviz.figures.safe_text import positional
from attnviz.logit_terms import LogitTerms
from attnviz.qk_parts import carrying_half, key_dims, query_row
from components.state import ViewState, parse
from tests.helpers.apptest import app, assert_clean, explorer_heatmap, figures
from tests.helpers.arrays import decode

TEXT = "heavy snow makes driving more difficult"


def table(at: AppTest):
    """The view's table (one row per key), as the page holds it."""
    return next(d.value for d in at.dataframe if "scale × q·k" in d.value.columns)


def traces(at: AppTest, key: str) -> dict[str, dict]:
    """The traces of the view's figure ``key`` by name, their x and y as sent to the browser."""
    return {t["name"]: {"x": list(t["x"]), "y": decode(t["y"])} for t in figures(at)[key]["data"]}


def params(at: AppTest) -> dict[str, str]:
    """The page's query parameters as the address bar shows them (AppTest keeps some as one-item lists)."""
    return {k: v if isinstance(v, str) else v[0] for k, v in at.query_params.items()}


def half_by_brute_force(products: np.ndarray) -> int | None:
    """The size of the smallest set of dimensions whose products sum to at least half of q · k in its direction,
    by trying every set of each size (products of at most 12 dimensions)."""
    total = float(np.sum(products, dtype=np.float64))
    if total == 0:
        return None
    toward = np.sign(total) * products.astype(np.float64)
    for m in range(1, len(products) + 1):
        if any(toward[list(dims)].sum() >= abs(total) / 2 for dims in itertools.combinations(range(len(products)), m)):
            return m
    raise AssertionError("the whole set always carries all of q · k")


def half_by_a_loop(products: np.ndarray) -> int | None:
    """The same count on larger heads: the products in q · k's direction, largest first, added until half is reached."""
    total = float(np.sum(products, dtype=np.float64))
    if total == 0:
        return None
    running = 0.0
    for m, p in enumerate(sorted((float(x) * np.sign(total) for x in products), reverse=True), start=1):
        running += p
        if running >= abs(total) / 2:
            return m
    return len(products)


# ---------------------------------------------------------------- the numbers, in the app
def test_the_view_shows_the_librarys_logit_terms_and_weights(minilm):
    """Layer 2, head 8, query 3 ("makes"): each key's scale × q·k and weight are those of ``capture(qk=True)``, the
    weights are the heatmap's row, the products sum to q · k, and the dimensions carrying half are counted right."""
    at = assert_clean(app(text=TEXT, layer="2", head="8", qk="open", query="3"))
    run = attnviz.capture(minilm, TEXT, qk=True)
    terms = run.qk["self"]
    layer, head, query = 1, 7, 3
    shown = table(at)
    assert list(shown["key"]) == [f"{i}: {t}" for i, t in enumerate(run.tokens)]
    assert np.allclose(shown["scale × q·k"], terms.qk(layer)[0, head, query], atol=1e-5)
    assert np.allclose(shown["weight"], terms.weights(layer)[0, head, query], atol=1e-6)
    assert "bias" not in shown.columns and "masked" not in shown.columns  # BERT adds no term; nothing is masked
    heatmap, _ = explorer_heatmap(at)
    assert np.allclose(shown["weight"], heatmap[query], atol=1e-5)  # the row of the heatmap above
    bars = traces(at, "qk_logits")
    assert np.array_equal(bars["weight"]["y"], terms.weights(layer)[0, head, query])
    assert bars["weight"]["x"] == positional(run.tokens)
    top = int(np.argmax(terms.weights(layer)[0, head, query]))
    assert at.selectbox(key="qk_key").value == -1
    assert at.selectbox(key="qk_key").options[0] == f"the most attended ({top}: {run.tokens[top]})"
    for key in (top, 6):  # the most-attended key (the default), then one picked
        if key != top:
            at.selectbox(key="qk_key").set_value(key).run()
            assert params(at)["key"] == str(key)
        dims = traces(at, "qk_dims")
        products = np.concatenate([v["y"] for name, v in dims.items() if name.startswith("q_i · k_i")])
        expected = terms.dot_terms(layer, head, query, key)
        assert np.isclose(products.sum(), expected.sum(), atol=1e-5)  # the bars' q∘k sum to q · k
        assert np.isclose(products.sum() * terms.scale[layer], terms.qk(layer)[0, head, query, key], atol=1e-5)
        assert sorted(products.tolist()) == sorted(expected.tolist())
        half = next((v for name, v in dims.items() if "carrying half" in name), {"x": []})
        assert len(half["x"]) == half_by_a_loop(expected)
        said = next(m.value for m in at.markdown if "dimensions carry half" in m.value)
        assert f"{half_by_a_loop(expected)} of 32 dimensions" in said


def test_the_local_models_self_and_cross_attention(trained):
    """The trained toy-grammar model (an encoder-decoder): encoder self-attention, then cross-attention with a
    typed target, each the library's terms of that kind."""
    text, target = "the dogs run", "the cats sleep"
    at = assert_clean(app(model="local-trained", text=text, qk="open", layer="3", head="2", query="3"))
    terms = attnviz.capture(trained, text, qk=True).qk["self"]
    assert np.allclose(table(at)["weight"], terms.weights(2)[0, 1, 3], atol=1e-6)
    at = assert_clean(app(model="local-trained", text=text, target=target, kind="cross", qk="open", layer="2",
                          head="4", query="2"))
    terms = attnviz.capture_pair(trained, text, target, qk=True).qk["cross"]
    shown = table(at)
    assert len(shown) == len(attnviz.capture(trained, text).tokens)  # keys: the source's tokens
    assert np.allclose(shown["weight"], terms.weights(1)[0, 3, 2], atol=1e-6)
    assert np.allclose(shown["scale × q·k"], terms.qk(1)[0, 3, 2], atol=1e-5)


def test_under_the_look_ahead_mask_later_keys_are_masked(minilm):
    at = assert_clean(app(text=TEXT, mask="on", qk="open", query="2"))
    shown = table(at)
    assert list(shown["masked"]) == [False] * 3 + [True] * 5 and (shown["weight"][3:] == 0).all()
    assert np.isclose(shown["weight"].sum(), 1.0, atol=1e-6)
    assert traces(at, "qk_logits")["weight"]["x"][3:] == positional(attnviz.capture(minilm, TEXT).tokens)[3:]


# ---------------------------------------------------------------- links
def test_a_link_restores_the_view_and_the_default_view_writes_nothing_new():
    assert not {"qk", "query", "key"} & set(app(text=TEXT).query_params)  # closed: no new parameter
    link = {"text": TEXT, "layer": "2", "head": "8", "qk": "open", "query": "4", "key": "2"}
    at = assert_clean(app(**link))
    assert at.session_state["qk_open"] and not at.warning
    assert (at.selectbox(key="qk_query").value, at.selectbox(key="qk_key").value) == (4, 2)
    assert params(at) == link  # written back as it came
    assert figures(at)["qk_dims"]["layout"]["title"]["text"] == "head 2-8 · 4: driving → 2: snow"


def test_the_view_keeps_the_url_parameters_of_state():
    state = ViewState(qk_open=True, qk_query=3, qk_key=5)
    assert state.to_params() == {"qk": "open", "query": "3", "key": "5"}
    assert parse(state.to_params()) == (state, [])
    assert ViewState(qk_open=True).to_params() == {"qk": "open"} and ViewState().without_qk() == ViewState()


def test_bad_link_values_fall_back_with_a_notice():
    state, notices = parse({"qk": "maybe", "query": "-3", "key": "<b>x</b>"})
    assert state == ViewState() and len(notices) == 3
    assert notices[0] == "Ignored qk='maybe' from the link ('open' or 'closed'); using 'closed'."
    assert "query='-3'" in notices[1] and "counting from 0" in notices[2]
    at = assert_clean(app(text=TEXT, qk="open", query="99", key="x"))
    warnings = [w.value for w in at.warning]
    assert any("key=" in w and "counting from 0" in w for w in warnings)
    assert any("query position 99 is past this text's last token (7): showing 7" in w for w in warnings)
    assert at.selectbox(key="qk_query").value == 7 and params(at)["query"] == "7"


# ---------------------------------------------------------------- odd input, odd models, hostile text
def test_hostile_text_stays_text():
    text = "<img src=x onerror=alert(1)> **bold** $x$"
    at = assert_clean(app(text=text, qk="open"))
    tokens = [t.split(": ", 1)[1] for t in table(at)["key"]]
    assert "<" in tokens and "*" in tokens and "$" in tokens  # the table holds the text as typed
    assert "1: <" in at.selectbox(key="qk_query").options  # a selectbox label is plain text
    spec = figures(at)["qk_logits"]
    x = spec["data"][0]["x"]
    assert x == positional(tokens) and not any("<" in c or "$" in c for c in x)  # escaped for plotly
    assert "<" not in spec["layout"]["title"]["text"] and "&lt;" in spec["layout"]["title"]["text"]


def test_a_one_token_sentence():
    """"hi" gives [CLS] hi [SEP]: the view works; a model whose tokenizer adds no special token gives one token."""
    at = assert_clean(app(text="hi", qk="open"))
    assert list(table(at)["key"]) == ["0: [CLS]", "1: hi", "2: [SEP]"] and at.selectbox(key="qk_query").value == 1
    at = AppTest.from_function(_one_token_block, default_timeout=60)
    at.session_state["qk_open"] = True
    at.run()
    assert not at.exception, at.exception
    assert list(table(at)["key"]) == ["0: hi"] and table(at)["weight"].tolist() == [1.0]


def _one_token_block() -> None:
    from attnviz.local.tokenizer import WordTokenizer
    from components.qk_view import qk_view
    from components.state import ViewState
    from tests.helpers.tiny_models import torch_mha_model

    class NoSpecials(WordTokenizer):
        def encode(self, text, max_length=None, add_special=True):
            return super().encode(text, max_length, add_special=False)

    model = torch_mha_model()
    model.tokenizer = NoSpecials(vocab_size=64)
    qk_view(model, ViewState(text="hi", model=model.name + " (no specials)", layer=1, head=2))


@pytest.fixture(scope="module")
def undecomposable(tmp_path_factory):
    """A tiny GPT-2 whose logits attnviz cannot split (reorder_and_upcast_attn), saved to a folder."""
    from tests.helpers.tiny_models import GPT2, save_models

    return save_models(tmp_path_factory.mktemp("qk"), {"gpt2": dict(GPT2, reorder_and_upcast_attn=True)})["gpt2"]


def test_a_model_whose_logits_cannot_be_split_gets_the_reason(undecomposable):
    at = assert_clean(app(model=str(undecomposable), text=TEXT, qk="open"))
    said = [i.value for i in at.info if "cannot split" in i.value]
    assert said and "reorder" in said[0] and not any("scale × q·k" in d.value.columns for d in at.dataframe)


def test_closed_the_view_records_no_queries_and_keys(monkeypatch):
    calls = []
    capture = attnviz.capture

    def counted(*args, **kwargs):
        calls.append(kwargs.get("qk", False))
        return capture(*args, **kwargs)

    monkeypatch.setattr(attnviz, "capture", counted)
    text = "the closed view costs nothing"
    at = assert_clean(app(text=text))
    assert not at.session_state["qk_open"] and True not in calls and not any("scale × q·k" in d.value.columns
                                                                             for d in at.dataframe)
    at.session_state["qk_open"] = True
    at.run()
    assert calls.count(True) == 1 and table(at) is not None
    at.slider(key="head").set_value(5).run()  # another head: the same run with its terms (cached)
    assert calls.count(True) == 1 and not at.exception


# ---------------------------------------------------------------- the parts on plain arrays
def test_the_dimensions_carrying_half_are_the_fewest():
    rng = np.random.default_rng(0)
    for _ in range(200):
        products = rng.normal(size=int(rng.integers(1, 11))).astype(np.float32)
        half = carrying_half(products)
        assert len(half) == half_by_brute_force(products)
        total = products.astype(np.float64).sum()
        assert np.sign(total) * products[half].astype(np.float64).sum() >= abs(total) / 2
    assert carrying_half(np.array([1.0, -1.0], np.float32)) is None  # q · k = 0: no half to carry
    assert carrying_half(np.array([-3.0, 1.0, -0.5], np.float32)).tolist() == [0]  # negative q · k: its own direction


def synthetic_terms(bias: bool, softcap: float | None) -> LogitTerms:
    """Two layers, a batch of 2, 3 heads, 4 queries and 5 keys; a mask shared by the heads (the last key of the
    second row padded, look-ahead in the first layer) and position terms shared by the batch."""
    rng = np.random.default_rng(1)
    mask = np.ones((2, 2, 1, 4, 5), dtype=bool)
    mask[:, 1, ..., 4] = False
    mask[0] &= np.tril(np.ones((4, 5), dtype=bool))
    return LogitTerms(queries=rng.normal(size=(2, 2, 3, 4, 8)).astype(np.float32),
                      keys=rng.normal(size=(2, 2, 3, 5, 8)).astype(np.float32), scale=np.array([0.35, 0.35]),
                      mask=mask, bias=rng.normal(size=(2, 1, 3, 4, 5)).astype(np.float32) if bias else None,
                      softcap=softcap)


@pytest.mark.parametrize("bias, softcap", [(False, None), (True, None), (True, 1.5)])
def test_a_query_row_is_the_terms_at_that_head_and_query(bias, softcap):
    terms = synthetic_terms(bias, softcap)
    for layer, batch, head, query in itertools.product(range(2), range(2), range(3), range(4)):
        row = query_row(terms, layer, head, query, batch)
        assert np.array_equal(row.qk, terms.qk(layer)[batch, head, query])
        assert np.array_equal(row.logit, terms.logits(layer)[batch, head, query])
        assert np.array_equal(row.weight, terms.weights(layer)[batch, head, query])
        assert np.array_equal(row.allowed, terms.mask[layer, batch, 0, query])
        if bias:
            assert np.array_equal(row.bias, terms.bias[layer, 0, head, query])
            assert np.allclose(np.tanh(row.summed / softcap) * softcap if softcap else row.summed, row.logit, atol=1e-6)
        dims = key_dims(terms, layer, head, query, 2, batch)
        assert np.isclose(dims.dot * dims.scale, row.qk[2], atol=1e-5)
    names = [t.name for t in logit_bars(row, list("abcde"), "t").data]
    assert ("bias (position terms)" in names) == bias and any("softcapped" in n for n in names) == bool(softcap)
    table = row.table(list("abcde"))
    assert ("bias" in table.columns) == bias and ("softcapped logit" in table.columns) == bool(softcap)
    assert table["masked"].tolist() == [False] * 4 + [True]  # batch row 1: its padded key


def test_the_dimension_bars_are_ordered_by_size():
    dims = key_dims(synthetic_terms(False, None), 1, 2, 3, 1)
    fig = dim_bars(dims, "t")
    order = np.argsort(-np.abs(dims.products), kind="stable")
    assert list(fig.data[0].x) == [f"d{i}" for i in order]
    red = next(t for t in fig.data if "carrying half" in t.name)
    assert len(red.x) == half_by_brute_force(dims.products)
