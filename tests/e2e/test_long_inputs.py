"""At the model's maximum (512 tokens) every page stays usable, and no rerun sends more than
about 2 MB to the browser (websocket payload bytes, summed from the rerun's start to its
script_finished message). The per-rerun figures go to test-artifacts/payload.json.
"""

from __future__ import annotations

import json

import numpy as np

from tests.e2e.page import App, elements
from tests.helpers.arrays import decode
from tests.helpers.paths import ARTIFACTS

LONG_TEXT = "The keys to the old cabinet in the hallway are missing. " * 45  # ~590 tokens: cut to 512
LIMIT = 2_000_000  # bytes per rerun
FIGURES: dict[str, int] = {}


def opened(app: App, path: str, **params) -> int:
    """Open a page; the bytes its first run sent."""
    before = app.bytes_in
    app.open(path, **params)
    return app.bytes_in - before


def record(name: str, nbytes: int) -> None:
    FIGURES[name] = nbytes
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "payload.json").write_text(json.dumps(FIGURES, indent=1))
    print(f"\n{name}: {nbytes / 1e6:.2f} MB")
    assert nbytes < LIMIT, f"{name} sent {nbytes:,} bytes"


def arcs_per_query(app: App) -> np.ndarray:
    arcs = app.arcs()
    return np.bincount([q for q, _, _ in arcs], minlength=512)


def test_explorer_at_512_tokens(app):
    record("explorer, first run", opened(app, "", text=LONG_TEXT))
    assert "first 512 tokens are shown" in app.alerts()
    svg = app.page.locator("svg.attnviz-arcs").first
    assert app.eventually(lambda: svg.get_attribute("data-tokens"), lambda n: n == "512") == "512"
    per_query = arcs_per_query(app)
    assert per_query.max() <= 3 and per_query.sum() > 512  # top-3 links per token
    assert app.heatmap_z().shape == (512, 512)
    record("explorer, new head", app.set_slider("head", 2))
    top_k = app.page.locator('.st-key-top_k input[type="range"]')
    record("explorer, every link of every token", app.rerun(lambda: top_k.press("End")))
    assert app.eventually(lambda: len(app.arcs()), lambda n: n == 1536) == 1536  # the strongest, capped
    assert "strongest of" in app.page.locator('[data-testid="stCaptionContainer"]').all_inner_texts().__str__()
    record("explorer, all heads of the layer", app.toggle("all_heads"))
    assert app.eventually(lambda: app.page.locator("g.head").count(), lambda n: n == 12) == 12
    assert len(app.arcs()) <= 1536
    record("explorer, all heads, one link per token", app.rerun(lambda: top_k.press("Home")))
    per_head_query = lambda: max(np.unique([f"{e['data'].get('head')}:{e['data']['from']}"  # noqa: E731
                                            for e in elements(app.page, "path.arc")], return_counts=True)[1])
    assert app.eventually(per_head_query, lambda m: m == 1) == 1


def test_all_heads_at_512_tokens(app):
    record("all heads, first run", opened(app, "heads", text=LONG_TEXT))
    app.page.wait_for_selector(".st-key-heads_grid .js-plotly-plot .main-svg")
    zs = [t["z"] for t in app.plot("heads_grid")["data"] if t["type"] == "heatmap"]
    shapes = {decode(z).shape for z in zs}
    assert len(zs) == 72 and max(max(s) for s in shapes) <= 32, shapes  # downsampled thumbnails
    record("all heads, look-ahead mask (model runs again)", app.toggle("causal"))


def test_heads_vs_syntax_at_512_tokens(app):
    record("heads vs. syntax, first run", opened(app, "dependencies", text=LONG_TEXT))
    tokens = app.page.locator(".st-key-dep_syntax text.token")
    assert app.eventually(tokens.count, lambda n: n > 300) > 300
    record("heads vs. syntax, new head", app.set_slider("head", 3))


def test_walkthrough_with_a_512_token_session(app):
    record("walk-through, first run", opened(app, "walkthrough", text=LONG_TEXT))
    assert app.page.locator("h1").first.inner_text() == "From attention to transformers"
    record("walk-through, look-ahead mask", app.toggle("causal"))
