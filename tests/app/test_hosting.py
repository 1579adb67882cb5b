"""Hosted mode, the memory check, the job queue and the deploy files, without a browser.

The app runs under streamlit.testing's AppTest (the real runtime, the real model); hosted mode
is switched on the way Community Cloud does it, through the environment. The browser and
the 1 GiB memory limit are in tests/e2e/test_hosted_limits.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import transformers
from streamlit.testing.v1 import AppTest

import attnviz
from attnviz.conllu_io import to_conllu
from attnviz.models import default_model_path
from attnviz.toygrammar.grammar import held_out_corpus
from components import hosting
from components.jobs import JobQueue, QueueFull, RerunThrottle
from tests.helpers.apptest import APP
from tests.helpers.apptest import app as _app
from tests.helpers.paths import ROOT

REFUSED_DEFAULT = hosting.refused_notice(attnviz.DEFAULT_MODEL)
BIG_HUB_ID = "FacebookAI/roberta-large"  # 355M parameters: under the 400M cap, far above a 1 GB server


def app(**params) -> AppTest:
    return _app(timeout=300, **params)


def notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning] + [e.value for e in at.error]


def conllu(sentences) -> bytes:
    return to_conllu(sentences).encode()


@pytest.fixture
def hosted(monkeypatch):
    monkeypatch.setenv(hosting.HOSTED_ENV, "1")
    monkeypatch.delenv(hosting.MODELS_ENV, raising=False)


# ----------------------------------------------------------------------------- settings


def test_settings_come_from_the_environment():
    assert hosting.settings({}) == hosting.Settings(hosted=False, models=hosting.DEFAULT_ALLOWED)
    assert hosting.settings({"ATTNVIZ_HOSTED": "0"}).hosted is False
    s = hosting.settings({"ATTNVIZ_HOSTED": "true", "ATTNVIZ_MODELS": "local, prajjwal1/bert-tiny\nlocal"})
    assert s.hosted and s.models == ("local", "prajjwal1/bert-tiny")
    assert s.fallback == "local"  # the default model is not listed: the first listed one
    assert s.allows("local") and not s.allows("local ") and not s.allows("/srv/models/x")
    assert hosting.Settings().allows("/anything")  # outside hosted mode the loader decides


# ----------------------------------------------------------------------------- memory


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def v1_group() -> Path | None:
    base = Path("/sys/fs/cgroup/memory")
    return base if os.geteuid() == 0 and (base / "cgroup.procs").exists() else None


def test_the_real_cgroup_limit_is_read_inside_a_limit():
    """A child process placed in a real cgroup (v1 here) with a 700 MB limit sees that limit (``attnviz.memory``)."""
    base = v1_group()
    if base is None:
        pytest.skip("needs root and a cgroup v1 memory controller at /sys/fs/cgroup/memory")
    group = base / f"attnviz-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(700 * 2**20))
        code = "from attnviz.memory import available_bytes, cgroup_available; print(cgroup_available(), available_bytes())"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())), check=True)
        room, left = map(int, out.stdout.split())
        assert 0 < room < 700 * 2**20 and left == min(room, left)  # the limit, less what the child already uses
    finally:
        group.rmdir()


# ----------------------------------------------------------------------------- hosted mode in the app


@pytest.fixture
def transformers_calls(monkeypatch):
    """Every name that reaches transformers' loaders (the real functions, wrapped to record their first argument)."""
    seen: list[str] = []
    for cls in (transformers.AutoConfig, transformers.AutoTokenizer, transformers.AutoModel):
        original = cls.from_pretrained

        def wrapper(name, *args, _original=original, **kwargs):
            seen.append(str(name))
            return _original(name, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", wrapper)
    return seen


def test_without_hosted_mode_a_link_reaches_transformers(monkeypatch, transformers_calls):
    """The control for the next test: the instrument sees a link's model when hosted mode is off."""
    monkeypatch.delenv(hosting.HOSTED_ENV, raising=False)
    at = app(model="nobody-has/hosted-control-xyz")
    assert not at.exception
    assert "nobody-has/hosted-control-xyz" in transformers_calls


REFUSED_VALUES = {
    "400M Hub id": BIG_HUB_ID,
    "unknown Hub id": "nobody-has/this-model-xyz",
    "existing model folder": None,  # the default model's own folder on this server (filled in below)
    "existing folder": "/etc",
    "missing folder": "/no/such/folder",
    "relative path": "../../etc/passwd",
    "home path": "~/models",
    "long value": "m" * 5000,
    "spaces": "   ",
}


def test_hosted_refuses_every_other_model_with_one_notice_and_never_reaches_transformers(hosted, transformers_calls):
    seen = {}
    for case, value in REFUSED_VALUES.items():
        value = value if value is not None else str(default_model_path())
        at = app(model=value, text="the dogs run")
        assert not at.exception, case
        seen[case] = [n for n in notices(at) if "model" in n]
        assert at.selectbox(key="model_choice").value == attnviz.DEFAULT_MODEL, case
        assert at.session_state["model"] == attnviz.DEFAULT_MODEL, case
        assert "model" not in at.query_params, case  # the link is rewritten to the default
    assert {case: n for case, n in seen.items()} == {case: [REFUSED_DEFAULT] for case in seen}
    assert [c for c in transformers_calls if c not in (attnviz.DEFAULT_MODEL, str(default_model_path()))] == []


def test_hosted_menu_has_only_the_allowed_models_and_no_text_box(hosted):
    at = app()
    assert at.selectbox(key="model_choice").options == [
        "MiniLM-L6 (offline default)", "Local, trained on toy grammar", "Local, random weights"]
    assert len(at.text_input) == 0
    at = app(model="local-trained", layer="3", head="2")  # an allowed model in a link is used
    assert not at.exception and not notices(at)
    assert at.session_state["model"] == "local-trained" and at.query_params["model"] == "local-trained"


def test_an_allowed_model_that_cannot_load_falls_back_to_the_next(monkeypatch):
    monkeypatch.setenv(hosting.HOSTED_ENV, "1")
    monkeypatch.setenv(hosting.MODELS_ENV, "nobody-has/listed-but-missing, local")
    at = app()
    assert not at.exception
    assert at.session_state["model"] == "local"
    [error] = [e.value for e in at.error]
    assert "Could not find the model 'nobody-has/listed-but-missing'" in error and "Showing the model local instead" in error


# ----------------------------------------------------------------------------- uploads and scoring


@pytest.mark.slow
def test_an_upload_is_parsed_once_per_session_and_scored_with_the_hosted_bounds(hosted):
    at = app(model="local-trained")
    at.switch_page("pages/dependencies.py").run()
    at.radio(key="dep_source").set_value("Upload a CoNLL-U file (gold trees)").run()
    first = conllu(held_out_corpus(600))  # more than the hosted per-request bound of 500 sentences
    at.file_uploader(key="dep_upload").set_value(("first.conllu", first, "text/plain")).run()
    assert not at.exception
    assert at.session_state["_upload_parses"] == 1
    assert at.slider(key="dep_limit").max == hosting.HOSTED_MAX_SENTENCES
    at.slider(key="dep_limit").set_value(40).run()
    at.toggle(key="causal").set_value(True).run()  # other reruns: no new parse
    assert at.session_state["_upload_parses"] == 1
    at.button(key="dep_run").click().run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "relation" in d.value.columns)
    assert len(table) > 0
    assert "40 sentences" in " ".join(c.value for c in at.caption)
    second = conllu(held_out_corpus(30))
    at.file_uploader(key="dep_upload").set_value(("second.conllu", second, "text/plain")).run()
    assert at.session_state["_upload_parses"] == 2 and at.slider(key="dep_limit").max == 30


# ----------------------------------------------------------------------------- the job queue


def test_jobs_pause_for_interactive_runs_and_queue_fairly():
    q = JobQueue(max_queued=2, max_pause=5.0)
    gate, steps = threading.Event(), []

    def work(progress, n=6, name="a"):
        for i in range(n):
            progress(i, n)
            steps.append((name, i))
            time.sleep(0.02)
        return name

    with q.foreground():  # a page is running: the job may start but pauses at its first chunk
        a = q.submit("session-a", "a", work)
        b = q.submit("session-b", "b", lambda p: work(p, name="b"))
        time.sleep(0.5)
        assert steps == [] and a.state == "running" and b.position() == 1
        with q.background():  # this thread only waits now: the job goes on
            assert a.wait(5)
        gate.set()
    assert b.wait(5) and (a.result, b.result) == ("a", "b")
    assert [name for name, _ in steps] == ["a"] * 6 + ["b"] * 6  # one at a time, first come first served


def test_a_session_has_one_job_and_the_queue_is_bounded():
    q = JobQueue(max_queued=2, max_pause=0.01)
    release = threading.Event()

    def slow(progress):
        for i in range(100):
            progress(i, 100)
            if release.wait(0.01):
                return "slow"
        return "slow"

    running = q.submit("x", "running", slow)
    while running.state != "running":
        time.sleep(0.01)
    first = q.submit("s", "first", lambda p: 1)
    second = q.submit("s", "second", lambda p: 2)  # the same session again: its first job is cancelled
    assert first.state == "cancelled" and first.finished and second.position() == 1
    q.submit("t", "t", lambda p: 3)
    with pytest.raises(QueueFull, match="busy"):
        q.submit("u", "u", lambda p: 4)
    release.set()
    assert running.wait(5) and second.wait(5) and second.result == 2


# ----------------------------------------------------------------------------- deploy files


def requirement_names(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line).groups()
            out[name.lower()] = spec.replace(" ", "")
    return out


def test_the_pipfile_for_cloud_matches_requirements_txt():
    """Cloud reads the Pipfile (it ranks above requirements.txt); pip here reads requirements.txt. Same packages,
    same pins; only torch's index differs (PyTorch's CPU index on Cloud)."""
    pipfile = tomllib.loads((ROOT / "Pipfile").read_text())
    cloud = {name.lower(): spec if isinstance(spec, str) else spec["version"] for name, spec in pipfile["packages"].items()}
    here = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    assert cloud == here
    assert here["torch"] == "==2.13.0"
    assert pipfile["packages"]["torch"]["index"] == "pytorch-cpu"
    assert {s["name"]: s["url"] for s in pipfile["source"]}["pytorch-cpu"] == "https://download.pytorch.org/whl/cpu"
    assert not any(line.strip().startswith("--") for line in (ROOT / "requirements.txt").read_text().splitlines())


def test_hosted_mode_from_cloud_secrets(monkeypatch):
    """On Community Cloud the settings are the app's secrets; a TOML boolean and a list work too."""
    monkeypatch.delenv(hosting.HOSTED_ENV, raising=False)
    monkeypatch.delenv(hosting.MODELS_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=300)
    at.secrets[hosting.HOSTED_ENV] = True
    at.secrets[hosting.MODELS_ENV] = ["local-trained", "local"]
    at.query_params["model"] = BIG_HUB_ID
    at.run()
    assert not at.exception
    assert notices(at) == [hosting.refused_notice("local-trained")]
    assert at.session_state["model"] == "local-trained"
    assert at.selectbox(key="model_choice").options == ["Local, trained on toy grammar", "Local, random weights"]


def test_a_session_rerunning_faster_than_a_person_is_slowed_down():
    """A session's runs are sequential: a rerun request stops the waiting run at its first Streamlit call
    and the next run asks for its delay then. So a person firing requests every 0.1 s gets a burst, then one
    run per interval, however long it goes on; other sessions are never delayed."""
    throttle = RerunThrottle(burst=4, interval=1.0, max_pause=3.0)
    starts, now = [], 10.0
    for _ in range(14):
        wait = throttle.delay("busy", now=now)
        starts.append(now + wait)
        now += wait + 0.1  # the run starts after its wait, is replaced by the next request 0.1 s later
    assert starts[3] - starts[0] < 0.5  # the first four are a free burst
    gaps = [b - a for a, b in zip(starts[4:], starts[5:])]
    assert all(0.95 <= g <= 1.2 for g in gaps), gaps  # then one run per second
    other = RerunThrottle(burst=4, interval=1.0)
    for k in range(20):
        other.delay("busy", now=100 + 0.01 * k)
    assert other.delay("calm", now=100.3) == 0.0  # another session is not affected
    assert other.delay("busy", now=130.0) == 0.0  # after a quiet spell, no pause


