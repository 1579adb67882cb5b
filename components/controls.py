"""The controls every page shares, and the URL that mirrors them.

The shared widgets' values arrive once per run, before any widget (``arrive``: the link on a session's first
run, with a notice per corrected value; the values ``remember`` saved on the page before a page switch; a
click's PENDING values), are fitted to the loaded model (``settle``), and after every run ``write_url`` writes
the view back to the URL, so a copied link reopens exactly this view. ``components.session_keys`` names every
key and tells the whole flow.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import attnviz
from attnviz.measures import MEASURES, MeasureUnavailableError
from components import data, hosting, startup
from components import measures as measure_names
from components import session_keys as keys
from components.app_settings import settings
from components.decoder_mask import locked_mask, mask_locked, mask_note  # seq2seq: a decoder's own mask
from components.markdown import literal
from components.state import DEFAULT_TEXT, EXAMPLES, MAX_TEXT_CHARS, MODELS, TOP_K, ViewState, fit, parse

if TYPE_CHECKING:  # the first screen is drawn before torch is imported (components.startup)
    from attnviz import LoadedModel, Run

OTHER = "__other__"
#: The model menu's labels, short enough for the sidebar (the full descriptions are in its help).
MENU_LABELS = {m: label for m, label in zip(MODELS, ("MiniLM-L6 (offline default)", "Local, trained on toy grammar",
                                                     "Local, random weights"))}
_KEYS = [f.name for f in fields(ViewState)]
#: Widget keys whose values every page shares. Streamlit gives a widget on another page a new
#: identity (and its default value), so ``remember`` saves them at the end of each run and
#: ``arrive`` puts them back, before any widget exists, on the next page.
#: (Streamlit's own ``persist_state="session"`` carried them in a browser but not under
#: AppTest's ``switch_page``, so page switches could not be tested with it; it is not used.)
SHARED_KEYS = (keys.MODEL_CHOICE, keys.CUSTOM_MODEL, *_KEYS)


@dataclass(frozen=True)
class View:
    state: ViewState
    model: LoadedModel
    #: The layer and head controls are the page's own (drawn by ``head_controls`` inside the page's
    #: fragment, so that a new head reruns only the views), not the sidebar's.
    head_controls_in_page: bool = False

    def refreshed(self) -> View:
        """This view with the current widget values (a fragment's rerun sees the new layer and head)."""
        return replace(self, state=_current())

    @property
    def short_title(self) -> str:
        """Measure, layer, head and mask: the on-screen title of a head plot (attention weights are not named)."""
        s = self.state
        mask = f"{'look-ahead mask' if s.causal else 'no mask'} · {s.level}s"
        if measure_names.mixes_heads(s.measure):
            return f"{measure_names.title(s.measure, s.layer)} (all heads) · {mask}"
        head = "all heads" if s.all_heads else f"head {s.head}"
        named = measure_names.title(s.measure, s.layer)
        return (f"{named} · " if named else "") + f"layer {s.layer}, {head} · {mask}"

    @property
    def title(self) -> str:
        """Model, layer, head and mask: the title of exported images."""
        return f"{self.state.model.split('/')[-1]} · {self.short_title}"


def model_options(hosted: hosting.Settings) -> dict[str, str]:
    """The model menu: value -> label. In hosted mode, the allowed models only (no free-text entry)."""
    if not hosted.hosted:
        return {**MENU_LABELS, OTHER: "Another Hugging Face model…"}
    return {m: MENU_LABELS.get(m, m) for m in hosted.models}


def _from_url() -> dict:
    """The shared widgets' values from the link the session was opened with (its first run); the notices
    go to NOTICES, the parameters as they came to URL_SEED (the pages read their own ones from there).

    In hosted mode a link's model is used only if it is one of the allowed ids; any other value
    gets ``hosting.refused_notice`` (the same words whatever it was) and is never resolved or loaded."""
    ss = st.session_state
    params = st.query_params.to_dict()
    ss[keys.URL_SEED] = dict(params)
    hosted = settings()
    refused = False
    if hosted.hosted and "model" in params:
        link_model = str(params.pop("model")).strip()
        refused = not hosted.allows(link_model)
        if not refused:
            params["model"] = link_model
    state, notices = parse(params)
    if hosted.hosted and state.model not in hosted.models:
        state = replace(state, model=hosted.fallback)
    if refused:
        notices.insert(0, hosting.refused_notice(state.model))
    ss[keys.NOTICES] = notices
    ss[keys.URL_READ] = True
    known = state.model in model_options(hosted)
    return {**state.as_dict(), keys.MODEL_CHOICE: state.model if known else OTHER,
            keys.CUSTOM_MODEL: "" if known else state.model}


def arrive() -> None:
    """Before any widget: write the values this run starts from into the shared widgets' keys, later ones
    winning: the link's (a session's first run), those ``remember`` saved on another page (the first run
    after a page switch) and those a click set for this run (PENDING). The one writer of these values."""
    ss = st.session_state
    values = {} if ss.get(keys.URL_READ) else _from_url()
    saved = ss.get(keys.SAVED, {})
    if saved and saved.get(keys.PAGE) != ss.get(keys.PAGE):
        values.update({k: v for k, v in saved.items() if k != keys.PAGE})
    values.update(ss.pop(keys.PENDING, {}))
    ss.update(values)


def remember() -> None:
    """Save the shared widgets' values (call at the end of every page's run)."""
    ss = st.session_state
    saved = {k: ss[k] for k in SHARED_KEYS if k in ss}
    ss[keys.SAVED] = {**ss.get(keys.SAVED, {}), **saved, keys.PAGE: ss.get(keys.PAGE)}


def settle(name: str, model: LoadedModel) -> list[str]:
    """Fit the view's values to the loaded model, before their widgets: the model's name, layer and head
    clamped to its size, a decoder-only model's mask forced on (and put back after one).
    The one writer of these keys after ``arrive``; returns a notice per value the person asked for and lost."""
    ss = st.session_state
    values = {keys.MODEL: name}
    mask = locked_mask(model)
    if mask is not None:
        values[keys.CAUSAL] = mask
    current = _current()
    fitted, notices = fit(current, model.n_layers, model.n_heads)
    if (fitted.layer, fitted.head) != (current.layer, current.head):
        # Only when clamped: a write re-sends the value to the browser, which would undo a
        # slider move made while this run was on its way (fast key presses got lost).
        values[keys.LAYER], values[keys.HEAD] = fitted.layer, fitted.head
    ss.update(values)
    return notices


def _current() -> ViewState:
    values = {k: st.session_state[k] for k in _KEYS if k in st.session_state}
    return ViewState(**values)


@dataclass(frozen=True)
class Opening:
    """What a page drew before its model loaded (``opening``): the model the menu names, and where what
    depends on the loaded model goes (notices at the top of the page, the model's own sidebar controls)."""

    name: str
    notices: DeltaGenerator
    model_controls: DeltaGenerator


def opening(title: str | None = None, lead: str | None = None, layer_only: bool = False) -> Opening:
    """The page's first screen, drawn before the model (and torch) loads: the link's values, the model menu,
    the display options and measure in the sidebar, and with a ``title`` the title (and its ``lead``, one line saying
    what the page is for) and the sentence box. ``layer_only``: a page that reads a layer's queries and keys at token
    level (the head map) gets no Level or Measure, which it would not read."""
    arrive()
    ss = st.session_state
    notices = st.container()
    for notice in ss.pop(keys.NOTICES, []):
        notices.warning(literal(notice), icon=":material/warning:")
    sb = st.sidebar
    hosted = settings()
    options = model_options(hosted)
    if ss.get(keys.MODEL_CHOICE) not in options:
        ss[keys.MODEL_CHOICE] = hosted.fallback  # e.g. a value saved before the allowed list changed
    choice = sb.selectbox(
        "Model", list(options), key=keys.MODEL_CHOICE, format_func=lambda m: options.get(m, m),
        help="; ".join(f"{MENU_LABELS[m]}: {MODELS[m]}" for m in options if m in MODELS),
    )
    name = choice
    if choice == OTHER:
        name = sb.text_input(
            "Hugging Face model id or local folder", key=keys.CUSTOM_MODEL,
            placeholder="e.g. bert-base-uncased or /models/my-bert", max_chars=200,
        ).strip() or attnviz.DEFAULT_MODEL
    model_controls = sb.container()  # filled once the model is loaded (``sidebar``)
    if ss.get(keys.MEASURE) not in MEASURES:
        ss[keys.MEASURE] = "attention"
    if not layer_only:
        sb.radio("Level", ["token", "word"], key=keys.LEVEL, horizontal=True,
                 help="Word level merges word pieces: attention to a word = sum, from a word = mean.")
    sb.toggle("Hide special tokens", key=keys.HIDE_SPECIAL,
              help="Drop [CLS]/[SEP] rows and columns and renormalise each row to 1.")
    if not layer_only:
        measure_control(sb)
    if title is not None:
        st.title(title)
        if lead:
            st.markdown(lead)
        sentence_box()
    return Opening(name, notices, model_controls)


def sidebar(head_controls_in_page: bool = False, title: str | None = None, lead: str | None = None,
            layer_only: bool = False) -> View:
    """The first screen (``opening``), then the model: loaded (falling back to the default) behind a message at
    the top of the page, and its own controls in the sidebar (size, layer and head, the look-ahead mask).

    ``head_controls_in_page``: the page draws Layer, Head and "All heads of the layer" itself
    (``head_controls``, in its fragment) for an encoder; a model with a decoder keeps them here,
    where the views of its kinds of attention read them. ``layer_only``: a page of every head of one layer
    (the head map) gets the Layer slider alone, and no Level or Measure (``opening``)."""
    first = opening(title, lead, layer_only)
    with first.notices:
        startup.ready()
        with st.spinner("Loading the model…"):  # shown after half a second: not for a model already loaded
            name, model = loadable(first.name, settings())
        for notice in settle(name, model):
            st.warning(notice, icon=":material/warning:")
    sb = first.model_controls
    sb.caption(f"{model.architecture}: {model.n_layers} layers × {model.n_heads} heads, "
               f"{model.n_params / 1e6:.1f}M parameters, up to {model.max_tokens} tokens")
    in_page = head_controls_in_page and model.kind == "encoder"
    if not in_page:
        head_controls(model, sb, layer_only=layer_only)
    sb.toggle("Look-ahead mask", key=keys.CAUSAL, disabled=mask_locked(model),
              help="Position i may attend only to positions ≤ i (a decoder's mask), applied through hooks.")
    mask_note(sb, model)  # seq2seq
    return View(_current(), model, head_controls_in_page=in_page)


def head_controls(model: LoadedModel, *where, layer_only: bool = False) -> None:
    """Layer and head sliders and the all-heads overlay: all in ``where[0]`` (the sidebar), or one in each
    of three containers (a row of the page); with ``layer_only`` the Layer slider alone. ``sidebar`` fitted their
    values to the model before."""
    layer_at, head_at, overlay_at = (where * 3)[:3]
    layer_at.slider("Layer", 1, model.n_layers, key=keys.LAYER)
    if layer_only:
        return
    head_at.slider("Head", 1, model.n_heads, key=keys.HEAD, disabled=st.session_state.get(keys.ALL_HEADS, False))
    overlay_at.toggle("All heads of the layer", key=keys.ALL_HEADS,
                      help="Overlay every head of the layer, one colour per head (arcs only).")


def measure_control(sb) -> str:
    """The measure choice (``attnviz.measures.MEASURES``; ``opening`` made it one of them), its one-line
    explanation and paper."""
    measure = sb.radio(
        "Measure", list(MEASURES), key=keys.MEASURE, format_func=lambda m: MEASURES[m].label,
        help="What the arcs, heatmaps and grid show. Every measure is computed from the same run of the model, "
             "so switching never runs the model again.")
    m = MEASURES[measure]
    sb.caption(f"{literal(m.explanation)} ([{literal(m.paper)}]({m.url}))")
    if measure_names.mixes_heads(measure):
        sb.caption(f"{m.name.capitalize()} mixes every head of the layers: the Head slider and "
                   f"“All heads of the layer” do not apply (head {st.session_state.get(keys.HEAD, 1)} is kept for the "
                   "other measures).")
    return measure


def measured(view: View, run: Run, all_layers: bool = False, quiet: bool = False) -> tuple[View, Run]:
    """The view's measure of ``run`` (the page's cached attention view), and the view.

    A measure this model or input does not allow (flow above its token limit, value norms the model
    does not give) gets an info saying why, and the view falls back to attention weights (the URL keeps
    the choice). ``all_layers``: flow for every layer (the all-heads grid), not only the view's.
    ``quiet``: no info (a second view of the same page, whose first view said it)."""
    s = view.state
    if s.measure == "attention":
        return view, run
    try:
        return view, data.get_view(view.model, s.run_key(all_layers))
    except MeasureUnavailableError as exc:
        if not quiet:
            unavailable(exc)
        return replace(view, state=replace(s, measure="attention")), run


def unavailable(exc: Exception) -> None:
    """The info shown when a measure cannot be computed: the reason, and what is shown instead."""
    why = str(exc)
    st.info(literal(why[:1].upper() + why[1:] + ". Showing attention weights instead."), icon=":material/info:")


def loadable(name: str, hosted: hosting.Settings) -> tuple[str, LoadedModel]:
    """``name`` and its model, or, with a notice saying why, the first allowed model that loads."""
    if not hosted.allows(name):  # never reached from the menu; kept so no other path can load a model
        name = hosted.fallback
        st.warning(literal(hosting.refused_notice(name)), icon=":material/block:")
    error = data.model_error(name)
    if not error:
        return name, data.get_model(name)
    fallbacks = [m for m in (hosted.fallback, *hosted.models) if m != name and not data.model_error(m)]
    if not fallbacks:
        st.error(f"{literal(error)}\n\nNo other model of this app can be loaded here either.", icon=":material/block:")
        st.stop()
    fallback = fallbacks[0]
    which = "the default model" if fallback == attnviz.DEFAULT_MODEL else "the model"
    st.error(f"{literal(error)}\n\nShowing {which} {literal(fallback)} instead.", icon=":material/block:")
    return fallback, data.get_model(fallback)


def sentence_box() -> None:
    """The sentence input (cut to MAX_TEXT_CHARS) with one-click examples. Its value reaches the pages only
    inside the view (``ViewState.text``: ``sidebar`` read it before this draws, and drawing changes nothing)."""
    if keys.TEXT not in st.session_state:
        st.session_state[keys.TEXT] = DEFAULT_TEXT  # the view's default text (ViewState's) too
    st.text_area("Sentence", key=keys.TEXT, height=80, max_chars=MAX_TEXT_CHARS)
    cols = st.columns(len(EXAMPLES))
    for col, (label, example) in zip(cols, EXAMPLES.items()):
        col.button(label, key=f"example_{label}", on_click=st.session_state.__setitem__, args=(keys.TEXT, example),
                   use_container_width=True)


def top_k_control() -> int:
    return st.select_slider(
        "Links per token", options=list(TOP_K), key=keys.TOP_K,
        format_func=lambda k: "all" if k == 0 else str(k),
        help="Keep each token's strongest links so long inputs stay readable.",
    )


def captured(view: View) -> Run | None:
    """The cached run of the view's attention weights, or None after telling the person why there is none."""
    s = view.state
    text = s.text
    if not text.strip():
        st.info("Type a sentence to see its attention.")
        return None
    try:
        run = data.get_view(view.model, replace(s.run_key(), measure="attention"))
    except attnviz.EmptyInputError as exc:
        st.info(str(exc))
        return None
    if view.model.is_local and view.model.tokenizer.vocab is not None:
        unknown = view.model.tokenizer.encode(text).unknown
        if unknown:
            words = sorted(set(unknown))
            st.warning(literal(
                (f"{len(words)} words are" if len(words) > 1 else "1 word is")
                + " not in the trained model's vocabulary and read as [UNK]: " + ", ".join(words[:20])
                + (f" and {len(words) - 20} more" if len(words) > 20 else "")), icon=":material/spellcheck:")
            with st.expander("The vocabulary of the toy grammar"):
                st.write(", ".join(w for w in view.model.tokenizer.vocab if not w.startswith("[")))
    if run.n_truncated:
        st.warning(
            f"The text makes {run.n_input_tokens:,} tokens; {literal(s.model)} reads at most {run.meta['max_tokens']}, "
            f"so the first {run.meta['n_model_tokens']:,} tokens are shown ({run.n_truncated:,} cut).", icon=":material/content_cut:",
        )
    return run


def sentence_page(title: str, head_controls_in_page: bool = False, lead: str | None = None) -> tuple[View, Run]:
    """Sidebar, title, sentence box (drawn before the model loads) and the captured run (attention weights);
    without a run, stop the page here."""
    view = sidebar(head_controls_in_page, title, lead)
    run = captured(view)
    if run is None:
        write_url()
        st.stop()
    return view, run


def open_in_explorer(layer: int, head: int, text: str | None = None) -> None:
    """Switch to the explorer showing ``layer``-``head`` (1-based), on ``text`` when given (a sentence of a corpus)."""
    pending = {keys.LAYER: layer, keys.HEAD: head, keys.ALL_HEADS: False}
    if text is not None:
        pending[keys.TEXT] = text = text[:MAX_TEXT_CHARS]
    st.session_state[keys.PENDING] = pending
    # the switch already carries the new view's URL, so the explorer's run does not push a second
    # history entry for it (browser Back then returns to the page the click came from)
    params = ViewState(**{**_current().as_dict(), "layer": layer, "head": head, "all_heads": False,
                          **({"text": text} if text is not None else {})}).to_params()
    st.switch_page("pages/explorer.py", query_params=params)


def write_url() -> None:
    """Mirror the view in the URL so that a copied link restores it; remember it for other pages.

    Every page ends its run with this. The view is read from the session state, so a page without
    the sidebar, such as the walk-through, keeps the text, model, layer and head in the URL too.
    """
    # a page's own parameters (the explorer's link pair) are set during its full run and kept for its
    # fragments' reruns (navigation.run_app clears them when a full run starts)
    st.query_params.from_dict({**_current().to_params(), **st.session_state.get(keys.URL_EXTRA, {})})
    remember()
