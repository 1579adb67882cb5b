"""The head map page's Streamlit parts: a corpus, one pass of it on the fair job queue, and the layer's heads as small
multiples (``attnviz.head_map``, ``attnviz.figures.head_maps``); a click on a point opens its sentence in the explorer.

Corpora: the built-in sample (parsed by spaCy, as on Heads vs. syntax), UD English EWT dev (gold trees) when
``../shared/ud/en_ewt-ud-dev.conllu`` is there, the toy grammar's generated corpus, or an uploaded CoNLL-U file. The
layer, the model, the look-ahead mask and "Hide special tokens" are the view's (the sidebar). The page's own link
parameters, each written only when it differs from its default (``session_keys.URL_EXTRA``) and read from the link
the session was opened with: ``corpus`` (sample | ud | generated | upload), ``count`` (sentences, 1 to 500) and
``colour`` (kind | position | pos | relation).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from attnviz.conllu_io import read_conllu
from attnviz.errors import ParserUnavailableError, UnsupportedModelError
from attnviz.figures.head_maps import COLOUR_BY, head_map_figure, point_token
from attnviz.head_map import MAX_SENTENCES, HeadMap, head_map
from attnviz.labels import head_label
from attnviz.parsing import load_sample, sample_texts
from attnviz.toygrammar.grammar import EVAL_SEED, held_out_corpus
from components import data, heavy, hosting
from components import session_keys as keys
from components.app_settings import settings
from components.charts import chart
from components.downloads import export_buttons, file_stem
from components.markdown import literal

UD_DEV = Path(__file__).resolve().parents[2] / "shared" / "ud" / "en_ewt-ud-dev.conllu"
#: The map's hover box (the token in its sentence), drawn beside the pointer from plain data: components/js/head_map_hover.js.
_hover = st.components.v2.component("attnviz.head_map_hover",
                                    js=(Path(__file__).resolve().parent / "js" / "head_map_hover.js").read_text(encoding="utf-8"))
SOURCES = {"sample": "Built-in sample (parsed by spaCy)", "ud": "UD English EWT dev (gold trees)",
           "generated": "Generated corpus (the toy grammar's trees)", "upload": "Upload a CoNLL-U file (gold trees)"}
DEFAULT_COUNT = 200
PAGE_CELL = 200  # px per head's plot on the page (a 1440 px window's column holds four, beside the legend)
#: The page's widgets: the link parameter each mirrors, and its default.
CORPUS, COUNT, COLOUR = "map_corpus", "map_count", "map_colour"
PARAMS = {CORPUS: "corpus", COUNT: "count", COLOUR: "colour"}
DEFAULTS = {CORPUS: "sample", COUNT: DEFAULT_COUNT, COLOUR: "kind"}
RESULTS_KEPT = 2  # head maps kept per session (each ~1.5 MB: its points and tokens, not its vectors)


def sources() -> list[str]:
    """The corpora offered here: UD EWT dev only when the shared file is there."""
    return [s for s in SOURCES if s != "ud" or UD_DEV.is_file()]


def _from_link(link: Mapping[str, str], notices: list[str]) -> dict:
    """The page's widget values named by the link it was opened with, a notice for each one it cannot use."""
    values = {}
    corpus = link.get("corpus")
    if corpus is not None:
        if corpus in sources():
            values[CORPUS] = corpus
        else:
            notices.append(f"Ignored corpus={corpus[:40]!r} from the link (one of {', '.join(sources())}); using the sample.")
    colour = link.get("colour")
    if colour is not None:
        if colour in COLOUR_BY:
            values[COLOUR] = colour
        else:
            notices.append(f"Ignored colour={colour[:40]!r} from the link (one of {', '.join(COLOUR_BY)}); colouring by query / key.")
    count = link.get("count")
    if count is not None:
        number = int(count) if count.isdigit() else 0
        limit = hosting.HOSTED_MAX_SENTENCES if settings().hosted else MAX_SENTENCES
        if number > limit:
            where = "This shared app maps" if settings().hosted else "A head map reads"
            notices.append(f"{where} at most {limit} sentences per request: count={number:,} from the link is refused; "
                           f"showing {limit}.")
            values[COUNT] = limit
        elif number >= 1:
            values[COUNT] = number
        else:
            notices.append(f"Ignored count={count[:40]!r} from the link (a number of sentences from 1 to {limit}).")
    return values


def arrive() -> None:
    """Before the page's widgets: their values from the session's link (the first time the page runs in the session)
    or as the page left them (after a page switch, Streamlit has dropped them)."""
    ss = st.session_state
    if keys.HEAD_MAP_SAVED not in ss:
        notices: list[str] = []
        ss[keys.HEAD_MAP_SAVED] = {**DEFAULTS, **_from_link(ss.get(keys.URL_SEED, {}), notices)}
        for notice in notices:
            st.warning(literal(notice), icon=":material/warning:")
    for key, value in ss[keys.HEAD_MAP_SAVED].items():
        ss.setdefault(key, value)
    if ss[CORPUS] not in sources():
        ss[CORPUS] = DEFAULTS[CORPUS]


def leave(count_default: int = DEFAULT_COUNT) -> None:
    """After the page's widgets: keep their values for the next visit, and put those that differ from the defaults
    in the link (``count_default``: the corpus's, when it has fewer than ``DEFAULT_COUNT`` sentences)."""
    ss = st.session_state
    ss[keys.HEAD_MAP_SAVED] = saved = {key: ss.get(key, value) for key, value in DEFAULTS.items()}
    defaults = {**DEFAULTS, COUNT: count_default}
    ss[keys.URL_EXTRA] = {PARAMS[k]: str(v) for k, v in saved.items() if v != defaults[k]}


@st.cache_resource(show_spinner="Reading UD English EWT dev…")
def _ud_dev() -> list:
    return read_conllu(UD_DEV, limit=MAX_SENTENCES)


def corpus(source: str):
    """(sentences or texts, digest, name) of the chosen corpus, or None after saying why there is none."""
    if source == "ud":
        return _ud_dev(), "ud-dev", "UD English EWT dev"
    if source == "generated":
        return held_out_corpus(MAX_SENTENCES), f"toy-{EVAL_SEED}", "the generated corpus"
    if source == "upload":
        return heavy.conllu_upload("map_upload", "Upload a .conllu file of at most {limit_mb} MB; its first "
                                   f"{MAX_SENTENCES} sentences can be mapped.")
    try:
        return load_sample(data.get_parser()), "sample", "the built-in sample"
    except ParserUnavailableError as exc:
        st.info(literal(f"{exc} The sample's sentences are mapped without parts of speech and relations."))
        return sample_texts(), "sample-texts", "the built-in sample"


def count_control(available: int) -> int:
    """The number of sentences (a slider, at most 500 and what the corpus has), with the hosted limits said."""
    hosted = settings().hosted
    limit = hosting.HOSTED_MAX_SENTENCES if hosted else MAX_SENTENCES
    most = max(1, min(available, limit))
    st.session_state[COUNT] = count = min(max(1, int(st.session_state.get(COUNT, DEFAULT_COUNT))), most)
    if most > 1:  # (a slider needs two values)
        count = st.slider("Sentences", 1, most, key=COUNT,
                          help=f"A head map reads at most {MAX_SENTENCES} sentences and shows at most 10,000 points per "
                               "head (queries and keys; beyond that a fixed random sample of tokens).")
    else:
        st.caption("The corpus has one sentence.")
    if hosted:
        st.caption(f"This shared app maps at most {hosting.HOSTED_MAX_SENTENCES} sentences per request, each cut to "
                   f"{hosting.HOSTED_MAX_TOKENS} tokens.")
    return count


def mapped(view, items, digest: str, name: str, count: int, shared: bool) -> HeadMap | None:
    """The head map of the view's layer over the first ``count`` items, made on the fair job queue (shared between
    sessions for a built-in corpus) and kept in the session; None while it is made, or after saying why there is none
    (no tokens left, a model whose logits attnviz cannot split: kept too, so that a rerun does not try again)."""
    s, model = view.state, view.model
    hosted = settings().hosted
    key = (s.model, digest, count, s.layer, s.hide_special, s.causal, hosted)
    subset = list(items[:count])
    max_tokens = hosting.HOSTED_MAX_TOKENS if hosted else None
    limit = hosting.HOSTED_MAX_SENTENCES if hosted else MAX_SENTENCES

    def work(progress):
        try:  # kept without its vectors: the session and the shared jobs hold only what is drawn
            return head_map(model, subset, s.layer - 1, specials=not s.hide_special, causal=s.causal,
                            max_sentences=limit, max_tokens=max_tokens, progress=progress).drawn_only()
        except (ValueError, UnsupportedModelError) as exc:  # said on the page, and kept: not run again for this key
            return exc

    # the label goes to a progress bar as Markdown: a file name only as safe characters
    label = f"Recording layer {s.layer}'s queries and keys on {count} sentences of {name if shared else file_stem(name)}"
    result = heavy.kept(keys.HEAD_MAP_RESULTS, keys.HEAD_MAP_JOB, key, label, work, start=lambda: True, shared=shared,
                        keep=RESULTS_KEPT)
    if isinstance(result, Exception):
        st.error(literal(f"No head map: {result}"), icon=":material/block:")
        return None
    return result


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def map_figure(_hm: HeadMap, key: tuple, colour: str, title: str) -> go.Figure:
    """The page's head map of ``key``: four 200 px plots a row, hover events but no hover labels (the hover box draws
    them); built once per colouring and shared, never changed."""
    return head_map_figure(_hm, colour, title, hover="events", cell=PAGE_CELL)


def hover_data(hm: HeadMap, chart_key: str) -> dict:
    """What the hover box shows of each point (plain data, drawn as text): the heads' labels, each token's sentence,
    position, text, characters in its sentence, POS and relation, and the text of each sentence on the map."""
    t = hm.tokens
    used = sorted(set(t["sentence"].tolist()))
    column = lambda name: [v if isinstance(v, str) else None for v in t[name].tolist()]  # noqa: E731 - None for NaN
    return {"chart": chart_key, "heads": [head_label(hm.layer, h) for h in range(hm.n_heads)],
            "tokens": {"sentence": t["sentence"].tolist(), "position": t["position"].tolist(), "token": t["token"].tolist(),
                       "start": t["start"].tolist(), "end": t["end"].tolist(), "special": t["special"].tolist(),
                       "pos": column("pos"), "relation": column("relation")},
            "texts": {str(i): hm.vectors.texts[i] for i in used}}


def _remember_pick(chart_key: str, hm: HeadMap, fig: go.Figure) -> None:
    """``on_select`` of the map (``fig``): keep the clicked point's (layer, head, sentence) for the page's next run."""
    event = st.session_state.get(chart_key)
    for point in (event.selection.points if event else []):
        found = point_token(fig, point.get("curve_number", -1), point.get("point_index", -1))
        if found is not None:
            head, _, row = found
            sentence = int(hm.tokens["sentence"].iloc[row])
            st.session_state[keys.HEAD_MAP_PICKED] = (hm.layer + 1, head + 1, hm.vectors.originals[sentence])
            return


def caption(hm: HeadMap, name: str) -> str:
    meta = hm.meta
    sampled = meta.get("sampled")
    tokens = (f"{sampled[0]:,} of its {sampled[1]:,} tokens, sampled with seed {meta['seed']} (at most 10,000 points per "
              "head)" if sampled else f"{hm.vectors.n_tokens:,} tokens")
    specials = "" if meta.get("specials", True) else " ([CLS]/[SEP] left out)"
    unreadable = f"; {meta['unreadable']} sentences the model could not read were left out" if meta.get("unreadable") else ""
    return (f"{meta['n_sentences']:,} sentences of {literal(name)}: {tokens}{specials}, each as a query and a key{unreadable}. "
            f"Recorded in {meta['seconds']:.1f} s.")


def map_section(view, hm: HeadMap, job_key: tuple, name: str) -> None:
    """Colour choice, the small multiples (click a point: its sentence in the explorer) and the exports."""
    s = view.state
    vectors = hm.vectors
    colour = st.segmented_control("Colour by", list(COLOUR_BY), format_func=COLOUR_BY.get, key=COLOUR) or "kind"
    if colour in ("pos", "relation") and not (vectors.has_pos if colour == "pos" else vectors.has_relations):
        st.info(f"This corpus has no {COLOUR_BY[colour]}s: every point is “none”. The sample (parsed by spaCy), UD EWT "
                "dev and uploaded CoNLL-U files have them.", icon=":material/info:")
    model_short = s.model.split("/")[-1]
    title = f"{model_short} · layer {s.layer}: queries and keys of each head · coloured by {COLOUR_BY[colour]}"
    fig = map_figure(hm, job_key, colour, title)
    st.caption(caption(hm, name))
    chart_key = "head_map"
    chart(fig, key=chart_key, on_select=partial(_remember_pick, chart_key, hm, fig), selection_mode="points")
    _hover(data=hover_data(hm, chart_key), key="head_map_hover")
    shapes = "" if colour == "kind" else " (queries ●, keys ◆)"
    st.caption(f"Each plot is one head: its queries and keys{shapes} placed as in AttentionViz (keys moved so that both "
               "centroids meet, queries and keys scaled to equal mean norms; no attention weight changes), then the "
               "two first principal components of both together, with the share of the variance they keep. Hover a "
               "point for its token in its sentence; click it to open that sentence in the explorer at this layer and "
               "head; click a legend entry to hide or show its points in every plot. Drag to pan, scroll to zoom.")
    export_buttons(lambda: head_map_figure(hm, colour, title, hover="none"),  # made on click (sized, no hover)
                   file_stem(model_short, "head-map", f"layer{s.layer}", colour), key="head_map")


def page(view) -> None:
    """The page below its title: the corpus, the number of sentences, the pass, then the map."""
    arrive()
    left, right = st.columns([3, 2])
    with left:
        source = st.radio("Corpus", sources(), format_func=SOURCES.get, key=CORPUS)
        chosen = corpus(source)
    if chosen is None:
        leave()
        return
    items, digest, name = chosen
    with right:
        count = count_control(len(items))
    hm = mapped(view, items, digest, name, count, shared=source != "upload")
    if hm is not None:
        s = view.state
        map_section(view, hm, (s.model, digest, count, s.layer, s.hide_special, s.causal), name)
    leave(min(DEFAULT_COUNT, len(items)))
