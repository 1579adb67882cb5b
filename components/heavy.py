"""Heavy work in the pages: uploads parsed once per session (a CoNLL-U uploader: ``conllu_upload``), jobs queued on
``components.jobs.JOBS``.

``queued(...)`` submits a job for this session (or finds the one it submitted on an earlier
run), and waits for it with a progress bar, telling the visitor when other visitors' jobs
are ahead. A rerun while waiting (any widget) only stops the waiting: the job goes on, and
the next run waits again or collects its result.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from attnviz.conllu_io import read_conllu
from attnviz.errors import CoNLLUError
from components import session_keys as keys
from components.jobs import JOBS, Job, QueueFull
from components.markdown import literal

POLL_SECONDS = 0.2
#: CoNLL-U uploads (Heads vs. syntax, Head map): the uploader's limit, server.maxUploadSize in .streamlit/config.toml
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_SHARED = 8

#: Jobs whose result does not depend on the visitor (a built-in corpus): key -> Job, for every session.
_shared: dict[Hashable, Job] = {}
_shared_lock = threading.Lock()


def _shared_job(key: Hashable, label: str, work) -> Job:
    """The process-wide job for ``key``: reused while it runs or once it is done, else submitted anew."""
    with _shared_lock:
        job = _shared.get(key)
        if job is None or job.state in ("failed", "cancelled"):
            job = JOBS.submit(f"shared:{key!r}", label, work)
            _shared[key] = job
            finished = [k for k, j in _shared.items() if j.finished]
            while len(_shared) > MAX_SHARED and finished:  # forget the oldest finished ones
                del _shared[finished.pop(0)]
        return job


@dataclass(frozen=True)
class Upload:
    name: str
    digest: str  # sha1 of the bytes
    value: Any = None  # what ``parse`` returned
    error: str | None = None  # or why it failed, for the page


def parsed_upload(upload, parse: Callable[[bytes], Any], errors: tuple[type[BaseException], ...]) -> Upload:
    """``parse(upload's bytes)``, computed once per uploaded file and session (not once per rerun).

    Only the latest upload is kept (UPLOAD); UPLOAD_PARSES counts the parses."""
    cached = st.session_state.get(keys.UPLOAD)
    if cached is not None and cached[0] == upload.file_id:
        return cached[1]
    raw = upload.getvalue()
    digest = hashlib.sha1(raw).hexdigest()
    try:
        result = Upload(upload.name, digest, value=parse(raw))
    except errors as exc:
        result = Upload(upload.name, digest, error=f"{upload.name}: {exc}")
    del raw
    st.session_state[keys.UPLOAD] = (upload.file_id, result)
    st.session_state[keys.UPLOAD_PARSES] = st.session_state.get(keys.UPLOAD_PARSES, 0) + 1
    return result


def conllu_upload(key: str, hint: str) -> tuple[Any, str, str] | None:
    """A CoNLL-U file uploader (at most ``MAX_UPLOAD_BYTES``) under ``key`` and its gold trees, parsed once per file
    and session (``parsed_upload``): (sentences, digest, file name), or None after saying why there are none (no file
    yet: ``hint``, which may name ``{limit_mb}``; a broken file: its message, naming the file and the problem)."""
    limit_mb = MAX_UPLOAD_BYTES // 2**20
    upload = st.file_uploader(f"CoNLL-U file (at most {limit_mb} MB)", type=["conllu", "conll", "txt"], key=key,
                              help="Universal Dependencies format: gold trees, one word per line.")
    if upload is None:
        st.info(hint.format(limit_mb=limit_mb))
        return None
    parsed = parsed_upload(upload, lambda raw: read_conllu(raw, max_bytes=MAX_UPLOAD_BYTES), (CoNLLUError,))
    if parsed.error:
        st.error(literal(parsed.error))
        return None
    return parsed.value, parsed.digest, parsed.name


def collect(slot: str, results: dict) -> None:
    """Move a finished job's result of this session (under ``slot``) into ``results`` (keyed by the job's key)."""
    entry = st.session_state.get(slot)
    if entry is not None and entry[1].finished:
        key, job = entry
        if job.state == "done":
            results[key] = job.result
        elif job.state == "failed":
            st.session_state[keys.job_error(slot)] = (key, str(job.error))
        del st.session_state[slot]


def queued(slot: str, key: Hashable, label: str, work: Callable[[Callable[[int, int], None]], Any],
           start: Callable[[], bool], shared: bool = False) -> Any | None:
    """The result of ``work(progress)`` for ``key``, run on the shared job queue; None while there is none.

    ``slot`` names this kind of job in the session (one per page section). ``start()`` is asked
    (e.g. a button) only when no job for ``key`` was submitted yet. ``shared``: the result does not
    depend on the session (a built-in corpus), so sessions asking for the same ``key`` share one job."""
    entry = st.session_state.get(slot)
    failed = st.session_state.get(keys.job_error(slot))
    if failed and failed[0] == key:
        st.error(literal(f"{label} failed: {failed[1]}"))
    if entry is None or entry[0] != key:
        if entry is not None and not entry[1].finished:
            st.info(literal(f"Your earlier job ({entry[1].label}) is still running; its result will be kept. "
                                 "Starting another one stops it."), icon=":material/hourglass_top:")
        if not start():
            return None
        st.session_state.pop(keys.job_error(slot), None)
        try:
            job = _shared_job(key, label, work) if shared else JOBS.submit(keys.session_id(), label, work)
        except QueueFull as exc:
            st.warning(str(exc), icon=":material/hourglass_top:")
            return None
        st.session_state[slot] = entry = (key, job)
    job: Job = entry[1]
    status = st.empty()
    with JOBS.background():  # this run only waits: the job need not pause for it
        while not job.wait(POLL_SECONDS):
            ahead = job.position()
            if ahead:
                status.info(f"Waiting for the model: {ahead} job{'s' if ahead > 1 else ''} of other visitors "
                            f"{'are' if ahead > 1 else 'is'} ahead of yours. It starts by itself; you can keep using the app.",
                            icon=":material/hourglass_top:")
            else:
                status.progress(job.done / max(job.total, 1), text=f"{label}: {job.done}/{job.total or '…'}")
    status.empty()
    del st.session_state[slot]
    if job.state == "done":
        return job.result
    if job.state == "failed":
        st.error(literal(f"{label} failed: {job.error}"))
    return None


def kept(store: str, slot: str, key: Hashable, label: str, work: Callable[[Callable[[int, int], None]], Any],
         start: Callable[[], bool], shared: bool = False, keep: int = 4, rerun: bool = False) -> Any | None:
    """The result for ``key`` as this session keeps it: from ``store`` (a dict in the session, its ``keep`` latest
    results, a finished job's moved in by ``collect``), else made by ``queued`` (same arguments); None while it is
    made. ``rerun``: once a new result is kept, the page is drawn again (it changes what is above the caller)."""
    results = st.session_state.setdefault(store, {})
    collect(slot, results)
    if key not in results:
        result = queued(slot, key, label, work, start, shared)
        if result is None:
            return None
        while len(results) >= keep:  # the oldest first (dicts keep their order)
            results.pop(next(iter(results)))
        results[key] = result
        if rerun:
            st.rerun()
    return results[key]

