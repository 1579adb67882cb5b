"""The claim at first sight (#20), in headless Chromium at 1440 x 900 with no interaction: the explorer's first
screen names at least three different heads, each with the relation it follows and its corpus figures, above
the fold; clicking one opens it in the explorer."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from tests.e2e.page import page_js

FIRST_SCREEN = {"width": 1440, "height": 900}
CAPTION = re.compile(r"^\d+% of [\d,]+ arcs in UD EWT dev, \d+% where position alone fails \(baseline \d+%\)$")
CARDS = page_js("strip_cards")


def cards(app) -> list[dict]:
    return app.page.evaluate(CARDS)


def test_the_first_screen_shows_three_heads_with_their_relations_above_the_fold_and_opens_one(open_app):
    app = open_app(viewport=FIRST_SCREEN).open()
    shown = app.wait_for(lambda: cards(app), timeout=60, what="the strip's cards")
    visible = [c for c in shown if c["bottom"] <= FIRST_SCREEN["height"] and c["right"] <= FIRST_SCREEN["width"]]
    heads = {c["head"] for c in visible}
    relations = {re.match(r"^\d+-\d+ follows (\S+)", c["title"]).group(1) for c in visible}
    assert len(heads) >= 3 and len(relations) >= 3, shown  # without scrolling or clicking
    for card in visible:
        assert CAPTION.match(card["caption"]), card["caption"]
        assert card["drawing"] > 1000 and card["words"] == 9  # a real drawing of the sentence, every word
    assert [c["head"] for c in shown if c["selected"]] == ["3-1"]  # the explorer opens on one of them
    assert app.page.get_by_text("Heatmap, head 3-1").first.is_visible()
    app.screenshot("first-screen")

    target = next(c for c in visible if c["head"] == "2-8")
    app.rerun(lambda: app.page.mouse.click((target["left"] + target["right"]) / 2, target["top"] + 40))
    app.wait_for(lambda: parse_qs(urlsplit(app.page.url).query).get("head") == ["8"], what="head 2-8 in the URL")
    query = {k: v[0] for k, v in parse_qs(urlsplit(app.page.url).query).items()}
    assert (query["layer"], query["head"]) == ("2", "8")
    app.page.get_by_text("Heatmap, head 2-8").first.wait_for(timeout=60_000)
    assert app.wait_for(lambda: [c["head"] for c in cards(app) if c["selected"]] == ["2-8"], what="the opened card marked")
    assert app.problems() == []
