"""KdfPool: argon2 work admitted up to a bound, refused at once past it."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import REGISTRY

from ots.errors import OverloadedError
from ots.kdf import KdfPool


def sample(name: str) -> float:
    """The current value of a metric of this process."""
    return REGISTRY.get_sample_value(name) or 0.0


def test_past_the_bound_a_job_is_refused_and_never_queued() -> None:
    """With one thread and one waiting place, the third concurrent job gets 503 overloaded."""
    gate = threading.Event()
    started: list[int] = []

    def job(n: int) -> int:
        started.append(n)
        gate.wait(5)
        return n

    shed_before = sample("ots_kdf_shed_total")

    async def main() -> tuple[list[object], int]:
        pool = KdfPool(ThreadPoolExecutor(max_workers=1), capacity=2)
        first = asyncio.ensure_future(pool.run(lambda: job(1)))
        second = asyncio.ensure_future(pool.run(lambda: job(2)))
        await asyncio.sleep(0.05)
        with pytest.raises(OverloadedError) as refused:
            await pool.run(lambda: job(3))
        assert refused.value.retry_after == 1
        with pytest.raises(OverloadedError):
            pool.check()
        gate.set()
        results = await asyncio.gather(first, second)
        await asyncio.sleep(0.05)
        pool.shutdown()
        return list(results), pool.admitted

    results, admitted = asyncio.run(main())
    assert results == [1, 2]
    assert started == [1, 2], "the refused job must not have run"
    assert admitted == 0
    assert sample("ots_kdf_shed_total") - shed_before == 2, "each refusal is counted"
    assert sample("ots_kdf_in_flight") == 0


def test_a_cancelled_caller_keeps_counting_until_its_hash_ends() -> None:
    """A request that gave up does not free its place while its hash still runs."""
    gate = threading.Event()

    async def main() -> tuple[int, int]:
        pool = KdfPool(ThreadPoolExecutor(max_workers=1), capacity=1)
        waiting = asyncio.ensure_future(pool.run(lambda: gate.wait(5)))
        await asyncio.sleep(0.05)
        waiting.cancel()
        await asyncio.sleep(0.05)
        during = pool.admitted
        gate.set()
        await asyncio.sleep(0.1)
        pool.shutdown()
        return during, pool.admitted

    assert asyncio.run(main()) == (1, 0)


def test_a_cancelled_caller_still_queued_is_dropped_and_errors_reach_the_caller() -> None:
    """A queued job whose caller gave up never runs; a job's exception is its caller's."""
    gate = threading.Event()
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("bad hash")

    async def main() -> tuple[int, int]:
        pool = KdfPool(ThreadPoolExecutor(max_workers=1), capacity=3)
        running = asyncio.ensure_future(pool.run(lambda: gate.wait(5)))
        queued = asyncio.ensure_future(pool.run(lambda: ran.append("queued")))
        await asyncio.sleep(0.05)
        queued.cancel()
        await asyncio.sleep(0.05)
        during = pool.admitted
        gate.set()
        await running
        with pytest.raises(ValueError, match="bad hash"):
            await pool.run(fail)
        pool.shutdown()
        return during, pool.admitted

    assert asyncio.run(main()) == (1, 0)
    assert ran == []
