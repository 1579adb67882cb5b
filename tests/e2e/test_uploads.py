"""CoNLL-U uploads on the "Heads vs. syntax" page, through the browser's file chooser.

Each broken file (empty, binary, truncated mid-sentence, over the size limit) must give a
clear message in the page, no traceback, and leave the page working: the same session
then uploads a good file and scores the heads on it.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.page import App

#: Two small sentences in CoNLL-U, written for this test (not from a treebank).
GOOD = """\
# sent_id = t1
# text = The dog sees a cat.
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3\tsees\tsee\tVERB\tVBZ\t_\t0\troot\t_\t_
4\ta\ta\tDET\tDT\t_\t5\tdet\t_\t_
5\tcat\tcat\tNOUN\tNN\t_\t3\tobj\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = t2
# text = Heavy snow makes driving difficult.
1\tHeavy\theavy\tADJ\tJJ\t_\t2\tamod\t_\t_
2\tsnow\tsnow\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3\tmakes\tmake\tVERB\tVBZ\t_\t0\troot\t_\t_
4\tdriving\tdriving\tNOUN\tNN\t_\t3\tobj\t_\t_
5\tdifficult\tdifficult\tADJ\tJJ\t_\t3\txcomp\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

"""

UPLOAD = "Upload a CoNLL-U file"
INPUT = '.st-key-dep_upload input[type="file"]'
MB = 2**20


def a_file(name: str, content: bytes, mime: str = "application/octet-stream") -> dict:
    return {"name": name, "mimeType": mime, "buffer": content}


@pytest.fixture
def uploads(app: App) -> App:
    """The dependencies page with the upload source chosen."""
    app.open("dependencies")
    app.choose("dep_source", UPLOAD)
    app.wait_for(lambda: app.page.locator(INPUT).count() == 1, what="the file uploader")
    assert "Upload a .conllu file" in app.alerts()
    return app


def upload(app: App, file: dict) -> None:
    app.rerun(lambda: app.page.locator(INPUT).set_input_files(file))
    app.settle()


def errors(app: App) -> str:
    return "\n".join(app.page.locator('[data-testid="stAlertContentError"]').all_inner_texts())


def assert_good_file_still_scores(app: App) -> None:
    """The page keeps working: a good file replaces the bad one and its heads are scored."""
    upload(app, a_file("good.conllu", GOOD.encode(), "text/plain"))
    assert errors(app) == ""
    button = app.page.locator(".st-key-dep_run button")
    assert "2 sentences of good.conllu" in button.inner_text()
    app.rerun(button.click)
    # st.dataframe puts no key class on the page: the scores table is the one with a baseline column
    table = app.page.locator('[data-testid="stDataFrame"] table').filter(has_text="hard arcs")
    app.wait_for(lambda: table.count() == 1, what="the scores table")
    cells = table.inner_text()
    assert "nsubj" in cells and "det" in cells, cells
    assert "fewer than 5 arcs" in app.alerts()  # a small file's table says how little it shows
    caption = "\n".join(app.page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
    assert "2 sentences, 12 words, 10 arcs" in caption
    name, data = app.download("dep_csv")  # made on click (deferred): every relation, even those under 5 arcs
    assert name.endswith(".csv"), name
    rows = data.decode("utf-8").splitlines()
    assert rows[0].startswith("relation,") and any(r.startswith("nsubj,") for r in rows[1:]), rows[:3]


BROKEN = {
    "empty": (b"", "empty"),
    "binary": (b"\x89PNG\r\n\x1a\n" + os.urandom(4096), "binary"),
    "truncated": (GOOD.encode()[: GOOD.index("4\tdriving")] + b"4\tdri", "truncated"),
    "truncated-between-lines": (GOOD.encode()[: GOOD.index("4\tdriving")], "truncated"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_gets_a_clear_message(uploads: App, case: str):
    content, word = BROKEN[case]
    upload(uploads, a_file(f"{case}.conllu", content))
    message = errors(uploads)
    print(f"{case}: {message}")
    assert f"{case}.conllu" in message and word in message.lower(), message
    assert "Traceback" not in uploads.page.content()
    assert uploads.page.locator(".st-key-dep_run").count() == 0  # nothing to score
    uploads.screenshot(f"{uploads.name}-refused")  # the final screenshot shows the recovery
    assert_good_file_still_scores(uploads)


def test_a_50_mb_file_is_refused_with_the_limit(uploads: App, tmp_path):
    """50 MB of valid CoNLL-U: the uploader itself refuses it (server.maxUploadSize = 20) before sending it."""
    big = tmp_path / "big.conllu"
    block = GOOD.encode()
    with big.open("wb") as f:
        for _ in range(50 * MB // len(block) + 1):
            f.write(block)
    assert big.stat().st_size >= 50 * MB
    before = uploads.bytes_in
    uploads.page.locator(INPUT).set_input_files(big)
    refusal = uploads.page.locator(".st-key-dep_upload").get_by_text("File must be")
    uploads.wait_for(lambda: refusal.count() == 1, what="the uploader's size message")
    assert "20" in refusal.text_content() and "MB" in refusal.text_content(), refusal.text_content()
    # the limit is in plain sight too (the uploader's own message shows on hover)
    label = uploads.page.locator('.st-key-dep_upload [data-testid="stWidgetLabel"]').inner_text()
    assert "at most 20 MB" in label, label
    assert "at most 20 MB" in uploads.alerts()
    uploads.settle()
    assert uploads.page.locator(".st-key-dep_run").count() == 0
    assert uploads.bytes_in - before < MB  # the page did not receive (or echo) the file
    uploads.screenshot(f"{uploads.name}-refused")
    assert_good_file_still_scores(uploads)
