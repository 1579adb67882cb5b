"""Take the README's screenshots: each page at 1440 x 900 in headless Chromium, into docs/screenshots/.

    HF_HUB_OFFLINE=1 python scripts/screenshots.py

Starts the app on a free port (as the README does), opens each page, scrolls to what it shows
and saves a viewport screenshot.
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
#: (file, path, what to wait for, text to scroll to the top or None)
SHOTS = [
    ("explorer.png", "/", "text.token", "Dependency arcs"),
    ("explorer-long.png", "/?text=" + quote(LONG), "text.token", "Dependency arcs"),
    ("all-heads.png", "/heads", ".st-key-heads_grid .main-svg", "Each thumbnail is one head"),
    ("dependencies.png", "/dependencies", ".st-key-dep_head text.token", "Dependency tree"),
    ("walkthrough.png", "/walkthrough", ".st-key-wt_enc_trained .main-svg", "6. Encoder and decoder"),
]


def main() -> None:
    from playwright.sync_api import sync_playwright

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
            for name, path, ready, scroll_to in SHOTS:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(url + path)
                page.wait_for_selector(ready, timeout=180_000)
                page.wait_for_selector(IDLE, timeout=180_000)
                page.wait_for_timeout(2000)
                if scroll_to:
                    page.get_by_text(scroll_to).first.evaluate("e => e.scrollIntoView({block: 'start'})")
                    page.wait_for_timeout(800)
                page.screenshot(path=str(OUT / name))
                print("wrote", OUT / name)
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(15)


if __name__ == "__main__":
    main()
