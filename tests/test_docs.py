"""The README stays short, and every relative link and image in README.md and docs/*.md works.

A link works when its file exists in the repository and, for ``#anchor`` (alone, or after a
Markdown file), when the target has a heading with that anchor under GitHub's rules: lower case,
punctuation other than ``-`` and ``_`` removed, each space a ``-``, and ``-1``, ``-2``, ... for
repeated headings. Links with a scheme (``https:``, ``mailto:``) are not checked.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import pytest

import attnviz
from attnviz.evidence import markdown_table, shipped_scores

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 220

_FENCE = re.compile(r"^\s*(```|~~~)")
_INDENTED_CODE = re.compile(r"^( {4}|\t)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target), with an optional "title"; the text may hold one level of [...].
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_HTML = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside code blocks (fenced, or indented by four spaces after a blank line),
    numbered from 1, with inline code spans blanked out."""
    out, fenced, in_indented, previous_blank = [], False, False, True
    for number, line in enumerate(text.split("\n"), 1):
        if _FENCE.match(line):
            fenced = not fenced
            previous_blank = False
            continue
        if fenced:
            continue
        blank = not line.strip()
        if _INDENTED_CODE.match(line) and (previous_blank or in_indented) and not blank:
            in_indented = True
            previous_blank = False
            continue
        if not blank:
            in_indented = False
        previous_blank = blank
        out.append((number, _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "").strip().lower()
    kept = []
    for ch in text:
        if ch in "-_ " or ch.isalnum() or unicodedata.category(ch).startswith("M"):
            kept.append("-" if ch == " " else ch)
    return "".join(kept)


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub makes for the headings of a Markdown file."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and image in a Markdown file, code left out."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for pattern in (_INLINE, _REFERENCE, _HTML):
            found += [(number, m.group(1)) for m in pattern.finditer(line)]
    return found


def problem(source: Path, target: str) -> str | None:
    """Why a link from ``source`` to ``target`` is broken, or None when it works (or is external)."""
    if _SCHEME.match(target) or target.startswith("//"):
        return None
    file_part, _, anchor = target.partition("#")
    file_part = file_part.split("?", 1)[0]
    if file_part.startswith("/"):
        resolved = ROOT / file_part.lstrip("/")
    else:
        resolved = (source.parent / file_part).resolve() if file_part else source
    if not resolved.exists():
        return f"{file_part} does not exist"
    if not resolved.resolve().is_relative_to(ROOT):
        return f"{file_part} is outside the repository"
    if anchor:
        if resolved.suffix.lower() != ".md":
            return f"#{anchor} points into {file_part}, which is not Markdown"
        if anchor.lower() not in anchors(resolved):
            return f"{resolved.relative_to(ROOT)} has no heading with the anchor #{anchor}"
    return None


def test_there_are_docs():
    names = {p.name for p in DOCS}
    assert {"README.md", "guide.md", "measures.md", "figures.md", "deploy.md",
            "reliability.md", "library.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(path):
    found = links(path)
    broken = [f"{path.relative_to(ROOT)}:{line}: {target}: {why}"
              for line, target in found if (why := problem(path, target))]
    assert not broken, "\n".join(broken)


def test_readme_is_short():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/ (at most {README_MAX_LINES})"


def test_readme_links_every_doc():
    readme = {target.split("#")[0] for _, target in links(ROOT / "README.md")}
    missing = [p.name for p in DOCS[1:] if f"docs/{p.name}" not in readme]
    assert not missing, f"README.md does not link {missing}"


# The checker itself, on small cases.

def test_slug_follows_github():
    assert slug("Heads vs. syntax (Clark et al. 2019)") == "heads-vs-syntax-clark-et-al-2019"
    assert slug("Hosted mode, under a 1 GiB limit") == "hosted-mode-under-a-1-gib-limit"
    assert slug("Speed, in the browser") == "speed-in-the-browser"
    assert slug("The `attnviz heads` command") == "the-attnviz-heads-command"
    assert slug("Encoder-decoders and decoders") == "encoder-decoders-and-decoders"
    assert slug("Café & crème") == "café--crème"


def test_links_skip_code_and_find_images(tmp_path):
    md = tmp_path / "x.md"
    md.write_text("# Top\n\nSee [a](b.md#c) and ![i](img.png).\n\n    [not](code.md)\n\n"
                  "```\n[nor](fenced.md)\n```\n`[nor](span.md)`\n[ref]: ref.md\n", encoding="utf-8")
    assert [t for _, t in links(md)] == ["b.md#c", "img.png", "ref.md"]


def test_problem_reports_missing_files_and_anchors(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "a.md").write_text("# One\n## Two\n## Two\n", encoding="utf-8")
    src = tmp_path / "README.md"
    src.write_text("", encoding="utf-8")
    assert problem(src, "a.md#two-1") is None
    assert problem(src, "a.md#one") is None
    assert problem(src, "https://example.org/x#y") is None
    assert "no heading" in problem(src, "a.md#three")
    assert "does not exist" in problem(src, "b.md")


def test_the_readmes_claim_table_is_the_shipped_evidence():
    """The README's table is made from the scores that ship with attnviz, so it cannot drift from them."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("-->", text.index("<!-- claim-table")) + len("-->")
    block = text[start:text.index("<!-- /claim-table -->")].strip()
    assert block == markdown_table(shipped_scores(attnviz.DEFAULT_MODEL))
    assert "| obj | 1,211 | 3-1 (0.74) | -2: 0.36 | yes | 778 | 3-1 d→h: 0.70, 0.74 | **yes** |" in block
