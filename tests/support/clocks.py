"""Time in tests: a clock moved by hand, and waits on a fact (never on a duration)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

T = TypeVar("T")


@dataclass
class FakeClock:
    """A clock the tests move by hand instead of sleeping."""

    now: float = field(default_factory=lambda: float(int(time.time())))

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def eventually(check: Callable[[], T], what: str, timeout: float = 20, *, poll: float = 0.2) -> T:
    """Poll ``check`` every ``poll`` seconds until it returns something true; return that.

    For effects that happen on their own schedule (a sweeper, a checkpoint);
    fails naming ``what`` after ``timeout``, which only bounds the wait: it
    asserts no speed.
    """
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(poll)
    return result


async def until(check: Callable[[], object], what: str, timeout: float = 20) -> None:
    """Let the running loop work until ``check()`` holds; fail naming ``what`` after ``timeout``.

    The loop's twin of ``eventually``: for tasks and threads this test's own
    loop waits on. The timeout only bounds a hang, it asserts no speed.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)
