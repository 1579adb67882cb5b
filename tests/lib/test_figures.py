"""attnviz.figures: heatmap, arcs SVG, grid, CSV and image export (real Chromium, no mocks).

The export tests need a Chrome-family browser (/usr/bin/chromium here and in the
project's test command); they fail, rather than skip, when it is missing.
"""

import io
import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from attnviz import figures
from attnviz.figures import (
    ExportUnavailableError,
    arcs_svg,
    downsample,
    export_available,
    grid,
    heatmap,
    heatmap_svg,
    matrix_csv,
    to_png,
    to_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "{{7*7}}",
    "&",
    "&lt;b&gt;",
]


def rows(n: int, seed: int = 0, heads: int | None = None) -> np.ndarray:
    """Random attention rows (each sums to 1), ``[n, n]`` or ``[heads, n, n]``."""
    rng = np.random.default_rng(seed)
    size = (n,) if heads is None else (heads, n)
    return rng.dirichlet(np.ones(n), size=size).astype(np.float32)


def strings(obj):
    """Every string anywhere in a JSON-like structure."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


def arcs_of(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(f".//{SVG}path[@class='arc']")


# ------------------------------------------------------------------ heatmap
def test_heatmap_fixed_colour_range_order_and_hover():
    tokens = ["[CLS]", "the", "cat", "[SEP]"]
    fig = heatmap(rows(4), tokens, tokens, "MiniLM 3-1")
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax) == (0.0, 1.0)
    assert trace.y[0] == "0: [CLS]" and trace.x[-1] == "3: [SEP]"
    assert fig.layout.yaxis.autorange == "reversed"  # first query token at the top
    assert "%{z:.4f}" in trace.hovertemplate and "%{y}" in trace.hovertemplate and "%{x}" in trace.hovertemplate
    assert list(fig.layout.yaxis.ticktext) == tokens
    assert fig.layout.title.text == "MiniLM 3-1"
    np.testing.assert_allclose(np.asarray(trace.z), rows(4))


def test_heatmap_keeps_duplicate_tokens_apart():
    tokens = ["the", "cat", "saw", "the", "dog"]
    fig = heatmap(rows(5), tokens, tokens, "dupes")
    assert len(set(fig.data[0].x)) == 5 and len(set(fig.data[0].y)) == 5
    assert list(fig.layout.xaxis.ticktext).count("the") == 2


def test_heatmap_escapes_hostile_text():
    tokens = ["[CLS]", *HOSTILE, "[SEP]"]
    fig = heatmap(rows(len(tokens)), tokens, tokens, "<b>title</b> <img src=x onerror=alert(1)>")
    texts = list(strings(json.loads(fig.to_json())))
    assert not any("<img" in s or "<script" in s or "</script" in s or "<b>" in s for s in texts)
    assert "&lt;img src=x onerror=alert(1)&gt;" in fig.layout.xaxis.ticktext
    assert "&amp;" in fig.layout.yaxis.ticktext
    assert "&amp;lt;b&amp;gt;" in fig.layout.yaxis.ticktext  # typed entities stay literal too
    assert fig.layout.title.text == "&lt;b&gt;title&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt;"


def test_heatmap_long_input_is_thinned_not_annotated():
    n = 512
    tokens = [f"t{i % 7}" for i in range(n)]
    fig = heatmap(rows(n), tokens, tokens, "long")
    assert np.asarray(fig.data[0].z).shape == (n, n)
    assert len(fig.layout.annotations) == 0
    assert fig.layout.xaxis.tickmode == "auto" and fig.layout.xaxis.tickvals is None  # plotly thins; zoom shows more
    assert len(set(fig.data[0].x)) == n


@pytest.mark.parametrize("n", [8, 39, 64])
def test_heatmap_labels_every_token_up_to_64(n):
    tokens = [f"w{i}" for i in range(n)]
    fig = heatmap(rows(n), tokens, tokens, "every token")
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert list(axis.ticktext) == tokens and len(axis.tickvals) == n


def test_heatmap_rejects_mismatched_tokens():
    with pytest.raises(ValueError):
        heatmap(rows(4), ["a", "b", "c"], ["a", "b", "c", "d"], "bad")


# ------------------------------------------------------------------ SVG heatmap
def svg_cells(svg: str) -> tuple[ET.Element, list[ET.Element], list[str], list[str]]:
    root = ET.fromstring(svg)  # well-formed XML, whatever the tokens were
    cells = root.find(f".//{SVG}g[@class='cells']")
    texts = list(root.iter(f"{SVG}text"))
    return (cells, list(cells.iter(f"{SVG}rect")), [t.text for t in texts if t.get("class") == "row"],
            [t.text for t in texts if t.get("class") == "col"])


def test_svg_heatmap_holds_every_value_exactly_in_reading_order():
    m = np.random.default_rng(3).dirichlet(np.ones(7), 5).astype(np.float32)  # rectangular: 5 queries x 7 keys
    m[0, 0] = 1e-9
    q, k = [f"q{i}" for i in range(5)], [f"k{i}" for i in range(7)]
    cells, rects, rows_, cols = svg_cells(heatmap_svg(m, q, k, "t"))
    assert (cells.get("data-rows"), cells.get("data-cols")) == ("5", "7") and rows_ == q and cols == k
    z = np.array([np.float32(r.get("data-w")) for r in rects]).reshape(5, 7)
    assert np.array_equal(z, m)  # the page holds the float32 the model computed, not a rounding of it
    x0, y0, cell = float(cells.get("data-x0")), float(cells.get("data-y0")), float(cells.get("data-cell"))
    where = [(round((float(r.get("y")) - y0) / cell), round((float(r.get("x")) - x0) / cell)) for r in rects]
    assert where == [(i, j) for i in range(5) for j in range(7)]  # row and column follow from x, y


def test_svg_heatmap_colours_are_plotlys_scale_from_0_to_1():
    from plotly.colors import sample_colorscale

    lo, hi = (tuple(int(float(c)) for c in s[4:-1].split(",")) for s in sample_colorscale(figures.COLORSCALE, [0.0, 1.0]))
    m = np.array([[0.0, 0.25, 0.5, 1.0, 7.0]], dtype=np.float32)  # out of range: clipped to the last colour
    _, rects, _, _ = svg_cells(heatmap_svg(m, ["q"], list("abcde")))
    fills = [r.get("fill") for r in rects]
    assert fills[0] == "#%02x%02x%02x" % lo and fills[3] == "#%02x%02x%02x" % hi and fills[4] == fills[3]
    darkness = [sum(int(f[i:i + 2], 16) for i in (1, 3, 5)) for f in fills[:4]]
    assert darkness == sorted(darkness, reverse=True) and len(set(darkness)) == 4


@pytest.mark.parametrize("n", [5, 30, 64])
def test_svg_heatmap_labels_every_token(n):
    tokens = [f"w{i}" for i in range(n)]
    _, rects, rows_, cols = svg_cells(heatmap_svg(rows(n), tokens, tokens, "every token", colorbar_label="weight"))
    assert rows_ == cols == tokens and len(rects) == n * n


def test_svg_heatmap_escapes_hostile_text_and_shortens_long_tokens():
    tokens = [*HOSTILE, "x" * 40]
    svg = heatmap_svg(rows(len(tokens)), tokens, tokens, title="<b>title</b>", colorbar_label="<i>w</i>")
    assert "<img" not in svg and "<script" not in svg and "<b>" not in svg and "<i>" not in svg
    _, _, rows_, cols = svg_cells(svg)
    # the characters typed (longer ones cut to 15 and "…"), read back by an XML parser
    assert rows_[: len(HOSTILE)] == [t if len(t) <= 16 else t[:15] + "…" for t in HOSTILE]
    assert rows_[-1] == "x" * 15 + "…" and cols == rows_
    root = ET.fromstring(svg)
    assert any(t.text == "<b>title</b>" for t in root.iter(f"{SVG}text"))


def test_svg_heatmap_is_wide_enough_for_its_title():
    short, long = "layer 1, head 1", "value-weighted · layer 2, head 10 · no mask · tokens · all-MiniLM-L6-v2 export"
    for title in (short, long):
        root = ET.fromstring(heatmap_svg(rows(3), list("abc"), list("abc"), title=title))
        size = float(next(t for t in root.iter(f"{SVG}text") if t.get("class") == "title").get("font-size"))
        assert 11 <= size <= 16 and float(root.get("width")) >= 0.7 * size * len(title)  # 0.7 em a bold character
    assert size == 11  # a long title is set smaller before the drawing widens
    svg = heatmap_svg(rows(3), list("abc"), list("abc"), title=long)
    cells, _, _, _ = svg_cells(svg)
    left = float(cells.get("data-x0"))
    right = float(ET.fromstring(svg).get("width")) - (left + 3 * float(cells.get("data-cell")))
    assert left > right > 0  # the cells moved right with the labels on their left, not stuck to the edge


def test_svg_heatmap_rejects_mismatched_tokens():
    with pytest.raises(ValueError, match="does not match 3 x 4"):
        heatmap_svg(rows(4), ["a", "b", "c"], ["a", "b", "c", "d"])


# ------------------------------------------------------------------ arcs
def test_arcs_threshold_and_top_k_counts():
    w = np.array([
        [0.1, 0.6, 0.3, 0.0],
        [0.7, 0.1, 0.1, 0.1],
        [0.25, 0.25, 0.25, 0.25],
        [0.0, 0.0, 0.05, 0.95],
    ])
    tokens = ["a", "b", "c", "d"]
    assert len(arcs_of(arcs_svg(tokens, w).svg)) == np.count_nonzero(w)  # zeros never drawn
    assert len(arcs_of(arcs_svg(tokens, w, threshold=0.2).svg)) == np.count_nonzero(w >= 0.2) == 8
    top1 = arcs_of(arcs_svg(tokens, w, top_k=1).svg)
    assert len(top1) == 4
    assert {(a.get("data-from"), a.get("data-to")) for a in top1} >= {("0", "1"), ("1", "0"), ("3", "3")}
    assert len(arcs_of(arcs_svg(tokens, w, top_k=2, threshold=0.2).svg)) == 2 + 1 + 2 + 1


def test_arcs_data_attributes_and_tokens():
    tokens = ["[CLS]", "the", "cat", "the", "[SEP]"]
    w = rows(5, seed=3)
    svg = arcs_svg(tokens, w, title="MiniLM layer 3 head 1").svg
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "MiniLM layer 3 head 1"
    texts = root.findall(f".//{SVG}text[@class='token']")
    assert [t.text for t in texts] == tokens
    assert [t.get("data-index") for t in texts] == ["0", "1", "2", "3", "4"]
    arcs = arcs_of(svg)
    assert len(arcs) == 25
    for arc in arcs:
        q, k = int(arc.get("data-from")), int(arc.get("data-to"))
        assert arc.get("data-head") == "0"
        assert arc.get("data-weight") == f"{w[q, k]:.4f}"
    loops = [a for a in arcs if a.get("data-from") == a.get("data-to")]
    assert len(loops) == 5  # self-attention is drawn as a loop
    # stroke width and opacity grow with the weight
    by_weight = sorted(arcs, key=lambda a: float(a.get("data-weight")))
    assert float(by_weight[0].get("stroke-width")) < float(by_weight[-1].get("stroke-width"))
    assert float(by_weight[0].get("stroke-opacity")) < float(by_weight[-1].get("stroke-opacity"))


def test_arcs_escape_hostile_text():
    tokens = ["[CLS]", *HOSTILE, "nul\x00bell\x07", "[SEP]"]
    n = len(tokens)
    svg = arcs_svg(
        tokens, rows(n, heads=2), title="<script>alert('t')</script>", top_k=2,
        labels={(q, k): "<img src=y onerror=alert(2)>" for q in range(n) for k in range(n)},
        layers=["<b>3-1</b>", "&amp;"],
    ).svg
    root = ET.fromstring(svg)  # still well-formed XML, control characters and all
    tags = {el.tag.split("}")[-1].lower() for el in root.iter()}
    assert not tags & {"script", "img", "foreignobject", "iframe", "a"}
    assert "<img" not in svg and "<script" not in svg and "</script" not in svg and "<b>" not in svg
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg and "{{7*7}}" in svg
    assert [t.text for t in root.findall(f".//{SVG}text[@class='token']")][1:6] == HOSTILE
    assert root.find(f"{SVG}title").text == "<script>alert('t')</script>"
    labels = root.findall(f".//{SVG}text[@class='arc-label']")
    assert labels and all(t.text == "<img src=y onerror=alert(2)>" for t in labels)
    assert any(t.text == "<b>3-1</b>" for t in root.iter(f"{SVG}text"))
    assert all(not attr.lower().startswith("on") for el in root.iter() for attr in el.attrib)


def test_arcs_512_tokens_top3_is_bounded():
    n = 512
    tokens = [f"word{i}" for i in range(n)]
    svg = arcs_svg(tokens, rows(n), top_k=3, title="512 tokens").svg
    assert len(svg.encode()) < 2_000_000 / 3  # documented: ~0.3 MB per head
    root = ET.fromstring(svg)
    assert len(arcs_of(svg)) == 3 * n
    assert float(root.get("width")) > float(ET.fromstring(arcs_svg(tokens[:10], rows(10)).svg).get("width")) * 20
    xs = [float(t.get("x")) for t in root.findall(f".//{SVG}text[@class='token']")]
    assert xs == sorted(xs)  # reading order, left to right


def test_arcs_width_follows_token_length():
    narrow = ET.fromstring(arcs_svg(["a", "b"], np.eye(2)).svg)
    wide = ET.fromstring(arcs_svg(["a" * 40, "b"], np.eye(2)).svg)
    assert float(wide.get("width")) > float(narrow.get("width")) + 150


def test_arcs_multi_head_overlay_uses_distinct_colours():
    n, heads = 6, 12
    svg = arcs_svg([f"w{i}" for i in range(n)], rows(n, heads=heads), top_k=1).svg
    root = ET.fromstring(svg)
    groups = root.findall(f".//{SVG}g[@class='head']")
    assert [g.get("data-head") for g in groups] == [str(h) for h in range(heads)]
    assert len({g.get("stroke") for g in groups}) == heads
    for g in groups:
        assert {a.get("data-head") for a in g.findall(f"{SVG}path")} == {g.get("data-head")}
        assert len(g.findall(f"{SVG}path")) == n  # top_k=1 per query, per head
    assert len({g.get("stroke") for g in ET.fromstring(
        arcs_svg(["a", "b"], rows(2, heads=20)).svg).findall(f".//{SVG}g[@class='head']")}) == 20
    custom = ET.fromstring(arcs_svg(["a", "b"], rows(2, heads=2), colors=["#000000", "#ffffff"]).svg)
    assert [g.get("stroke") for g in custom.findall(f".//{SVG}g[@class='head']")] == ["#000000", "#ffffff"]


def test_arcs_highlight_and_labels():
    w = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    svg = arcs_svg(["heavy", "snow", "falls"], w, highlight={(0, 1)}, labels={(0, 1): "amod", (1, 1): "none"}).svg
    arcs = {(a.get("data-from"), a.get("data-to")): a for a in arcs_of(svg)}
    assert arcs[("0", "1")].get("data-highlight") == "1"
    assert arcs[("0", "1")].get("stroke") == figures.ACCENT
    assert all(a.get("data-highlight") is None for key, a in arcs.items() if key != ("0", "1"))
    labels = ET.fromstring(svg).findall(f".//{SVG}text[@class='arc-label']")
    assert [(t.get("data-from"), t.get("data-to"), t.text) for t in labels] == [("0", "1", "amod")]  # (1,1) not drawn


def test_arcs_max_arcs_keeps_the_strongest():
    w = rows(30)
    drawing = arcs_svg([str(i) for i in range(30)], w, max_arcs=50)
    root = ET.fromstring(drawing.svg)
    weights = sorted((float(a.get("data-weight")) for a in root.iter(f"{SVG}path") if a.get("class") == "arc"))
    assert len(weights) == 50 and root.get("data-arcs-dropped") == str(900 - 50)
    assert (drawing.n_drawn, drawing.n_dropped) == (50, 900 - 50) and str(drawing) == drawing.svg
    assert arcs_svg([str(i) for i in range(30)], w).n_dropped == 0
    assert weights[0] >= np.sort(w.ravel())[-50] - 1e-4


def test_arcs_reject_bad_shapes():
    with pytest.raises(ValueError):
        arcs_svg(["a", "b"], np.eye(3))


# ------------------------------------------------------------------ grid
def test_downsample_keeps_the_attention_mass():
    m = rows(512)
    small = downsample(m, 32)
    assert small.shape == (32, 32)
    np.testing.assert_allclose(small.sum(-1), 1, rtol=1e-5)                 # rows still sum to 1
    np.testing.assert_allclose(small[0, 0], m[:16, :16].sum(-1).mean(), rtol=1e-5)  # keys summed, queries averaged
    odd = rows(100)
    assert downsample(odd, 32).shape == (32, 32)
    np.testing.assert_allclose(downsample(odd, 32).sum(-1), 1, rtol=1e-5)  # uneven blocks too
    prev = np.eye(512, k=-1, dtype=np.float32)
    prev[0, 0] = 1                                                           # a previous-token head
    thumb = downsample(prev, 32)
    assert np.diag(thumb).min() >= 15 / 16 - 1e-6 and np.diag(thumb).mean() > 0.9  # a bright diagonal
    np.testing.assert_array_equal(downsample(rows(10), 32), rows(10))  # small: unchanged
    assert downsample(np.ones((2, 3, 64, 64)), 8).shape == (2, 3, 8, 8)
    with pytest.raises(ValueError):
        downsample(m, 0)


def test_grid_has_one_thumbnail_per_head():
    n_layers, n_heads, n = 2, 3, 40
    a = np.broadcast_to(np.eye(n, k=-1) + np.eye(n)[0] * np.eye(n), (n_layers, n_heads, n, n)).copy()
    a[1, 2] = np.eye(n)
    fig = grid(a, title="local <model>", max_size=16, special=np.zeros(n, bool))
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == n_layers * n_heads
    assert all(np.asarray(t.z).shape == (16, 16) for t in heatmaps)
    assert all(t.coloraxis == "coloraxis" for t in heatmaps)
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 1.0)
    titles = [ann.text for ann in fig.layout.annotations]
    assert titles[0] == "1-1 previous token" and titles[-1] == "2-3 self"
    assert len(titles) == n_layers * n_heads
    assert fig.layout.title.text == "local &lt;model&gt;"
    given = grid(a, labels=[["x"] * 3, ["y", "<z>", "w"]], title="t")
    assert [ann.text for ann in given.layout.annotations][4] == "2-2 &lt;z&gt;"
    # every thumbnail is square (its y axis scaled to its own x axis) with fixed ranges, so
    # nothing drawn over it (the app's click targets) can stretch it
    for i in range(1, n_layers * n_heads + 1):
        x, y = fig.layout[f"xaxis{i if i > 1 else ''}"], fig.layout[f"yaxis{i if i > 1 else ''}"]
        assert y.scaleanchor == f"x{i if i > 1 else ''}" and x.constrain == y.constrain == "domain"
        assert tuple(x.range) == (-0.5, 15.5) and tuple(y.range) == (15.5, -0.5)  # query 0 at the top


def test_grid_stays_small_for_long_inputs():
    a = np.random.default_rng(0).dirichlet(np.ones(512), size=(6, 12, 512)).astype(np.float32)
    fig = grid(a, special=np.zeros(512, bool))
    assert len(fig.data) == 72
    assert max(max(np.asarray(t.z).shape) for t in fig.data) <= 32
    assert len(fig.to_json()) < 2_000_000


# ------------------------------------------------------------------ CSV
def test_csv_round_trip_keeps_duplicates():
    tokens = ["[CLS]", "the", "cat", "the", "[SEP]"]
    m = rows(5)
    df = pd.read_csv(io.BytesIO(matrix_csv(m, tokens, tokens)))
    assert df.columns[:2].tolist() == ["position", "token"]
    assert df["token"].tolist() == tokens
    assert df.columns[2:].tolist() == ["0: [CLS]", "1: the", "2: cat", "3: the", "4: [SEP]"]
    np.testing.assert_allclose(df.iloc[:, 2:].to_numpy(float), m, rtol=1e-6)


def test_csv_neutralises_formulas():
    tokens = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "fine", "a=b"]
    raw = matrix_csv(rows(6), tokens, tokens)
    df = pd.read_csv(io.BytesIO(raw))
    assert df["token"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "fine", "a=b"]
    cells = [str(c) for c in df.columns] + df.astype(str).to_numpy().ravel().tolist()
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for spreadsheets


# ------------------------------------------------------------------ export
def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.size


def test_export_is_available_here():
    ok, message = export_available()
    assert ok, message


def test_export_unavailable_says_how_to_enable(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    ok, message = export_available()
    assert not ok
    assert "chromium" in message and "camera" in message
    with pytest.raises(ExportUnavailableError, match="chromium"):
        to_png(heatmap(rows(2), ["a", "b"], ["a", "b"], "t"))


def chromium_browsers() -> set[int]:
    """PIDs of Chromium browser processes (not its renderer/gpu/zygote helpers) below this process, from /proc."""
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass  # the process ended meanwhile
    me, found = os.getpid(), set()
    for pid in parent:
        p = parent[pid]
        while p and p != me:
            p = parent.get(p, 0)
        if p != me:
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            continue
        if argv and argv[0].endswith(("/chromium", "/chrome")) and not any(a.startswith("--type=") for a in argv):
            found.add(pid)
    return found


def stop_export_browser() -> set[int]:
    """Stop attnviz's export browser, check that its Chromium has exited; the Chromium browsers left
    below this process (none, unless something else in this process runs one)."""
    running, before = figures.export_browser().running, chromium_browsers()
    figures.export_browser().stop()
    assert not figures.export_browser().running
    left = chromium_browsers()
    deadline = time.monotonic() + 15  # a closed browser takes a moment to exit
    while running and len(left) >= len(before) and time.monotonic() < deadline:
        time.sleep(0.1)
        left = chromium_browsers()
    assert not running or len(left) == len(before) - 1, (before, left)
    return left


@pytest.mark.slow
def test_png_cold_then_warm():
    others = stop_export_browser()  # a cold start even if another test exported first
    fig = heatmap(rows(8), [f"w{i}" for i in range(8)], [f"w{i}" for i in range(8)], "MiniLM layer 1 head 1")
    t0 = time.perf_counter()
    first = to_png(fig, width=400, height=300, scale=2)
    t1 = time.perf_counter()
    assert figures.export_browser().running
    started = chromium_browsers() - others
    kaleido = figures.export_browser().kaleido
    assert len(started) == 1, started  # the cold export started one browser
    second = to_png(fig, width=400, height=300, scale=1)
    t2 = time.perf_counter()
    print(f"\nPNG export: cold {t1 - t0:.2f} s, warm {t2 - t1:.2f} s (timings only, not asserted)")
    assert png_size(first) == (800, 600)
    assert png_size(second) == (400, 300)
    # the warm export reused the running browser: same object, same process, none started
    assert figures.export_browser().kaleido is kaleido
    assert chromium_browsers() - others == started


@pytest.mark.slow
def test_png_defaults_to_the_figure_size():
    fig = heatmap(rows(3), ["a", "b", "c"], ["a", "b", "c"], "t")
    assert png_size(to_png(fig, scale=1)) == (fig.layout.width, fig.layout.height)


def test_svg_export_parses_and_keeps_tokens_escaped():
    tokens = ["[CLS]", "<img src=x onerror=alert(1)>", "&", "[SEP]"]
    data = to_svg(heatmap(rows(4), tokens, tokens, "title <b>x</b>"))
    assert b"<img" not in data and b"<b>" not in data
    root = ET.fromstring(data)
    texts = {"".join(el.itertext()) for el in root.iter() if el.tag.endswith("text")}
    assert "<img src=x onerror=alert(1)>" in texts and "&" in texts
    assert "title <b>x</b>" in texts
    assert not any(el.tag.split("}")[-1] in ("img", "script") for el in root.iter())


def test_arcs_svg_to_png():
    tokens = ["[CLS]", "heavy", "snow", "makes", "driving", "difficult", "[SEP]"]
    svg = arcs_svg(tokens, rows(7), top_k=2, title="arcs").svg
    root = ET.fromstring(svg)
    width, height = float(root.get("width")), float(root.get("height"))
    data = to_png(svg, scale=2)
    assert png_size(data) == (round(width * 2), round(height * 2))
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert (pixels < 200).any(axis=-1).mean() > 0.005  # something was drawn, not a blank page
    assert png_size(to_png(svg, width=300, scale=1))[0] == 300


def test_huge_svg_png_is_capped():
    n = 512
    svg = arcs_svg([f"word{i}" for i in range(n)], rows(n), top_k=1).svg
    width, height = png_size(to_png(svg, scale=2))
    assert max(width, height) <= figures.MAX_PNG_SIDE
    assert width / height == pytest.approx(float(ET.fromstring(svg).get("width")) / float(ET.fromstring(svg).get("height")), rel=0.02)


@pytest.mark.slow
def test_concurrent_exports_share_one_browser():
    """Three exports start at once with no browser running: exactly one browser is started and
    all three are drawn by it (a race on the start would leave several Chromium processes)."""
    others = stop_export_browser()
    fig = heatmap(rows(4), list("abcd"), list("abcd"), "t")
    results, errors, used = [], [], []
    start = threading.Barrier(3)

    def export():
        try:
            start.wait(30)
            results.append(to_png(fig, width=200, height=200, scale=1))
            used.append(figures.export_browser().kaleido)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=export) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert [png_size(r) for r in results] == [(200, 200)] * 3
    assert len(used) == 3 and used[0] is not None and all(k is used[0] for k in used)
    started = chromium_browsers() - others
    assert len(started) == 1, started
    # and the next export still uses that browser
    assert png_size(to_png(fig, width=100, height=100, scale=1)) == (100, 100)
    assert figures.export_browser().kaleido is used[0] and chromium_browsers() - others == started
