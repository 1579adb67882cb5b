"""The first screen draws before the model loads, and what a visitor does meanwhile is applied (issue #21).

The model's load is stubbed to take DELAY seconds longer (``components.data.LOAD_DELAY_ENV``, read only by
tests), on a server of its own that no page has been asked of yet: the real first start, torch imported and all.
"""

from __future__ import annotations

import re
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


def _logged(server: StreamlitServer, pattern: str, timeout: float = 90) -> re.Match:
    """The first line of the server's log matching ``pattern``, waited for (AssertionError with the log if none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(pattern, server.log()):
            return match
        time.sleep(0.2)
    raise AssertionError(f"no line matching {pattern!r} in the server's log:\n{server.log()[-3000:]}")


MISSING = "attnviz-tests/not-installed"


@pytest.fixture
def new_server(request):
    """A server of its own, started by the test with ``env`` (``new_server(name, env)``); stopped after it."""
    started: list[StreamlitServer] = []

    def start(name: str, env: dict | None = None) -> StreamlitServer:
        started.append(StreamlitServer(name, env=env).start())
        return started[-1]

    yield start
    for s in started:
        s.stop()


def test_the_server_imports_torch_and_loads_the_first_model_before_any_browser_connects(open_app, new_server):
    # app.py's st.App lifespan (components/lifespan.py): the work starts with the server, not with a first page
    # (it waits for a first page's first screen 3 s at most: here no browser comes)
    s = new_server("server-warm-up")
    line = _logged(s, r"Warm-up: torch, transformers and attnviz imported in ([\d.]+) s; (\S+) loaded in ([\d.]+) s")
    assert line[2] == "sentence-transformers/all-MiniLM-L6-v2"
    assert float(line[1]) > 0 and float(line[3]) > 0
    # no browser has connected yet (none was opened); the first one gets the arcs from the loaded model
    app = open_app(on=s)
    app.page.goto(app.url())
    assert app.eventually(app.tokens, lambda t: "snow" in t, timeout=60)[:3] == ["[CLS]", "heavy", "snow"]
    assert "Loading the model" not in app.page.locator("body").inner_text()
    assert "Traceback" not in s.log() and "No runtime found" not in s.log()


def test_a_first_model_that_cannot_load_is_logged_by_the_warm_up_and_explained_on_the_page(open_app, new_server):
    # a hosted app whose only allowed model is not installed here: the warm-up logs why; the page says it too
    s = new_server("server-warm-up-fails", {"ATTNVIZ_HOSTED": "1", "ATTNVIZ_MODELS": MISSING})
    line = _logged(s, r"Warm-up: torch, transformers and attnviz imported in [\d.]+ s; (\S+) not loaded: (.+)")
    assert line[1] == MISSING and "not-installed" in line[2]
    app = open_app(on=s)
    app.page.goto(app.url())
    app.page.get_by_text("No other model of this app can be loaded here either").wait_for(timeout=60_000)
    app.wait_idle()
    assert "Traceback" not in app.page.locator("body").inner_text()
