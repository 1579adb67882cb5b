"""Heads vs. syntax in headless Chromium at 1440 x 900: the shipped corpus evidence is there with no click, its
tables fit their column, and the relation x head heatmap shows every relation label whole (#20's bugs)."""

from __future__ import annotations

from tests.e2e.page import page_js

LAYOUT = page_js("syntax_layout")


def test_the_shipped_evidence_fits_its_column_and_names_every_relation_whole(open_app):
    app = open_app(viewport={"width": 1440, "height": 900}).open("dependencies")
    app.page.locator(".st-key-dep_heatmap .js-plotly-plot .ytick text").first.wait_for(timeout=60_000)
    assert app.page.get_by_text("2,001 sentences, 25,147 words, 23,146 arcs", exact=False).count() == 1  # shipped: no click
    layout = app.page.evaluate(LAYOUT)
    assert len(layout["tables"]) >= 2  # which heads follow each arc, and the corpus table
    for table in layout["tables"]:
        assert table["left"] >= layout["main"]["left"] - 1 and table["right"] <= layout["main"]["right"] + 1, (table, layout["main"])
    labels = layout["labels"]
    assert len(labels) == len(layout["rows"]) >= 20
    assert [label["text"] for label in labels] == layout["rows"]  # "parataxis (223)", not "p (23)"
    assert all(label["left"] >= layout["chart"]["left"] for label in labels), labels  # none cut at the chart's edge
    assert app.problems() == []
