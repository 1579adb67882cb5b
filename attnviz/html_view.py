"""Interactive views in a notebook, and the same view as one self-contained HTML file.

    view = attnviz.show(run)                          # in Jupyter: shown inline (``_repr_html_``)
    attnviz.show(run, measure="value", level="word", layer=3, head=1)
    attnviz.save_html(run, "snow.html")               # one file: opens from disk, no network, no server
    view.html()                                       # the file's text; view.save(path) writes it

The view is the explorer's: a layer and a head (or all heads of the layer) picked on the page, that head's arcs (hover a token: its
outgoing links orange, incoming blue; click to pin; hover an arc for its weight) and its heatmap (hover a
cell for its value), the all-heads grid (click a map to show it), and for an encoder-decoder a picker for
the encoder's and decoder's self-attention and the cross-attention. The measures (``measure=``: value-weighted,
rollout, flow) and the word level (``level="word"``, ``drop_special=True``) are derived as in the app.

**Why ``_repr_html_`` and not anywidget.** An anywidget view could switch layer and head from Python, but it
needs a live kernel and the widget manager on the page: a saved notebook, nbviewer, or a colleague's copy
shows nothing, and the HTML file would need a second code path. ``_repr_html_`` returns plain HTML with every
layer and head of the captured run embedded under the top-k budget of ``attnviz.view_data`` (0.3 MB at 16
tokens, about 3 MB at 512: see docs/figures.md), so switching happens in the browser, and the same HTML works
in JupyterLab, Jupyter Notebook, VS Code and Colab, offline, with no CDN and no extension, and is the file
``save_html`` writes. The cost: the view holds the run it was made from (show it again for another text),
and a notebook opened untrusted shows a line asking to trust it or run the cell (JupyterLab runs no script
of an untrusted output). The tests show outputs the way JupyterLab does (innerHTML, then each script
re-created); VS Code and Colab were not tried here.

Safety: the drawings are attnviz's SVG (token text escaped), and the page's JavaScript is the app's own file
(``attnviz/static/attnviz_views.js``), which parses each SVG as XML and drops anything but plain drawing; the
title and the text are escaped here. The data sits in a ``<script type="application/octet-stream">`` as base64,
which holds no ``<``; nothing in the page refers to any URL.
"""

from __future__ import annotations

import datetime as _dt
import html
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from attnviz.measures import MEASURES
from attnviz.run import Run
from attnviz.static import PAGE_CSS, PAGE_JS, VIEWS_CSS, VIEWS_JS
from attnviz.view_data import TOP_K, pack, page_data

#: Text shown in the title at most (characters); the whole text is in the line under it, up to TEXT_LINE_MAX.
TITLE_TEXT_MAX = 80
TEXT_LINE_MAX = 2000
NOJS = ("This interactive view needs JavaScript. In Jupyter, run the cell again or trust the notebook; "
        "or save it with attnviz.save_html and open the file in a browser.")


def attnviz_version() -> str:
    try:
        return version("attnviz")
    except PackageNotFoundError:
        return "(not installed)"


def mask_words(run: Run) -> str:
    if run.causal:
        return "look-ahead mask (added by attnviz)"
    return "the model's own look-ahead mask" if run.look_ahead else "no mask"


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class View:
    """An interactive view of a captured run: Jupyter shows it inline, ``save`` writes it as one HTML file.

    Options as ``attnviz.show``. The drawings are made here, once (a bad option raises ``ValueError`` now,
    with a plain message); the view then holds only text."""

    def __init__(self, run: Run, *, measure: str = "attention", level: str = "token", drop_special: bool = False,
                 top_k: int | None = TOP_K, kind: str = "self", layer: int = 1, head: int | str = 1, title: str | None = None):
        if top_k is not None and top_k < 1:
            raise ValueError("top_k is the number of links kept per token: 1 or more, or None for every link")
        self.packed = pack(page_data(run, measure=measure, level=level, drop_special=drop_special, top_k=top_k,
                                     kind=kind, layer=layer, head=head))
        model = run.model_name.split("/")[-1] or "model"
        self.measure = measure
        self.title = title or (f"{model} · “{shorten(run.text, TITLE_TEXT_MAX)}” · {MEASURES[measure].noun or measure}"
                               f" · {mask_words(run)}")
        what = [f"Model: {run.model_name}", f"measure: {MEASURES[measure].noun or measure}", f"mask: {mask_words(run)}",
                f"level: {level}" + (", special tokens dropped" if drop_special else "")]
        if run.target is not None and run.target.text:
            what.append(f"target: “{shorten(run.target.text, TEXT_LINE_MAX)}”")
        if run.n_truncated:
            what.append(f"the text was cut to the model's first {run.meta['n_model_tokens']:,} tokens ({run.n_truncated:,} cut)")
        self.about = " · ".join(what)
        self.text_line = f"Text: “{shorten(run.text, TEXT_LINE_MAX)}”"
        made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.made = (f"Made with attnviz {attnviz_version()} on {made}. Self-contained: every layer and head of the "
                     f"captured run is in this page (top {top_k} links per token per head), no network needed."
                     if top_k else f"Made with attnviz {attnviz_version()} on {made}. Self-contained: no network needed.")

    def fragment(self, heading: str = "h2") -> str:
        """The view as an HTML fragment (what a notebook shows): header, data, styles and the module script."""
        page_id = f"attnviz-{uuid.uuid4().hex}"
        esc = html.escape
        return "\n".join([
            f'<div class="attnviz-page" id="{page_id}">',
            f"<style>{VIEWS_CSS}\n{PAGE_CSS}</style>",
            f'<{heading} class="attnviz-title">{esc(self.title)}</{heading}>',
            f'<p class="attnviz-about">{esc(self.about)}</p>',
            f'<p class="attnviz-about attnviz-text">{esc(self.text_line)}</p>',
            f'<p class="attnviz-made">{esc(self.made)}</p>',
            f'<p class="attnviz-nojs">{esc(NOJS)}</p>',
            '<div class="attnviz-mount"></div>',
            f'<script type="application/octet-stream" class="attnviz-packed">{self.packed}</script>',
            f'<script type="module">\n{VIEWS_JS}\n{PAGE_JS}\nmountPage(document.getElementById("{page_id}"), mountView);\n</script>',
            "</div>",
        ])

    def html(self) -> str:
        """The view as a whole HTML document: the file ``save`` writes."""
        return "\n".join([
            "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(self.title)} · attnviz</title>", "</head>",
            '<body style="margin: 16px;">', self.fragment(heading="h1"), "</body>", "</html>", ""])

    def save(self, path: str | Path) -> Path:
        """Write ``html()`` to ``path`` (UTF-8); returns the path."""
        path = Path(path)
        path.write_text(self.html(), encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        return self.fragment()

    def __repr__(self) -> str:
        return f"<attnviz view: {self.title}; {self.about}>"


def show(run: Run, **options) -> View:
    """An interactive view of ``run`` that Jupyter (Lab, Notebook, VS Code, Colab) shows inline, offline.

    measure: "attention" (default), "value", "rollout", "flow" (``attnviz.measures.MEASURES``), computed for the
    self-attention of the token-level run; level: "token" or "word"; drop_special: drop [CLS]/[SEP] and
    renormalise; top_k: links kept per token in the arcs (None: every link, still at most
    ``view_data.MAX_ARCS_PER_VIEW`` per drawing); kind: "self", "decoder" or "cross" (encoder-decoders) shown
    first; layer, head: 1-based, shown first (every one can be picked on the page; head="all": every head of the
    layer overlaid, with a legend that hides and shows heads); title: the heading."""
    return View(run, **options)


def save_html(run: Run, path: str | Path, **options) -> Path:
    """Write ``show(run, **options)`` as one self-contained HTML file (no network, no server); returns the path."""
    return View(run, **options).save(path)
