"""The page object of the browser tests: ``App``, one browser context + page on the app, with its watchers
and helpers, and the page probes (tests/e2e/js/*.js) it reads the page with.

    app = App(browser.new_context(viewport=VIEWPORT), server, "name")   # or the app / open_app fixtures
    app.open("heads", text="the dogs run"); app.toggle("causal"); app.heatmap_z(); app.problems()

Every ``App`` watches its page: console errors, failed requests, HTTP errors, page errors and dialogs.
The only errors tolerated are Streamlit's own probes of ``<page path>/_stcore/host-config`` and
``<page path>/_stcore/health`` on a deep link (404, before it falls back to the root). The fixtures
(tests/e2e/conftest.py) screenshot every page a test opened and fail the test on any problem seen.

``Session`` and ``in_a_thread`` drive many contexts at the same moment on playwright's async API
(tests/e2e/test_sessions.py, tests/e2e/test_hosted_limits.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import numpy as np

from tests.e2e.server import StreamlitServer
from tests.helpers.arrays import decode
from tests.helpers.paths import ARTIFACTS

#: Debian's headless Chromium (never a downloaded browser), how it is started, a new context's window
CHROMIUM = os.environ.get("ATTNVIZ_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 1100}
#: the app idle (no run under way), its status widget (there while a run is), an exception shown on the page
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
STATUS = '[data-testid="stStatusWidget"]'
EXCEPTION = '[data-testid="stException"]'
#: Streamlit's frontend probes these relative to a deep link's path, gets 404, then uses the root.
PROBE = re.compile(r"^/.+/_stcore/(host-config|health)$")


# ----------------------------------------------------------------------------- what the page sends and holds


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


def elements(where, selector: str | None = None) -> list[dict]:
    """What the tests read of each element of a drawing (probe elements.js): ``data`` (its data-* attributes
    as written), ``classes``, ``d`` (a path's), ``display`` and ``stroke`` (computed style) and ``inlineDisplay``
    (its style attribute's). ``where``: a page and a selector, or a locator (every element it matches)."""
    if selector is not None:
        return where.eval_on_selector_all(selector, page_js("elements"))
    return where.evaluate_all(page_js("elements"))


def element(locator) -> dict:
    """``elements`` of the one element ``locator`` matches (strict, as ``Locator.evaluate`` is)."""
    return locator.evaluate(page_js("elements"))[0]


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


# ----------------------------------------------------------------------------- the page object


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
        if self.page.locator(f".st-key-{key} details").first.get_attribute("open") is None:
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
        return [tuple(x) for x in self.page.eval_on_selector_all("path.arc", page_js("arcs"))]

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

    # -- downloads
    def download(self, key: str, timeout: float = 120_000) -> tuple[str, bytes]:
        """Click the download button whose widget key is ``key`` (scrolled into view, enabled) as a person does;
        the file's suggested name and its bytes, also kept in ``test-artifacts/``."""
        button = self.page.locator(f".st-key-{key} button")
        button.scroll_into_view_if_needed()
        assert button.is_enabled(), f"the {key} button is disabled"
        with self.page.expect_download(timeout=timeout) as info:
            button.click()
        download = info.value
        self.downloads.add(download.url)
        data = Path(download.path()).read_bytes()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / download.suggested_filename).write_bytes(data)
        return download.suggested_filename, data

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


# ----------------------------------------------------------------------------- many sessions at once (async API)


class Session:
    """One browser context in the async driver: its page, what it saw, and when its runs finished."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.problems: list[str] = []
        self.finish_times: list[float] = []
        self.first_frame_after: float | None = None
        self.typed_at = 0.0

    def watch(self, page) -> None:
        def received(payload) -> None:
            now = time.perf_counter()
            if self.typed_at and self.first_frame_after is None:
                self.first_frame_after = now
            kind = forward_type(payload)
            if kind and kind.startswith("script_finished") and "EARLY_FOR_RERUN" not in kind:
                self.finish_times.append(now)

        page.on("websocket", lambda ws: ws.on("framereceived", received))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: self.problems.append(f"dialog: {d.message}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} {r.url}"))

    async def finished_after(self, n: int, page, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(self.finish_times) <= n:
            if time.monotonic() > deadline:
                raise TimeoutError("no rerun finished")
            await asyncio.sleep(0.02)
        await page.wait_for_selector(IDLE)
        await page.wait_for_selector(STATUS, state="detached")


def in_a_thread(coro):
    """Run a coroutine on its own thread (this thread's event loop belongs to playwright's sync API)."""
    out = {}

    def target():
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]
