"""What an interactive attnviz page holds: every layer and head of a captured run, drawn, under a budget.

``page_data(run, ...)`` draws each kind of attention of the run (self-attention; for an encoder-decoder
also the decoder's self-attention and the cross-attention) for every layer and head with the library's
own figures (``arcs_svg``, ``cross_svg``, ``heatmap_svg``), plus a small map of each head for the grid.
The page's JavaScript (``attnviz/static/attnviz_page.js``) switches between them in the browser, so the
reader picks any layer and head of the captured run with no kernel and no server.

The budget keeps a file small at 512 tokens (BertViz embeds every weight: 869 MB there):

- arcs: each token's ``top_k`` strongest links per head, at most ``MAX_ARCS_PER_VIEW`` per drawing
  (the app's budget) and ``MAX_ARCS_TOTAL`` in all (a model with many heads gets fewer per drawing);
- heatmaps: up to ``HEATMAP_MAX_TOKENS`` tokens a side and ``HEATMAP_MAX_CELLS`` cells in all;
- the grid: each head pooled to at most ``THUMB_SIDE`` x ``THUMB_SIDE`` cells, one byte each.

Whatever the budget cuts is said in a sentence on the page, never dropped silently. The drawings are
JSON, gzipped and base64-encoded (``pack``): SVG text shrinks about tenfold.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass

import numpy as np

from attnviz.figures.arcs import arcs_svg, auto_layout
from attnviz.figures.cross import cross_svg
from attnviz.figures.heatmap_svg import colour, heatmap_svg
from attnviz.figures.heatmaps import downsample
from attnviz.labels import head_label, kind_label
from attnviz.measures import MEASURES, measure_run
from attnviz.run import Run
from attnviz.stats import head_stats

TOP_K = 3
MAX_ARCS_PER_VIEW = 3 * 512
MAX_ARCS_TOTAL = 6 * 13 * MAX_ARCS_PER_VIEW  # MiniLM: 6 layers x (12 heads + every head overlaid)
HEATMAP_MAX_TOKENS = 64
HEATMAP_MAX_CELLS = 120_000
THUMB_SIDE = 40
SHORT_PATTERNS = {"previous token": "prev", "next token": "next", "[CLS]/[SEP] sink": "sink", "other": ""}


@dataclass(frozen=True)
class Kind:
    """One kind of attention of a run: ``attention [layers, heads, query, key]`` and its tokens."""

    key: str  # one of attnviz.labels.KINDS: "self" | "decoder" | "cross"
    label: str
    query_tokens: list[str]
    key_tokens: list[str]
    attention: np.ndarray
    query_special: np.ndarray
    key_special: np.ndarray
    mask: np.ndarray | None
    measure: str  # what ``attention`` holds (decoder and cross: always the weights)


def prepared(run: Run, measure: str = "attention", level: str = "token", drop_special: bool = False) -> Run:
    """``run`` in ``measure`` (``attnviz.measures``: every layer), at ``level``, with or without special tokens,
    as the app derives it: the measure on the token-level run, then the view."""
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if measure != "attention":
        run = measure_run(run, measure, all_layers=True)
    return run.view(level, drop_special=drop_special)


def kinds(run: Run, measure: str = "attention") -> list[Kind]:
    """The kinds of attention ``run`` holds: self-attention, and an encoder-decoder's decoder and cross-attention."""
    seq2seq = run.cross_attention is not None
    out = [Kind("self", kind_label("self", seq2seq), run.tokens, run.tokens, run.attention, run.special, run.special,
                run.mask, measure)]
    if not seq2seq:
        return out
    target = run.decoder_side
    if run.decoder_attention is not None:
        out.append(Kind("decoder", kind_label("decoder"), target.tokens, target.tokens, run.decoder_attention,
                        target.special, target.special, run.decoder_mask, "attention"))
    out.append(Kind("cross", f"{kind_label('cross')} (target → source)", target.tokens, run.tokens, run.cross_attention,
                    target.special, run.special, run.cross_mask, "attention"))
    return out


def view_names(kind: Kind) -> list[list[str]]:
    """Each drawing's name: "3-1" (layer 3, head 1), or the layer's title for a measure that mixes the heads."""
    n_layers, n_heads = kind.attention.shape[:2]
    m = MEASURES[kind.measure]
    return [[head_label(l, h) if m.per_head else m.title(l + 1) for h in range(n_heads)] for l in range(n_layers)]


def patterns(kind: Kind) -> list[list[str]]:
    """Each head's dominant pattern (``attnviz.stats``), short, for the grid's thumbnails."""
    n_layers, n_heads = kind.attention.shape[:2]
    mask = kind.mask if kind.mask is not None and kind.mask.shape == kind.attention.shape[-2:] else None
    stats = head_stats(kind.attention, np.asarray(kind.key_special, dtype=bool), mask)
    labels = [SHORT_PATTERNS.get(p, p) for p in stats["pattern"]]
    return [labels[l * n_heads:(l + 1) * n_heads] for l in range(n_layers)]


def overlaid(kind: Kind) -> bool:
    """Whether the page offers "all heads of the layer" (every head overlaid, one colour each, as the app's toggle)."""
    return MEASURES[kind.measure].per_head and kind.attention.shape[1] > 1


def columns(kind: Kind) -> list[int | None]:
    """The drawings of each layer: one per head, then None for every head of the layer overlaid (``overlaid``)."""
    return [*range(kind.attention.shape[1]), *([None] if overlaid(kind) else [])]


def arcs_of(kind: Kind, layer: int, head: int | None, title: str, top_k: int | None, max_arcs: int):
    """One head's arc drawing (head None: every head of the layer, with a legend): ``arcs_svg`` for
    self-attention, ``cross_svg`` (two rows) for cross-attention."""
    w = kind.attention[layer, head] if head is not None else kind.attention[layer]
    labels = None if head is not None else [head_label(layer, h) for h in range(kind.attention.shape[1])]
    if kind.key == "cross":
        return cross_svg(kind.key_tokens, kind.query_tokens, w, title=title, top_k=top_k, max_arcs=max_arcs, layers=labels)
    sinks = [i for i, s in enumerate(kind.key_special) if s]
    return arcs_svg(kind.query_tokens, w, title=title, top_k=top_k, max_arcs=max_arcs, layers=labels,
                    layout=auto_layout(kind.query_tokens), sinks=sinks)


def thumb(matrix: np.ndarray) -> str:
    """A head's map pooled to at most THUMB_SIDE a side (``downsample``), one byte a cell, in base64."""
    small = np.clip(np.nan_to_num(downsample(matrix, THUMB_SIDE)), 0.0, 1.0)
    return base64.b64encode(np.round(small * 255).astype(np.uint8).tobytes()).decode("ascii")


def budget(all_kinds: list[Kind]) -> tuple[int, int]:
    """(arcs per drawing, drawings in all): MAX_ARCS_PER_VIEW, or less so the file holds at most MAX_ARCS_TOTAL."""
    n_views = sum(k.attention.shape[0] * len(columns(k)) for k in all_kinds)
    return max(1, min(MAX_ARCS_PER_VIEW, MAX_ARCS_TOTAL // max(n_views, 1))), n_views


def heatmap_note(kind: Kind) -> str:
    """Why this kind's heatmaps are left out ("" when they are in the file)."""
    n_layers, _, n_q, n_k = kind.attention.shape
    n_maps = n_layers * len(columns(kind))
    if max(n_q, n_k) > HEATMAP_MAX_TOKENS:
        return (f"Heatmaps left out: {max(n_q, n_k)} tokens is more than {HEATMAP_MAX_TOKENS} (the file would hold "
                f"{n_q * n_k:,} cells per head). The arcs show each token's strongest links; the grid below, every head.")
    if n_maps * n_q * n_k > HEATMAP_MAX_CELLS:
        return (f"Heatmaps left out: {n_maps} maps of {n_q} × {n_k} cells is more than this file's budget "
                f"of {HEATMAP_MAX_CELLS:,} cells. The arcs and the grid below show every head.")
    return ""


def drawings(kind: Kind, top_k: int | None, max_arcs: int, heatmaps: bool) -> tuple[list, list, list | None]:
    """(arcs, notes, heatmaps or None): per layer, one of each per head of ``columns`` (the overlay last)."""
    m = MEASURES[kind.measure]
    names = view_names(kind)
    short = kind.label.split(" (")[0].lower()
    arcs, notes, heat = [], [], []
    for l in range(kind.attention.shape[0]):
        row, row_notes, row_heat = [], [], []
        for h in columns(kind):
            name = (f"layer {l + 1}, all heads" if h is None else f"head {names[l][h]}") if m.per_head else names[l][h]
            drawing = arcs_of(kind, l, h, " · ".join(x for x in (short, m.name, name) if x), top_k, max_arcs)
            row.append(drawing.svg)
            row_notes.append(f"Showing the {drawing.n_drawn:,} strongest of {drawing.n_drawn + drawing.n_dropped:,} links."
                             if drawing.n_dropped else "")
            if heatmaps:
                matrix = kind.attention[l, h] if h is not None else kind.attention[l].mean(axis=0)
                row_heat.append(heatmap_svg(matrix, kind.query_tokens, kind.key_tokens, colorbar_label=m.colorbar_label or m.name,
                                            title=f"layer {l + 1} (mean of heads)" if h is None else name))
        arcs.append(row)
        notes.append(row_notes)
        heat.append(row_heat)
    return arcs, notes, heat if heatmaps else None


def kind_data(kind: Kind, top_k: int | None, max_arcs: int) -> dict:
    """Everything the page shows of one kind of attention: names, arcs, notes, heatmaps, thumbnails."""
    m = MEASURES[kind.measure]
    n_layers, n_heads = kind.attention.shape[:2]
    note = heatmap_note(kind)
    arcs, notes, heatmaps = drawings(kind, top_k, max_arcs, heatmaps=not note)
    small = downsample(kind.attention[0, 0], THUMB_SIDE).shape
    about = (f"{m.noun.capitalize()}: {m.mixes}." if not m.per_head else f"{m.noun.capitalize()}.") + (
        f" Top {top_k} links per token." if top_k else " Every link.")
    return {
        "key": kind.key, "label": kind.label, "layers": n_layers, "heads": n_heads, "overlay": overlaid(kind),
        "names": view_names(kind), "patterns": patterns(kind), "arcs": arcs, "notes": notes, "heatmaps": heatmaps,
        "heatmap_note": note, "thumbs": [[thumb(kind.attention[l, h]) for h in range(n_heads)] for l in range(n_layers)],
        "thumb_rows": int(small[0]), "thumb_cols": int(small[1]), "about": about,
        "grid_title": (f"All layers ({m.noun}, one map per layer)" if not m.per_head else
                       f"All heads ({n_layers} layers × {n_heads} heads): click a map to show it above"),
    }


def page_data(run: Run, *, measure: str = "attention", level: str = "token", drop_special: bool = False,
              top_k: int | None = TOP_K, kind: str = "self", layer: int = 1, head: int | str = 1) -> dict:
    """The page's data for ``run`` (see the module's docstring); ``kind``, ``layer`` and ``head`` (1-based, or "all":
    every head of the layer overlaid) are shown first. Raises ``ValueError`` (or ``MeasureUnavailableError``) with a
    plain message for what cannot be shown."""
    shown = prepared(run, measure, level, drop_special)
    all_kinds = kinds(shown, measure)
    keys = [k.key for k in all_kinds]
    if kind not in keys:
        raise ValueError(f"this run has no {kind!r} attention; it has {', '.join(keys)}")
    start = keys.index(kind)
    n_layers, n_heads = all_kinds[start].attention.shape[:2]
    good_head = head == "all" or (isinstance(head, int) and head >= 1 and (n_heads == 1 or head <= n_heads))
    if not 1 <= layer <= n_layers or not good_head:
        raise ValueError(f"layer and head are 1-based: layer 1-{n_layers}, head 1-{n_heads} or \"all\" "
                         f"(got layer {layer}, head {head})")
    first = (n_heads if overlaid(all_kinds[start]) else 0) if head == "all" else min(head, n_heads) - 1
    per_view, n_views = budget(all_kinds)
    note = "" if per_view == MAX_ARCS_PER_VIEW else (
        f"This file keeps at most {MAX_ARCS_TOTAL:,} links in all: {n_views} drawings, so each shows at most its "
        f"{per_view:,} strongest links.")
    return {"colours": [colour(i / 255) for i in range(256)], "kinds": [kind_data(k, top_k, per_view) for k in all_kinds],
            "initial": {"kind": start, "layer": layer - 1, "head": first}, "note": note}


def pack(data: dict) -> str:
    """``data`` as gzipped JSON in base64 (the page unpacks it with the browser's DecompressionStream)."""
    return base64.b64encode(gzip.compress(json.dumps(data, separators=(",", ":")).encode("utf-8"), 6, mtime=0)).decode("ascii")
