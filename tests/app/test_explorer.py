"""Bugs from "Readable at real lengths, fast, and correct", checked under AppTest (no browser).

Each test failed on main before its fix; the browser-only ones are in tests/e2e/test_ux.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from attnviz import figures
from attnviz.stats import top_links
from tests.helpers.apptest import APP, app, assert_clean, strongest_links


def test_under_the_mask_the_link_pickers_offer_no_future_token():
    """Bug 5: with the mask on, "To" offered later tokens (every head 0.000 for them)."""
    at = assert_clean(app(mask="on"))
    query = at.selectbox(key="link_from").value
    targets = at.selectbox(key="link_to").options
    assert targets and all(int(t.split(":")[0]) <= query for t in targets), (query, targets)
    assert int(at.selectbox(key="link_to").value) <= query


def test_under_the_mask_strongest_links_list_no_masked_key():
    """Bug 5: "Strongest links" listed masked (future) keys with weight 0."""
    at = assert_clean(app(mask="on"))
    assert not any("#1" in df.value.columns for df in at.dataframe)  # drawn only once its expander is opened
    links = strongest_links(at)
    for rank in (1, 2, 3):
        weights = links[f"#{rank} weight"].to_numpy(dtype=float)
        assert not np.any(weights == 0.0), links
    # the first token may see only itself: its second and third links are empty, not 0.000
    assert np.isnan(links["#2 weight"].iloc[0]) and pd.isna(links["#2"].iloc[0])


def test_top_links_leave_out_masked_and_zero_keys():
    m = np.tril(np.full((3, 3), 1.0))
    m /= m.sum(-1, keepdims=True)
    table = top_links(m, ["a", "b", "c"], k=3, mask=np.tril(np.ones((3, 3), bool)))
    assert list(table["#1"]) == ["a", "a", "a"]
    assert pd.isna(table["#3"]).tolist() == [True, True, False] and table["#3"].iloc[2] == "c"


def test_the_chosen_link_tokens_are_in_the_url_and_restored_from_it():
    """Bug 7: the chosen pair was not in the URL."""
    at = assert_clean(app(text="heavy snow makes driving more difficult"))
    at.selectbox(key="link_to").set_value(2).run()
    assert at.query_params["to"] == "2" and at.query_params["from"] == "3"
    again = assert_clean(app(**{"from": "4", "to": "1"}))
    assert (again.selectbox(key="link_from").value, again.selectbox(key="link_to").value) == (4, 1)


def test_the_corpus_heatmap_labels_every_head_and_can_be_clicked():
    """Bug 6: the relation x head heatmap labelled every other head and its cells could not be clicked."""
    labels = [f"{layer}-{head}" for layer in range(1, 7) for head in range(1, 13)]
    fig = figures.score_heatmap(np.random.default_rng(0).random((4, 72)), ["nsubj", "obj", "amod", "det"], labels)
    assert list(fig.layout.xaxis.ticktext) == labels
    clickable = figures.clickable_cells(fig)
    targets = clickable.data[1]
    assert targets.type == "scatter" and len(targets.x) == 4 * 72
    assert {c[0] for c in targets.customdata} == set(labels)


@pytest.mark.slow
def test_no_ascii_arrows_in_what_the_pages_say():
    """Bug 7: arrows were written "->" in some places and "→" in others."""
    for page in ("pages/explorer.py", "pages/walkthrough.py", "pages/heads.py", "pages/dependencies.py", "pages/head-map.py"):
        at = AppTest.from_file(APP, default_timeout=180).run()
        at.switch_page(page).run()
        assert_clean(at)
        shown = " ".join(el.value for kind in ("markdown", "caption", "subheader", "header") for el in getattr(at, kind))
        assert "->" not in shown, (page, shown[shown.find("->") - 60: shown.find("->") + 20])


@pytest.mark.parametrize("text", ["heavy snow makes driving more difficult"])
def test_each_head_has_a_label_apart_from_sink_attention(text):
    """Labels said little: 59 of 72 heads were "sink"; the table now says what each does with the rest."""
    at = assert_clean(app(text=text, layer="2"))
    stats = next(df.value for df in at.dataframe if "rest" in df.value.columns)
    assert len(stats) == 12
    row = stats.set_index("label").loc["2-8"]
    assert row["pattern"] == "[CLS]/[SEP] sink" and row["rest"] not in ("[CLS]/[SEP] sink", "")


def test_every_page_shows_its_figures_as_attnviz_drew_them():
    """Charts go through components.charts with theme=None: the look of the export, and no theme for
    the browser to merge into every new figure (0.4 s per new heatmap here). A page that called
    st.plotly_chart itself would get Streamlit's theme ("streamlit") back."""
    at = AppTest.from_file(APP, default_timeout=180).run()
    seen = {}
    for page in ("pages/explorer.py", "pages/heads.py", "pages/dependencies.py", "pages/walkthrough.py", "pages/head-map.py"):
        at.switch_page(page).run()
        assert_clean(at)
        seen.update({el.key: el.proto.theme for el in at.get("plotly_chart")})
    at.switch_page("pages/explorer.py").run()
    at.text_area(key="text").set_value(" ".join(["word"] * 70)).run()  # beyond 64 tokens: plotly's heatmap
    assert_clean(at)
    seen.update({el.key: el.proto.theme for el in at.get("plotly_chart")})
    assert {"explorer_heatmap", "heads_grid", "head_map"} <= set(seen), sorted(seen)
    assert len(seen) >= 4 and set(seen.values()) == {""}, seen
