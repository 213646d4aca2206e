"""KdfPool: argon2 work admitted up to a bound, refused at once past it; costs checked at start."""

from __future__ import annotations

import asyncio
import threading

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
        pool = KdfPool(threads=1, queue=1)
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


class SteppedTimer:
    """A timer for the pool's threads: each hash it times took ``step`` seconds."""

    def __init__(self, step: float) -> None:
        """Read 0 at a hash's start and ``step`` at its end, on each thread apart."""
        self.step = step
        self.ending = threading.local()

    def __call__(self) -> float:
        """Return 0 at a hash's start, ``step`` at its end."""
        ending = getattr(self.ending, "value", False)
        self.ending.value = not ending
        return self.step if ending else 0.0


def test_a_job_is_admitted_while_the_work_ahead_ends_within_max_wait() -> None:
    """Hashes of 0.25 s, two threads, 1 s: eight jobs fit (four rounds), the ninth is refused."""
    gate = threading.Event()

    async def main() -> tuple[list[float], int, float | None]:
        pool = KdfPool(
            threads=2,
            queue=1000,
            max_wait=1.0,
            timer=SteppedTimer(0.25),
        )
        assert pool.expected_wait() == 0.0, "nothing timed yet: the queue bound alone holds"
        await pool.run(lambda: None)
        assert pool.seconds_per_hash == 0.25
        waits = []
        held = []
        for _ in range(8):
            waits.append(pool.expected_wait())
            held.append(asyncio.ensure_future(pool.run(lambda: gate.wait(5))))
            await asyncio.sleep(0)
        await until(lambda: pool.admitted == 8, "eight jobs admitted")
        with pytest.raises(OverloadedError):
            pool.check()
        gate.set()
        await asyncio.gather(*held)
        pool.shutdown()
        return waits, pool.admitted, pool.seconds_per_hash

    waits, admitted, mean = asyncio.run(main())
    # Two at a time: the first two end in one round, the next two in two ...
    assert waits == [0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0]
    assert admitted == 0
    assert mean == 0.25


def test_cheap_hashes_are_all_admitted_far_beyond_the_old_count() -> None:
    """At a millisecond a hash, 100 jobs on one thread expect 0.1 s: none is refused."""

    async def main() -> list[object]:
        pool = KdfPool(
            threads=1,
            queue=128,
            max_wait=5.0,
            timer=SteppedTimer(0.001),
        )
        await pool.run(lambda: None)
        results = await asyncio.gather(*(pool.run(lambda: 1) for _ in range(100)))
        pool.shutdown()
        return list(results)

    assert asyncio.run(main()) == [1] * 100


def test_the_mean_follows_slower_hashes_and_sheds_earlier() -> None:
    """Hashes that get slower raise the mean, and fewer jobs are admitted at once."""
    timer = SteppedTimer(0.01)

    async def main() -> tuple[float, float, int]:
        pool = KdfPool(threads=1, queue=1000, max_wait=1.0, timer=timer)
        await pool.run(lambda: None)
        fast = pool.expected_wait()
        timer.step = 0.5
        for _ in range(40):
            await pool.run(lambda: None)
        slow = pool.expected_wait()
        gate = threading.Event()
        held = [asyncio.ensure_future(pool.run(lambda: gate.wait(5))) for _ in range(2)]
        await until(lambda: pool.admitted == 2, "one job running, one waiting")
        refused = 0
        try:
            pool.check()
        except OverloadedError:
            refused = 1
        gate.set()
        await asyncio.gather(*held)
        pool.shutdown()
        return fast, slow, refused

    fast, slow, refused = asyncio.run(main())
    assert fast == pytest.approx(0.01)
    assert 0.45 < slow <= 0.5
    # At 0.01 s a hash the third job would expect 0.03 s; at ~0.5 s, ~1.5 s.
    assert refused == 1, "three rounds of ~0.5 s are past 1 s"


def test_a_cancelled_caller_keeps_counting_until_its_hash_ends() -> None:
    """A request that gave up does not free its place while its hash still runs."""
    gate, started = threading.Event(), threading.Event()

    def hash_until_released() -> None:
        started.set()
        gate.wait(5)

    async def main() -> int:
        pool = KdfPool(threads=1, queue=0)
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
        pool = KdfPool(threads=1, queue=2)
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
