"""The view state that a shared link restores, and its translation to and from the URL.

Pure Python (no Streamlit) so the rules are easy to test: ``parse`` turns raw query
parameters into a valid ``ViewState`` plus notices for everything it had to correct;
``fit`` clamps layer and head to a loaded model; ``ViewState.to_params`` writes
the non-default fields back. Layers and heads are 1-based in the URL and the UI ("3-1" = layer 3, head 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from attnviz.catalog import DEFAULT_MODEL, LOCAL_MODEL, LOCAL_TRAINED
from attnviz.measures import MEASURES

#: The first screen's sentence: its relations (advmod, obj, case) are followed by three different heads of the
#: default model, each credited on UD EWT dev beyond position (components/head_strip.py); every word is in the
#: toy grammar's vocabulary, so the trained local model reads it too.
DEFAULT_TEXT = "heavy snow often keeps the children in the house"
EXAMPLES = {
    "heavy snow": DEFAULT_TEXT,
    "driving": "heavy snow makes driving more difficult",
    "relative clause": "the dogs that the cat sees run fast",
    "toy grammar": "the heavy snow makes the driving more difficult",
    "long subject": "The keys to the old cabinet in the hallway are missing.",
    "questions": "Why did the committee reject the proposal so quickly?",
    "pronouns": "Mary told John that she would call him after the meeting.",
}
MODELS = {
    DEFAULT_MODEL: "all-MiniLM-L6-v2 (BERT, offline default)",
    LOCAL_TRAINED: "Local transformer, trained on the toy grammar",
    LOCAL_MODEL: "Local transformer, random weights",
}
MAX_TEXT_CHARS = 10_000  # longer text is cut here; the model then keeps what fits its maximum
MAX_URL_TEXT_CHARS = 2_000  # longer sentences are not written into a shared link
MAX_MODEL_CHARS = 200
TOP_K = (1, 2, 3, 5, 10, 0)  # 0 = all links


@dataclass(frozen=True)
class ViewState:
    text: str = DEFAULT_TEXT
    model: str = DEFAULT_MODEL
    layer: int = 3  # 1-based; 3-1: the default model's object head (follows obj on UD EWT dev beyond position)
    head: int = 1  # 1-based
    all_heads: bool = False  # overlay every head of the layer
    causal: bool = False  # look-ahead mask
    level: str = "token"  # "token" | "word"
    hide_special: bool = False
    top_k: int = 3  # links kept per token in the arc view; 0 = all
    # seq2seq: which attention an encoder-decoder shows, its decoder's target text, tokens to generate
    kind: str = "self"  # attnviz.labels.KINDS: "self" (of the encoder, or of a decoder-only model) | "decoder" | "cross"
    target: str = ""  # empty: no typed target
    new: int = 0  # continue greedily by this many tokens (0 = off, at most MAX_NEW_TOKENS)
    measure: str = "attention"  # a key of attnviz.measures.MEASURES: attention | value | rollout | flow
    # the explorer's query-key view (components/qk_view.py): open or not, its query and key positions (0-based, as
    # in its pickers; -1: the view's default, the first non-special token and the most-attended key)
    qk_open: bool = False
    qk_query: int = -1
    qk_key: int = -1

    def to_params(self) -> dict[str, str]:
        """Query parameters for the fields that differ from the defaults."""
        default, out = ViewState(), {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            if f.name in ("text", "target") and len(value) > MAX_URL_TEXT_CHARS:
                continue
            key = _PARAM[f.name]
            if f.name == "kind":
                value = KIND_WORDS[value]
            out[key] = _BOOL_WORDS[key][int(value)] if isinstance(value, bool) else str(value)
        return out

    def as_dict(self) -> dict:
        return asdict(self)

    def run_key(self, all_layers: bool = False) -> RunKey:
        """The key of this view's run in its measure, level and special tokens (``components.data``): layer, head
        and display options are not part of it. ``all_layers``: a measure computed per layer (flow) for every layer."""
        layer = None if all_layers else self.layer - 1
        return RunKey(self.model, self.text, self.causal, measure=self.measure, layer=layer, level=self.level,
                      hide_special=self.hide_special)

    def without_qk(self) -> ViewState:
        """This view with the query-key view's fields at their defaults: the key of figures that do not show it."""
        return replace(self, qk_open=False, qk_query=-1, qk_key=-1)


@dataclass(frozen=True)
class RunKey:
    """What identifies one cached run of the model and what is derived from it (its measure, its word-level or
    special-token-free view, its statistics): the cache key of ``components.data``, a hashable frozen value.

    The forward pass depends only on ``model``, ``text``, ``causal``, ``target`` and ``new`` (``captured``); the
    measure on the layer only for a measure computed one layer at a time (flow): for the others ``layer`` is None."""

    model: str
    text: str
    causal: bool = False
    target: str = ""  # an encoder-decoder's decoder input (attnviz.capture_pair); "" = none
    new: int = 0  # a greedy continuation by this many tokens (attnviz.generate); 0 = none
    measure: str = "attention"
    layer: int | None = None  # 0-based; kept only for a measure computed per layer (None there: every layer)
    level: str = "token"
    hide_special: bool = False

    def __post_init__(self) -> None:
        if not MEASURES[self.measure].by_layer:
            object.__setattr__(self, "layer", None)

    @property
    def captured(self) -> RunKey:
        """The key of the forward pass alone (attention weights, token level, special tokens kept)."""
        return RunKey(self.model, self.text, self.causal, self.target, self.new)

    @property
    def measured(self) -> RunKey:
        """The key of the measure at token level, special tokens kept."""
        return replace(self, level="token", hide_special=False)


_PARAM = {"text": "text", "model": "model", "layer": "layer", "head": "head", "all_heads": "heads",
          "causal": "mask", "level": "level", "hide_special": "special", "top_k": "topk"}
_BOOL_WORDS = {"heads": ("one", "all"), "mask": ("off", "on"), "special": ("show", "hide")}
_PARAM.update(kind="kind", target="target", new="new")  # seq2seq
_PARAM.update(measure="measure")
_PARAM.update(qk_open="qk", qk_query="query", qk_key="key")  # the query-key view
_BOOL_WORDS["qk"] = ("closed", "open")


def _cut(what: str, value: str, notices: list[str]) -> str:
    """A text from a link, cut to MAX_TEXT_CHARS (with a notice when it was longer)."""
    if len(value) > MAX_TEXT_CHARS:
        notices.append(f"The {what} in the link had {len(value):,} characters; kept the first {MAX_TEXT_CHARS:,}.")
    return value[:MAX_TEXT_CHARS]


def _short(value: str, n: int = 40) -> str:
    return value if len(value) <= n else value[:n] + "…"


def parse(params: Mapping[str, str]) -> tuple[ViewState, list[str]]:
    """A valid ViewState from raw query parameters, and a notice per corrected value."""
    values: dict = {}
    notices: list[str] = []
    for part in (_parse_words, _parse_numbers, _parse_switches, _parse_seq2seq, _parse_positions):
        part(params, values, notices)
    return replace(ViewState(), **values), notices


def _ignored(notices: list[str], key: str, raw: str, fallback, expected: str) -> None:
    notices.append(f"Ignored {key}={_short(raw)!r} from the link ({expected}); using {fallback!r}.")


def _parse_words(params: Mapping[str, str], values: dict, notices: list[str]) -> None:
    """The text, the model, the level and the measure."""
    state = ViewState()
    if "text" in params:
        text = _cut("text", str(params["text"]), notices)
        if text.strip():
            values["text"] = text
        else:
            _ignored(notices, "text", text, state.text, "it is empty")
    if "model" in params:
        model = str(params["model"]).strip()
        if model and len(model) <= MAX_MODEL_CHARS:
            values["model"] = model  # loading it may still fail: the app then falls back, with a notice
        else:
            _ignored(notices, "model", model, state.model, f"a model id or folder of at most {MAX_MODEL_CHARS} characters")
    if "level" in params:
        raw = str(params["level"]).lower()
        if raw in ("token", "word"):
            values["level"] = raw
        else:
            _ignored(notices, "level", raw, state.level, "'token' or 'word'")
    if "measure" in params:
        raw = str(params["measure"]).lower()
        if raw in MEASURES:
            values["measure"] = raw  # whether this model and input allow it is known only later: the pages fall back
        else:
            _ignored(notices, "measure", raw, state.measure, "one of " + ", ".join(f"'{m}'" for m in MEASURES))


def _parse_numbers(params: Mapping[str, str], values: dict, notices: list[str]) -> None:
    """Layer, head (from 1; their upper bound depends on the model: ``fit``) and links per token."""
    state = ViewState()
    for name, key in (("layer", "layer"), ("head", "head"), ("top_k", "topk")):
        if key in params:
            raw = str(params[key])
            try:
                number = int(raw)
            except ValueError:
                _ignored(notices, key, raw, getattr(state, name), "not a whole number")
                continue
            if name == "top_k" and number not in TOP_K:
                _ignored(notices, key, raw, state.top_k, f"one of {', '.join(map(str, TOP_K))}")
            elif name != "top_k" and number < 1:
                _ignored(notices, key, raw, getattr(state, name), "layers and heads count from 1")
            else:
                values[name] = number


def _parse_switches(params: Mapping[str, str], values: dict, notices: list[str]) -> None:
    """The on/off values: all heads, the look-ahead mask, hidden specials, the query-key view open."""
    state = ViewState()
    for name, key in (("all_heads", "heads"), ("causal", "mask"), ("hide_special", "special"), ("qk_open", "qk")):
        if key in params:
            raw = str(params[key]).lower()
            off, on = _BOOL_WORDS[key]
            if raw in (on, "1", "true"):
                values[name] = True
            elif raw in (off, "0", "false"):
                values[name] = False
            else:
                _ignored(notices, key, raw, off if not getattr(state, name) else on, f"'{on}' or '{off}'")


def _parse_positions(params: Mapping[str, str], values: dict, notices: list[str]) -> None:
    """The query-key view's token positions (from 0; their upper bound depends on the text: components/qk_view.py
    clamps it)."""
    for name, key in (("qk_query", "query"), ("qk_key", "key")):
        if key in params:
            raw = str(params[key])
            try:
                number = int(raw)
            except ValueError:
                number = -1
            if number >= 0:
                values[name] = number
            else:
                notices.append(f"Ignored {key}={_short(raw)!r} from the link (a token position, counting from 0); "
                               "using the view's default token.")


def fit(state: ViewState, n_layers: int, n_heads: int) -> tuple[ViewState, list[str]]:
    """Clamp layer and head to the model's size, with a notice for each change the person asked for
    (the default head is the default model's: a smaller model quietly starts at its nearest head)."""
    notices, layer, head, default = [], state.layer, state.head, ViewState()
    if not 1 <= layer <= n_layers:
        layer = min(max(layer, 1), n_layers)
        if state.layer != default.layer:
            notices.append(f"This model has {n_layers} layers; showing layer {layer} instead of {state.layer}.")
    if not 1 <= head <= n_heads:
        head = min(max(head, 1), n_heads)
        if state.head != default.head:
            notices.append(f"This model has {n_heads} heads per layer; showing head {head} instead of {state.head}.")
    return replace(state, layer=layer, head=head), notices


# ---------------------------------------------------------------- seq2seq: kind, target, new
#: The app's one word for each kind of attention (``attnviz.labels.KINDS``): in links, where ``to_params`` writes it and
#: ``parse`` reads it back (links out there say ``kind=encoder``), and in figure titles and file names. Fixed, so that
#: those links and names keep working.
KIND_WORDS = {"self": "encoder", "decoder": "decoder", "cross": "cross"}
MAX_NEW_TOKENS = 50  # attnviz.generate's own limit


def _parse_seq2seq(params: Mapping[str, str], values: dict, notices: list[str]) -> None:
    """``kind``, ``target`` and ``new`` from the link into ``values``, with a notice per corrected value.

    Whether the model has a decoder (so that ``kind`` and ``target`` apply) is known only once it
    is loaded: ``components.kinds`` falls back there, with a notice, for a model without one."""
    if "kind" in params:
        raw = str(params["kind"]).lower()
        kind = {word: kind for kind, word in KIND_WORDS.items()}.get(raw)
        if kind is not None:
            values["kind"] = kind
        else:
            notices.append(f"Ignored kind={_short(raw)!r} from the link ('encoder', 'decoder' or 'cross'); using 'encoder'.")
    if "target" in params:
        values["target"] = _cut("target", str(params["target"]), notices)
    if "new" in params:
        raw = str(params["new"])
        try:
            number = int(raw)
        except ValueError:
            number = None
        if number is not None and 0 <= number <= MAX_NEW_TOKENS:
            values["new"] = number
        else:
            notices.append(f"Ignored new={_short(raw)!r} from the link (a whole number of tokens from 0 to "
                           f"{MAX_NEW_TOKENS}); using 0.")
