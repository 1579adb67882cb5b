"""Latency of the app as a person feels it, measured in headless Chromium.

    python benchmarks/bench_latency.py [--root DIR] [--compare DIR] [--repeat 5] [--skip-start] [--actions head,grid]

The figures, each the median of ``--repeat`` runs (printed as a table):

    import floor                   a new Python process importing streamlit, torch and transformers' BERT
                                   code: what any start of the app pays before it can draw a view
    server start -> sentence box   a new ``streamlit run app.py`` process until the explorer's title,
                                   sentence box and sidebar model menu are visible (target: 3 s)
    server start -> first arcs     the same process until the explorer's arc view shows the default
                                   sentence's tokens (model loaded); printed also minus the import floor
                                   measured in turns with it (target: floor + 1.5 s)
    server start -> strip drawn    the same process until the first screen's strip of heads that follow
                                   the sentence's dependencies is drawn (filled last on the page)
    head change -> arcs updated    ArrowRight on the focused head slider until the arcs carry the new
                                   head's weights
    new 20-word sentence -> arcs   Ctrl+Enter in the sentence box until the arc view shows its tokens
    grid click -> explorer drawn   a click on a thumbnail of the all-heads grid until the explorer's
                                   arcs and heatmap are drawn

``--root`` runs another checkout of the app; ``--compare DIR`` measures a second checkout in turns
with it in the same run (one measurement each, alternately), for a before/after ratio that a noisy
machine's slow spells do not decide. Only the markup both versions share is read: ``text.token``
and ``path.arc[data-weight]`` in the arc view, and the ``head`` slider wherever the page puts it.
Each end point is checked in the page at every animation frame (``wait_for_function`` with
``polling="raf"``): when the change is painted, not when a poll from here next looks.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("ATTNVIZ_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
SENTENCE = ("the farmer who lived near the river sold his three brown horses to a young woman "
            "from the next village")  # 20 words
assert len(SENTENCE.split()) == 20

#: In-page JavaScript, in files of its own (linted by eslint): the grid's click target is shared with tests/e2e.
HERE = Path(__file__).resolve().parent
CLICK_TARGET = (HERE.parent / "tests" / "e2e" / "js" / "grid_click_target.js").read_text(encoding="utf-8")
#: Defines window.__arcs(), __heatmapDrawn(), __stripDrawn(), __explorerDrawn() and the end points __showsToken(w),
#: __arcsChanged(old) and __showsSentence(w) in the page (see the file).
HELPERS = (HERE / "js" / "latency_helpers.js").read_text(encoding="utf-8")
#: Calls one of them by name: window.__<name>(arg), given [name, arg].
CALL = (HERE / "js" / "call_helper.js").read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def wait_health(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_in_page(page, helper: str, arg=None, timeout: float = 60.0) -> None:
    """Wait until the in-page helper ``window.__<helper>(arg)`` (js/latency_helpers.js) holds, checked in the page
    at every animation frame: the time a person would see the change, without a round trip to the browser per check."""
    page.evaluate(HELPERS)
    page.wait_for_function(CALL, arg=[helper, arg], polling="raf", timeout=timeout * 1000)


def arc_state(page) -> dict:
    """The arc view's token labels and arcs."""
    page.evaluate(HELPERS)
    return page.evaluate(CALL, ["arcs", None])


def settle(page, quiet_ms: int = 400) -> None:
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_timeout(quiet_ms)
    page.wait_for_selector(IDLE, timeout=120_000)


def start_samples(browser, root: Path, repeat: int):
    """Yields ("start", seconds) per cold start of a server, then ("strip", seconds) to the first screen's strip
    of heads (a checkout that has one: components/head_strip.py)."""
    has_strip = (root / "components" / "head_strip.py").is_file()
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc, url = start_server(root)
        try:
            wait_health(url)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            for shown in ("h1", '[data-testid="stTextArea"] textarea', ".st-key-model_choice"):
                page.wait_for_selector(shown, state="visible", timeout=120_000)
            box = time.perf_counter() - t0
            page.wait_for_selector(".st-key-explorer_arcs", timeout=120_000)  # the app's first run is under way
            wait_in_page(page, "showsToken", "snow", timeout=120)
            seconds = time.perf_counter() - t0
            if has_strip:
                wait_in_page(page, "stripDrawn", timeout=120)
                strip = time.perf_counter() - t0
            page.close()
        finally:
            stop(proc)
        yield "box", box
        yield "start", seconds
        if has_strip:
            yield "strip", strip


FLOOR = "import streamlit, torch, transformers.models.bert.modeling_bert"


def floor_samples(repeat: int):
    """Yields ("floor", seconds) per new Python process that imports what every start of the app must."""
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", FLOOR], check=True)
        yield "floor", time.perf_counter() - t0


def in_app_samples(browser, root: Path, repeat: int, actions: tuple[str, ...] = ("head", "sentence", "grid")):
    """Yields (action, seconds) one measurement at a time, so that two apps can take turns."""
    proc, url = start_server(root)
    try:
        wait_health(url)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url)
        page.wait_for_selector(".st-key-explorer_arcs", timeout=120_000)
        wait_in_page(page, "showsToken", "snow", timeout=120)  # the default sentence
        settle(page)
        # -- head change
        slider = page.locator('.st-key-head input[type="range"]')
        for i in range(repeat + 1 if "head" in actions else 0):  # the first one warms the caches of this sentence
            before = arc_state(page)["arcs"]
            slider.focus()
            t0 = time.perf_counter()
            slider.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
            wait_in_page(page, "arcsChanged", before)
            seconds = time.perf_counter() - t0
            settle(page)
            if i:
                yield "head", seconds
        # -- a new 20-word sentence (a different one each time: nothing cached)
        box = page.locator('[data-testid="stTextArea"] textarea')
        for i in range(repeat if "sentence" in actions else 0):
            words = SENTENCE.split()
            words[i % len(words)] = ["grey", "tall", "quiet", "clever", "small", "busy", "happy", "early"][i % 8]
            text = " ".join(words)
            box.fill(text)
            t0 = time.perf_counter()
            box.press("Control+Enter")
            new_word = words[i % len(words)]
            wait_in_page(page, "showsSentence", new_word)
            seconds = time.perf_counter() - t0
            settle(page)
            yield "sentence", seconds
        # -- grid click -> explorer
        for i in range(repeat if "grid" in actions else 0):
            page.goto(url + "/heads")
            page.wait_for_selector(".st-key-heads_grid .js-plotly-plot .main-svg", timeout=120_000)
            settle(page)
            layer, head = 2 + i % 4, 3 + i
            target = page.evaluate(CLICK_TARGET, 72 + (layer - 1) * 12 + head - 1)
            page.wait_for_timeout(300)
            target = page.evaluate(CLICK_TARGET, 72 + (layer - 1) * 12 + head - 1)  # after the scroll
            t0 = time.perf_counter()
            page.mouse.click(target["x"], target["y"])
            wait_in_page(page, "explorerDrawn")
            yield "grid", time.perf_counter() - t0
        page.close()
    finally:
        stop(proc)


def take_turns(*runs) -> list[dict[str, list[float]]]:
    """Step the sample generators in turn (one measurement each), so that a slow spell of a noisy
    machine falls on every app alike; each app's figures by action."""
    times: list[dict[str, list[float]]] = [{} for _ in runs]
    live = list(enumerate(runs))
    while live:
        for entry in list(live):
            index, samples = entry
            try:
                action, seconds = next(samples)
            except StopIteration:
                live.remove(entry)
                continue
            times[index].setdefault(action, []).append(seconds)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="the app's checkout")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-start", action="store_true", help="leave out the server-start figure")
    ap.add_argument("--actions", default="head,sentence,grid", help="which in-app figures to measure (comma-separated)")
    ap.add_argument("--compare", type=Path, help="another checkout (e.g. the version before a change), measured in "
                                                 "turns with --root in the same run; prints both and their ratio")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    roots = [args.root] + ([args.compare] if args.compare else [])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        actions = tuple(a.strip() for a in args.actions.split(",") if a.strip())
        times = take_turns(*(in_app_samples(browser, root, args.repeat, actions) for root in roots))
        if not args.skip_start:
            *started, floor = take_turns(*(start_samples(browser, root, args.repeat) for root in roots),
                                         floor_samples(args.repeat))
            for figures, start in zip(times, started):
                figures.update(start, **floor)
        browser.close()
    rows = [("head change -> arcs updated", "head", 0.25), ("new 20-word sentence -> arcs updated", "sentence", 0.6),
            ("grid thumbnail click -> explorer drawn", "grid", 1.0), ("import floor (streamlit, torch, BERT)", "floor", None),
            ("server start -> sentence box, sidebar", "box", 3.0), ("server start -> first arcs", "start", None),
            ("server start -> strip of heads drawn", "strip", None)]
    for root, figures in zip(roots, times):
        print(f"app: {root}")
        print(f"| {'action':<40} | median s | min s | max s | target s | runs |")
        print(f"|{'-' * 42}|---------:|------:|------:|---------:|-----:|")
        for name, key, target in rows:
            if key in figures:
                t = figures[key]
                aim = "" if target is None else f"{target:.2f}"
                print(f"| {name:<40} | {statistics.median(t):8.3f} | {min(t):5.2f} | {max(t):5.2f} | {aim:>8} | {len(t):4d} |")
        if "start" in figures:
            over = statistics.median(figures["start"]) - statistics.median(figures["floor"])
            print(f"server start -> first arcs, minus the import floor: {over:.2f} s (target: 1.5 s or less)")
    if args.compare:
        print(f"\nratio of medians, {args.root} / {args.compare} (measured in turns, same run):")
        for name, key, _ in rows:
            if key in times[0] and key in times[1]:
                print(f"  {name:<40} {statistics.median(times[0][key]) / statistics.median(times[1][key]):.2f}")


if __name__ == "__main__":
    main()
