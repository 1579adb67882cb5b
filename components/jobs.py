"""Heavy work (corpus scoring, later generation / erasure / ablation over many items) on one
bounded worker with a fair queue, so that a visitor's explorer keeps answering while another
visitor's job runs. Pure Python (threads), no Streamlit.

    job = JOBS.submit(owner=session_id, label="scoring 300 sentences", work=lambda progress: ...)
    job.position()     # jobs ahead of it (0 = running or next)
    job.wait(0.25)     # True once finished; job.result / job.error

* One job runs at a time (one worker thread), so heavy work never holds more than one job's
  memory; at most ``max_queued`` wait behind it (``QueueFull`` beyond that).
* Fair between sessions: first come, first served, and one job per session: a session that
  submits again cancels its own earlier job (queued or running) instead of queueing twice.
* Light work first: pages wrap their runs in ``JOBS.foreground()``. A job calls its
  ``progress(done, total)`` between chunks (score_heads does after every batch, outside the
  model's lock); there it pauses while any page run is in progress, for at most ``max_pause``
  seconds per chunk, so an explorer capture never waits behind more than one chunk and a job
  is never starved.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


class QueueFull(RuntimeError):
    """Too many jobs are waiting; the message says so in plain words."""


class Cancelled(Exception):
    """Raised inside a job's progress callback when the job was cancelled."""


Progress = Callable[[int, int], None]


@dataclass(eq=False)
class Job:
    owner: str
    label: str
    work: Callable[[Progress], Any]
    queue: JobQueue
    id: int = 0
    state: str = "queued"  # queued | running | done | failed | cancelled
    done: int = 0
    total: int = 0
    result: Any = None
    error: BaseException | None = None
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished_at: float | None = None
    paused_seconds: float = 0.0
    _finished: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def cancel(self) -> None:
        self.queue.cancel(self)

    def position(self) -> int:
        """How many jobs run or wait ahead of this one (0 when it runs, or is finished)."""
        return self.queue.position(self)


class JobQueue:
    def __init__(self, max_queued: int = 8, max_pause: float = 1.0):
        self.max_queued, self.max_pause = max_queued, max_pause
        self._cond = threading.Condition()
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._foreground: dict[int, int] = {}  # thread id -> depth of foreground() blocks
        self._ids = itertools.count(1)
        self._worker: threading.Thread | None = None
        self.completed = 0

    # -- submitting and watching
    def submit(self, owner: str, label: str, work: Callable[[Progress], Any]) -> Job:
        with self._cond:
            for old in [j for j in (*self._waiting, self._running) if j is not None and j.owner == owner]:
                self._cancel_locked(old)
            if len(self._waiting) >= self.max_queued:
                raise QueueFull(f"The server is busy: {len(self._waiting)} jobs of other visitors are waiting. "
                                "Try again in a minute.")
            job = Job(owner, label, work, self, id=next(self._ids))
            self._waiting.append(job)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._loop, name="attnviz-jobs", daemon=True)
                self._worker.start()
            self._cond.notify_all()
            return job

    def position(self, job: Job) -> int:
        with self._cond:
            if job in self._waiting:
                return list(self._waiting).index(job) + (self._running is not None)
            return 0

    def cancel(self, job: Job) -> None:
        with self._cond:
            self._cancel_locked(job)

    def _cancel_locked(self, job: Job) -> None:
        if job.finished:
            return
        job.state = "cancelled"
        if job in self._waiting:
            self._waiting.remove(job)
            job._finished.set()
        self._cond.notify_all()  # a running job sees it at its next progress call

    @property
    def busy(self) -> int:
        """Jobs running or waiting."""
        with self._cond:
            return len(self._waiting) + (self._running is not None)

    # -- light work first
    @contextmanager
    def foreground(self) -> Iterator[None]:
        """Mark the calling thread's block as interactive work: running jobs pause at their next chunk."""
        me = threading.get_ident()
        with self._cond:
            self._foreground[me] = self._foreground.get(me, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._foreground[me] -= 1
                if not self._foreground[me]:
                    del self._foreground[me]
                self._cond.notify_all()

    @contextmanager
    def background(self) -> Iterator[None]:
        """Inside ``foreground``: this thread only waits (e.g. for its own job), so jobs need not pause for it."""
        me = threading.get_ident()
        with self._cond:
            depth = self._foreground.pop(me, 0)
            self._cond.notify_all()
        try:
            yield
        finally:
            if depth:
                with self._cond:
                    self._foreground[me] = self._foreground.get(me, 0) + depth

    @property
    def interactive(self) -> int:
        with self._cond:
            return len(self._foreground)

    # -- the worker
    def _checkpoint(self, job: Job, done: int, total: int) -> None:
        job.done, job.total = done, total
        start = time.monotonic()
        with self._cond:
            while True:
                if job.state == "cancelled":
                    raise Cancelled
                waited = time.monotonic() - start
                if not self._foreground or waited >= self.max_pause:
                    break
                self._cond.wait(self.max_pause - waited)
        job.paused_seconds += time.monotonic() - start

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    if not self._cond.wait(60):
                        self._worker = None  # idle for a minute: the next submit starts a new worker
                        return
                job = self._waiting.popleft()
                self._running = job
                job.state, job.started = "running", time.monotonic()
            try:
                job.result = job.work(lambda done, total, job=job: self._checkpoint(job, done, total))
                state = "done"
            except Cancelled:
                state = "cancelled"
            except Exception as exc:  # noqa: BLE001 - the page shows it
                job.error, state = exc, "failed"
            with self._cond:
                if job.state != "cancelled":
                    job.state = state
                job.finished_at = time.monotonic()
                self._running = None
                self.completed += 1
                job._finished.set()
                self._cond.notify_all()


#: The process's queue, shared by every session.
JOBS = JobQueue()


class RerunThrottle:
    """Slows down a session that starts runs faster than a person can (e.g. 50 reruns in a few seconds).

    A token bucket per session: ``burst`` runs may start at once, then one per ``interval`` seconds.
    ``delay(session)`` is called at the start of each run and says how long that run waits first (at
    most ``max_pause``). A newer rerun request replaces the waiting run at its first Streamlit call,
    so a burst of fifty costs the server about one run per ``interval``, and other sessions keep the CPU.
    (Counting run starts in a sliding window instead let the pressure come back: the throttled runs
    started so rarely that the window emptied and runs were free again.)
    """

    def __init__(self, burst: int = 4, interval: float = 1.0, max_pause: float = 3.0, max_sessions: int = 1000):
        self.burst, self.interval, self.max_pause, self.max_sessions = burst, interval, max_pause, max_sessions
        self._state: dict[str, tuple[float, float]] = {}  # session -> (tokens, when they were counted)
        self._lock = threading.Lock()

    def delay(self, session: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, counted = self._state.pop(session, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - counted) / self.interval)
            wait = 0.0 if tokens >= 1 else min(self.max_pause, (1 - tokens) * self.interval)
            # this run takes a token when it starts (after ``wait``); a debt is kept, at most one burst deep
            self._state[session] = (max(-float(self.burst), tokens + wait / self.interval - 1), now + wait)
            while len(self._state) > self.max_sessions:  # most recent last: the oldest sessions are forgotten first
                del self._state[next(iter(self._state))]
            return wait


#: The process's throttle (used in hosted mode).
THROTTLE = RerunThrottle()
