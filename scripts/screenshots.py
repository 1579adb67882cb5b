"""Take the README's screenshots: each page at 1440 x 900 in headless Chromium, into docs/screenshots/.

    HF_HUB_OFFLINE=1 python scripts/screenshots.py                     # every screenshot
    HF_HUB_OFFLINE=1 python scripts/screenshots.py explorer-value.png  # only these

Starts the app on a free port (as the README does), opens each page, scrolls to what it shows
(and the sidebar to the control it is about) and saves a viewport screenshot.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
LONG = ("The committee that the senator who the journalists had criticised appointed last spring quickly "
        "rejected the proposal because the budget was far too small for such an ambitious public project")
#: (file, path, what to wait for, text to scroll to the top or None[, sidebar text to scroll to the top])
SHOTS = [
    ("explorer.png", "/", ".attnviz-strip .card svg text", None),  # the first screen, as a visitor sees it
    ("explorer-views.png", "/", "text.token", "Attention links"),
    ("explorer-long.png", "/?text=" + quote(LONG), "text.token", "Attention links"),
    ("all-heads.png", "/heads", ".st-key-heads_grid .main-svg", "Each thumbnail is one head"),
    ("dependencies.png", "/dependencies", ".st-key-dep_head text.token", "The parse"),
    ("dependencies-corpus.png", "/dependencies", ".st-key-dep_heatmap .main-svg", "Over a corpus"),
    ("walkthrough.png", "/walkthrough", ".st-key-wt_enc_trained .main-svg", "6. Encoder and decoder"),
    # head 2-10 puts most of its weight on [CLS]; value-weighted, "makes" looks at "snow"
    ("explorer-value.png", "/?measure=value&layer=2&head=10&text=" + quote("heavy snow makes driving more difficult"), "text.token",
     "Attention links", "Hide special tokens"),
    # head 3-1 (the object head): "children" looks at "keeps"; its logits term by term, and q · k by dimension
    ("explorer-qk.png", "/?qk=open&query=6", ".st-key-qk_dims .main-svg", "Why this head attends: queries and keys"),
    ("all-heads-rollout.png", "/heads?measure=rollout", ".st-key-heads_grid .main-svg", "Rollout and flow mix the heads",
     "Hide special tokens"),
    # the head map of layer 1 over the built-in sample, by position: 1-3 (previous token) is a ring of positions, 1-5
    # and 1-6 are ordered by position; a point of 1-5 hovered (HOVER)
    ("head-map.png", "/head-map?layer=1&colour=position", ".st-key-head_map .main-svg", "Colour by"),
    # layer 3 over 500 sentences of UD EWT dev (../shared), by part of speech: 3-10's [CLS] key far out (a sink)
    ("head-map-ud.png", "/head-map?corpus=ud&count=500&colour=pos", ".st-key-head_map .main-svg", "500 sentences of UD"),
]
#: Screenshots taken with the pointer on a head map's point: the 0-based head whose most isolated point is hovered
#: (the e2e tests' probe, tests/e2e/js/head_map_point.js), so that the hover box shows the token in its sentence.
HOVER = {"head-map.png": 4}
POINT = (ROOT / "tests" / "e2e" / "js" / "head_map_point.js").read_text(encoding="utf-8")


def main(names: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    unknown = set(names) - {shot[0] for shot in SHOTS}
    if unknown:
        raise SystemExit(f"no screenshot named {', '.join(sorted(unknown))}; known: {', '.join(s[0] for s in SHOTS)}")
    shots = [shot for shot in SHOTS if not names or shot[0] in names]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                time.sleep(0.25)
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("ATTNVIZ_CHROMIUM", "/usr/bin/chromium"),
                                        headless=True, args=["--no-sandbox", "--disable-gpu"])
            for name, path, ready, scroll_to, *sidebar in shots:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(url + path)
                page.wait_for_selector(ready, timeout=180_000)
                page.wait_for_selector(IDLE, timeout=180_000)
                page.wait_for_timeout(2000)
                if scroll_to:
                    page.locator('[data-testid="stMain"]').get_by_text(scroll_to).first.evaluate(
                        "e => e.scrollIntoView({block: 'start'})")
                    page.wait_for_timeout(800)
                if sidebar:
                    page.locator('[data-testid="stSidebar"]').get_by_text(sidebar[0]).first.evaluate(
                        "e => e.scrollIntoView({block: 'start'})")
                    page.wait_for_timeout(500)
                if name in HOVER:
                    point = page.evaluate(POINT, HOVER[name])
                    page.mouse.move(point["x"], point["y"])
                    page.wait_for_selector(".attnviz-head-map-tip", state="visible", timeout=10_000)
                page.screenshot(path=str(OUT / name))
                print("wrote", OUT / name)
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(15)


if __name__ == "__main__":
    main(sys.argv[1:])
