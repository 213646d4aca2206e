"""Load benchmark for a running ots server: throughput, latency, and event-loop stalls.

Usage::

    python -m tests.benchmark --url http://127.0.0.1:8080 --secrets 200 --concurrency 8

It creates ``--secrets`` secrets, then reveals them all, ``--concurrency`` at
a time, while a probe hits ``/health`` every 20 ms. If argon2id ever ran on
the event loop, the probe's worst latency would jump to the hash time times
the queue length; off the loop it stays near a plain request's. Figures go to
stdout; nothing is asserted (speed is measured here, never in the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx


def _summary(name: str, latencies: list[float], elapsed: float) -> str:
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"{name:8} {len(ordered):5d} req  {len(ordered) / elapsed:7.1f} req/s  "
        f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
        f"max {ordered[-1] * 1000:7.1f} ms"
    )


async def _phase(
    count: int, concurrency: int, job: Callable[[int], Awaitable[None]]
) -> tuple[list[float], float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await job(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return latencies, time.perf_counter() - started


async def _probe(client: httpx.AsyncClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await client.get("/health")
        out.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)


async def run(url: str, secrets: int, concurrency: int) -> None:
    """Run the benchmark against ``url`` and print the figures."""
    limits = httpx.Limits(max_connections=concurrency + 1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        keys: list[str] = [""] * secrets

        async def create(i: int) -> None:
            response = await client.post(
                "/generate", json={"secret": f"benchmark secret {i}", "passphrase": "bench"}
            )
            response.raise_for_status()
            keys[i] = response.json()["secret_key"]

        async def reveal(i: int) -> None:
            response = await client.post(f"/secrets/{keys[i]}", json={"passphrase": "bench"})
            response.raise_for_status()

        stop = asyncio.Event()
        probe: list[float] = []
        async with httpx.AsyncClient(base_url=url, timeout=60) as prober:
            probing = asyncio.create_task(_probe(prober, stop, probe))
            created, created_s = await _phase(secrets, concurrency, create)
            revealed, revealed_s = await _phase(secrets, concurrency, reveal)
            stop.set()
            await probing
    print(_summary("create", created, created_s))
    print(_summary("reveal", revealed, revealed_s))
    print(_summary("health", probe, created_s + revealed_s))


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--secrets", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.secrets, args.concurrency))


if __name__ == "__main__":
    main()
