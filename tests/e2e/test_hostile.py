"""Hostile and broken input in a real browser: each gets a clear message in the page, no
traceback, no script, and the app keeps working afterwards.

Sentences are typed into the sentence box of one long-lived page (one session, as a
person trying things one after another); links and model names open fresh sessions.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from attnviz.figures.heatmap_svg import MAX_LABEL
from attnviz.figures.safe_text import xml_clean
from components.state import DEFAULT_TEXT
from tests.e2e.page import VIEWPORT, App, page_js
from tests.helpers.payloads import ALL_PAYLOADS, PAYLOADS

WORKS = "the app still works"
WORKS_TOKENS = ["[CLS]", "the", "app", "still", "works", "[SEP]"]
DEFAULT_TOKENS = ["[CLS]", *DEFAULT_TEXT.split(), "[SEP]"]


@pytest.fixture(scope="module")
def session(browser, server):
    """One page (one Streamlit session) for the typed cases of this module."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    app = App(context, server, "hostile-session")
    app.open()
    yield app
    context.close()


@pytest.fixture
def explorer(session, request) -> App:
    session.reset_watch()
    session.name = request.node.name
    request.node._e2e_apps = [session]  # screenshotted and checked after the test like any App
    return session


def plain(text: str) -> str:
    """Alert text without the invisible word joiners that keep URLs in notices from becoming links."""
    return text.replace("\u2060", "")


def svg_clean(token: str) -> str:
    """What the SVG shows for a token: characters XML cannot carry become U+FFFD."""
    return xml_clean(token)


def tick_labels(app: App, tokens: list[str]) -> tuple[list[str], list[str]]:
    """The heatmap's row labels as drawn, and what they should be: every token of the SVG heatmap (up to
    64 tokens; longer tokens cut to MAX_LABEL characters), else the tokens at the plotly figure's labelled ticks."""
    drawn = app.heatmap_svg()
    if drawn is not None:
        shown = [svg_clean(t) for t in tokens]
        return drawn["labels"], [t if len(t) <= MAX_LABEL else t[: MAX_LABEL - 1] + "…" for t in shown]
    positions = app.page.evaluate(page_js("plotly_tick_positions"), "explorer_heatmap")
    return app.page.locator(".st-key-explorer_heatmap g.ytick text").all_text_contents(), [tokens[i] for i in positions]


def table_text(app: App) -> str:
    """The explorer's tables as the page exposes them (the data grid's accessible table)."""
    return "\n".join(app.page.locator('[data-testid="stDataFrame"] table').all_inner_texts())


def assert_still_works(app: App) -> None:
    app.screenshot(f"{app.name}-input")  # the page as the hostile input left it (the final one shows recovery)
    app.type_sentence(WORKS)
    assert app.tokens_now(WORKS_TOKENS) == WORKS_TOKENS


def assert_shown_like_reference(app: App, reference, text: str) -> list[str]:
    """Tokens in the arcs, heatmap ticks and numbers equal attnviz's own run of ``text``."""
    run = reference(text)
    expected = [svg_clean(t) for t in run.tokens]
    tokens = app.tokens_now(expected)
    assert tokens == expected
    shown = run.head(app.slider_value("layer") - 1, app.slider_value("head") - 1)  # the head the page shows
    z = app.z_now(shown)
    assert np.allclose(z, shown, atol=1e-6) and np.allclose(z.sum(-1), 1, atol=1e-4)
    # the drawn tick labels are the tokens, literally (long inputs label every n-th token)
    labels, expected = app.eventually(lambda: tick_labels(app, run.tokens), lambda t: t[0] == t[1])
    assert labels == expected and len(labels) >= min(len(run.tokens), 15)  # at most one per 12 px
    return tokens


# ----------------------------------------------------------------------------- empty input


@pytest.mark.parametrize("text", ["", "   \n\t  \n", "\u200b\u200c\u200d\ufeff"], ids=["empty", "whitespace", "zero-width-only"])
def test_empty_input_says_so(explorer, text):
    explorer.type_sentence(text)
    message = explorer.eventually(explorer.alerts, lambda a: "sentence" in a)
    assert "type a sentence" in message.lower()
    assert explorer.page.locator('[data-testid="stPlotlyChart"]').count() == 0
    assert_still_works(explorer)


# ----------------------------------------------------------------------------- unusual text


UNUSUAL = {
    "emoji": "I ❤️ 🤖 robots 👩‍👩‍👧 and flags 🇺🇳",
    "cjk": "我喜欢自然语言处理 日本語のテキスト 한국어 문장",
    "rtl": "שלום עולם and مرحبا بالعالم mixed",
    "combining": "cafe\u0301 nai\u0308ve Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "zero-width": "zero\u200bwidth\u200cnon\u200djoiner\ufeff and\u2060joined words",
    "control": "bell\x07 escape\x1b[31m red\x7f vertical\x0btab form\x0cfeed",
}


@pytest.mark.parametrize("name", list(UNUSUAL))
def test_unusual_characters_are_shown(explorer, reference, name):
    text = UNUSUAL[name]
    explorer.type_sentence(text)
    sent = explorer.textarea.input_value()
    tokens = assert_shown_like_reference(explorer, reference, sent)
    assert len(tokens) >= 4
    if name == "control":
        assert sent == text  # the box keeps control characters; the SVG draws them as U+FFFD
    assert_still_works(explorer)


def test_ten_thousand_characters_are_cut_to_the_models_maximum(explorer, reference):
    text = ("heavy snow makes driving more difficult. " * 250)[:10_000]
    explorer.type_sentence(text, timeout=180_000)
    notice = explorer.eventually(explorer.alerts, lambda a: "tokens are shown" in a)
    m = re.search(r"The text makes ([\d,]+) tokens; .* reads at most 512, so the first 512 tokens are shown "
                  r"\(([\d,]+) cut\)", notice)
    assert m, notice
    made, cut = (int(g.replace(",", "")) for g in m.groups())
    assert made == reference(text).n_input_tokens and made - cut == 512
    svg = explorer.page.locator("svg.attnviz-arcs")
    assert explorer.eventually(lambda: svg.get_attribute("data-tokens"), lambda n: n == "512") == "512"
    assert explorer.eventually(lambda: explorer.heatmap_z().shape, lambda s: s == (512, 512)) == (512, 512)
    assert_still_works(explorer)


# ----------------------------------------------------------------------------- injection


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_injection_in_the_sentence_stays_text(explorer, reference, name):
    text = f"before {PAYLOADS[name]} after"
    explorer.type_sentence(text)
    tokens = assert_shown_like_reference(explorer, reference, text)
    assert "49" not in tokens
    explorer.open_expander("explorer_links_open")  # the "Strongest links" table
    assert tokens[1] in explorer.eventually(lambda: table_text(explorer), lambda t: tokens[1] in t)
    assert explorer.injected() == []
    assert explorer.page.locator('img[src="x"], a[href^="javascript:"]').count() == 0
    assert_still_works(explorer)


def test_injection_in_exports_stays_text(explorer, reference):
    text = ALL_PAYLOADS + " =SUM(A1) @cmd"
    explorer.type_sentence(text)
    run = reference(text)
    assert explorer.tokens_now(run.tokens) == run.tokens  # the export below is of this sentence's run
    with explorer.page.expect_download() as info:
        explorer.page.locator(".st-key-heatmap_csv button").click()
    explorer.downloads.add(info.value.url)
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_bytes().decode("utf-8-sig"))))
    neutral = ["'" + t if t[:1] in ("=", "+", "-", "@") else t for t in run.tokens]
    assert [r[1] for r in rows[1:]] == neutral  # literal tokens, formulas neutralised
    assert rows[0][2:] == [f"{k}: {t}" if not f"{k}: {t}".startswith(("=", "+", "-", "@")) else f"'{k}: {t}"
                           for k, t in enumerate(run.tokens)]
    with explorer.page.expect_download() as info:
        explorer.page.locator(".st-key-arcs_svg button").click()
    explorer.downloads.add(info.value.url)
    root = ET.fromstring(Path(info.value.path()).read_bytes())
    tags = {el.tag.split("}")[-1] for el in root.iter()}
    assert not tags & {"script", "img", "image", "foreignObject", "iframe", "a"}, tags
    assert not any(k.startswith("on") for el in root.iter() for k in el.attrib)
    shown = [el.text for el in root.iter() if el.get("class") == "token"]
    assert shown == run.tokens
    assert_still_works(explorer)


def test_injection_in_query_params_stays_text(app, reference):
    params = {
        "text": ALL_PAYLOADS,
        "model": PAYLOADS["img-onerror"],
        "layer": PAYLOADS["script-close"],
        "level": PAYLOADS["template"],
        "mask": PAYLOADS["javascript-url"],
        "head": PAYLOADS["markdown-js-link"],
        "topk": "![x](http://127.0.0.1:9/pixel.png) **bold** $x^2$ :red[red]",
    }
    app.open(**params)
    notices = plain(app.alerts())
    assert f"Ignored layer={PAYLOADS['script-close']!r}" in notices
    assert f"Ignored level={PAYLOADS['template']!r}" in notices
    assert f"Ignored mask={PAYLOADS['javascript-url']!r}" in notices
    assert f"Ignored head={PAYLOADS['markdown-js-link']!r}" in notices
    assert f"Ignored topk={params['topk'][:40] + '…'!r}" in notices  # long values are shortened
    assert f"{PAYLOADS['img-onerror']!r} is neither a local folder nor a valid Hugging Face model id" in notices
    alerts = app.page.locator('[data-testid="stAlert"]')
    assert alerts.locator("a, img, strong, em, .katex, span[style*=color]").count() == 0  # no markup from a link
    custom = app.page.locator(".st-key-custom_model input")
    assert app.eventually(custom.input_value, lambda v: v == params["model"]) == params["model"]
    assert_shown_like_reference(app, reference, ALL_PAYLOADS)
    assert app.injected() == []
    app.screenshot(f"{app.name}-explorer")
    app.open("heads", text=ALL_PAYLOADS, model=PAYLOADS["script-close"])
    app.page.wait_for_selector(".st-key-heads_grid .js-plotly-plot .main-svg")
    assert app.injected() == []
    assert "There is no model folder at '</script><script>alert(1)</script>'" in plain(app.alerts())
    app.open()
    assert app.tokens_now(DEFAULT_TOKENS) == DEFAULT_TOKENS


# ----------------------------------------------------------------------------- bad links


def test_out_of_range_and_malformed_params_fall_back_with_notices(app):
    app.open(layer="99", head="-1", mask="maybe", model="../../etc/passwd")
    notices = plain(app.alerts())
    for expected in ("showing layer 6 instead of 99", "Ignored head='-1'", "Ignored mask='maybe'",
                     "There is no model folder at '../../etc/passwd'", "Showing the default model"):
        assert expected in notices, (expected, notices)
    assert (app.slider_value("layer"), app.slider_value("head")) == (6, 1)
    assert not app.toggle_value("causal")
    assert app.tokens_now(DEFAULT_TOKENS) == DEFAULT_TOKENS
    assert "layer=6" in app.page.url and "etc" not in app.page.url  # the corrected view is what a link shares
    app.set_slider("head", 3)  # and it keeps working
    assert app.slider_value("head") == 3


def test_five_thousand_character_params(app, reference):
    long_text = ("snow " * 1000)[:5000]
    app.open(text=long_text, model="m" * 5000, layer="9" * 5000, head="1" * 5000, level="w" * 5000,
             mask="o" * 5000, topk="3" * 5000)
    notices = plain(app.alerts())
    assert "a model id or folder of at most 200 characters" in notices
    for name in ("layer", "head", "level", "mask", "topk"):
        assert f"Ignored {name}=" in notices, name
    assert max(len(line) for line in notices.splitlines()) < 400  # every quoted value is shortened
    run = reference(long_text)
    assert app.eventually(lambda: app.page.locator("svg.attnviz-arcs").get_attribute("data-tokens"),
                          lambda n: n == str(run.n_tokens)) == str(run.n_tokens)
    assert_still_works(app)


# ----------------------------------------------------------------------------- model names


def model_cases(tmp: Path) -> dict[str, tuple[str, str]]:
    from transformers import BertConfig

    remote = tmp / "remote-code"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({
        "model_type": "fancy-custom",
        "auto_map": {"AutoConfig": "configuration_fancy.FancyConfig", "AutoModel": "modeling_fancy.FancyModel"},
    }))
    (remote / "configuration_fancy.py").write_text("raise SystemExit('remote code ran')\n")
    big = tmp / "too-big"
    big.mkdir()  # a ~1.2B-parameter BERT config and no weights: refused before any weight is read
    BertConfig(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16, intermediate_size=8192).save_pretrained(big)
    return {
        "unknown-id-offline": ("nobody-has/this-model-xyz", r"Could not find the model 'nobody-has/this-model-xyz': offline mode is on"),
        "missing-local-path": (str(tmp / "no-such-model"), r"There is no model folder at '.*no-such-model'"),
        "remote-code": (str(remote), r"needs custom code from its repository to run; attnviz never runs remote code"),
        "too-big": (str(big), r"has \d+M parameters, above this app's cap of 400M; pick a smaller model"),
    }


@pytest.mark.parametrize("case", ["unknown-id-offline", "missing-local-path", "remote-code", "too-big"])
def test_models_that_cannot_load_are_refused_clearly(app, server, tmp_path, case):
    name, message = model_cases(tmp_path)[case]
    app.open(model=name)
    notices = plain(app.alerts())
    assert re.search(message, notices), notices
    assert "Showing the default model sentence-transformers/all-MiniLM-L6-v2 instead" in notices
    custom = app.page.locator(".st-key-custom_model input")
    assert app.eventually(custom.input_value, lambda v: v == name) == name
    assert app.tokens_now(DEFAULT_TOKENS) == DEFAULT_TOKENS  # the default model is shown instead
    assert server.proc.poll() is None and "remote code ran" not in server.log()
    assert_still_works(app)
