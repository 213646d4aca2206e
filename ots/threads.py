"""Threads for the event loop's slow work: jobs in, each outcome handed back with one wake-up.

Every passphrase create and reveal runs one argon2id hash on a thread (the
KDF pool), so the hand-off to the thread and back is paid once per request. With
``concurrent.futures.ThreadPoolExecutor`` it cost a worker 70-100 µs of CPU per
job on a 2-core machine, and ``anyio.to_thread`` 140 µs: a ``threading.Condition``
per future and its notify, the pool's idle semaphore, and the extra GIL
hand-offs these make while the event loop waits. Here a job is a plain object
on a ``queue.SimpleQueue`` (C, no ``Condition`` per job), and the thread that
ran it schedules the loop's callback itself: about 35 µs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("ots.threads")

_QUEUED, _RUNNING, _DROPPED = range(3)


class Job(Generic[T]):
    """One job: queued, then run by a thread or dropped; ``done`` gets its outcome on the loop."""

    __slots__ = (
        "_done",
        "_lock",
        "_loop",
        "_state",
        "_timer",
        "_work",
        "error",
        "result",
        "seconds",
    )

    def __init__(
        self,
        work: Callable[[], T],
        loop: asyncio.AbstractEventLoop,
        done: Callable[[Job[T]], None],
        lock: threading.Lock,
        timer: Callable[[], float],
    ) -> None:
        """Run ``work`` later, timed by ``timer``; then call ``done(job)`` on ``loop``."""
        self._work = work
        self._loop = loop
        self._done = done
        self._lock = lock
        self._timer = timer
        self._state = _QUEUED
        self.result: T | None = None
        self.error: BaseException | None = None
        # How long the work ran on its thread, by ``timer``; wall time, so under load
        # it includes the time the thread waited for a core.
        self.seconds = 0.0

    def cancel(self) -> bool:
        """Drop the job if no thread has started it; True if dropped (then ``done`` never runs)."""
        with self._lock:
            if self._state != _QUEUED:
                return False
            self._state = _DROPPED
        return True

    def run(self) -> None:
        """On a thread: run the work unless it was dropped, then hand the outcome to the loop."""
        with self._lock:
            if self._state != _QUEUED:
                return
            self._state = _RUNNING
        start = self._timer()
        try:
            self.result = self._work()
        except BaseException as exc:  # the caller's, as a future hands it on
            # Whatever it is: a thread that died here would leave its caller waiting forever.
            self.error = exc
        self.seconds = self._timer() - start
        # A loop that has closed meanwhile (shutdown) waits for nothing any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._done, self)


class LoopThreads:
    """``count`` daemon threads, started at the first job, that run jobs in their order."""

    def __init__(
        self,
        count: int,
        *,
        name: str,
        initializer: Callable[[], None] | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Name the threads ``name_N``, each runs ``initializer`` first; ``timer`` times jobs."""
        self._count = count
        self._timer = timer
        self._name = name
        self._initializer = initializer
        self._queue: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        # One lock for every job's state: held for a comparison and an assignment.
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(
        self,
        work: Callable[[], T],
        loop: asyncio.AbstractEventLoop,
        done: Callable[[Job[T]], None],
    ) -> Job[T]:
        """Queue ``work``; ``done(job)`` runs on ``loop`` once it ran (never if cancelled first).

        Raises:
            RuntimeError: the threads were shut down, or a thread could not start.
        """
        if self._closed:
            raise RuntimeError("the threads were shut down")
        if not self._threads:
            self._start()
        job = Job(work, loop, done, self._lock, self._timer)
        self._queue.put(job)
        return job

    def shutdown(self) -> None:
        """Let the threads end the jobs queued so far, then stop them; idempotent."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def _start(self) -> None:
        # Daemon threads: a pool nobody shut down must not keep the process from exiting.
        self._threads = [
            threading.Thread(target=self._serve, name=f"{self._name}_{n}", daemon=True)
            for n in range(self._count)
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self) -> None:
        if self._initializer is not None:
            try:
                self._initializer()
            except Exception:
                # A thread that set itself up wrong still serves: dying, it would strand its jobs.
                log.exception("a thread of %s could not run its initializer", self._name)
        while (job := self._queue.get()) is not None:
            job.run()
