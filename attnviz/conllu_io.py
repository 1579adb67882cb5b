"""Gold dependency trees from CoNLL-U, read with the ``conllu`` library, with plain messages.

    sentences = read_conllu("en_ewt-ud-dev.conllu")      # a path, the text, bytes, or a file object
    text = to_conllu(sentences)                          # and back (ID, FORM, UPOS, HEAD, DEPREL)

Each line is parsed once by ``conllu`` (its line parser, with attnviz's own ID and HEAD
readers so that a bad value is reported with its line number); the parsed tokens are then
checked for what attnviz needs (10 columns, IDs 1, 2, 3..., a HEAD and a DEPREL for every
word, heads that exist). Multiword-token lines (``3-4``) and empty nodes (``5.1``) are
skipped; relation labels keep their subtypes (``tree.base_relation`` strips them).
Every failure is a ``CoNLLUError`` (``CoNLLUFileNotFoundError`` for a missing file) whose
message says what is wrong and where: empty, binary, not UTF-8, truncated, malformed, too large.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from conllu.exceptions import ParseException
from conllu.models import Metadata, Token, TokenList
from conllu.parser import DEFAULT_FIELD_PARSERS, DEFAULT_FIELDS, parse_comment_line, parse_line

from attnviz.errors import CoNLLUError, CoNLLUFileNotFoundError
from attnviz.tree import Sentence

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: The ten CoNLL-U columns, plus one that catches an eleventh.
_FIELDS = (*DEFAULT_FIELDS, "extra")
_ID = re.compile(r"^(?:[1-9]\d*|[1-9]\d*-[1-9]\d*|\d+\.[1-9]\d*)$")


class _BadValue(Exception):
    """A value the field readers refuse; the message is completed with its line number."""


def _read_id(columns: list[str], i: int):
    value = columns[i]
    if not _ID.match(value):
        raise _BadValue(f"{value!r} is not a CoNLL-U word ID (1, 2, ... or 3-4 or 5.1).")
    return DEFAULT_FIELD_PARSERS["id"](columns, i)


def _read_head(columns: list[str], i: int):
    value = columns[i]
    if value == "_" and not columns[0].isdigit():  # multiword tokens and empty nodes have no head
        return None
    if not value.isdigit():
        raise _BadValue(
            f"word {columns[0]} has HEAD {value!r}; attnviz needs dependency trees "
            "(a number in the HEAD column for every word)."
        )
    return int(value)


_FIELD_PARSERS = {**DEFAULT_FIELD_PARSERS, "id": _read_id, "head": _read_head}


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


def _not_a_word_line(number: int, n_columns: int, line: str) -> CoNLLUError:
    return CoNLLUError(
        f"Line {number} is not a CoNLL-U word line: it has {n_columns} tab-separated "
        f"column{'s' if n_columns != 1 else ''}, 10 are expected "
        f"(ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC). Starts with: {line[:60]!r}"
    )


def _sentence(start: int, lines: list[str], is_last: bool, ends_cleanly: bool) -> Sentence | None:
    """Parse one block (each line once, by ``conllu``) into a Sentence; None for comments only."""
    open_end = is_last and not ends_cleanly  # the file stopped right after this block
    metadata: dict = {}
    words, heads, relations, pos, surface, covered = [], [], [], [], [], 0
    for k, line in enumerate(lines):
        number = start + k
        if line.startswith("#"):
            metadata.update(parse_comment_line(line.strip()))
            continue
        n_columns = len(line.split("\t"))
        try:
            token = parse_line(line.strip(), _FIELDS, _FIELD_PARSERS)
        except _BadValue as exc:
            raise CoNLLUError(f"Line {number}: {exc}") from None
        except ParseException:  # one column: neither tabs nor double spaces
            token = None
        if token is None or len(token) != 10:
            if open_end and k == len(lines) - 1 and n_columns < 10:
                raise _truncated(f"line {number} has {n_columns} of the 10 columns")
            raise _not_a_word_line(number, n_columns, line)
        tid = token["id"]
        if isinstance(tid, tuple):  # multiword token (3-4) or empty node (5.1): not a word of the tree
            if tid[1] == "-":
                surface.append(token["form"])
                covered = tid[2]
            continue
        if tid != len(words) + 1:
            raise CoNLLUError(f"Line {number}: word ID {tid} where {len(words) + 1} was expected (IDs must count 1, 2, 3, ...).")
        if not token["form"]:
            raise CoNLLUError(f"Line {number}: word {tid} has an empty FORM.")
        if token["deprel"] in ("", "_"):
            raise CoNLLUError(f"Line {number}: word {tid} has no DEPREL (dependency relation).")
        words.append(token["form"])
        heads.append(token["head"] - 1)
        relations.append(token["deprel"])
        pos.append(token["upos"] or "_")
        if tid > covered:
            surface.append(token["form"])
    n = len(words)
    if n == 0:
        if open_end and ("text" in metadata or "sent_id" in metadata):
            raise _truncated(f"the sentence starting at line {start} has no word lines yet")
        return None
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


def to_conllu(sentences: Iterable[Sentence]) -> str:
    """The sentences as CoNLL-U text, written by ``conllu``'s serializer: ID, FORM, UPOS (when known),
    HEAD (0 for the root), DEPREL; ``# sent_id`` when the sentence has one (else ``s-<n>``)."""
    blocks = []
    for n, s in enumerate(sentences):
        tokens = [
            Token(id=i + 1, form=word, lemma=None, upos=(s.pos[i] if s.pos else None), xpos=None, feats=None,
                  head=head + 1, deprel=rel, deps=None, misc=None)
            for i, (word, head, rel) in enumerate(zip(s.words, s.syntactic_heads, s.relations))
        ]
        blocks.append(TokenList(tokens, metadata=Metadata(sent_id=s.sent_id or f"s-{n}")).serialize())
    return "".join(blocks)
