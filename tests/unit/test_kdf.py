"""KdfPool: argon2 work admitted up to a bound, refused at once past it; costs checked at start."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2.exceptions import HashingError
from prometheus_client import REGISTRY

from ots.config import Settings
from ots.domain import KdfParams
from ots.errors import ConfigError, OverloadedError
from ots.kdf import KdfPool, check_argon2
from tests.support import until


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
        await until(lambda: started == [1] and pool.admitted == 2, "one job running, one waiting")
        with pytest.raises(OverloadedError) as refused:
            await pool.run(lambda: job(3))
        assert refused.value.retry_after == 1
        with pytest.raises(OverloadedError):
            pool.check()
        gate.set()
        # A job's place is given back before its caller hears the result.
        results = await asyncio.gather(first, second)
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
    gate, started = threading.Event(), threading.Event()

    def hash_until_released() -> None:
        started.set()
        gate.wait(5)

    async def main() -> int:
        pool = KdfPool(ThreadPoolExecutor(max_workers=1), capacity=1)
        waiting = asyncio.ensure_future(pool.run(hash_until_released))
        await until(started.is_set, "the hash running")
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        # The hash cannot end before the gate opens: its place is still taken.
        during = pool.admitted
        gate.set()
        await until(lambda: pool.admitted == 0, "the place given back when the hash ended")
        pool.shutdown()
        return during

    assert asyncio.run(main()) == 1


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
        await until(lambda: pool.admitted == 2, "one job running, one queued")
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)
        await until(lambda: pool.admitted == 1, "the queued job's place given back")
        during = pool.admitted
        gate.set()
        await running
        with pytest.raises(ValueError, match="bad hash"):
            await pool.run(fail)
        pool.shutdown()
        return during, pool.admitted

    assert asyncio.run(main()) == (1, 0)
    assert ran == []


MIB = 1 << 20
# Settings, the memory this process may use, and the variable a refusal names.
TOO_COSTLY = {
    "memory-beyond-the-machine": (
        {"argon2_memory_kib": 2**32 - 1, "kdf_threads": 1},
        64 * 1024 * MIB,
        "OTS_ARGON2_MEMORY_KIB",
    ),
    "threads-times-memory-beyond-the-container": (
        {"argon2_memory_kib": 256 * 1024, "kdf_threads": 4},
        512 * MIB,
        "OTS_ARGON2_MEMORY_KIB",
    ),
    "workers-times-threads-times-memory": (
        {"argon2_memory_kib": 64 * 1024, "kdf_threads": 2, "workers": 4},
        500 * MIB,
        "OTS_ARGON2_MEMORY_KIB",
    ),
}


@pytest.mark.parametrize(
    ("overrides", "memory", "variable"), TOO_COSTLY.values(), ids=TOO_COSTLY.keys()
)
def test_argon2_memory_that_cannot_be_had_stops_the_start(
    overrides: dict[str, int], memory: int, variable: str
) -> None:
    """Every hash that may run at once must fit in memory, else ConfigError names the variable."""
    tried: list[KdfParams] = []
    with pytest.raises(ConfigError) as refused:
        check_argon2(Settings(**overrides), memory=memory, derive=tried.append)
    assert refused.value.variable == variable
    assert "OTS_KDF_THREADS" in str(refused.value)
    assert not tried, "no trial hash once the arithmetic says no"


def test_argon2_memory_that_fits_runs_one_trial_hash() -> None:
    """Within memory, one hash at the configured cost is tried, and passes."""
    tried: list[KdfParams] = []
    settings = Settings(argon2_memory_kib=64 * 1024, kdf_threads=2, workers=4)
    check_argon2(settings, memory=512 * MIB, derive=tried.append)
    assert tried == [KdfParams(2, 64 * 1024, 1)]


def test_shipped_argon2_passes_on_this_machine() -> None:
    """The defaults pass the real check: real memory, a real argon2id hash."""
    check_argon2(Settings())


ARGON2_FAILURES = {
    "memory-allocation": (HashingError("Memory allocation error"), "OTS_ARGON2_MEMORY_KIB"),
    "out-of-memory": (MemoryError(), "OTS_ARGON2_MEMORY_KIB"),
    "threads": (HashingError("Threading failure"), "OTS_ARGON2_PARALLELISM"),
}


@pytest.mark.parametrize(
    ("error", "variable"), ARGON2_FAILURES.values(), ids=ARGON2_FAILURES.keys()
)
def test_a_trial_hash_that_fails_stops_the_start(error: Exception, variable: str) -> None:
    """argon2 refusing the cost here is a ConfigError naming the variable, not a 500 per create."""

    def derive(params: KdfParams) -> None:
        raise error

    with pytest.raises(ConfigError) as refused:
        check_argon2(Settings(), memory=1 << 40, derive=derive)
    assert refused.value.variable == variable
    assert "argon2id cannot run here" in str(refused.value)


def test_a_trial_hash_slower_than_the_response_timeout_stops_the_start() -> None:
    """A hash still running at the deadline would time out every create: OTS_ARGON2_TIME_COST."""
    release = threading.Event()
    with pytest.raises(ConfigError) as refused:
        check_argon2(Settings(), memory=1 << 40, derive=lambda _: release.wait(10), deadline=0.01)
    release.set()
    assert refused.value.variable == "OTS_ARGON2_TIME_COST"
    assert "OTS_RESPONSE_TIMEOUT" in str(refused.value)
