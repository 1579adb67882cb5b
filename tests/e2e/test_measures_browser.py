"""The measure choice in headless Chromium: a shared link with measure=value, then a click on rollout.

The page's numbers are compared with attnviz's own measures of the same text, computed in this
process (``reference`` then ``attnviz.measures.measure_run``); the harness fails the test on any
traceback element, console error or failed request.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np

from attnviz.measures import measure_run

DEFAULT_TEXT = "heavy snow makes driving more difficult"


def query(app) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(app.page.url).query).items()}


def title(app, starts: str) -> str:
    """The heatmap's title as drawn (the SVG text), once it starts with ``starts`` (or the last one seen)."""
    return app.eventually(lambda: (app.heatmap_svg() or {}).get("title", ""), lambda t: t.startswith(starts))


def test_a_link_with_measure_value_shows_value_weighted_attention_then_rollout(app, reference):
    run = reference(DEFAULT_TEXT)
    value = measure_run(run, "value").attention[1, 9]  # head 2-10: mostly [CLS] by weight, "snow" by value
    app.open("", text=DEFAULT_TEXT, measure="value", layer="2", head="10")
    assert title(app, "value-weighted").startswith("value-weighted · layer 2, head 10 · no mask")
    z = app.z_now(value)
    assert np.allclose(z, value, atol=1e-5) and not np.allclose(z, run.attention[1, 9], atol=1e-3)
    assert "Heads of layer 2, value-weighted" in app.page.locator('[data-testid="stMain"]').inner_text()
    sidebar = app.page.locator('[data-testid="stSidebar"]')
    assert sidebar.locator('a[href="https://arxiv.org/abs/2004.10102"]').count() == 1  # the paper, linked
    assert app.page.locator(".st-key-measure input[type=radio]:checked").count() == 1
    assert query(app)["measure"] == "value"

    app.choose("measure", "rollout (up to this layer)")
    rollout = measure_run(run, "rollout").attention[1, 0]
    assert np.allclose(app.z_now(rollout), rollout, atol=1e-5)
    assert title(app, "rollout").startswith("rollout up to layer 2 (all heads) · no mask")
    assert query(app)["measure"] == "rollout" and query(app)["head"] == "10"  # the head is kept
