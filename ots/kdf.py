"""The worker's argon2id threads, with a bound on the hashes that may wait for them.

argon2id costs tens of milliseconds of CPU and must never run on the event
loop. An unbounded queue in front of the threads turns a burst into minutes
of waiting and, once Sanic's response timeout fires, into errors for work
already done. So each worker admits a hash only while the work ahead of it
would end in time: the hashes admitted (running or waiting) and this one,
``threads`` at a time, at the measured time of one hash, must end within
``max_wait`` seconds. Past that, or past ``queue`` waiting jobs (the bound
on what a flood of cheap hashes may hold in memory), a request is refused
at once with 503 ``overloaded``, before anything is queued. The rule is
time, not a count: a burst of cheap hashes all gets in, a flood of
expensive ones is shed early.

``check_argon2`` runs once at start: a cost this machine cannot serve stops
the server with a message naming the variable, instead of failing every
create and reveal with a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar, cast

from ots import crypto, metrics
from ots.config import Settings, usable_memory
from ots.domain import KdfParams
from ots.errors import ConfigError, OverloadedError
from ots.threads import Job, LoopThreads

T = TypeVar("T")
# Niceness added to the argon2 threads (0 is normal, 19 the lowest priority).
KDF_NICENESS: Final = 10
# Weight of the newest hash in the running mean of a hash's time: a few dozen
# hashes make the mean, so one slow hash (a descheduled thread) moves it little.
SMOOTHING: Final = 0.1


class KdfPool:
    """Runs key derivations on ``threads`` threads of its own, admitting what ends in time."""

    def __init__(
        self,
        *,
        threads: int,
        queue: int,
        max_wait: float = math.inf,
        timer: Callable[[], float] = time.perf_counter,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        """Admit a job while ``threads`` would end it and all before it within ``max_wait`` s.

        At most ``queue`` jobs wait beyond the ``threads`` running, whatever the
        time says. Until a first hash has been timed, that bound alone holds.
        ``timer`` times each hash on its thread (tests pass their own); each
        thread runs ``initializer`` when it starts (``lower_priority`` in a server).
        """
        self._pool = LoopThreads(threads, name="ots-kdf", initializer=initializer, timer=timer)
        self._threads = threads
        self._capacity = threads + queue
        self._max_wait = max_wait
        self._admitted = 0
        self._seconds: float | None = None

    @property
    def admitted(self) -> int:
        """Return the number of jobs running or waiting now."""
        return self._admitted

    @property
    def seconds_per_hash(self) -> float | None:
        """Return the running mean of one hash's time on its thread; None before the first."""
        return self._seconds

    def expected_wait(self) -> float:
        """Return the seconds until a job admitted now would end (0 before any hash was timed)."""
        if self._seconds is None:
            return 0.0
        # The jobs admitted run `threads` at a time; this one ends with its round.
        return math.ceil((self._admitted + 1) / self._threads) * self._seconds

    def check(self) -> None:
        """Refuse early, before a request does any other work, when no job would be admitted.

        Raises:
            OverloadedError: the queue is full, or a new job would not end within
                ``max_wait``.
        """
        if self._admitted >= self._capacity or self.expected_wait() > self._max_wait:
            metrics.KDF_SHED.inc()
            raise OverloadedError

    async def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` on a thread and return its result.

        Raises:
            OverloadedError: the pool is at its bound; the job was not queued.
        """
        self.check()
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = loop.create_future()
        # One wake-up of the loop per job, which both releases the job's place and
        # hands its outcome over. Released when the thread is done with it, not when
        # the caller stops waiting: a cancelled request whose hash still runs keeps
        # counting against the bound (one still queued is dropped, as it never runs).
        queued = self._pool.submit(job, loop, lambda done: self._settle(done, outcome))
        # Counted once queued (a refused submit holds no place); the job cannot end
        # before this loop turn does.
        self._admitted += 1
        metrics.KDF_IN_FLIGHT.inc()
        outcome.add_done_callback(lambda _: self._drop(queued, outcome))
        return await outcome

    def _release(self) -> None:
        self._admitted -= 1
        metrics.KDF_IN_FLIGHT.dec()

    def _drop(self, queued: Job[T], outcome: asyncio.Future[T]) -> None:
        if outcome.cancelled() and queued.cancel():
            self._release()

    def _settle(self, done: Job[T], outcome: asyncio.Future[T]) -> None:
        self._release()
        # Observed here, not on the thread: the loop has the GIL already, and every
        # bytecode the thread runs beside the hash is one more hand-off of it.
        seconds = done.seconds
        metrics.KDF_SECONDS.observe(seconds)
        if done.error is not None:
            if not outcome.done():
                outcome.set_exception(done.error)
            return
        # Timed whether or not its caller still waits: the hash ran all the same.
        mean = self._seconds
        self._seconds = seconds if mean is None else mean + SMOOTHING * (seconds - mean)
        if not outcome.done():
            outcome.set_result(cast(T, done.result))

    def shutdown(self) -> None:
        """Wait for the jobs queued so far and stop the threads."""
        self._pool.shutdown()


def lower_priority() -> None:
    """Run the calling thread at a lower CPU priority than the event loop.

    When hashes keep every core busy, the scheduler then still gives the
    event loop the CPU first, so /health and cheap requests stay fast and
    the hashes get the rest.
    """
    # On Linux a thread id addresses one thread; elsewhere this may renice the process,
    # so it is only done where it means what it says.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), KDF_NICENESS)


def check_argon2(
    settings: Settings,
    *,
    memory: int | None = None,
    derive: Callable[[KdfParams], object] | None = None,
    deadline: float | None = None,
) -> None:
    """Refuse, at start, an argon2id cost that this machine cannot serve.

    Any cost argon2 accepts passes ``Settings.check`` (tests and benchmarks
    make it cheap). Here the cost meets the machine: the memory of every hash
    that may run at once (workers x KDF threads x ``OTS_ARGON2_MEMORY_KIB``)
    must fit in the memory this process may use, and one trial hash must
    succeed within ``OTS_RESPONSE_TIMEOUT``, or every create would time out.

    Args:
        settings: the settings to serve with.
        memory: bytes this process may use (default: ``usable_memory()``).
        derive: runs one hash at the given cost (default: argon2id itself).
        deadline: seconds the trial hash may take (default: the response timeout).

    Raises:
        ConfigError: naming ``OTS_ARGON2_MEMORY_KIB``, ``OTS_ARGON2_PARALLELISM``
            or ``OTS_ARGON2_TIME_COST``.
    """
    available = usable_memory() if memory is None else memory
    in_flight = settings.workers * settings.kdf_pool_threads * settings.argon2_memory_kib * 1024
    if in_flight > available:
        raise ConfigError(
            "OTS_ARGON2_MEMORY_KIB",
            f"{settings.workers} worker(s) x {settings.kdf_pool_threads} KDF thread(s) x "
            f"{settings.argon2_memory_kib} KiB is {in_flight >> 20} MiB of argon2id memory "
            f"at once, more than the {available >> 20} MiB this process may use; "
            "lower it, OTS_KDF_THREADS or OTS_WORKERS",
        )
    params = KdfParams(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )
    _trial_hash(
        params,
        derive or _derive,
        settings.response_timeout if deadline is None else deadline,
    )


def _derive(params: KdfParams) -> None:
    crypto.derive_key("ots start-up trial", crypto.new_key(), crypto.new_salt(), params)


def _trial_hash(params: KdfParams, derive: Callable[[KdfParams], object], deadline: float) -> None:
    failures: list[Exception] = []
    done = threading.Event()

    def trial() -> None:
        try:
            derive(params)
        except Exception as exc:  # argon2's HashingError, MemoryError: reported below
            failures.append(exc)
        finally:
            done.set()

    # A daemon thread: a hash that outlasts the deadline cannot be interrupted, and
    # must not keep the refusing process alive.
    threading.Thread(target=trial, name="ots-kdf-trial", daemon=True).start()
    if not done.wait(deadline):
        raise ConfigError(
            "OTS_ARGON2_TIME_COST",
            f"one argon2id hash (t={params.time_cost}, m={params.memory_kib} KiB, "
            f"p={params.parallelism}) takes longer than OTS_RESPONSE_TIMEOUT ({deadline:g} s) "
            "here, so every create and reveal would time out; lower it or OTS_ARGON2_MEMORY_KIB",
        )
    if failures:
        problem = str(failures[0]) or type(failures[0]).__name__
        # argon2 says "Threading failure" when it cannot start a lane's thread.
        variable = (
            "OTS_ARGON2_PARALLELISM" if "thread" in problem.lower() else ("OTS_ARGON2_MEMORY_KIB")
        )
        raise ConfigError(
            variable,
            f"argon2id cannot run here with t={params.time_cost}, m={params.memory_kib} KiB, "
            f"p={params.parallelism}: {problem}",
        )
