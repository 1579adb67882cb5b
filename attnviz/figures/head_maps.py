"""A layer's head maps (``attnviz.head_map.HeadMap``) as small multiples: one WebGL scatter plot per head, its queries
and keys in one plane, coloured by query / key, position, part of speech or dependency relation.

    fig = head_map_figure(hm, colour="pos", title="MiniLM · layer 3")
    point_token(fig, curve, index)       # (head, "query" | "key", token row) of a clicked point

Every trace holds one head's queries or keys of one colour: its ``meta`` is [head, 0 (queries) | 1 (keys)] and its
``customdata`` the row of ``hm.tokens`` of each point, so a click or a hover names the head and the token.
Hover labels show the token marked in its sentence; every piece of user text is escaped (``safe_text.plotly_text``),
so a token such as ``<img src=x>`` stays text.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from attnviz.figures.safe_text import plotly_text
from attnviz.figures.style import FONT
from attnviz.head_map import KINDS, HeadMap
from attnviz.labels import head_label
from attnviz.tree import base_relation

#: What the points can be coloured by, and how the page names it.
COLOUR_BY = {"kind": "query / key", "position": "position in the sentence", "pos": "part of speech",
             "relation": "dependency relation"}
KIND_COLOURS = {"query": "#1f77b4", "key": "#ff7f0e"}
#: Categories of a colouring by part of speech or relation: the most frequent ones, the rest "other".
MAX_CATEGORIES = 10
#: D3's ten colours without its grey (the "other" colour), and an indigo: ten that stay apart at 3 px.
CATEGORY_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                    "#393b79")
OTHER, SPECIAL, NONE = "other", "[CLS]/[SEP]", "none"
OTHER_COLOUR, SPECIAL_COLOUR = "#b0b0b0", "#404040"
PLURAL = {"query": "queries", "key": "keys"}
SYMBOLS = {"query": "circle", "key": "diamond"}  # told apart when the colour says something else
CELL = 250  # px per head's plot
CONTEXT = 30  # characters of the sentence shown on each side of a hovered token
#: The first position of each bin of "position in the sentence" (the last bin is open: 28+).
POSITION_BINS = (0, 1, 2, 3, 4, 6, 9, 13, 19, 28)


def _snippet(text: str, start: int, end: int, token: str, special: bool) -> str:
    """The token marked (bold) in its sentence, the sentence cut to ``CONTEXT`` characters on each side; escaped."""
    if special:  # [CLS]/[SEP] have no characters in the text: shown before the sentence's start
        cut = text[: 2 * CONTEXT]
        return f"<b>{plotly_text(token)}</b> " + plotly_text(cut) + ("…" if len(cut) < len(text) else "")
    left, right = text[max(0, start - CONTEXT): start], text[end: end + CONTEXT]
    return ("…" if start > CONTEXT else "") + plotly_text(left) + f"<b>{plotly_text(text[start:end])}</b>" \
        + plotly_text(right) + ("…" if end + CONTEXT < len(text) else "")


def hover_texts(hm: HeadMap) -> list[str]:
    """One hover text per token (shared by its query and its key in every head): the token in its sentence, where it
    is, and its word's part of speech and relation when known. Escaped."""
    texts = hm.vectors.texts
    out = []
    for row in hm.tokens.itertuples(index=False):
        where = f"sentence {row.sentence + 1}, token {row.position}"
        tags = " · ".join(plotly_text(t) for t in (row.pos, row.relation) if isinstance(t, str))
        out.append(_snippet(texts[row.sentence], row.start, row.end, row.token, row.special)
                   + f"<br>{where}" + (f" · {tags}" if tags else ""))
    return out


def categories(hm: HeadMap, colour: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(group of each token, the groups' names, their colours) for ``colour`` "pos" or "relation" (relation subtypes
    merged: nmod:poss is nmod): the ``MAX_CATEGORIES`` most frequent, then "other", special tokens apart."""
    tokens = hm.tokens
    raw = tokens[colour].map(lambda v: (base_relation(v) if colour == "relation" else v) if isinstance(v, str) else NONE)
    raw = raw.where(~tokens["special"].to_numpy(), SPECIAL)
    counts = raw[raw != SPECIAL].value_counts()
    top = list(counts.index[:MAX_CATEGORIES])
    names = top + ([OTHER] if len(counts) > len(top) else []) + ([SPECIAL] if (raw == SPECIAL).any() else [])
    index = {name: i for i, name in enumerate(names)}
    codes = raw.map(lambda v: index.get(v, index.get(OTHER, 0))).to_numpy(dtype=np.int16)
    colours = [SPECIAL_COLOUR if n == SPECIAL else OTHER_COLOUR if n == OTHER else CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)]
               for i, n in enumerate(names)]
    return codes, names, colours


def position_bins(hm: HeadMap) -> tuple[np.ndarray, list[str], list[str]]:
    """(bin of each token's position, the bins' names, their colours on Viridis): 0, 1, 2, 3, 4-5, ..., 28+."""
    edges = np.asarray(POSITION_BINS)
    codes = (np.searchsorted(edges, hm.tokens["position"].to_numpy(), side="right") - 1).astype(np.int16)
    names = [str(a) if b - a == 1 else f"{a}–{b - 1}" for a, b in zip(edges[:-1], edges[1:])] + [f"{edges[-1]}+"]
    return codes, names, sample_colorscale("Viridis", len(names))


def groups(hm: HeadMap, colour: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(group of each token, names, colours) of a colouring; "kind" has one group (queries and keys have a colour each)."""
    if colour == "position":
        return position_bins(hm)
    if colour in ("pos", "relation"):
        return categories(hm, colour)
    return np.zeros(hm.vectors.n_tokens, dtype=np.int16), [""], [""]


def head_map_figure(hm: HeadMap, colour: str = "kind", title: str = "", columns: int = 4, hover: str = "labels",
                    cell: int = CELL) -> go.Figure:
    """Every head of ``hm`` as a small scatter plot, ``columns`` to a row, each titled "layer-head" with the share of
    variance its two axes keep. ``colour``: a key of ``COLOUR_BY`` ("pos" and "relation" need a corpus that has them:
    without, every point is "none"; "position" in bins, 0 to 28+). ``cell``: px per plot (its height, and its width in
    an export; an interactive figure takes its column's width, and its plots stay square).

    One trace per head, query | key and colour (single-coloured points draw in about half the time of per-point colours:
    ~0.8 s for 10,000 points on each of 12 heads in headless Chromium), each with ``meta`` = [head, 0 | 1] and
    ``customdata`` = the row of ``hm.tokens`` of each point (``point_token``). A legend entry shows or hides a colour in
    every head. Queries are circles, keys diamonds when the colour is not query / key.

    ``hover``: "labels", WebGL traces whose hover label shows the token in its sentence (``hover_texts``: self-contained,
    but each point carries its text, ~150 bytes: 18 MB of JSON for 10,000 points on each of 12 heads); "events", WebGL
    traces that draw no label but send plotly's hover events, for a page that shows the token itself (the app's
    components/js/head_map_hover.js: the figure holds coordinates and token rows, ~2.4 MB); "none", no hover and a
    fixed size, for a PNG/SVG export. The points are WebGL in every case: kaleido draws them in its headless browser
    (an SVG holds them as one image, the axes, titles and legend as vectors), 3 s for an SVG of 10,000 points on each
    of 12 heads where SVG markers took 33 s and 25 MB."""
    if colour not in COLOUR_BY:
        raise ValueError(f"colour must be one of {', '.join(COLOUR_BY)}, not {colour!r}")
    if hover not in ("labels", "events", "none"):
        raise ValueError(f"hover must be 'labels', 'events' or 'none', not {hover!r}")
    n_heads = hm.n_heads
    cols = max(1, min(columns, n_heads))
    rows = math.ceil(n_heads / cols)
    gap_x, gap_y = 18, 40
    width, height = cols * cell + (cols - 1) * gap_x, rows * cell + (rows - 1) * gap_y
    titles = [f"{head_label(hm.layer, h)} · PCA {hm.explained[h, 0]:.0%} + {hm.explained[h, 1]:.0%}" for h in range(n_heads)]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=gap_x / width if cols > 1 else 0.0,
                        vertical_spacing=gap_y / height if rows > 1 else 0.0)
    _add_points(fig, hm, colour, hover, cols)
    axis = dict(showticklabels=False, showgrid=False, zeroline=False, mirror=True, showline=True, linecolor="#d0d0d0", ticks="")
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    for i in range(1, n_heads + 1):  # equal scales: distances in the plane are the projection's
        fig.update_layout({f"yaxis{'' if i == 1 else i}": dict(scaleanchor=f"x{'' if i == 1 else i}", scaleratio=1)})
    fig.update_annotations(font=dict(size=11))
    fig.update_layout(  # an interactive figure takes its column's width (its plots stay square); an export is sized
        title=dict(text=plotly_text(title), x=0.5, xanchor="center"), font=dict(family=FONT), plot_bgcolor="white",
        width=None if hover != "none" else width + 170, height=height + 110, margin=dict(l=20, r=150, t=80, b=30),
        hovermode="closest", dragmode="pan", legend=dict(itemsizing="constant", title=dict(text=plotly_text(COLOUR_BY[colour]))),
    )
    return fig


def _add_points(fig: go.Figure, hm: HeadMap, colour: str, hover: str, cols: int) -> None:
    """The traces: for each head, its queries then its keys, one trace per colour group present."""
    codes, names, colours = groups(hm, colour)
    rows_type = np.int16 if hm.vectors.n_tokens <= np.iinfo(np.int16).max else np.int32  # customdata: half the bytes
    members = [np.flatnonzero(codes == g).astype(rows_type) for g in range(len(names))]
    texts = np.asarray(hover_texts(hm), dtype=object) if hover == "labels" else None
    size = 3 if hm.vectors.n_tokens > 2000 else 5
    shown, traces, where = set(), [], []
    for h in range(hm.n_heads):
        for k, kind in enumerate(KINDS):
            for g, rows in enumerate(members):
                if not len(rows):
                    continue
                name = PLURAL[kind] if colour == "kind" else names[g]
                marker = dict(size=size, opacity=0.5 if colour == "kind" else 0.65, color=KIND_COLOURS[kind] if colour == "kind" else colours[g],
                              symbol="circle" if colour == "kind" else SYMBOLS[kind])
                traces.append(dict(  # plain dicts: add_traces makes each trace once (objects are made twice)
                    type="scattergl", x=hm.xy[h, k, rows, 0], y=hm.xy[h, k, rows, 1], mode="markers", marker=marker, customdata=rows,
                    meta=[h, k], name=plotly_text(name), legendgroup=name, showlegend=name not in shown,
                    hovertext=None if texts is None else texts[rows],
                    hovertemplate=f"%{{hovertext}}<extra>{head_label(hm.layer, h)} {kind}</extra>" if texts is not None else None,
                    hoverinfo={"labels": None, "events": "none", "none": "skip"}[hover],
                ))
                where.append(divmod(h, cols))
                shown.add(name)
    fig.add_traces(traces, rows=[r + 1 for r, _ in where], cols=[c + 1 for _, c in where])


def point_token(fig: go.Figure, curve: int, index: int) -> tuple[int, str, int] | None:
    """(head, "query" | "key", row of the head map's ``tokens``) of point ``index`` of trace ``curve`` of a
    ``head_map_figure`` (a click), or None when there is no such point."""
    if not 0 <= int(curve) < len(fig.data):
        return None
    trace = fig.data[int(curve)]
    if trace.meta is None or trace.customdata is None or not 0 <= int(index) < len(trace.customdata):
        return None
    head, kind = trace.meta
    return int(head), KINDS[int(kind)], int(np.asarray(trace.customdata)[int(index)])
