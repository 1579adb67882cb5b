"""How the server's warm-up shares the interpreter with the server (components/lifespan.py): torch's shared
libraries mapped without the interpreter lock, the garbage collector paused while it imports and its objects
frozen after. Each test runs in a Python process of its own: what it checks (what is mapped, the collector's
state) belongs to the whole process."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES

import pytest

from components.lifespan import load_native
from tests.helpers.paths import ROOT


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


LOAD_NATIVE = """
import json, sys, threading, time
from components.lifespan import load_native

def mapped():
    return any("libtorch_cpu" in line for line in open("/proc/self/maps"))

gaps, done = [], threading.Event()
def probe():  # how long this thread waits for the interpreter lock, in steps of 1 ms
    last = time.perf_counter()
    while not done.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now

before = mapped()
thread = threading.Thread(target=probe)
thread.start()
time.sleep(0.05)
started = time.perf_counter()
loaded = load_native("torch", "_C")
took = time.perf_counter() - started
time.sleep(0.05)
done.set()
thread.join()
imported_by_it = "torch" in sys.modules
import torch
print(json.dumps({"before": before, "loaded": loaded, "after": mapped(), "imported_by_it": imported_by_it,
                  "took": took, "longest_wait": max(gaps), "sum": float(torch.arange(4.0).sum()),
                  "no_such_module": load_native("json", "_C"), "no_such_package": load_native("no_such_package", "_C")}))
"""


@pytest.mark.slow
def test_torch_is_mapped_ahead_without_the_interpreter_lock_and_then_imports_as_usual():
    r = _run(LOAD_NATIVE)
    assert (r["before"], r["loaded"], r["after"], r["imported_by_it"]) == (False, True, True, False)
    # the mapping takes 0.18-0.26 s here; another thread kept running meanwhile (with the lock held it would wait
    # the whole time: ``ctypes.CDLL(path)`` gives waits as long as the call)
    assert r["took"] > 0.02, r
    assert r["longest_wait"] < r["took"] / 2, r
    assert r["sum"] == 6.0
    assert (r["no_such_module"], r["no_such_package"]) == (False, False)


WARM = """
import gc, json, sys, threading
from components.lifespan import _warm

seen = {}
def warm(fail):
    seen[fail] = (gc.isenabled(), sys.getswitchinterval())
    made.append([{} for _ in range(1000)])
    if fail:
        raise RuntimeError("the warm-up failed")

made = []
interval = sys.getswitchinterval()
frozen = gc.get_freeze_count()
cue = threading.Event()
cue.set()
_warm(lambda: warm(False), cue, 60)
after = (gc.isenabled(), sys.getswitchinterval(), gc.get_freeze_count() - frozen)
try:
    _warm(lambda: warm(True), cue, 60)
except RuntimeError:
    pass
after_failure = (gc.isenabled(), sys.getswitchinterval())
gc.disable()
_warm(lambda: warm(False), cue, 60)
kept_off = gc.isenabled()
print(json.dumps({"during": seen[False], "during_failure": seen[True], "interval": interval, "after": after,
                  "after_failure": after_failure, "kept_off": kept_off, "torch": "torch" in sys.modules,
                  "mapped": any("libtorch_cpu" in line for line in open("/proc/self/maps"))}))
"""


@pytest.mark.slow
def test_the_warm_up_runs_without_the_collector_then_restores_it_and_freezes_what_it_made():
    r = _run(WARM)
    for enabled, interval in (r["during"], r["during_failure"]):
        assert enabled is False and abs(interval - 0.0001) < 1e-9  # every 0.1 ms, as the interpreter rounds it
    enabled, interval, newly_frozen = r["after"]
    assert (enabled, interval) == (True, r["interval"]) and newly_frozen >= 1000  # the 1,000 dicts made inside
    assert r["after_failure"] == [True, r["interval"]]
    assert r["kept_off"] is False  # a collector paused before the warm-up stays paused
    assert (r["mapped"], r["torch"]) == (True, False)  # torch's libraries mapped ahead; importing it is ``warm``'s part


def test_a_file_that_is_no_shared_object_is_left_to_the_import(tmp_path, monkeypatch):
    # the extension's file is there but the system cannot map it: nothing is mapped, the import will say why
    package = tmp_path / "not_native"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / ("_C" + EXTENSION_SUFFIXES[0])).write_bytes(b"not an ELF file")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_native("not_native", "_C") is False
    assert load_native("not_native", "_D") is False  # no such file


REPL_CHECK = """
import json, sys
import streamlit.delta_generator as dg
from streamlit import env_util
from components.lifespan import skip_repl_check

calls = []
real = env_util.is_repl
def counted():  # Streamlit's own check, run as it is; only counted
    calls.append(1)
    return real()
env_util.is_repl = counted
if sys.argv[1] == "lifespan":
    skip_repl_check()
dg._maybe_print_use_warning()  # what the first element of a page's first run calls
dg._maybe_print_use_warning()
print(json.dumps({"calls": len(calls)}))
"""


@pytest.mark.parametrize(("how", "calls"), [("lifespan", 0), ("plain", 1)])
def test_the_first_screen_skips_streamlits_repl_check_under_the_server(how, calls):
    # inspect.stack() over every frame: 0.13-0.14 s of the first page run here. Under the server's lifespan it is
    # never made; without it (the control) Streamlit makes it once, so a Streamlit that renamed its flag fails here
    done = subprocess.run([sys.executable, "-c", REPL_CHECK, how], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"calls": calls}


CUE = """
import json, threading, time
from components.lifespan import _warm

def timed(cue, patience, set_after):
    started, called = time.perf_counter(), []
    if set_after == 0:
        cue.set()
    elif set_after is not None:
        threading.Timer(set_after, cue.set).start()
    _warm(lambda: called.append(time.perf_counter() - started), cue, patience)
    return called[0]

print(json.dumps({"cued": timed(threading.Event(), 30, 0.4), "no_cue": timed(threading.Event(), 0.5, None),
                  "cued_before": timed(threading.Event(), 30, 0)}))
"""


@pytest.mark.slow
def test_the_warm_up_starts_when_a_first_screen_is_drawn_or_after_its_patience():
    # it lets the first visitor's browser draw the page with the CPU to itself, then imports (components/lifespan.py)
    r = _run(CUE)
    assert 0.4 <= r["cued"] < 3, r  # waited for the cue, not for its 30 s of patience
    assert 0.5 <= r["no_cue"] < 3, r  # no page came: it imports after its patience
    assert r["cued_before"] < 3, r  # a page that drew before the warm-up started: no wait


MAP_AHEAD = """
import json, sys, threading
import app  # as the server imports it: it declares the app and starts mapping torch's libraries

for thread in threading.enumerate():  # still mapping, or done (then not listed)
    if thread.name == "attnviz-map-torch":
        thread.join(60)
print(json.dumps({"mapped": any("libtorch_cpu" in line for line in open("/proc/self/maps")),
                  "torch": "torch" in sys.modules, "app": type(app.app).__name__}))
"""


@pytest.mark.slow
def test_importing_the_app_as_the_server_does_maps_torch_ahead_without_importing_it():
    assert _run(MAP_AHEAD) == {"mapped": True, "torch": False, "app": "App"}
