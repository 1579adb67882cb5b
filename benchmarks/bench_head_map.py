"""Benchmark: the head map of 500 sentences with the default model, from the corpus pass to the map in the browser.

    python benchmarks/bench_head_map.py [--layer 3] [--repeats 3] [--no-browser]

The corpus is the first 500 sentences of UD English EWT dev (``../shared/ud/en_ewt-ud-dev.conllu``) when it is
there, else the built-in sample's sentences repeated to 500. Printed, each the median of ``--repeats``:

    capture            ``collect_vectors``: the corpus through the model with ``qk=True`` (length-sorted, padded batches
                       of 16), and the layer's queries and keys of every token kept
    project            ``sample`` (at most 10,000 points per head) and ``map_heads`` (placement + PCA, every head)
    figure             ``head_map_figure`` for each colouring as the page makes it (12 WebGL scatter plots, hover events
                       and no labels: ``hover="events"``), and the size of its JSON (what Streamlit sends); with hover
                       labels (``hover="labels"``, each point carrying its token in its sentence) for comparison

and, with Chromium (``/usr/bin/chromium``, or ATTNVIZ_CHROMIUM), the page in headless Chromium at 1440 x 900, once the
corpus is captured (the server's job of a built-in corpus is shared, so a second visit finds it done):

    open -> map drawn        a new visit to /head-map?corpus=ud&count=500 (or the sample) until the 24 WebGL traces are
                             drawn: the page's run, the figure (cached per colouring), its transfer and plotly's draw
    one sentence fewer       the Sentences slider moved down by one (ArrowLeft): a new corpus pass on the job queue
      -> map drawn           until the new map is drawn; "after the pass" subtracts the pass's own time (the page's
                             "Recorded in N s"): sampling, projection, figure, transfer and plotly's draw
    colour -> map drawn      a click on "Colour by" until the map is drawn again in the new colouring (timed in the
                             page): a rerun that builds the figure the first time a colouring is asked for (later from
                             the cache), its transfer and plotly's draw

and ``Plotly.newPlot`` of each colouring's figure alone in a blank page: the browser's share.

Target: the map drawn within 2 s after the corpus is captured ("after the pass").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import torch

import attnviz
from attnviz.conllu_io import read_conllu
from attnviz.figures.head_maps import COLOUR_BY, head_map_figure
from attnviz.head_map import MAX_SENTENCES, collect_vectors, map_heads
from attnviz.parsing import sample_texts

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "ud" / "en_ewt-ud-dev.conllu"
CHROMIUM = os.environ.get("ATTNVIZ_CHROMIUM", "/usr/bin/chromium")
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
#: The in-page end points: the map drawn with a title naming a colouring, a click on a colouring until it is drawn,
#: Plotly.newPlot of a figure's JSON and the map drawn on a new corpus (benchmarks/js/head_map_*.js; the map's state:
#: tests/e2e/js/head_map_state.js).
sys.path.insert(0, str(ROOT))
from tests.e2e.page import page_js

DRAWN = "(title) => { const s = (" + page_js("head_map_state").strip().rstrip(";") + ")(); " \
        "return s !== null && s.canvases > 0 && s.title.includes(title); }"
SWITCH, NEW_PLOT, REDRAWN = ((ROOT / "benchmarks" / "js" / f"head_map_{name}.js").read_text(encoding="utf-8")
                             for name in ("switch", "new_plot", "redrawn"))


def corpus() -> tuple[list, str, str]:
    """(500 sentences, their name, the app's corpus parameter)."""
    if DEV.is_file():
        return read_conllu(DEV, limit=MAX_SENTENCES), "UD English EWT dev, first 500 sentences", "ud"
    texts = sample_texts()
    return [texts[i % len(texts)] for i in range(MAX_SENTENCES)], f"the built-in sample ({len(texts)}) repeated to 500", "sample"


def timed(f):
    start = time.perf_counter()
    value = f()
    return time.perf_counter() - start, value


def library(model, sentences, layer: int, repeats: int) -> None:
    captures, projects = [], []
    for _ in range(repeats):
        seconds, vectors = timed(lambda: collect_vectors(model, sentences, layer))
        captures.append(seconds)
        seconds, hm = timed(lambda v=vectors: map_heads(v.sample()))
        projects.append(seconds)
    print(f"\n{vectors.meta['n_sentences']} sentences, {vectors.n_tokens:,} tokens; {hm.vectors.n_tokens:,} tokens per "
          f"head on the map ({2 * hm.vectors.n_tokens:,} points); torch threads: {torch.get_num_threads()}")
    print("| step | median s | runs |")
    print("|---|---:|---|")
    print(f"| capture (collect_vectors, qk=True) | {statistics.median(captures):.2f} | {', '.join(f'{s:.2f}' for s in captures)} |")
    print(f"| project (sample + map_heads) | {statistics.median(projects):.3f} | {', '.join(f'{s:.3f}' for s in projects)} |")
    for colour in COLOUR_BY:
        builds = [timed(lambda c=colour: head_map_figure(hm, c, "bench", hover="events"))[0] for _ in range(repeats)]
        size = len(head_map_figure(hm, colour, "bench", hover="events").to_json())
        print(f"| figure, colour by {colour} ({size / 1e6:.1f} MB of JSON) | {statistics.median(builds):.3f} | "
              f"{', '.join(f'{s:.3f}' for s in builds)} |")
    seconds, labelled = timed(lambda: head_map_figure(hm, "kind", "bench", hover="labels"))
    print(f"| figure with hover labels, colour by kind ({len(labelled.to_json()) / 1e6:.1f} MB of JSON) | {seconds:.3f} | 1 run |")


def page_switches(page, labels: list[str]) -> list[tuple[str, float]]:
    """(label, seconds) of a click on each "Colour by" button until the map is drawn in that colouring, timed in the page
    (the click and every animation frame after it, until the drawn map's title names the colouring)."""
    out = []
    for label in labels:
        seconds = page.evaluate(SWITCH, label)
        out.append((label, seconds))
        page.wait_for_selector(IDLE, timeout=120_000)
        page.wait_for_timeout(300)
    return out


def recount(page, count: int) -> tuple[float, float]:
    """(seconds from ArrowLeft on the Sentences slider to the map of ``count`` sentences drawn, the pass's own seconds)."""
    old_x = page.evaluate("() => document.querySelector('.st-key-head_map .js-plotly-plot')._fullData[0].x[0]")
    thumb = page.locator('.st-key-map_count input[type="range"]')
    thumb.focus()
    t0 = time.perf_counter()
    thumb.press("ArrowLeft")
    page.wait_for_function(REDRAWN, arg=[old_x, count], polling="raf", timeout=300_000)
    seconds = time.perf_counter() - t0
    caption = page.locator('[data-testid="stCaptionContainer"]', has_text=f"{count} sentences of").first.inner_text()
    recorded = float(caption.rsplit("Recorded in ", 1)[1].split(" s")[0])
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_timeout(300)
    return seconds, recorded


def plotly_draws(hm, repeats: int) -> dict[str, list[float]]:
    """Seconds of ``Plotly.newPlot`` of each colouring's figure (as the page gets it: hover "events") in a blank page of
    headless Chromium, with the plotly.js that the plotly package ships (Streamlit bundles its own plotly.js 4 build)."""
    import plotly
    from playwright.sync_api import sync_playwright

    from tests.e2e.page import LAUNCH_ARGS

    js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    page_path = ROOT / "test-artifacts" / "bench_head_map_plotly.html"
    page_path.parent.mkdir(exist_ok=True)
    page_path.write_text(f"<html><body><div id='g' style='width:1100px'></div><script>{js}</script></body></html>", encoding="utf-8")
    figures = {c: head_map_figure(hm, c, "bench", hover="events").to_json() for c in COLOUR_BY}
    out: dict[str, list[float]] = {c: [] for c in COLOUR_BY}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        page = b.new_page(viewport={"width": 1440, "height": 900})
        page.goto(page_path.as_uri())
        for _ in range(repeats):
            for colour, fig in figures.items():
                out[colour].append(page.evaluate(NEW_PLOT, fig) / 1000)
        b.close()
    return out


def browser(param: str, count: int, layer: int, repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    from tests.e2e.page import LAUNCH_ARGS
    from tests.e2e.server import StreamlitServer

    server = StreamlitServer("bench-head-map").start()
    opens, switches, recounts = [], {}, []
    labels = [*list(COLOUR_BY.values())[1:], COLOUR_BY["kind"]]
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            url = f"{server.url}/head-map?corpus={param}&count={count}&layer={layer}"
            page = b.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)  # the first visit: the corpus pass
            page.wait_for_function(DRAWN, arg=COLOUR_BY["kind"], polling="raf", timeout=900_000)
            page.close()
            for r in range(repeats):
                page = b.new_page(viewport={"width": 1440, "height": 900})
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_function(DRAWN, arg=COLOUR_BY["kind"], polling="raf", timeout=120_000)
                opens.append(time.perf_counter() - t0)
                page.wait_for_selector(IDLE, timeout=120_000)
                for label, seconds in page_switches(page, labels):
                    switches.setdefault((label, "first" if r == 0 else "cached"), []).append(seconds)
                page.close()
            for r in range(repeats):  # counts not asked for before: each ArrowLeft starts a new corpus pass
                page = b.new_page(viewport={"width": 1440, "height": 900})
                page.goto(url.replace(f"count={count}", f"count={count - 2 * r}"))
                page.wait_for_function(DRAWN, arg=COLOUR_BY["kind"], polling="raf", timeout=300_000)
                page.wait_for_selector(IDLE, timeout=120_000)
                recounts.append(recount(page, count - 2 * r - 1))
                page.close()
            b.close()
    finally:
        server.stop()
    print(f"\nbrowser (headless Chromium, 1440 x 900; {url.split('?')[1]}), median of the runs")
    print("| step | median s | runs |")
    print("|---|---:|---|")
    print(f"| open -> map drawn (corpus captured) | {statistics.median(opens):.2f} | {', '.join(f'{s:.2f}' for s in opens)} |")
    totals, passes = [t for t, _ in recounts], [p for _, p in recounts]
    after = [t - p for t, p in recounts]
    print(f"| one sentence fewer -> map drawn | {statistics.median(totals):.2f} | {', '.join(f'{s:.2f}' for s in totals)} |")
    print(f"| ... of which the corpus pass (Recorded in) | {statistics.median(passes):.2f} | {', '.join(f'{s:.2f}' for s in passes)} |")
    print(f"| ... after the pass: map drawn | {statistics.median(after):.2f} | {', '.join(f'{s:.2f}' for s in after)} |")
    for (label, when), values in switches.items():
        print(f"| colour -> {label} ({when} figure) -> map drawn | {statistics.median(values):.2f} | "
              f"{', '.join(f'{s:.2f}' for s in values)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", type=int, default=3, help="1-based, as in the app")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    model = attnviz.load_model(attnviz.DEFAULT_MODEL)
    sentences, name, param = corpus()
    print(f"{model.name}, layer {args.layer}; corpus: {name}")
    library(model, sentences, args.layer - 1, args.repeats)
    if not args.no_browser and Path(CHROMIUM).exists():
        browser(param, len(sentences) if param == "ud" else 180, args.layer, args.repeats)
        hm = map_heads(collect_vectors(model, sentences, args.layer - 1).sample())
        print("\nPlotly.newPlot of the page's figure alone, in a blank page (plotly.js of the plotly package)")
        print("| colour by | median s | runs |")
        print("|---|---:|---|")
        for colour, values in plotly_draws(hm, args.repeats).items():
            print(f"| {colour} | {statistics.median(values):.2f} | {', '.join(f'{s:.2f}' for s in values)} |")
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
