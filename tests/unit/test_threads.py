"""LoopThreads: jobs run off the event loop, in order; each outcome comes back on the loop."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from ots.threads import Job, LoopThreads

T = TypeVar("T")


async def call(threads: LoopThreads, work: Callable[[], T]) -> tuple[T, int]:
    """Run ``work`` on ``threads``; return its result and the thread that handed it over."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[tuple[T, int]] = loop.create_future()

    def done(job: Job[T]) -> None:
        if job.error is not None:
            outcome.set_exception(job.error)
        else:
            outcome.set_result((job.result, threading.get_ident()))  # type: ignore[arg-type]

    threads.submit(work, loop, done)
    # Bounded: a broken hand-off fails the test in seconds instead of hanging it.
    return await asyncio.wait_for(outcome, 5)


class Abort(BaseException):
    """Not an ``Exception``: what a plain ``except Exception`` would let kill a thread."""


def test_jobs_run_on_the_pools_threads_and_their_outcomes_come_back_on_the_loop() -> None:
    """Results and exceptions reach the loop's thread; the work ran on a named pool thread."""
    started: list[str] = []
    threads = LoopThreads(2, name="ots-test", initializer=lambda: started.append("started"))

    def whose() -> tuple[str, int]:
        return threading.current_thread().name, threading.get_ident()

    def fail() -> None:
        raise ValueError("bad job")

    async def main() -> tuple[list[tuple[tuple[str, int], int]], int]:
        ran = await asyncio.gather(*(call(threads, whose) for _ in range(8)))
        with pytest.raises(ValueError, match="bad job"):
            await call(threads, fail)
        return list(ran), threading.get_ident()

    ran, loop_thread = asyncio.run(main())
    threads.shutdown()
    assert {name for (name, _), _ in ran} <= {"ots-test_0", "ots-test_1"}
    assert loop_thread not in {ident for (_, ident), _ in ran}, "never on the loop's thread"
    assert {handed for _, handed in ran} == {loop_thread}, "every outcome handed to the loop"
    assert started == ["started", "started"], "each thread ran the initializer once"


def test_a_job_cancelled_while_queued_never_runs_and_shutdown_ends_the_rest() -> None:
    """A dropped job is skipped, a started one cannot be dropped; shutdown runs the queued rest."""
    gate, running = threading.Event(), threading.Event()
    ran: list[int] = []

    def hold() -> None:
        running.set()
        gate.wait(5)

    threads = LoopThreads(1, name="ots-test")
    loop = asyncio.new_event_loop()
    try:
        first = threads.submit(hold, loop, lambda _: None)
        assert running.wait(5)
        jobs = [
            threads.submit(functools.partial(ran.append, n), loop, lambda _: None) for n in range(4)
        ]
        assert jobs[1].cancel(), "still queued: dropped"
        assert not first.cancel(), "already running: it ends all the same"
        gate.set()
        threads.shutdown()
    finally:
        loop.close()
    assert ran == [0, 2, 3]
    assert not jobs[0].cancel(), "done: nothing left to drop"


def test_a_thread_survives_what_its_jobs_or_its_initializer_raise() -> None:
    """A BaseException reaches its caller and the next job still runs; so after a bad set-up."""

    def abort() -> None:
        raise Abort

    def broken_set_up() -> None:
        raise OSError("no priority here")

    threads = LoopThreads(1, name="ots-test", initializer=broken_set_up)

    async def main() -> str:
        with pytest.raises(Abort):
            await call(threads, abort)
        result, _ = await call(threads, lambda: "still serving")
        return result

    assert asyncio.run(main()) == "still serving"
    threads.shutdown()
    threads.shutdown()  # idempotent
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="shut down"):
            threads.submit(lambda: None, loop, lambda _: None)
    finally:
        loop.close()
