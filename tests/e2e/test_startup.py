"""The first screen draws before the model loads, and what a visitor does meanwhile is applied (issue #21).

The model's load is stubbed to take DELAY seconds longer (``components.data.LOAD_DELAY_ENV``, read only by
tests), on a server of its own that no page has been asked of yet: the real first start, torch imported and all.
"""

from __future__ import annotations

import time

import pytest

from components.data import LOAD_DELAY_ENV
from tests.e2e.server import StreamlitServer

DELAY = 20  # seconds the stubbed load waits before it loads the model
TYPED = "the cat sat on the warm mat"


@pytest.fixture
def slow_server():
    s = StreamlitServer("server-slow-load", env={LOAD_DELAY_ENV: str(DELAY)}).start()
    yield s
    s.stop()


def test_the_first_screen_draws_before_the_model_and_a_sentence_typed_meanwhile_is_the_one_drawn(open_app, slow_server):
    app = open_app(on=slow_server)
    app.page.goto(app.url())
    opened = time.monotonic()
    # while the model loads: its message, the title, the sentence box with the default text, the examples and the
    # sidebar's model menu, and no view yet
    app.page.get_by_text("Loading the model").first.wait_for(timeout=60_000)
    assert app.page.locator("h1").first.inner_text() == "Attention explorer"
    assert "heavy snow" in app.textarea.input_value()
    assert app.page.locator(".st-key-example_driving button").is_visible()
    assert app.page.locator(".st-key-model_choice").is_visible()
    assert app.page.locator("text.token").count() == 0 and app.page.locator(".st-key-explorer_arcs").count() == 0
    # a sentence typed (and applied) meanwhile is the one drawn once the model is there
    app.textarea.fill(TYPED)
    app.textarea.press("Control+Enter")
    assert time.monotonic() - opened < DELAY - 5, "the sentence was typed while the model was still loading"
    tokens = app.eventually(app.tokens, lambda t: "cat" in t, timeout=DELAY + 120)
    assert tokens == ["[CLS]", *TYPED.split(), "[SEP]"]
    assert app.textarea.input_value() == TYPED
    app.wait_idle()
    assert "Loading the model" not in app.page.locator("body").inner_text()
