"""The worker's argon2id threads, with a bound on the hashes that may wait for them.

argon2id costs tens of milliseconds of CPU and must never run on the event
loop. An unbounded queue in front of the threads turns a burst into minutes
of waiting and, once Sanic's response timeout fires, into errors for work
already done. So each worker admits at most ``capacity`` hashes (running or
waiting); past that a request is refused at once with 503 ``overloaded``,
before anything is queued.

``check_argon2`` runs once at start: a cost this machine cannot serve stops
the server with a message naming the variable, instead of failing every
create and reveal with a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Final, TypeVar

from ots import crypto, metrics
from ots.config import Settings, usable_memory
from ots.domain import KdfParams
from ots.errors import ConfigError, OverloadedError

T = TypeVar("T")
# Niceness added to the argon2 threads (0 is normal, 19 the lowest priority).
KDF_NICENESS: Final = 10


class KdfPool:
    """Runs key derivations on ``executor``, at most ``capacity`` admitted at a time."""

    def __init__(self, executor: Executor, capacity: int) -> None:
        """Admit at most ``capacity`` jobs (running plus waiting) onto ``executor``."""
        self._executor = executor
        self._capacity = capacity
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Return the number of jobs running or waiting now."""
        return self._admitted

    def check(self) -> None:
        """Refuse early, before a request does any other work, when no job would be admitted.

        Raises:
            OverloadedError: the pool is at its bound.
        """
        if self._admitted >= self._capacity:
            metrics.KDF_SHED.inc()
            raise OverloadedError

    async def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` on a thread and return its result.

        Raises:
            OverloadedError: the pool is at its bound; the job was not queued.
        """
        self.check()
        loop = asyncio.get_running_loop()
        self._admitted += 1
        metrics.KDF_IN_FLIGHT.inc()
        outcome: asyncio.Future[T] = loop.create_future()
        future: Future[T] = self._executor.submit(_timed, job)
        # One wake-up of the loop per job, which both releases the job's place and
        # hands its outcome over. Released when the thread is done with it, not when
        # the caller stops waiting: a cancelled request whose hash still runs keeps
        # counting against the bound (one still queued is dropped, as it never runs).
        future.add_done_callback(lambda done: _call_on(loop, lambda: self._settle(done, outcome)))
        outcome.add_done_callback(lambda _: future.cancel() if outcome.cancelled() else None)
        return await outcome

    def _settle(self, done: Future[T], outcome: asyncio.Future[T]) -> None:
        self._admitted -= 1
        metrics.KDF_IN_FLIGHT.dec()
        if outcome.done() or done.cancelled():
            return
        error = done.exception()
        if error is None:
            outcome.set_result(done.result())
        else:
            outcome.set_exception(error)

    def shutdown(self) -> None:
        """Wait for running jobs and stop the threads."""
        self._executor.shutdown(wait=True)


def _timed(job: Callable[[], T]) -> T:
    with metrics.KDF_SECONDS.time():
        return job()


def _call_on(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    # From the KDF thread: a loop that has already closed (shutdown) needs no count.
    if not loop.is_closed():
        loop.call_soon_threadsafe(callback)


def kdf_executor(threads: int) -> ThreadPoolExecutor:
    """Return the worker's argon2 threads, each at a lower CPU priority than the event loop.

    When hashes keep every core busy, the scheduler then still gives the
    event loop the CPU first, so /health and cheap requests stay fast and
    the hashes get the rest.
    """
    return ThreadPoolExecutor(
        max_workers=threads, thread_name_prefix="ots-kdf", initializer=_lower_priority
    )


def _lower_priority() -> None:
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
    in_flight = settings.workers * settings.kdf_threads * settings.argon2_memory_kib * 1024
    if in_flight > available:
        raise ConfigError(
            "OTS_ARGON2_MEMORY_KIB",
            f"{settings.workers} worker(s) x {settings.kdf_threads} KDF thread(s) x "
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
