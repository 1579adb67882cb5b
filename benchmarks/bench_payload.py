"""Benchmark: what one rerun sends to the browser, and how long the server takes, vs. bertviz.

    pip install -r benchmarks/requirements.txt      # bertviz (benchmark only)
    python benchmarks/bench_payload.py [--sizes 16 128 512] [--repeats 3] [--no-bertviz]
    python benchmarks/bench_payload.py --html [--sizes 16 128 512] [--repeats 3] [--no-bertviz]

Starts the app the README way (``python -m streamlit run app.py`` with HF_HUB_OFFLINE=1)
and drives Debian's headless Chromium (/usr/bin/chromium) with playwright. For the
explorer and the all-heads page at 16, 128 and 512 tokens of the default model it
measures:

* first run: the page opened with ``?text=`` (a text no earlier step used, so the model
  runs): websocket payload bytes received, and the time from the browser's first message
  to the run's ``script_finished`` (the server's work, on localhost);
* rerun: a view change that needs no new model run (explorer: the next head; all heads:
  "Hide special tokens", then word level, ...: each a view the page has not sent before),
  median of ``--repeats``.

Beside them, the HTML that bertviz's ``head_view`` and ``model_view`` return
(``html_action="return"``) for the same model and text, with attention from
``output_attentions=True`` under eager attention, and the time to make it. bertviz
sends everything at once and redraws in the browser; its size is what a page (or a
notebook) must load before anything is shown.

``--html`` measures the interactive HTML file instead (``attnviz.save_html``, what the app's
"Download interactive HTML" gives and what a notebook shows): its size at each length, the time
to make it, and the time Chromium takes to open it from disk (file://) until it is drawn (the
page marks itself ready), median of ``--repeats``; beside bertviz's HTML as above.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import attnviz

ROOT = Path(__file__).resolve().parents[1]
# The browser tests' harness (tests/e2e/server.py: the server; tests/e2e/page.py: the browser's flags and the
# page object ``App``): the benchmark drives the app exactly as the browser tests do.
sys.path.insert(0, str(ROOT))
from tests.e2e.page import CHROMIUM, LAUNCH_ARGS, VIEWPORT, App  # noqa: E402
from tests.e2e.server import StreamlitServer  # noqa: E402

PASSAGE = ("The keys to the old cabinet in the hallway are missing, and nobody remembers who last "
           "opened it. Heavy snow makes driving more difficult, so the committee postponed the meeting "
           "until the roads were cleared. ")


def text_of(model: attnviz.LoadedModel, n_tokens: int, prefix: str) -> str:
    """A text that makes exactly ``n_tokens`` tokens with [CLS] and [SEP] (cut at a token boundary)."""
    text = f"{prefix} " + PASSAGE * (n_tokens // 20 + 2)
    enc = model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    end = enc["offset_mapping"][n_tokens - 3][1]
    cut = text[:end]
    got = len(model.tokenizer(cut)["input_ids"])
    assert got == n_tokens, (n_tokens, got)
    return cut


class Timed(App):
    """An App that also notes when the browser sends its websocket frames."""

    def __init__(self, *args, **kwargs):
        self.sent_times: list[float] = []
        super().__init__(*args, **kwargs)

    def _on_websocket(self, ws) -> None:
        super()._on_websocket(ws)
        if "/_stcore/stream" in ws.url:
            ws.on("framesent", lambda payload: self.sent_times.append(time.perf_counter()))

    def server_seconds(self, since: float) -> float:
        """From the first frame the browser sent after ``since`` to the last counted script_finished."""
        first = min(t for t in self.sent_times if t >= since)
        return self.finish_times[-1] - first


def measure_page(browser, server, path: str, text: str, rerun, repeats: int) -> dict:
    context = browser.new_context(viewport=VIEWPORT)
    app = Timed(context, server, f"bench-{path or 'explorer'}")
    try:
        t0, b0 = time.perf_counter(), app.bytes_in
        app.open(path, text=text)
        first = {"bytes": app.bytes_in - b0, "seconds": app.server_seconds(t0)}
        sizes, times = [], []
        for i in range(repeats):
            t0 = time.perf_counter()
            sizes.append(rerun(app, i))
            times.append(app.server_seconds(t0))
        problems = app.problems()
        if problems:
            raise RuntimeError("\n".join(problems))
        return {"first": first, "rerun": {"bytes": statistics.median(sizes), "seconds": statistics.median(times)}}
    finally:
        context.close()


def next_head(app: App, i: int) -> int:
    return app.set_slider("head", i + 2)


def other_view(app: App, i: int) -> int:
    """A view not shown before in this session: specials hidden, then word level, then specials shown."""
    if i % 3 == 1:
        return app.choose("level", "word" if i % 6 == 1 else "token")
    return app.toggle("hide_special")


def bertviz_html(model: attnviz.LoadedModel, text: str) -> dict:
    import torch
    from bertviz import head_view, model_view

    enc = model.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        attention = model.module(**enc, output_attentions=True).attentions  # eager attention: per-layer weights
    tokens = model.tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    out = {}
    for name, view in (("head_view", head_view), ("model_view", model_view)):
        t0 = time.perf_counter()
        html = view(attention, tokens, html_action="return")
        seconds = time.perf_counter() - t0
        out[name] = {"bytes": len(html.data.encode("utf-8")), "seconds": seconds}
        del html
    return out


def html_files(model: attnviz.LoadedModel, sizes: list[int], repeats: int) -> list[tuple[int, int, float, float]]:
    """(tokens, bytes, seconds to make, seconds for Chromium to open and draw it) of attnviz.save_html's file."""
    from playwright.sync_api import sync_playwright

    out = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        for n in sizes:
            run = attnviz.capture(model, text_of(model, n, "third"))
            t0 = time.perf_counter()
            path = attnviz.save_html(run, Path(tmp) / f"attnviz-{n}.html")
            made = time.perf_counter() - t0
            opens = []
            for _ in range(repeats):
                page = browser.new_context(viewport=VIEWPORT).new_page()
                t0 = time.perf_counter()
                page.goto(path.as_uri())
                page.wait_for_selector(".attnviz-page[data-ready='1'] .attnviz-arc-view svg", timeout=120_000)
                opens.append(time.perf_counter() - t0)
                page.context.close()
            out.append((n, path.stat().st_size, made, statistics.median(opens)))
            print(f"{n:4d} tokens attnviz HTML file: {mb(out[-1][1])}, made in {made:.2f} s, "
                  f"opened in Chromium in {out[-1][3]:.2f} s", flush=True)
        browser.close()
    return out


def html_main(args) -> int:
    model = attnviz.load_model(attnviz.DEFAULT_MODEL)
    files = html_files(model, args.sizes, args.repeats)
    bertviz = {} if args.no_bertviz else {n: bertviz_html(model, text_of(model, n, "third")) for n in args.sizes}
    print("\n| tokens | attnviz HTML file | made in s | opened in Chromium s | bertviz head_view | bertviz model_view |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, size, made, opened in files:
        b = bertviz.get(n)
        bv = (mb(b["head_view"]["bytes"]), mb(b["model_view"]["bytes"])) if b else ("-", "-")
        print(f"| {n} | {mb(size)} | {made:.2f} | {opened:.2f} | {bv[0]} | {bv[1]} |")
    return 0


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 128, 512])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-bertviz", action="store_true")
    ap.add_argument("--html", action="store_true", help="the interactive HTML file (attnviz.save_html) instead of the app")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"error: needs Chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    if args.html:
        return html_main(args)
    from playwright.sync_api import sync_playwright

    model = attnviz.load_model(attnviz.DEFAULT_MODEL)
    texts = {(page, n): text_of(model, n, prefix) for n in args.sizes
             for page, prefix in (("explorer", "first"), ("heads", "second"))}
    rows = []
    server = StreamlitServer("bench-payload").start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            measure_page(browser, server, "", texts[("explorer", args.sizes[0])] + " warm-up", next_head, 1)
            for n in args.sizes:
                for page, path, rerun, what in (("explorer", "", next_head, "next head"),
                                                ("heads", "heads", other_view, "specials / word level")):
                    r = measure_page(browser, server, path, texts[(page, n)], rerun, args.repeats)
                    rows.append((n, f"attnviz {'explorer' if page == 'explorer' else 'all heads'}",
                                 r["first"], r["rerun"], what))
                    print(f"{n:4d} tokens {page:8s} first {mb(r['first']['bytes']):>9} {r['first']['seconds']:.2f} s | "
                          f"rerun {mb(r['rerun']['bytes']):>9} {r['rerun']['seconds']:.2f} s", flush=True)
            browser.close()
    finally:
        server.stop()
    if not args.no_bertviz:
        for n in args.sizes:
            for name, r in bertviz_html(model, texts[("explorer", n)]).items():
                rows.append((n, f"bertviz {name}", r, None, ""))
                print(f"{n:4d} tokens bertviz {name}: {mb(r['bytes'])} in {r['seconds']:.2f} s", flush=True)

    print("\n| tokens | view | first load: bytes | first load: server s | rerun: bytes | rerun: server s | rerun is |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for n, view, first, rerun, what in sorted(rows, key=lambda r: (r[0], r[1])):
        again = (mb(rerun["bytes"]), f"{rerun['seconds']:.2f}") if rerun else ("(in the browser)", "-")
        print(f"| {n} | {view} | {mb(first['bytes'])} | {first['seconds']:.2f} | {again[0]} | {again[1]} | {what} |")
    print("\nbertviz: the HTML its head_view/model_view return (generation time in Python); it holds every "
          "layer and head, and a change of view is drawn in the browser.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
