"""End-to-end fixtures: the app started the README way, driven by Debian's headless Chromium.

    server      one Streamlit server for the whole session (``python -m streamlit run app.py``
                with HF_HUB_OFFLINE=1), polled on /_stcore/health; ``StreamlitServer`` starts
                more where isolation matters (the memory test)
    browser     one headless /usr/bin/chromium for the session (never a downloaded browser)
    app         a fresh browser context + page wrapped in ``App`` (see below)
    open_app    a factory for more ``App``s in one test (fresh contexts: shared links, concurrency)

Every ``App`` watches its page: console errors, failed requests, HTTP errors, page
errors and dialogs. The only errors tolerated are Streamlit's own probes of
``<page path>/_stcore/host-config`` and ``<page path>/_stcore/health`` on a deep link
(404, before it falls back to the root). After each test every page it opened is
screenshotted to ``test-artifacts/`` and checked: the test fails on any
``[data-testid="stException"]``, unexpected console error, failed request, page
error or dialog.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import numpy as np
import pytest

import attnviz
from tests.helpers.arrays import decode
from tests.helpers.paths import ARTIFACTS, ROOT

CHROMIUM = os.environ.get("ATTNVIZ_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
STATUS = '[data-testid="stStatusWidget"]'
EXCEPTION = '[data-testid="stException"]'
VIEWPORT = {"width": 1400, "height": 1100}
#: Streamlit's frontend probes these relative to a deep link's path, gets 404, then uses the root.
PROBE = re.compile(r"^/.+/_stcore/(host-config|health)$")


def pytest_collection_modifyitems(items):
    """Every test here drives a real browser: marked ``e2e`` (registered in pyproject.toml)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


# ----------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``python -m streamlit run app.py`` as the README starts it, on a free port, offline."""

    def __init__(self, name: str = "server", env: dict | None = None):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ARTIFACTS / f"{name}.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.preexec_fn = None  # run in the child before it execs Python (e.g. join a memory group)

    def start(self, timeout: float = 90) -> "StreamlitServer":
        ARTIFACTS.mkdir(exist_ok=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               **self.extra_env}
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(self.port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health in {timeout:.0f} s:\n{self.log()[-3000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        """Resident memory of the server process (VmRSS from /proc), in MB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self.proc = None


@pytest.fixture(scope="session")
def server():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    s = StreamlitServer("server").start()
    yield s
    s.stop()


# ----------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


def page_js(name: str) -> str:
    """A page probe from ``tests/e2e/js/`` (one JavaScript function expression, for ``page.evaluate``)."""
    return (Path(__file__).parent / "js" / f"{name}.js").read_text(encoding="utf-8")


#: An SVG heatmap (``attnviz.figures.heatmap_svg``, inside the component's shadow root under ``.st-key-{key}``)
#: as drawn: its cells' values, row labels and title; null while there is none.
HEATMAP_SVG_JS = page_js("heatmap_svg")


def svg_cells(drawn: dict | None) -> np.ndarray | None:
    """The values of a heatmap read by ``HEATMAP_SVG_JS`` (exact float32s), ``[rows, cols]``."""
    if not drawn:
        return None
    return np.array(drawn["w"], dtype=np.float32).reshape(drawn["rows"], drawn["cols"])


def forward_type(payload) -> str | None:
    """The ForwardMsg type of a websocket frame ("delta", "script_finished:FINISHED_SUCCESSFULLY", ...)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if not isinstance(payload, (bytes, bytearray)):
        return None
    try:
        msg = ForwardMsg.FromString(bytes(payload))
    except Exception:  # noqa: BLE001 - not a ForwardMsg
        return None
    kind = msg.WhichOneof("type")
    if kind == "script_finished":
        kind += ":" + ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
    return kind


class App:
    """One browser context + page on the app, with its watchers and helpers."""

    def __init__(self, context, server: StreamlitServer, name: str):
        self.context, self.server, self.name = context, server, name
        self.page = context.new_page()
        self.console_errors: list[str] = []
        self.bad_requests: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.allowed_probes: list[str] = []
        self.downloads: set[str] = set()
        self.frames_in = 0  # websocket frames received
        self.bytes_in = 0  # their payload bytes
        self.finished = 0  # runs that finished (script_finished, not cut short by a newer rerun)
        self.frame_log: list[tuple[float, int, str | None]] = []  # (time, bytes, ForwardMsg type)
        self.finish_times: list[float] = []  # perf_counter() when each counted run's script_finished arrived
        p = self.page
        p.on("console", self._on_console)
        p.on("pageerror", lambda e: self.page_errors.append(str(e)))
        p.on("dialog", self._on_dialog)
        p.on("response", self._on_response)
        p.on("requestfailed", self._on_failed)
        p.on("websocket", self._on_websocket)

    # -- watchers
    def _probe(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.server.url and bool(PROBE.match(parts.path))

    def _on_console(self, msg) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and "404" in msg.text and self._probe(where):
            self.allowed_probes.append(where)
            return
        self.console_errors.append(f"{msg.text} @ {where}")

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_response(self, response) -> None:
        if response.status >= 400:
            if response.status == 404 and self._probe(response.url):
                self.allowed_probes.append(response.url)
            else:
                self.bad_requests.append(f"HTTP {response.status} {response.url}")

    def _on_failed(self, request) -> None:
        # A download started by navigation ends as "net::ERR_ABORTED" for the page: not an error.
        if request.url in self.downloads or ("/media/" in request.url and "ERR_ABORTED" in (request.failure or "")):
            return
        self.bad_requests.append(f"failed {request.url}: {request.failure}")

    def _on_websocket(self, ws) -> None:
        if "/_stcore/stream" not in ws.url:
            return

        def received(payload) -> None:
            kind = forward_type(payload)
            self.frames_in += 1
            self.bytes_in += len(payload)
            self.frame_log.append((time.perf_counter(), len(payload), kind))
            if kind and kind.startswith("script_finished") and "EARLY_FOR_RERUN" not in kind:
                self.finished += 1
                self.finish_times.append(time.perf_counter())

        ws.on("framereceived", received)

    # -- navigation and reruns
    def url(self, path: str = "", **params) -> str:
        query = urlencode(params, quote_via=quote) if params else ""
        return f"{self.server.url}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    def open(self, path: str = "", timeout: float = 120_000, **params) -> "App":
        """Go to ``path`` with query parameters and wait until the first run has finished."""
        n = self.finished
        self.page.goto(self.url(path, **params))
        self.wait_finished(n, timeout)
        return self

    def goto(self, url: str, timeout: float = 120_000) -> "App":
        n = self.finished
        self.page.goto(url)
        self.wait_finished(n, timeout)
        return self

    def wait_idle(self, timeout: float = 120_000) -> None:
        """A finished rerun: the app says notRunning and the status widget is gone."""
        self.page.wait_for_selector(IDLE, timeout=timeout)
        self.page.wait_for_selector(STATUS, state="detached", timeout=timeout)

    def wait_finished(self, before: int, timeout: float = 120_000) -> None:
        """Wait for a script_finished after ``before`` of them, then for an idle page."""
        deadline = time.monotonic() + timeout / 1000
        while self.finished <= before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no rerun finished within {timeout / 1000:.0f} s")
            self.page.wait_for_timeout(25)
        self.wait_idle(timeout)

    def rerun(self, action, timeout: float = 120_000) -> int:
        """Do ``action()`` (which must cause a rerun), wait for it to finish; bytes received meanwhile."""
        n, b = self.finished, self.bytes_in
        action()
        self.wait_finished(n, timeout)
        return self.bytes_in - b

    # -- the explorer's widgets
    @property
    def textarea(self):
        return self.page.locator('[data-testid="stTextArea"] textarea')

    def type_sentence(self, text: str, timeout: float = 120_000) -> int:
        """Replace the sentence and apply it (Ctrl+Enter) as a person does; bytes received."""
        def act():
            self.textarea.fill(text)
            self.textarea.press("Control+Enter")
        return self.rerun(act, timeout)

    def toggle(self, key: str) -> int:
        """Click a toggle by its widget key (causal, all_heads, hide_special...)."""
        return self.rerun(lambda: self.page.locator(f".st-key-{key} label").first.click())

    def open_expander(self, key: str) -> None:
        """Open a keyed expander (a lazy one runs its content then), unless it is open already."""
        summary = self.page.locator(f".st-key-{key} summary").first
        summary.wait_for()
        if not self.page.locator(f".st-key-{key} details").first.evaluate("d => d.open"):
            self.rerun(lambda: summary.click())

    def toggle_value(self, key: str) -> bool:
        return self.page.locator(f".st-key-{key} input").is_checked()

    def choose(self, key: str, option: str) -> int:
        """Pick a radio option by its label."""
        return self.rerun(lambda: self.page.locator(f".st-key-{key} label").filter(has_text=option).first.click())

    def slider_value(self, key: str) -> int:
        return int(self.page.locator(f'.st-key-{key} input[type="range"]').input_value())

    def set_slider(self, key: str, value: int) -> int:
        """Move a slider with the keyboard, as a person can (each arrow press is a rerun)."""
        thumb = self.page.locator(f'.st-key-{key} input[type="range"]')
        n, b = self.finished, self.bytes_in
        thumb.focus()
        current = int(thumb.input_value())
        for _ in range(abs(value - current)):
            thumb.press("ArrowRight" if value > current else "ArrowLeft")
        self.wait_finished(n)
        self.settle()
        self.wait_for(lambda: self.slider_value(key) == value, what=f"slider {key} at {value}")
        return self.bytes_in - b

    def settle(self, quiet_ms: int = 300, timeout: float = 60) -> None:
        """Idle, and no websocket frame for ``quiet_ms``: no rerun is still on its way."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.wait_idle()
            n = self.frames_in
            self.page.wait_for_timeout(quiet_ms)
            if self.frames_in == n and self.page.locator(IDLE).count():
                return
        raise TimeoutError("the app did not settle")

    # -- what the page shows
    def tokens(self) -> list[str]:
        """The arc view's token labels (inside the component's shadow root)."""
        return self.page.locator("text.token").all_text_contents()

    def arcs(self) -> list[tuple[int, int, float]]:
        return [tuple(x) for x in self.page.eval_on_selector_all(
            "path.arc", "els => els.map(e => [+e.dataset.from, +e.dataset.to, +e.dataset.weight])")]

    def plot(self, key: str = "explorer_heatmap") -> dict:
        """data/layout of a keyed plotly chart, read from the page."""
        return self.page.evaluate(page_js("plotly_chart"), key)

    def grid_click_target(self, trace: int) -> dict:
        """The all-heads grid's click target ``trace`` (an invisible scatter point), scrolled into view:
        its type, customdata, hovertemplate and pixel position x, y (shared with benchmarks/bench_latency.py)."""
        return self.page.evaluate(page_js("grid_click_target"), trace)

    def heatmap_svg(self, key: str = "explorer_heatmap") -> dict | None:
        """An SVG heatmap (``attnviz.figures.heatmap_svg``, inside the component's shadow root) as drawn:
        its cells' values, row labels and title; None while there is none."""
        return self.page.evaluate(HEATMAP_SVG_JS, key)

    def heatmap_z(self, key: str = "explorer_heatmap") -> np.ndarray:
        """The heatmap's values as the page holds them: an SVG heatmap's cells, else the plotly chart's z."""
        self.page.wait_for_selector(f".st-key-{key} .js-plotly-plot .main-svg, .st-key-{key} g.cells rect")
        drawn = self.heatmap_svg(key)
        if drawn is not None:
            return svg_cells(drawn)
        return decode(self.plot(key)["data"][0]["z"])

    def texts(self, testid: str) -> list[str]:
        """innerText of every element with that data-testid (stAlert, stWarning...)."""
        return self.page.locator(f'[data-testid="{testid}"]').all_inner_texts()

    def alerts(self) -> str:
        return "\n".join(self.texts("stAlert"))

    def eventually(self, get, ok, timeout: float = 15):
        """Poll ``get()`` until ``ok(value)`` (components and charts draw just after a rerun); the last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = get()
            if ok(value) or time.monotonic() > deadline:
                return value
            self.page.wait_for_timeout(50)

    def tokens_now(self, expected: list[str], timeout: float = 15) -> list[str]:
        """The arc view's tokens once they equal ``expected`` (or the last ones seen)."""
        return self.eventually(self.tokens, lambda t: t == expected, timeout)

    def z_now(self, expected: np.ndarray, key: str = "explorer_heatmap", atol: float = 1e-6,
              timeout: float = 15) -> np.ndarray:
        """The heatmap's z once it matches ``expected`` (or the last one seen)."""
        return self.eventually(lambda: self.heatmap_z(key),
                               lambda z: z.shape == expected.shape and np.allclose(z, expected, atol=atol), timeout)

    def wait_for(self, predicate, timeout: float = 30, what: str = "condition"):
        """Poll ``predicate()`` (letting the page run) until it is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.page.wait_for_timeout(50)

    def injected(self, marker: str = "alert(1)") -> list[str]:
        """Live <img>/<script>/<iframe>/javascript: links made from a payload, and images or frames from
        another origin, in the document and every open shadow root (the arcs component mounts in one)."""
        return self.page.evaluate(page_js("injected_markup"), marker)

    # -- after the test
    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', name)[:150]}.png"
        try:
            self.page.screenshot(path=str(path), full_page=True, timeout=30_000)
        except Exception as exc:  # noqa: BLE001 - a screenshot must not hide the real failure
            print(f"screenshot {path.name} failed: {exc}")
        return path

    def problems(self) -> list[str]:
        out = []
        try:
            n = self.page.locator(EXCEPTION).count()
            if n:
                out.append(f"{n} stException element(s): " + " | ".join(
                    t[:500] for t in self.page.locator(EXCEPTION).all_inner_texts()))
        except Exception as exc:  # noqa: BLE001
            out.append(f"page could not be inspected: {exc}")
        out += [f"console error: {e}" for e in self.console_errors]
        out += [f"request: {e}" for e in self.bad_requests]
        out += [f"page error: {e}" for e in self.page_errors]
        out += [f"dialog opened: {e}" for e in self.dialogs]
        return out

    def reset_watch(self) -> None:
        for seen in (self.console_errors, self.bad_requests, self.page_errors, self.dialogs):
            seen.clear()


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

