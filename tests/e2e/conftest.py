"""End-to-end fixtures and hooks: the app started the README way, driven by Debian's headless Chromium.

    server      one Streamlit server for the whole session (``python -m streamlit run app.py``
                with HF_HUB_OFFLINE=1, tests/e2e/server.py), polled on /_stcore/health
    browser     one headless /usr/bin/chromium for the session (never a downloaded browser)
    app         a fresh browser context + page wrapped in ``App`` (the page object, tests/e2e/page.py)
    open_app    a factory for more ``App``s in one test (fresh contexts: shared links, concurrency)
    reference   attnviz's own run of the default model in this process, to compare the page with

Every test here is marked ``e2e``. After each test every page it opened is screenshotted to
``test-artifacts/`` and checked: the test fails on any ``[data-testid="stException"]``, unexpected
console error, failed request, page error or dialog (what ``App.problems`` lists).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import attnviz
from tests.e2e.page import CHROMIUM, LAUNCH_ARGS, VIEWPORT, App
from tests.e2e.server import StreamlitServer


def pytest_collection_modifyitems(items):
    """Every test here drives a real browser: marked ``e2e`` (registered in pyproject.toml)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def server():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    s = StreamlitServer("server").start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_app(request, browser, server):
    """Factory: ``open_app(viewport=None, on=None)`` -> a new App in a fresh browser context (on ``server``
    unless ``on`` names another StreamlitServer)."""
    made: list[App] = []
    request.node._e2e_apps = made

    def make(viewport: dict | None = None, on: StreamlitServer | None = None) -> App:
        context = browser.new_context(viewport=viewport or VIEWPORT, accept_downloads=True)
        app = App(context, on or server, f"{request.node.name}-{len(made)}" if made else request.node.name)
        made.append(app)
        return app

    yield make
    for app in made:
        try:
            app.context.close()
        except Exception:  # noqa: BLE001
            pass


@pytest.fixture
def app(open_app) -> App:
    return open_app()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body: screenshot every page it opened, then fail on any problem seen."""
    try:
        result = yield
    finally:
        apps = getattr(item, "_e2e_apps", [])
        for app in apps:
            app.screenshot(app.name)
        problems = [f"{a.name}: {p}" for a in apps for p in a.problems()]
        if problems:  # also when the body failed: the report's captured output then says what the browser saw
            print("the browser saw problems:\n" + "\n".join(problems))
    if problems:
        pytest.fail("the browser saw problems:\n" + "\n".join(problems), pytrace=False)
    return result


@pytest.fixture(scope="session")
def reference(minilm):
    """``reference(text)`` -> attnviz's run of the default model, computed in this process (cached)."""
    model = minilm  # tests/conftest.py: attnviz.load_model(attnviz.DEFAULT_MODEL), once per session
    cache: dict = {}

    def run(text: str, causal: bool = False):
        if (text, causal) not in cache:
            cache[(text, causal)] = attnviz.capture(model, text, causal=causal)
        return cache[(text, causal)]

    return run

